import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, type Descriptor, type Digest } from '../../src/common/index.js';
import { parseChallenges } from '../../src/registry/challenge.js';
import { RegistryClient, dockerConfigCredentials, eraseCredentials, pull, redactUrl, storeCredentials } from '../../src/registry/index.js';
import { openStore } from '../../src/store/index.js';
import { maxErrorBodyBytes, readCapped, statusError } from '../../src/registry/errors.js';
import { parseDocument } from '../../src/registry/manifest.js';
import { selectManifest } from '../../src/common/index.js';
import { redirectPolicy } from '../../src/registry/redirect.js';
import { backoff, retryPolicy } from '../../src/registry/retry.js';
import type { RegistryRequest, RegistryResponse, Send } from '../../src/registry/transport.js';
import { digestOf } from '../../src/registry/verify.js';

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'tsbuild-policies-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function response(status: number, headers: Record<string, string> = {}, url = 'https://registry.example/v2/'): RegistryResponse {
  return { status, headers, body: Readable.from([]), url: new URL(url) };
}

const request = (url: string, headers: Record<string, string> = {}): RegistryRequest => ({ method: 'GET', url: new URL(url), headers, context: { action: 'test' } });

describe('WWW-Authenticate parsing', () => {
  it('reads bearer parameters with quoted commas', () => {
    expect(parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' } },
    ]);
  });

  it('reads several challenges and unquoted values', () => {
    expect(parseChallenges('Basic realm="x", Bearer realm=https://t.example/token, error=insufficient_scope')).toEqual([
      { scheme: 'basic', params: { realm: 'x' } },
      { scheme: 'bearer', params: { realm: 'https://t.example/token', error: 'insufficient_scope' } },
    ]);
  });
});

describe('messages', () => {
  it('redacts user info and query values that may carry secrets', () => {
    expect(redactUrl('https://user:pass@r.example/v2/a/blobs/uploads/x?_state=abc&digest=sha256:1')).toBe(
      'https://REDACTED@r.example/v2/a/blobs/uploads/x?_state=REDACTED&digest=sha256%3A1',
    );
  });

  it('reads at most 64 KiB of an error body and quotes the registry code', async () => {
    const huge = Buffer.concat([Buffer.from('{"errors":[{"code":"DENIED","message":"'), Buffer.alloc(1 << 20, 'x'), Buffer.from('"}]}')]);
    const capped = await readCapped(Readable.from([huge.subarray(0, 100_000), huge.subarray(100_000)]));
    expect(capped.length).toBe(maxErrorBodyBytes);
    const small = statusError({ context: { action: 'pull manifest', reference: 'r.example/a:1', digest: 'sha256:00' }, method: 'GET', url: new URL('https://r.example/v2/a/manifests/1?token=secret'), status: 403, body: Buffer.from('{"errors":[{"code":"DENIED","message":"no access"}]}') });
    expect(small.code).toBe('UNAUTHORIZED');
    expect(small.message).toBe('pull manifest r.example/a:1 sha256:00: GET https://r.example/v2/a/manifests/1?token=REDACTED returned 403: DENIED: no access');
  });
});

describe('manifest media types', () => {
  const config: Descriptor = { mediaType: MediaType.ociConfig, digest: `sha256:${'1'.repeat(64)}` as Digest, size: 2 };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [] }));

  it('accepts a manifest whose header, content and descriptor agree', () => {
    const parsed = parseDocument(manifest, { what: 'm', contentType: MediaType.ociManifest, expected: { mediaType: MediaType.ociManifest, digest: digestOf(manifest), size: manifest.length } });
    expect(parsed.kind).toBe('manifest');
  });

  it('rejects content that declares another type than it is served as', () => {
    expect(() => parseDocument(manifest, { what: 'm', contentType: MediaType.dockerManifest })).toThrow(expect.objectContaining({ code: 'INVALID_MEDIA_TYPE' }));
  });

  it('rejects content whose type differs from its descriptor', () => {
    expect(() => parseDocument(manifest, { what: 'm', expected: { mediaType: MediaType.ociIndex, digest: digestOf(manifest), size: manifest.length } })).toThrow(
      expect.objectContaining({ code: 'INVALID_MEDIA_TYPE' }),
    );
  });

  it('rejects an index served as a manifest', () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    expect(() => parseDocument(index, { what: 'm', contentType: MediaType.ociManifest })).toThrow(expect.objectContaining({ code: 'INVALID_MEDIA_TYPE' }));
  });

  it('rejects schema 1', () => {
    expect(() => parseDocument(Buffer.from('{"schemaVersion":1,"fsLayers":[]}'), { what: 'm' })).toThrow(expect.objectContaining({ code: 'INVALID_MEDIA_TYPE' }));
  });

  it('rejects a descriptor with an invalid digest', () => {
    const bad = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { ...config, digest: 'sha256:../../etc' }, layers: [] }));
    expect(() => parseDocument(bad, { what: 'm' })).toThrow(expect.objectContaining({ code: 'INVALID_DIGEST' }));
  });
});

describe('platform selection', () => {
  const entry = (architecture: string, variant?: string): Descriptor => ({
    mediaType: MediaType.ociManifest,
    digest: `sha256:${architecture.padEnd(64, '0').replace(/[^0-9a-f]/g, '0')}` as Digest,
    size: 1,
    platform: { os: 'linux', architecture, ...(variant === undefined ? {} : { variant }) },
  });
  const manifests = [entry('amd64'), entry('arm', 'v6'), entry('arm', 'v7'), entry('arm64', 'v8')];

  it('matches architecture and variant', () => {
    expect(selectManifest(manifests, { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(manifests[2]);
    expect(selectManifest(manifests, { os: 'linux', architecture: 'arm64' })).toBe(manifests[3]);
    expect(selectManifest(manifests, { os: 'linux', architecture: 'amd64' })).toBe(manifests[0]);
    expect(selectManifest(manifests, { os: 'linux', architecture: 'riscv64' })).toBeUndefined();
    expect(selectManifest(manifests, { os: 'windows', architecture: 'amd64' })).toBeUndefined();
  });
});

describe('transport policies', () => {
  it('allows plain HTTP only for loopback and insecure registries', async () => {
    const client = new RegistryClient({ insecureRegistries: ['registry.internal:5000', 'http://other.internal'] });
    try {
      expect(client.allowsPlainHttp('127.0.0.1:5000')).toBe(true);
      expect(client.allowsPlainHttp('localhost:5000')).toBe(true);
      expect(client.allowsPlainHttp('[::1]:5000')).toBe(true);
      expect(client.allowsPlainHttp('registry.internal:5000')).toBe(true);
      expect(client.allowsPlainHttp('other.internal:443')).toBe(true);
      expect(client.allowsPlainHttp('registry.internal:5001')).toBe(false);
      expect(client.allowsPlainHttp('127.0.0.1.example.com')).toBe(false);
      expect(client.allowsPlainHttp('registry.example.com')).toBe(false);
    } finally {
      await client.close();
    }
  });

  it('refuses a redirect from HTTPS to plain HTTP on another host', async () => {
    const send: Send = () => Promise.resolve(response(307, { location: 'http://storage.example/blob' }));
    const policy = redirectPolicy({ allowPlainHttp: () => false })(send);
    await expect(policy(request('https://registry.example/v2/a/blobs/x'))).rejects.toMatchObject({ code: 'REGISTRY' });
  });

  it('keeps Authorization on same-origin redirects and drops it elsewhere', async () => {
    const seen: Array<Record<string, string>> = [];
    const hops = ['https://registry.example/v2/elsewhere', 'https://storage.example/blob'];
    const send: Send = (req) => {
      seen.push({ ...req.headers });
      const next = hops.shift();
      return Promise.resolve(next === undefined ? response(200, {}, req.url.href) : response(302, { location: next }, req.url.href));
    };
    const final = await redirectPolicy({ allowPlainHttp: () => false })(send)(request('https://registry.example/v2/a', { authorization: 'Bearer t', accept: 'x' }));
    expect(final.url.href).toBe('https://storage.example/blob');
    expect(seen.map((headers) => headers.authorization)).toEqual(['Bearer t', 'Bearer t', undefined]);
    expect(seen[2]?.accept).toBe('x');
  });

  it('retries temporary statuses, not permanent ones, within the bound', async () => {
    let calls = 0;
    const statuses = [503, 429, 200];
    const send: Send = () => Promise.resolve(response(statuses[calls++] ?? 200));
    const ok = await retryPolicy(backoff({ attempts: 5, baseDelayMs: 1, maxDelayMs: 2 }))(send)(request('https://r.example/v2/'));
    expect(ok.status).toBe(200);
    expect(calls).toBe(3);

    let permanent = 0;
    const notFound: Send = () => {
      permanent++;
      return Promise.resolve(response(404));
    };
    expect((await retryPolicy(backoff({ attempts: 5, baseDelayMs: 1 }))(notFound)(request('https://r.example/v2/'))).status).toBe(404);
    expect(permanent).toBe(1);

    let always = 0;
    const down: Send = () => {
      always++;
      return Promise.resolve(response(503));
    };
    expect((await retryPolicy(backoff({ attempts: 3, baseDelayMs: 1, maxDelayMs: 2 }))(down)(request('https://r.example/v2/'))).status).toBe(503);
    expect(always).toBe(3);
  });
});

describe('docker credentials', () => {
  it('reads auths entries in their several spellings', async () => {
    const dir = await mkdtemp(join(scratch, 'cfg-'));
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: Buffer.from('hubuser:hubpass').toString('base64') },
          'https://registry.example:5000': { auth: Buffer.from('u:p:with:colons').toString('base64') },
          'token.example': { identitytoken: 'refresh-me' },
        },
      }),
    );
    const lookup = dockerConfigCredentials({ configDir: dir });
    expect(await lookup('docker.io')).toEqual({ username: 'hubuser', password: 'hubpass' });
    expect(await lookup('registry.example:5000')).toEqual({ username: 'u', password: 'p:with:colons' });
    expect(await lookup('token.example')).toEqual({ identityToken: 'refresh-me' });
    expect(await lookup('unknown.example')).toBeUndefined();
  });

  it("falls back to the containers tools' auth.json when docker's config has nothing", async () => {
    const dir = await mkdtemp(join(scratch, 'containers-auth-'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { 'both.example': { auth: Buffer.from('docker:first').toString('base64') } } }));
    const authFile = join(dir, 'auth.json');
    await writeFile(
      authFile,
      JSON.stringify({
        auths: {
          'both.example': { auth: Buffer.from('podman:second').toString('base64') },
          'quay.example/team': { auth: Buffer.from('buildah:scoped').toString('base64') },
        },
      }),
    );
    const lookup = dockerConfigCredentials({ configDir: dir, containersAuthFiles: [join(dir, 'missing.json'), authFile] });
    expect(await lookup('both.example')).toEqual({ username: 'docker', password: 'first' });
    expect(await lookup('quay.example')).toEqual({ username: 'buildah', password: 'scoped' });
    expect(await lookup('other.example')).toBeUndefined();

    // REGISTRY_AUTH_FILE names the one file, as for podman and skopeo.
    const saved = process.env.REGISTRY_AUTH_FILE;
    process.env.REGISTRY_AUTH_FILE = authFile;
    try {
      expect(await dockerConfigCredentials({ configDir: join(dir, 'empty') })('quay.example')).toEqual({ username: 'buildah', password: 'scoped' });
    } finally {
      if (saved === undefined) delete process.env.REGISTRY_AUTH_FILE;
      else process.env.REGISTRY_AUTH_FILE = saved;
    }
  });

  it('runs credential helpers for get, store and erase', async () => {
    const dir = await mkdtemp(join(scratch, 'helper-'));
    const bin = join(dir, 'bin');
    await mkdir(bin);
    const log = join(dir, 'helper.log');
    // A helper that keeps one secret in a file, as docker-credential-pass would in a keyring.
    const script = `#!/bin/sh
input=$(cat)
echo "$1 $input" >> ${JSON.stringify(log)}
case "$1" in
  get) if [ -f ${JSON.stringify(join(dir, 'secret'))} ]; then cat ${JSON.stringify(join(dir, 'secret'))}; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) printf '%s' "$input" > ${JSON.stringify(join(dir, 'secret'))} ;;
  erase) rm -f ${JSON.stringify(join(dir, 'secret'))} ;;
esac
`;
    await writeFile(join(bin, 'docker-credential-testhelper'), script);
    await chmod(join(bin, 'docker-credential-testhelper'), 0o755);
    await writeFile(join(dir, 'config.json'), JSON.stringify({ credHelpers: { 'helped.example': 'testhelper' } }));
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath ?? ''}`;
    try {
      const lookup = dockerConfigCredentials({ configDir: dir });
      expect(await lookup('helped.example')).toBeUndefined();
      const stored = await storeCredentials({ configDir: dir, domain: 'helped.example', username: 'carol', password: 'helper-secret' });
      expect(stored.helper).toBe('testhelper');
      expect(await lookup('helped.example')).toEqual({ username: 'carol', password: 'helper-secret' });
      expect(await lookup('other.example')).toBeUndefined();
      expect(await eraseCredentials({ configDir: dir, domain: 'helped.example' })).toBe(true);
      expect(await lookup('helped.example')).toBeUndefined();
      // The secret never went into config.json.
      expect(await readFile(join(dir, 'config.json'), 'utf8')).not.toContain('helper-secret');

      await writeFile(join(dir, 'config.json'), JSON.stringify({ credsStore: 'testhelper' }));
      await storeCredentials({ configDir: dir, domain: 'any.example', username: 'dave', password: 'store-secret' });
      expect(await lookup('any.example')).toEqual({ username: 'dave', password: 'store-secret' });
      expect(await readFile(log, 'utf8')).toContain('get any.example');
    } finally {
      process.env.PATH = savedPath;
    }
  });

  it('writes config.json with mode 0600 and keeps other settings', async () => {
    const dir = await mkdtemp(join(scratch, 'write-'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { 'keep.example': { auth: Buffer.from('k:v').toString('base64') } }, detachKeys: 'ctrl-x' }));
    await storeCredentials({ configDir: dir, domain: 'docker.io', username: 'me', password: 'pw' });
    const written = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }>; detachKeys: string };
    expect((await stat(join(dir, 'config.json'))).mode & 0o777).toBe(0o600);
    expect(written.detachKeys).toBe('ctrl-x');
    expect(Buffer.from(written.auths['https://index.docker.io/v1/']?.auth ?? '', 'base64').toString()).toBe('me:pw');
    expect(written.auths['keep.example']).toBeDefined();
    expect(await eraseCredentials({ configDir: dir, domain: 'docker.io' })).toBe(true);
    expect(await eraseCredentials({ configDir: dir, domain: 'docker.io' })).toBe(false);
    const after = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { auths: Record<string, unknown> };
    expect(Object.keys(after.auths)).toEqual(['keep.example']);
  });
});

describe('retries do not multiply', () => {
  it('gives up on a registry that drops every connection after one round of retries, not one per layer of code', async () => {
    let connections = 0;
    const server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = new RegistryClient({ credentials: () => Promise.resolve(undefined), retry: { attempts: 5, baseDelayMs: 1, maxDelayMs: 5 } });
    const root = await mkdtemp(join(tmpdir(), 'tsbuild-retries-'));
    try {
      const error = await pull({ reference: `127.0.0.1:${port}/gone/image:1`, store: await openStore({ root }), client }).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'REGISTRY', temporary: false });
      // One quick HTTPS attempt, then HTTP with its five attempts: 6. Each layer of retries
      // (request, then the whole operation) multiplied them to 31 before.
      expect(connections).toBe(6);
    } finally {
      await client.close();
      server.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
