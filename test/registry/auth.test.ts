import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/common/index.js';
import { RegistryClient, login, pull, push, requestChannel, staticCredentials, type Credentials, type RequestEvent } from '../../src/registry/index.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { makeCertificate, startRegistry, type Certificate, type TestRegistry } from '../helpers/registry.js';
import { writeRandomImage } from '../helpers/registry-image.js';
import { openStore, type Store } from '../../src/store/index.js';
import { startTokenServer, type TokenServer } from '../helpers/token-server.js';

let scratch: string;
let tls: Certificate;
let signing: Certificate;
let basic: TestRegistry;
let tokenRegistry: TestRegistry;
let tokens: TokenServer;
const clients: RegistryClient[] = [];
const users = { alice: 'wonderland-secret', bob: 'builder-secret' };

function client(credentials: Record<string, Credentials>, extra: { ca?: string } = { ca: tls.cert }): RegistryClient {
  const made = new RegistryClient({
    credentials: staticCredentials(credentials),
    ...(extra.ca === undefined ? {} : { tls: { ca: extra.ca } }),
    retry: { baseDelayMs: 5, maxDelayMs: 20 },
  });
  clients.push(made);
  return made;
}

async function freshStore(): Promise<Store> {
  return openStore({ root: await mkdtemp(join(scratch, 'root-')) });
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'tsbuild-auth-'));
  tls = await makeCertificate(scratch, 'server');
  signing = await makeCertificate(scratch, 'signing');
  basic = await startRegistry({ htpasswd: { users }, tls });
  tokens = await startTokenServer({ tls, signing, users, lifetimeSeconds: 300 });
  tokenRegistry = await startRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: signing.certPath } });
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((entry) => entry.close()));
  await Promise.all([basic?.stop(), tokenRegistry?.stop(), tokens?.stop()]);
  await rm(scratch, { recursive: true, force: true });
});

/** Collects every message and URL the client publishes, to look for secrets in them. */
function watchRequests(): { events: RequestEvent[]; stop(): void } {
  const events: RequestEvent[] = [];
  const listener = (message: unknown): void => {
    events.push(message as RequestEvent);
  };
  requestChannel.subscribe(listener);
  return { events, stop: () => requestChannel.unsubscribe(listener) };
}

describe('basic auth over TLS (htpasswd)', () => {
  it('pushes and pulls with credentials, over HTTPS trusted through the ca option', async () => {
    const store = await freshStore();
    const image = await writeRandomImage(store, { name: `${basic.host}/private/app:1`, layerSizes: [20_000] });
    const watch = watchRequests();
    await push({ source: `${basic.host}/private/app:1`, store, client: client({ [basic.host]: { username: 'alice', password: users.alice } }) });
    const target = await freshStore();
    const pulled = await pull({ reference: `${basic.host}/private/app:1`, store: target, client: client({ [basic.host]: { username: 'bob', password: users.bob } }) });
    watch.stop();
    expect(pulled.digest).toBe(image.manifest.digest);
    expect(watch.events.length).toBeGreaterThan(0);
    expect(watch.events.every((event) => event.url.startsWith('https://'))).toBe(true);
    expect(JSON.stringify(watch.events)).not.toContain(users.alice);
  });

  it('fails with UNAUTHORIZED, without the password in the message', async () => {
    const error = await pull({ reference: `${basic.host}/private/app:1`, store: await freshStore(), client: client({ [basic.host]: { username: 'alice', password: 'wrong-password-123' } }) }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((error as Error).message).toContain(`${basic.host}/private/app:1`);
    expect((error as Error).message).toContain('UNAUTHORIZED');
    expect((error as Error).message).not.toContain('wrong-password-123');
  });

  it('fails anonymous pulls with UNAUTHORIZED', async () => {
    await expect(pull({ reference: `${basic.host}/private/app:1`, store: await freshStore(), client: client({}) })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('refuses a certificate it does not trust', async () => {
    const error = await pull({ reference: `${basic.host}/private/app:1`, store: await freshStore(), client: client({}, {}) }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'REGISTRY' });
    expect((error as Error).message).toMatch(/over HTTPS: .*(certificate|self.signed)/i);
  });

  it('checks credentials on login and writes them to the config file', async () => {
    const configDir = await mkdtemp(join(scratch, 'docker-'));
    await expect(login({ domain: basic.host, username: 'alice', password: 'nope-nope', configDir, client: { tls: { ca: tls.cert } } })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    const saved = await login({ domain: basic.host, username: 'alice', password: users.alice, configDir, client: { tls: { ca: tls.cert } } });
    expect(saved.path).toBe(join(configDir, 'config.json'));
  });

  it('never sends Authorization to another host on redirect', async () => {
    const proxy: FaultProxy = await startFaultProxy({ target: basic.url, ca: tls.cert, storageAuthorization: `Basic ${Buffer.from(`alice:${users.alice}`).toString('base64')}` });
    try {
      const store = await freshStore();
      const image = await writeRandomImage(store, { name: `${basic.host}/private/redirect:1`, layerSizes: [5000] });
      await push({ source: `${basic.host}/private/redirect:1`, store, client: client({ [basic.host]: { username: 'alice', password: users.alice } }) });
      const layer = image.layers[0]?.digest as Digest;
      proxy.add({ method: 'GET', path: new RegExp(`/blobs/${layer}$`), action: { kind: 'redirect', host: `localhost:${proxy.port}` } });
      // The proxy speaks plain HTTP on loopback; its upstream is the TLS registry.
      const target = await freshStore();
      await pull({ reference: `${proxy.host}/private/redirect:1`, store: target, client: client({ [proxy.host]: { username: 'alice', password: users.alice } }) });
      expect(await target.hasBlob(layer)).toBe(true);
      const toRegistry = proxy.requests.find((entry) => entry.path.endsWith(`/blobs/${layer}`) && !entry.path.startsWith('/__storage'));
      const toStorage = proxy.requests.find((entry) => entry.path.startsWith('/__storage/'));
      expect(toRegistry?.headers.authorization).toMatch(/^Basic /);
      expect(toStorage?.headers.host).toBe(`localhost:${proxy.port}`);
      expect(toStorage?.headers.authorization).toBeUndefined();
    } finally {
      await proxy.stop();
    }
  });
});

describe('token auth', () => {
  it('pushes with a pull,push token and pulls anonymously with a pull token', async () => {
    const store = await freshStore();
    const image = await writeRandomImage(store, { name: `${tokenRegistry.host}/team/app:1`, layerSizes: [30_000, 10_000] });
    tokens.requests.length = 0;
    await push({ source: `${tokenRegistry.host}/team/app:1`, store, client: client({ [tokenRegistry.host]: { username: 'alice', password: users.alice } }) });
    expect(tokens.requests.some((entry) => entry.user === 'alice' && entry.status === 200 && entry.scopes.includes('repository:team/app:pull,push'))).toBe(true);
    // One token serves the whole push: it is cached per scope set.
    expect(tokens.requests.filter((entry) => entry.scopes.join(' ') === 'repository:team/app:pull,push').length).toBe(1);

    tokens.requests.length = 0;
    const target = await freshStore();
    const pulled = await pull({ reference: `${tokenRegistry.host}/team/app:1`, store: target, client: client({}) });
    expect(pulled.digest).toBe(image.manifest.digest);
    expect(tokens.requests.every((entry) => entry.user === undefined)).toBe(true);
    expect(tokens.requests.some((entry) => entry.scopes.includes('repository:team/app:pull'))).toBe(true);
  });

  it('mounts across repositories with a token for both scopes', async () => {
    const store = await freshStore();
    await writeRandomImage(store, { name: `${tokenRegistry.host}/team/base:1`, layerSizes: [8000] });
    const credentials = { [tokenRegistry.host]: { username: 'alice', password: users.alice } };
    await push({ source: `${tokenRegistry.host}/team/base:1`, store, client: client(credentials) });
    tokens.requests.length = 0;
    const result = await push({ source: `${tokenRegistry.host}/team/base:1`, destinations: [`${tokenRegistry.host}/other/derived:1`], store, client: client(credentials) });
    expect(result.blobsMounted).toBe(2);
    expect(tokens.requests.some((entry) => entry.scopes.includes('repository:team/base:pull') && entry.scopes.includes('repository:other/derived:pull,push'))).toBe(true);
  });

  it('refuses anonymous pushes with UNAUTHORIZED naming the registry error', async () => {
    const store = await freshStore();
    await writeRandomImage(store, { name: `${tokenRegistry.host}/team/anon:1`, layerSizes: [1000] });
    const error = await push({ source: `${tokenRegistry.host}/team/anon:1`, store, client: client({}) }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((error as Error).message).toContain(`${tokenRegistry.host}/team/anon`);
  });

  it('fails with UNAUTHORIZED on wrong credentials, keeping them out of the message', async () => {
    const error = await pull({ reference: `${tokenRegistry.host}/team/app:1`, store: await freshStore(), client: client({ [tokenRegistry.host]: { username: 'alice', password: 'bad-secret-xyz' } }) }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((error as Error).message).not.toContain('bad-secret-xyz');
    expect((error as Error).message).toContain('invalid username or password');
  });

  it('uses an identity token through the OAuth2 refresh-token grant', async () => {
    tokens.requests.length = 0;
    const pulled = await pull({ reference: `${tokenRegistry.host}/team/app:1`, store: await freshStore(), client: client({ [tokenRegistry.host]: { identityToken: `bob:${users.bob}` } }) });
    expect(pulled.blobsFetched).toBeGreaterThan(0);
    expect(tokens.requests.some((entry) => entry.method === 'POST' && entry.user === 'bob')).toBe(true);
  });

  it('fetches a new token once the cached one expires', async () => {
    const shortTokens = await startTokenServer({ tls, signing, users, lifetimeSeconds: 11 });
    const shortRegistry = await startRegistry({ token: { realm: shortTokens.realm, service: shortTokens.service, issuer: shortTokens.issuer, rootCertBundle: signing.certPath } });
    try {
      const store = await freshStore();
      await writeRandomImage(store, { name: `${shortRegistry.host}/exp/app:1`, layerSizes: [1000] });
      const shared = client({ [shortRegistry.host]: { username: 'alice', password: users.alice } });
      await push({ source: `${shortRegistry.host}/exp/app:1`, store, client: shared });
      const before = shortTokens.requests.length;
      // The 11 s lifetime less the 10 s safety margin leaves the token unusable after a second.
      await new Promise((resolve) => setTimeout(resolve, 1200));
      await push({ source: `${shortRegistry.host}/exp/app:1`, destinations: [`${shortRegistry.host}/exp/app:2`], store, client: shared });
      expect(shortTokens.requests.length).toBeGreaterThan(before);
    } finally {
      await shortRegistry.stop();
      await shortTokens.stop();
    }
  });
});
