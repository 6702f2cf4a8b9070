/**
 * Credentials as docker keeps them: `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`)
 * with `auths` entries holding base64 `user:password`, a `credsStore` used for every registry,
 * and per-registry `credHelpers`, both run as `docker-credential-NAME get|store|erase`.
 * Secrets are returned to the auth policy only; they never reach a message.
 */
import type * as ChildProcessModule from 'node:child_process';
import { createRequire } from 'node:module';
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { defaultDomain, TsbuildError, uniqueHex, xdgBaseDirectory } from '../common/index.js';

export interface Credentials {
  readonly username?: string;
  readonly password?: string;
  /** An OAuth2 refresh token given by `docker login` to registries that issue one. */
  readonly identityToken?: string;
}

/** Looks up the credentials of a registry domain (`docker.io`, `localhost:5000`). */
export type CredentialProvider = (domain: string) => Promise<Credentials | undefined>;

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string } | undefined>;
  credsStore?: string;
  credHelpers?: Record<string, string | undefined>;
  [key: string]: unknown;
}

const dockerHubKey = 'https://index.docker.io/v1/';
const helperTimeoutMs = 30_000;
const maxHelperOutput = 64 * 1024;

export interface DockerConfigOptions {
  /** Directory holding config.json; default `$DOCKER_CONFIG` or `~/.docker`. */
  readonly configDir?: string;
  /**
   * Where podman, buildah and skopeo keep credentials (containers-auth.json(5), the same
   * `auths` format), read when docker's config has none for a registry. Default
   * `$REGISTRY_AUTH_FILE` alone when set, else `$XDG_RUNTIME_DIR/containers/auth.json` (or
   * `/run/containers/UID/auth.json`) and `~/.config/containers/auth.json`.
   */
  readonly containersAuthFiles?: readonly string[];
}

function defaultContainersAuthFiles(): string[] {
  const named = process.env.REGISTRY_AUTH_FILE;
  if (named !== undefined && named !== '') return [named];
  const runtime = xdgBaseDirectory('XDG_RUNTIME_DIR', `/run/containers/${process.getuid?.() ?? 0}`);
  const configHome = xdgBaseDirectory('XDG_CONFIG_HOME', join(homedir(), '.config'));
  return [join(runtime, 'containers', 'auth.json'), join(configHome, 'containers', 'auth.json')];
}

export function dockerConfigPath(options: DockerConfigOptions = {}): string {
  const dir = options.configDir ?? process.env.DOCKER_CONFIG ?? join(homedir(), '.docker');
  return join(dir, 'config.json');
}

/** The key docker uses for a registry in `auths` and `credHelpers`. */
export function configKey(domain: string): string {
  return domain === defaultDomain ? dockerHubKey : domain;
}

function keyMatches(key: string, domain: string): boolean {
  if (key === configKey(domain)) return true;
  const stripped = key.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  if (domain === defaultDomain) return stripped === 'index.docker.io' || stripped === 'docker.io' || stripped === 'registry-1.docker.io';
  return stripped === domain;
}

async function readConfig(path: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new TsbuildError('INVALID_ARGUMENT', `read docker config ${path}: ${(error as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as DockerConfigFile;
  } catch (error) {
    throw new TsbuildError('INVALID_ARGUMENT', `read docker config ${path}: ${(error as Error).message}`);
  }
}

function helperName(config: DockerConfigFile, domain: string): string | undefined {
  for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
    if (helper !== undefined && helper !== '' && keyMatches(key, domain)) return helper;
  }
  return config.credsStore === undefined || config.credsStore === '' ? undefined : config.credsStore;
}

/**
 * Runs `docker-credential-HELPER ACTION` for DOMAIN. A helper that cannot run fails naming the
 * registry and the helper: the credentials are for that registry or for none (docker
 * CVE-2021-41092: a helper docker could not run sent them to Docker Hub).
 */
async function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string, domain: string): Promise<{ status: number; stdout: string }> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) {
    throw new TsbuildError('INVALID_ARGUMENT', `${action} credentials for ${domain}: invalid credential helper name ${JSON.stringify(helper)}`);
  }
  const program = `docker-credential-${helper}`;
  // Loaded here, not with the module: most commands that talk to a registry never run a helper,
  // and child_process costs some 10 ms to load.
  const { spawn } = createRequire(import.meta.url)('node:child_process') as typeof ChildProcessModule;
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { stdio: ['pipe', 'pipe', 'pipe'], timeout: helperTimeoutMs });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (stdout.length < maxHelperOutput) stdout += chunk;
    });
    child.stderr.resume();
    child.on('error', (error) => {
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === 'ENOENT' ? 'executable file not found in $PATH' : (code ?? error.message);
      reject(new TsbuildError('UNAUTHORIZED', `${action} credentials for ${domain}: run credential helper ${program}: ${reason}`));
    });
    child.on('close', (status) => resolve({ status: status ?? 1, stdout }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

async function helperGet(helper: string, domain: string): Promise<Credentials | undefined> {
  const { status, stdout } = await runHelper(helper, 'get', configKey(domain), domain);
  // Helpers answer "credentials not found" with a failure status; that only means "none".
  if (status !== 0) return undefined;
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(stdout) as { Username?: unknown; Secret?: unknown };
  } catch {
    throw new TsbuildError('UNAUTHORIZED', `get credentials for ${domain}: docker-credential-${helper} printed no JSON`);
  }
  const username = typeof parsed.Username === 'string' ? parsed.Username : '';
  const secret = typeof parsed.Secret === 'string' ? parsed.Secret : '';
  if (secret === '') return undefined;
  return username === '<token>' ? { identityToken: secret } : { username, password: secret };
}

function decodeAuth(entry: NonNullable<NonNullable<DockerConfigFile['auths']>[string]>, domain: string): Credentials | undefined {
  if (entry.identitytoken !== undefined && entry.identitytoken !== '') return { identityToken: entry.identitytoken };
  if (entry.auth !== undefined && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new TsbuildError('UNAUTHORIZED', `read credentials for ${domain}: "auth" is not base64 of user:password`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  return undefined;
}

function fromAuths(config: DockerConfigFile, domain: string): Credentials | undefined {
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (entry !== undefined && keyMatches(key, domain)) {
      const decoded = decodeAuth(entry, domain);
      if (decoded !== undefined) return decoded;
    }
  }
  return undefined;
}

/**
 * Credentials from docker's config file and helpers, then from the containers tools' auth
 * files, looked up afresh on each call.
 */
export function dockerConfigCredentials(options: DockerConfigOptions = {}): CredentialProvider {
  const path = dockerConfigPath(options);
  return async (domain) => {
    const config = await readConfig(path);
    const helper = helperName(config, domain);
    if (helper !== undefined) {
      const found = await helperGet(helper, domain);
      if (found !== undefined) return found;
    }
    const found = fromAuths(config, domain);
    if (found !== undefined) return found;
    for (const authFile of options.containersAuthFiles ?? defaultContainersAuthFiles()) {
      const fromFile = fromAuths(await readConfig(authFile), domain);
      if (fromFile !== undefined) return fromFile;
    }
    return undefined;
  };
}

/** Replaces the config file atomically, readable by its owner only: it holds secrets. */
async function writeConfig(path: string, config: DockerConfigFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${uniqueHex(6)}.tmp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(config, null, '\t')}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await chmod(temporary, 0o600);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

export interface StoreCredentialsOptions extends DockerConfigOptions {
  readonly domain: string;
  readonly username: string;
  readonly password: string;
}

/** Saves credentials where docker would: the registry's helper, else `auths` in config.json. */
export async function storeCredentials(options: StoreCredentialsOptions): Promise<{ readonly helper?: string; readonly path: string }> {
  const path = dockerConfigPath(options);
  const config = await readConfig(path);
  const helper = helperName(config, options.domain);
  if (helper !== undefined) {
    const input = JSON.stringify({ ServerURL: configKey(options.domain), Username: options.username, Secret: options.password });
    const { status } = await runHelper(helper, 'store', input, options.domain);
    if (status !== 0) throw new TsbuildError('UNAUTHORIZED', `store credentials for ${options.domain}: docker-credential-${helper} failed with status ${status}`);
    return { helper, path };
  }
  const auths = { ...config.auths };
  for (const key of Object.keys(auths)) if (keyMatches(key, options.domain)) delete auths[key];
  auths[configKey(options.domain)] = { auth: Buffer.from(`${options.username}:${options.password}`).toString('base64') };
  await writeConfig(path, { ...config, auths });
  return { path };
}

/** Forgets the credentials of a registry; returns whether there were any. */
export async function eraseCredentials(options: DockerConfigOptions & { readonly domain: string }): Promise<boolean> {
  const path = dockerConfigPath(options);
  const config = await readConfig(path);
  let erased = false;
  const helper = helperName(config, options.domain);
  if (helper !== undefined) {
    const { status } = await runHelper(helper, 'erase', configKey(options.domain), options.domain);
    erased = status === 0;
  }
  const auths = { ...config.auths };
  for (const key of Object.keys(auths)) {
    if (keyMatches(key, options.domain)) {
      delete auths[key];
      erased = true;
    }
  }
  if (config.auths !== undefined && Object.keys(auths).length !== Object.keys(config.auths).length) await writeConfig(path, { ...config, auths });
  return erased;
}

/** A provider over fixed credentials, for callers that hold them (tests, flags). */
export function staticCredentials(entries: Readonly<Record<string, Credentials>>): CredentialProvider {
  return (domain) => Promise.resolve(entries[domain]);
}
