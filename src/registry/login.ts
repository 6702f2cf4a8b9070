/** `login`: credentials are checked against the registry before they are saved. */
import { TsbuildError } from '../common/index.js';
import { RegistryClient, type RegistryClientOptions } from './client.js';
import { staticCredentials, storeCredentials, type DockerConfigOptions } from './credentials.js';
import { readCapped, statusError } from './errors.js';
import { discard } from './transport.js';

export interface LoginOptions extends DockerConfigOptions {
  /** Registry domain as in references: `docker.io`, `localhost:5000`. */
  readonly domain: string;
  readonly username: string;
  readonly password: string;
  readonly client?: Omit<RegistryClientOptions, 'credentials'>;
}

/** Fails with UNAUTHORIZED unless the registry accepts the credentials. */
export async function verifyCredentials(options: Omit<LoginOptions, 'configDir'>): Promise<void> {
  const client = new RegistryClient({ ...options.client, credentials: staticCredentials({ [options.domain]: { username: options.username, password: options.password } }) });
  try {
    const registry = client.registry(options.domain);
    const url = await registry.url('');
    const context = { action: `log in to ${options.domain}` };
    const challenge = registry.auth.challenge;
    // No challenge known: either /v2/ answered without one, or the registry was reached without
    // asking it (a plain HTTP one, see Registry.ping); asked now through the auth policy, a 401
    // is answered with the credentials, and refused ones stay a 401.
    if (challenge?.scheme === 'bearer') {
      await registry.auth.authorization([], true);
      return;
    }
    const response = await registry.send({ method: 'GET', url, context });
    if (response.status === 200) {
      await discard(response);
      return;
    }
    throw statusError({ context, method: 'GET', url, status: response.status, body: await readCapped(response.body) });
  } catch (error) {
    if (error instanceof TsbuildError && error.code === 'UNAUTHORIZED') {
      throw new TsbuildError('UNAUTHORIZED', `log in to ${options.domain}: credentials refused`, { cause: error });
    }
    throw error;
  } finally {
    await client.close();
  }
}

export async function login(options: LoginOptions): Promise<{ readonly path: string; readonly helper?: string }> {
  await verifyCredentials(options);
  return storeCredentials({ domain: options.domain, username: options.username, password: options.password, ...(options.configDir === undefined ? {} : { configDir: options.configDir }) });
}
