/**
 * A registry that lies, and images made to escape, pulled and built from with the CLI: a
 * manifest that never ends or says it is too large, an index of 300,000 entries, blobs whose
 * bytes are not their digest or not their size, a redirect to another host, and layers whose
 * entries climb out of the root. Every refusal exits non-zero naming the reference, digest or
 * path; nothing lands outside the store; `tsbuild verify` passes after each.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo, Socket } from 'node:net';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pack } from 'tar-stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MediaType, hostPlatform, type Digest } from '../../src/common/index.js';
import { encodeHeader, endOfArchive, padding } from '../../src/exporter/tar.js';
import { maxManifestBytes } from '../../src/common/index.js';
import { runCliCaptured, type CliResult } from '../helpers/run-cli.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { validateLayout } from '../helpers/validate.js';

const sha256 = (bytes: Uint8Array): Digest => `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;

interface HostileEntry {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link';
  readonly linkname?: string;
  readonly content?: string;
}

/** A tar written entry by entry as given, names with `..` and absolute ones included. */
async function hostileTar(entries: readonly HostileEntry[]): Promise<Buffer> {
  const packer = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of packer) chunks.push(chunk as Buffer);
  })();
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const header = { name: entry.name, type, mode: type === 'directory' ? 0o755 : 0o644, mtime: new Date(0), uid: 0, gid: 0, ...(entry.linkname === undefined ? {} : { linkname: entry.linkname }) };
    await new Promise<void>((resolve, reject) => {
      const callback = (error?: Error | null): void => (error ? reject(error) : resolve());
      if (type === 'file') packer.entry(header, entry.content ?? '', callback);
      else packer.entry(header, callback);
    });
  }
  packer.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** One file whose name, given in a PAX record, holds a NUL: `etc/ok` to a reader that stops there. */
function nulNameTar(): Buffer {
  const content = Buffer.from('pwned\n');
  return Buffer.concat([
    encodeHeader({ path: 'placeholder', type: 'file', size: content.length, mode: 0o644, uid: 0, gid: 0, mtime: 0, pax: { path: 'etc/ok\0/../../../escaped' } }),
    content,
    padding(content.length),
    endOfArchive,
  ]);
}

interface Blob {
  readonly digest: Digest;
  readonly bytes: Buffer;
}

interface ServedImage {
  readonly manifest: Blob;
  readonly config: Blob;
  readonly layers: readonly Blob[];
}

const blobOf = (bytes: Buffer): Blob => ({ digest: sha256(bytes), bytes });

/** An image of uncompressed layers (tar media type) whose config and manifest are consistent. */
function imageOf(layerTars: readonly Buffer[], configOverride?: Buffer): ServedImage {
  const layers = layerTars.map(blobOf);
  const platform = hostPlatform();
  const config = blobOf(
    configOverride ??
      Buffer.from(JSON.stringify({ architecture: platform.architecture, os: platform.os, config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.digest) } })),
  );
  const manifest = blobOf(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.bytes.length },
        layers: layers.map((layer) => ({ mediaType: MediaType.ociLayer, digest: layer.digest, size: layer.bytes.length })),
      }),
    ),
  );
  return { manifest, config, layers };
}

type Handler = (request: IncomingMessage, response: ServerResponse) => boolean;

interface HostileRegistry {
  readonly host: string;
  /** Bytes written in answer to manifest requests, all of them counted. */
  manifestBytesSent: number;
  /** Handlers tried before the images: the lies. */
  readonly handlers: Handler[];
  serve(repository: string, tag: string, image: ServedImage): void;
  stop(): Promise<void>;
}

/** A plain-HTTP distribution API on 127.0.0.1 serving what it is given, lies included. */
async function startHostileRegistry(): Promise<HostileRegistry> {
  const manifests = new Map<string, Blob>();
  const blobs = new Map<string, Buffer>();
  const sockets = new Set<Socket>();
  const registry: HostileRegistry = {
    host: '',
    manifestBytesSent: 0,
    handlers: [],
    serve(repository, tag, image) {
      manifests.set(`${repository}:${tag}`, image.manifest);
      manifests.set(`${repository}:${image.manifest.digest}`, image.manifest);
      for (const blob of [image.config, ...image.layers]) blobs.set(blob.digest, blob.bytes);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((request, response) => {
    const url = request.url ?? '';
    if (url === '/v2/' || url === '/v2') return void response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    for (const handler of registry.handlers) if (handler(request, response)) return;
    const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url);
    if (manifest !== null) {
      const found = manifests.get(`${manifest[1]}:${manifest[2]}`);
      if (found === undefined) return void response.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
      const headers = { 'content-type': MediaType.ociManifest, 'content-length': String(found.bytes.length), 'docker-content-digest': found.digest };
      response.writeHead(200, headers);
      return void response.end(request.method === 'HEAD' ? undefined : found.bytes);
    }
    const blob = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(url);
    const bytes = blob === null ? undefined : blobs.get(blob[2] ?? '');
    if (bytes === undefined) return void response.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}');
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) });
    response.end(request.method === 'HEAD' ? undefined : bytes);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  Object.assign(registry, { host: `127.0.0.1:${(server.address() as AddressInfo).port}` });
  return registry;
}

/** Every file under ROOT with its size: what a write after the fact would change. */
async function storeFiles(storeRoot: string): Promise<string[]> {
  const entries = await readdir(storeRoot, { recursive: true });
  return Promise.all(entries.sort().map(async (entry) => `${relative(storeRoot, join(storeRoot, entry))} ${(await stat(join(storeRoot, entry)).catch(() => undefined))?.size ?? 'gone'}`));
}

let registry: HostileRegistry;
let other: HostileRegistry;
let dir: string;
let root: string;
let outside: string;
let removeDir: () => Promise<void>;
let serial = 0;

beforeAll(async () => {
  registry = await startHostileRegistry();
  other = await startHostileRegistry();
});

afterAll(async () => {
  await registry.stop();
  await other.stop();
});

beforeEach(async () => {
  ({ path: dir, cleanup: removeDir } = await temporaryDirectory('tsbuild-hostile-'));
  root = join(dir, 'root');
  outside = join(dir, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'untouched\n');
});

afterEach(async () => {
  registry.handlers.length = 0;
  try {
    // Whatever was refused, the store is whole and nothing outside it changed.
    const verified = await runCliCaptured(['verify', '--root', root]);
    expect(verified.stderr).toBe('');
    expect(verified.status).toBe(0);
    await validateLayout(root);
    expect(await readdir(outside)).toEqual(['secret']);
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('untouched\n');
    expect((await readdir(dir)).filter((name) => !['outside', 'root', 'archive.tar'].includes(name) && !name.startsWith('ctx-'))).toEqual([]);
  } finally {
    await removeDir();
  }
});

const pull = (reference: string): Promise<CliResult> => runCliCaptured(['pull', '--root', root, '--quiet', reference]);

/** A fresh repository name: each test its own, so nothing is shared through the registry's maps. */
const repository = (what: string): string => `hostile/${what}-${++serial}`;

async function buildFrom(reference: string): Promise<CliResult> {
  const context = join(dir, `ctx-${++serial}`);
  await mkdir(context);
  await writeFile(join(context, 'Dockerfile'), `FROM ${reference}\nRUN true\n`);
  return runCliCaptured(['build', '--root', root, '--progress', 'plain', context]);
}

describe('a registry that lies', () => {
  it('reads at most the manifest limit of a manifest that never ends, and names the reference', async () => {
    const name = repository('endless');
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    registry.handlers.push((request, response) => {
      if (!request.url?.includes(`/${name}/manifests/`)) return false;
      response.writeHead(200, { 'content-type': MediaType.ociManifest });
      // Chunked, no length: only the reader can stop it.
      const write = (): void => {
        if (response.destroyed) return;
        registry.manifestBytesSent += chunk.length;
        if (registry.manifestBytesSent > 256 * 1024 * 1024) return void response.end();
        if (response.write(chunk)) setImmediate(write);
        else response.once('drain', write);
      };
      write();
      return true;
    });
    registry.manifestBytesSent = 0;
    const result = await pull(`${registry.host}/${name}:1`);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`pull manifest ${registry.host}/${name}:1: manifest exceeds the ${maxManifestBytes}-byte limit`);
    // A few socket buffers beyond the limit at most, never the 256 MiB on offer.
    expect(registry.manifestBytesSent).toBeLessThan(maxManifestBytes + 16 * 1024 * 1024);
  });

  it('refuses a manifest whose Content-Length is above the limit before reading it', async () => {
    const name = repository('declared');
    registry.handlers.push((request, response) => {
      if (!request.url?.includes(`/${name}/manifests/`)) return false;
      response.writeHead(200, { 'content-type': MediaType.ociManifest, 'content-length': String(maxManifestBytes + 1) });
      response.write('{');
      return true;
    });
    const result = await pull(`${registry.host}/${name}:1`);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`manifest of ${maxManifestBytes + 1} bytes exceeds the ${maxManifestBytes}-byte limit`);
  });

  it('refuses an index of 300,000 entries by its size', async () => {
    const name = repository('index');
    const entry = { mediaType: MediaType.ociManifest, digest: sha256(Buffer.from('x')), size: 1, platform: { architecture: 'amd64', os: 'linux' } };
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: Array.from({ length: 300_000 }, () => entry) }));
    expect(index.length).toBeGreaterThan(maxManifestBytes);
    registry.handlers.push((request, response) => {
      if (!request.url?.includes(`/${name}/manifests/`)) return false;
      response.writeHead(200, { 'content-type': MediaType.ociIndex, 'content-length': String(index.length) });
      response.end(index);
      return true;
    });
    const result = await pull(`${registry.host}/${name}:1`);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('exceeds the');
  });

  it('refuses documents whose fields have the wrong type, numbers past any size or nesting thousands deep, naming the reference and the field, never with a TypeError (BuildKit CVE-2024-23650 class)', async () => {
    const platform = hostPlatform();
    const layer = await hostileTar([{ name: 'file', content: 'shapes\n' }]);
    const config = (fields: Record<string, unknown>): Buffer => Buffer.from(JSON.stringify({ architecture: platform.architecture, os: platform.os, rootfs: { type: 'layers', diff_ids: [sha256(layer)] }, ...fields }));
    const wellFormed = imageOf([layer]);
    const entry = { mediaType: MediaType.ociManifest, digest: wellFormed.manifest.digest, size: wellFormed.manifest.bytes.length };
    const indexWith = (platformField: unknown): Buffer => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...entry, platform: platformField }] }));
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const cases: Array<{ what: string; image?: ServedImage; index?: Buffer; manifest?: Buffer; message: string }> = [
      { what: 'platform-string', index: indexWith('linux'), message: 'platform is not an object' },
      { what: 'platform-numbers', index: indexWith({ os: 5, architecture: null }), message: 'missing platform.architecture or platform.os' },
      { what: 'platform-variant', index: indexWith({ ...platform, variant: 7 }), message: 'platform.variant is not a string' },
      { what: 'config-null', manifest: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: null, layers: [] })), message: 'parse manifest config: not an object' },
      { what: 'env-string', image: imageOf([layer], config({ config: { Env: 'PATH=/bin' } })), message: 'config.Env is not an array of strings' },
      { what: 'history-string', image: imageOf([layer], config({ history: 'x' })), message: 'history is not an array' },
      { what: 'variant-number', image: imageOf([layer], config({ variant: 7 })), message: 'variant is not a string' },
      // Nested 100,000 deep in a member no reader knows (moby CVE-2021-21285 class): what prints or
      // copies the whole document walks it recursively and died of a stack overflow.
      { what: 'index-deep', index: Buffer.from(`${indexWith(platform).toString().slice(0, -1)},"x":${deep}}`), message: 'nested deeper than 1000 levels' },
      { what: 'manifest-deep', manifest: Buffer.from(`${wellFormed.manifest.bytes.toString().slice(0, -1)},"x":${deep}}`), message: 'nested deeper than 1000 levels' },
      { what: 'config-deep', image: imageOf([layer], Buffer.from(`${config({}).toString().slice(0, -1)},"x":${deep}}`)), message: 'nested deeper than 1000 levels' },
      // A size past any number: Infinity once parsed.
      { what: 'size-huge', manifest: Buffer.from(wellFormed.manifest.bytes.toString().replace(/"size":\d+/, `"size":1${'0'.repeat(400)}`)), message: 'invalid size' },
    ];
    for (const { what, image, index, manifest, message } of cases) {
      const name = repository(`shape-${what}`);
      registry.serve(name, '1', image ?? wellFormed);
      const document = index ?? manifest;
      if (document !== undefined) {
        registry.handlers.push((request, response) => {
          if (request.url !== `/v2/${name}/manifests/1`) return false;
          response.writeHead(200, { 'content-type': index === undefined ? MediaType.ociManifest : MediaType.ociIndex, 'content-length': String(document.length) });
          response.end(request.method === 'HEAD' ? undefined : document);
          return true;
        });
      }
      for (const result of [await pull(`${registry.host}/${name}:1`), await buildFrom(`${registry.host}/${name}:1`)]) {
        expect(result.status, what).toBe(1);
        expect(result.stderr, what).toContain(`${registry.host}/${name}:1`);
        expect(result.stderr, what).toContain(message);
        expect(result.stderr, what).not.toMatch(/TypeError|is not a function|Cannot read properties/);
      }
    }
  });

  it('refuses a digest that is not one before it reaches a URL or a path: in an index, a manifest, a config, a header (containers/image CVE-2024-3727)', async () => {
    const layer = await hostileTar([{ name: 'file', content: 'digests\n' }]);
    const wellFormed = imageOf([layer]);
    const hex = wellFormed.layers[0]?.digest.slice('sha256:'.length) ?? '';
    const malformed = [`sha256:${'../'.repeat(6)}v2/hostile/other/blobs/sha256:${hex}`, `sha256:${hex.toUpperCase()}`, `sha256:${hex}/../${hex}`, `sha256:${hex.slice(1)}`, `sha256:${hex}%2F..`, `md5:${hex.slice(0, 32)}`, `sha256%3A${hex}`];
    const manifestWith = (fields: Record<string, unknown>): Buffer => Buffer.from(JSON.stringify({ ...JSON.parse(wellFormed.manifest.bytes.toString()), ...fields }));
    const requested: string[] = [];
    registry.handlers.push((request) => {
      requested.push(request.url ?? '');
      return false;
    });
    for (const [index, digest] of malformed.entries()) {
      const configDescriptor = { mediaType: MediaType.ociConfig, digest: wellFormed.config.digest, size: wellFormed.config.bytes.length };
      const layerDescriptor = { mediaType: MediaType.ociLayer, digest, size: layer.length };
      const cases: Array<{ what: string; document: Buffer; mediaType: string; image?: ServedImage }> = [
        { what: 'index entry', mediaType: MediaType.ociIndex, document: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ mediaType: MediaType.ociManifest, digest, size: 12, platform: hostPlatform() }] })) },
        { what: 'manifest config', mediaType: MediaType.ociManifest, document: manifestWith({ config: { ...configDescriptor, digest } }) },
        { what: 'manifest layer', mediaType: MediaType.ociManifest, document: manifestWith({ layers: [layerDescriptor] }) },
        // A config whose diff ID is no digest: the manifest and its blobs are otherwise whole.
        { what: 'diff id', mediaType: MediaType.ociManifest, image: imageOf([layer], Buffer.from(JSON.stringify({ ...JSON.parse(wellFormed.config.bytes.toString()), rootfs: { type: 'layers', diff_ids: [digest] } }))), document: Buffer.alloc(0) },
      ];
      for (const { what, document, mediaType, image } of cases) {
        const name = repository(`digest-${index}-${what.replace(' ', '-')}`);
        registry.serve(name, '1', image ?? wellFormed);
        if (image === undefined) {
          registry.handlers.push((request, response) => {
            if (request.url !== `/v2/${name}/manifests/1`) return false;
            response.writeHead(200, { 'content-type': mediaType, 'content-length': String(document.length) });
            response.end(request.method === 'HEAD' ? undefined : document);
            return true;
          });
        }
        for (const result of [await pull(`${registry.host}/${name}:1`), await buildFrom(`${registry.host}/${name}:1`)]) {
          expect(result.status, `${what} ${digest}`).toBe(1);
          expect(result.stderr, `${what} ${digest}`).toContain(`${registry.host}/${name}:1`);
          expect(result.stderr, `${what} ${digest}`).toContain('invalid digest');
        }
      }
    }
    // A header claiming a digest that is no digest is a lie like any other.
    const name = repository('digest-header');
    registry.serve(name, '1', wellFormed);
    registry.handlers.unshift((request, response) => {
      if (request.url !== `/v2/${name}/manifests/1`) return false;
      response.writeHead(200, { 'content-type': MediaType.ociManifest, 'content-length': String(wellFormed.manifest.bytes.length), 'docker-content-digest': malformed[0] ?? '' });
      response.end(request.method === 'HEAD' ? undefined : wellFormed.manifest.bytes);
      return true;
    });
    expect((await pull(`${registry.host}/${name}:1`)).status).toBe(1);
    // Nothing of a malformed digest ever went into a request: only tags and well-formed digests.
    expect(requested.filter((url) => !/^\/v2\/hostile\/[a-z0-9-]+\/(manifests\/(1|sha256:[0-9a-f]{64})|blobs\/sha256:[0-9a-f]{64})$/.test(url))).toEqual([]);
  });

  it('refuses a config and a layer whose bytes are not their digest, naming the digest', async () => {
    for (const which of ['config', 'layer'] as const) {
      const name = repository(`swapped-${which}`);
      // A layer of its own: one the store holds already is not downloaded again.
      const image = imageOf([await hostileTar([{ name: 'file', content: `real ${which}\n` }])]);
      registry.serve(name, '1', image);
      const swapped = which === 'config' ? image.config : (image.layers[0] as Blob);
      // Same length, other bytes: only the digest can tell.
      const forged = Buffer.from(swapped.bytes);
      forged[forged.length - 3] = (forged[forged.length - 3] ?? 0) ^ 1;
      registry.handlers.push((request, response) => {
        if (request.url !== `/v2/${name}/blobs/${swapped.digest}`) return false;
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(forged.length) });
        response.end(request.method === 'HEAD' ? undefined : forged);
        return true;
      });
      const result = await pull(`${registry.host}/${name}:1`);
      expect(result.status, which).toBe(1);
      expect(result.stderr, which).toContain(swapped.digest);
      expect(result.stderr, which).toMatch(/content hashes to sha256:[0-9a-f]{64}, expected/);
      const listed = await runCliCaptured(['images', '--root', root, '--format', '{{.Repository}}']);
      expect(listed.stdout, which).not.toContain(name);
    }
  });

  it('refuses a blob longer than its descriptor says, whatever Content-Length claims', async () => {
    const name = repository('longer');
    const image = imageOf([await hostileTar([{ name: 'file', content: 'real\n' }])]);
    registry.serve(name, '1', image);
    const layer = image.layers[0] as Blob;
    const longer = Buffer.concat([layer.bytes, Buffer.alloc(1024 * 1024)]);
    registry.handlers.push((request, response) => {
      if (request.url !== `/v2/${name}/blobs/${layer.digest}`) return false;
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(longer.length) });
      response.end(request.method === 'HEAD' ? undefined : longer);
      return true;
    });
    const result = await pull(`${registry.host}/${name}:1`);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(layer.digest);
  });

  it('returns from a failed pull only once no other download of it writes to the store', async () => {
    const name = repository('settled');
    const image = imageOf([await hostileTar([{ name: 'bad', content: 'bad\n' }]), await hostileTar([{ name: 'slow', content: 'x'.repeat(256 * 1024) }])]);
    registry.serve(name, '1', image);
    const [bad, slow] = image.layers as [Blob, Blob];
    registry.handlers.push((request, response) => {
      if (request.url === `/v2/${name}/blobs/${slow.digest}`) {
        // Half of it, then nothing: a download in flight when the other one fails.
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(slow.bytes.length) });
        response.write(slow.bytes.subarray(0, 64 * 1024));
        return true;
      }
      if (request.url !== `/v2/${name}/blobs/${bad.digest}`) return false;
      const forged = Buffer.from(bad.bytes);
      forged[0] = (forged[0] ?? 0) ^ 1;
      setTimeout(() => response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(forged.length) }).end(forged), 300);
      return true;
    });
    const result = await pull(`${registry.host}/${name}:1`);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(bad.digest);
    const right = await storeFiles(root);
    await sleep(500);
    expect(await storeFiles(root)).toEqual(right);
  });

  it('ends a redirect loop, and a token realm that redirects in a loop or to another service, within a few requests; credentials stay with the registry', async () => {
    const looped = repository('looped');
    const image = imageOf([await hostileTar([{ name: 'file', content: 'loop\n' }])]);
    registry.serve(looped, '1', image);
    const layer = image.layers[0] as Blob;
    let blobRequests = 0;
    registry.handlers.push((request, response) => {
      if (!(request.url ?? '').startsWith(`/v2/${looped}/blobs/${layer.digest}`)) return false;
      blobRequests++;
      response.writeHead(302, { location: `/v2/${looped}/blobs/${layer.digest}?hop=${blobRequests}` }).end();
      return true;
    });
    const loopResult = await pull(`${registry.host}/${looped}:1`);
    expect(loopResult.status).toBe(1);
    expect(loopResult.stderr).toContain('too many redirects');
    expect(blobRequests).toBeGreaterThan(1);
    expect(blobRequests).toBeLessThanOrEqual(12);

    // A registry that asks for a token at a realm that redirects to itself forever, and one
    // whose realm sends the client on to another service on the loopback.
    const configDir = join(dir, 'ctx-docker-config');
    await mkdir(configDir);
    await writeFile(join(configDir, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('user:registry-secret').toString('base64') } } }));
    const elsewhere: Array<string | undefined> = [];
    other.handlers.push((request, response) => {
      elsewhere.push(request.headers.authorization);
      response.writeHead(302, { location: `http://${other.host}/elsewhere?again=${elsewhere.length}` }).end();
      return true;
    });
    let tokenRequests = 0;
    const realmAuthorizations: Array<string | undefined> = [];
    let next = (hop: number): string => `/token?hop=${hop}`;
    registry.handlers.push((request, response) => {
      if (!(request.url ?? '').startsWith('/token')) return false;
      tokenRequests++;
      realmAuthorizations.push(request.headers.authorization);
      response.writeHead(302, { location: next(tokenRequests) }).end();
      return true;
    });
    for (const [what, where] of [
      ['realm-loop', (hop: number): string => `http://${registry.host}/token?hop=${hop}`],
      ['realm-away', (): string => `http://${other.host}/service`],
    ] as const) {
      next = where;
      const name = repository(what);
      registry.serve(name, '1', image);
      registry.handlers.push((request, response) => {
        if (!(request.url ?? '').startsWith(`/v2/${name}/`)) return false;
        response.writeHead(401, { 'www-authenticate': `Bearer realm="http://${registry.host}/token",service="hostile"`, 'content-type': 'application/json' });
        response.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return true;
      });
      const saved = process.env.DOCKER_CONFIG;
      process.env.DOCKER_CONFIG = configDir;
      const before = tokenRequests;
      let result: CliResult;
      try {
        result = await pull(`${registry.host}/${name}:1`);
      } finally {
        if (saved === undefined) delete process.env.DOCKER_CONFIG;
        else process.env.DOCKER_CONFIG = saved;
      }
      expect(result.status, what).toBe(1);
      expect(result.stderr, what).toContain('too many redirects');
      expect(result.stderr, what).not.toContain('registry-secret');
      expect(tokenRequests - before, what).toBeGreaterThan(0);
      expect(tokenRequests - before + elsewhere.length, what).toBeLessThanOrEqual(12);
    }
    // The realm on the registry's own origin got the credentials; the other service never did.
    expect(realmAuthorizations.every((value) => value === `Basic ${Buffer.from('user:registry-secret').toString('base64')}`)).toBe(true);
    expect(elsewhere.length).toBeGreaterThan(0);
    expect(elsewhere.every((value) => value === undefined)).toBe(true);
    other.handlers.length = 0;
  });

  it('refuses a blob that never ends once it passes its size, naming the digest', async () => {
    const name = repository('never-ends');
    const image = imageOf([await hostileTar([{ name: 'file', content: 'endless\n' }])]);
    registry.serve(name, '1', image);
    const layer = image.layers[0] as Blob;
    let sent = 0;
    registry.handlers.push((request, response) => {
      if (request.url !== `/v2/${name}/blobs/${layer.digest}`) return false;
      // No Content-Length: chunks, forever, until the client hangs up.
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const write = (): void => {
        while (!response.destroyed && sent < 1024 * 1024 * 1024 && response.write(chunk)) sent += chunk.length;
      };
      response.on('drain', write);
      write();
      return true;
    });
    const result = await pull(`${registry.host}/${name}:1`);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(layer.digest);
    // What was read before the refusal is about the descriptor's size, not the stream's.
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });

  it('follows a redirect to another host for a blob, and checks what it serves there', async () => {
    const name = repository('redirected');
    const image = imageOf([await hostileTar([{ name: 'file', content: 'real\n' }])]);
    registry.serve(name, '1', image);
    other.serve(name, '1', image);
    const layer = image.layers[0] as Blob;
    registry.handlers.push((request, response) => {
      if (request.url !== `/v2/${name}/blobs/${layer.digest}`) return false;
      response.writeHead(307, { location: `http://${other.host}/v2/${name}/blobs/${layer.digest}` }).end();
      return true;
    });
    const result = await pull(`${registry.host}/${name}:1`);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('documents and answers that say two things', () => {
  it('refuses a document that is both a manifest and an index, or whose declared type disagrees with what it holds, by tag, by digest and from an index (CVE-2021-41190)', async () => {
    const image = imageOf([await hostileTar([{ name: 'file', content: 'ambiguous\n' }])]);
    const manifest = JSON.parse(image.manifest.bytes.toString()) as Record<string, unknown>;
    const other = imageOf([await hostileTar([{ name: 'other', content: 'the other reading\n' }])]);
    const entry = { mediaType: MediaType.ociManifest, digest: other.manifest.digest, size: other.manifest.bytes.length, platform: hostPlatform() };
    const { mediaType: _dropped, ...untyped } = manifest;
    // A puller that reads `layers` pulls one image, one that reads `manifests` another.
    const both = Buffer.from(JSON.stringify({ ...untyped, manifests: [entry] }));
    const asIndex = Buffer.from(JSON.stringify({ ...untyped, mediaType: MediaType.ociIndex, manifests: [entry] }));
    const asManifest = Buffer.from(JSON.stringify({ ...manifest, manifests: [entry] }));
    const cases: Array<{ what: string; document: Buffer; contentType: string }> = [
      { what: 'both-untyped-manifest', document: both, contentType: MediaType.ociManifest },
      { what: 'both-untyped-index', document: both, contentType: MediaType.ociIndex },
      { what: 'both-untyped-octets', document: both, contentType: 'application/octet-stream' },
      { what: 'both-as-index', document: asIndex, contentType: MediaType.ociIndex },
      { what: 'both-as-manifest', document: asManifest, contentType: MediaType.ociManifest },
      // The header says one thing, the content's own field another.
      { what: 'header-disagrees', document: image.manifest.bytes, contentType: MediaType.dockerManifest },
      { what: 'header-index', document: image.manifest.bytes, contentType: MediaType.ociIndex },
    ];
    for (const { what, document, contentType } of cases) {
      const name = repository(`ambiguous-${what}`);
      registry.serve(name, '1', image);
      registry.serve(name, 'other', other);
      const digest = sha256(document);
      // The document under its tag and its digest; an index naming it as a manifest under `child`.
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ mediaType: MediaType.ociManifest, digest, size: document.length, platform: hostPlatform() }] }));
      registry.handlers.push((request, response) => {
        const url = request.url ?? '';
        const served = url === `/v2/${name}/manifests/1` || url === `/v2/${name}/manifests/${digest}` ? document : url === `/v2/${name}/manifests/child` ? index : undefined;
        if (served === undefined) return false;
        response.writeHead(200, { 'content-type': served === index ? MediaType.ociIndex : contentType, 'content-length': String(served.length), 'docker-content-digest': sha256(served) });
        response.end(request.method === 'HEAD' ? undefined : served);
        return true;
      });
      for (const reference of [`${registry.host}/${name}:1`, `${registry.host}/${name}@${digest}`, `${registry.host}/${name}:child`]) {
        for (const result of [await pull(reference), await buildFrom(reference)]) {
          expect([what, reference, result.status]).toEqual([what, reference, 1]);
          expect(result.stderr, `${what} ${reference}`).toContain(`${registry.host}/${name}`);
          expect(result.stderr, `${what} ${reference}`).toMatch(/is not an index|is not an image manifest|served as .* but declares|descriptor says .* but content is/);
        }
      }
      const listed = await runCliCaptured(['images', '--root', root, '--format', '{{.Repository}}']);
      expect(listed.stdout, what).not.toContain(name);
    }
  });

  it('resumes a cut blob only from the range it asked for: a Content-Range that starts elsewhere, a 200 or a 206 without one, a 416, or bytes of another offset start it over, and what is stored is the blob', async () => {
    const content = Buffer.alloc(512 * 1024);
    for (let i = 0; i < content.length; i++) content[i] = (i * 7 + (i >> 9)) & 0xff;
    const lies: Record<string, (request: IncomingMessage, response: ServerResponse, bytes: Buffer, from: number) => void> = {
      'range-from-zero': (_request, response, bytes) => response.writeHead(206, { 'content-range': `bytes 0-${bytes.length - 1}/${bytes.length}`, 'content-length': String(bytes.length) }).end(bytes),
      'range-ahead': (_request, response, bytes, from) => response.writeHead(206, { 'content-range': `bytes ${from + 1000}-${bytes.length - 1}/${bytes.length}`, 'content-length': String(bytes.length - from - 1000) }).end(bytes.subarray(from + 1000)),
      'whole-200': (_request, response, bytes) => response.writeHead(200, { 'content-length': String(bytes.length) }).end(bytes),
      'no-content-range': (_request, response, bytes, from) => response.writeHead(206, { 'content-length': String(bytes.length - from) }).end(bytes.subarray(from)),
      'refused-416': (_request, response, bytes) => response.writeHead(416, { 'content-range': `bytes */${bytes.length}` }).end(),
      // The header says what was asked; the bytes are those from the start: only the digest can tell.
      'bytes-from-zero': (_request, response, bytes, from) => response.writeHead(206, { 'content-range': `bytes ${from}-${bytes.length - 1}/${bytes.length}`, 'content-length': String(bytes.length - from) }).end(bytes.subarray(0, bytes.length - from)),
    };
    for (const [what, lie] of Object.entries(lies)) {
      const name = repository(`range-${what}`);
      const image = imageOf([await hostileTar([{ name: 'file', content: `${what}\n${content.toString('latin1')}` }])]);
      registry.serve(name, '1', image);
      const layer = image.layers[0] as Blob;
      const ranges: Array<string | undefined> = [];
      registry.handlers.push((request, response) => {
        if (request.url !== `/v2/${name}/blobs/${layer.digest}` || request.method !== 'GET') return false;
        const range = request.headers.range;
        ranges.push(range);
        if (ranges.length === 1) {
          // Half, then the connection drops: the client holds a part and asks for the rest.
          response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(layer.bytes.length) });
          response.write(layer.bytes.subarray(0, layer.bytes.length >> 1), () => response.socket?.destroy());
          return true;
        }
        const from = /^bytes=(\d+)-$/.exec(range ?? '');
        if (from === null) return false;
        lie(request, response, layer.bytes, Number(from[1]));
        return true;
      });
      const result = await pull(`${registry.host}/${name}:1`);
      expect([what, result.stderr]).toEqual([what, '']);
      expect(result.status, what).toBe(0);
      // Asked for the rest once, then from the start, and no more.
      expect(ranges[1], what).toMatch(/^bytes=[1-9]\d*-$/);
      expect(ranges.slice(2), what).toEqual([undefined]);
      // What the store holds is the blob: verify, after each test, rehashes it.
    }
  }, 120_000);

  it('fails in bounded time, naming the registry, on a challenge of a megabyte, one of a thousand parameters and a quote that never closes, and a token answer that never ends', async () => {
    const cases: Array<{ what: string; challenge: string; message: RegExp }> = [
      { what: 'huge-challenge', challenge: `Bearer realm="http://${registry.host}/token",scope="${'a'.repeat(1024 * 1024)}"`, message: /Headers Overflow/ },
      // Within the header limit: thousands of parameters, then a quoted value that never closes.
      { what: 'many-params', challenge: `Bearer realm="http://${registry.host}/token-refused"${Array.from({ length: 1000 }, (_, i) => `,p${i}=`).join('')},x="${'\\'.repeat(4000)}`, message: /UNAUTHORIZED|authentication required/ },
      { what: 'endless-token', challenge: `Bearer realm="http://${registry.host}/token-endless",service="hostile"`, message: /token response is not JSON/ },
    ];
    let tokenBytes = 0;
    registry.handlers.push((request, response) => {
      const url = request.url ?? '';
      if (url.startsWith('/token-refused')) {
        response.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return true;
      }
      if (!url.startsWith('/token-endless')) return false;
      // A JSON string that never closes, chunked: only the reader can stop it.
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"token":"');
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const write = (): void => {
        while (!response.destroyed && tokenBytes < 1024 * 1024 * 1024 && response.write(chunk)) tokenBytes += chunk.length;
      };
      response.on('drain', write);
      write();
      return true;
    });
    for (const { what, challenge, message } of cases) {
      const name = repository(what);
      let asked = 0;
      registry.handlers.unshift((request, response) => {
        if (!(request.url ?? '').startsWith(`/v2/${name}/`)) return false;
        asked++;
        response.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' });
        response.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return true;
      });
      const started = Date.now();
      const result = await pull(`${registry.host}/${name}:1`);
      expect(result.status, what).toBe(1);
      expect(result.stderr, what).toContain(registry.host);
      expect(result.stderr, what).toMatch(message);
      expect(Date.now() - started, what).toBeLessThan(20_000);
      expect(asked, what).toBeLessThanOrEqual(12);
    }
    // About the cap on a token answer, not the gigabyte on offer.
    expect(tokenBytes).toBeLessThan(64 * 1024 * 1024);
  }, 120_000);
});

describe('token realms', () => {
  it('refuses a token realm without TLS on a host that may not use plain HTTP, and one of another scheme, before any request, the credentials sent nowhere', async () => {
    const configDir = join(dir, 'ctx-realm-config');
    await mkdir(configDir);
    await writeFile(join(configDir, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('user:realm-secret').toString('base64') } } }));
    // 192.0.2.1 is TEST-NET-1: a request there would hang until a timeout, not fail at once.
    for (const realm of ['http://192.0.2.1/token', 'file:///etc/shadow', 'ftp://127.0.0.1/token', 'data:,token']) {
      const name = repository('realm');
      registry.handlers.push((request, response) => {
        if (!(request.url ?? '').startsWith(`/v2/${name}/`)) return false;
        response.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="hostile"`, 'content-type': 'application/json' });
        response.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return true;
      });
      const saved = process.env.DOCKER_CONFIG;
      process.env.DOCKER_CONFIG = configDir;
      const started = Date.now();
      let result: CliResult;
      try {
        result = await pull(`${registry.host}/${name}:1`);
      } finally {
        if (saved === undefined) delete process.env.DOCKER_CONFIG;
        else process.env.DOCKER_CONFIG = saved;
      }
      expect(result.status, realm).toBe(1);
      expect(result.stderr, realm).toContain(`authenticate to ${registry.host}: refusing token realm`);
      expect(result.stderr, realm).not.toContain('realm-secret');
      expect(Date.now() - started, realm).toBeLessThan(10_000);
    }
  });
});

describe('a push sent elsewhere', () => {
  it('uploads to an upload Location on another host without the registry\'s credentials, refuses a Location of another scheme, and a manifest stored under another digest', async () => {
    const configDir = join(dir, 'ctx-push-config');
    await mkdir(configDir);
    const basic = `Basic ${Buffer.from('user:push-secret').toString('base64')}`;
    await writeFile(join(configDir, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('user:push-secret').toString('base64') } } }));
    const tarPath = join(dir, 'ctx-push.tar');
    await writeFile(tarPath, await hostileTar([{ name: 'pushed', content: 'pushed elsewhere\n' }]));
    const saved = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = configDir;
    try {
      for (const [what, location] of [
        ['other-host', (): string => `http://${other.host}/upload/${++serial}`],
        ['file-scheme', (): string => 'file:///etc/passwd'],
        // The upload goes well; the registry then says it stored the manifest under another digest.
        ['lying-digest', (): string => `http://${other.host}/upload/${++serial}`],
      ] as const) {
        const name = repository(`push-${what}`);
        const atRegistry: Array<string | undefined> = [];
        const atOther: Array<{ method: string; authorization: string | undefined }> = [];
        registry.handlers.push((request, response) => {
          const url = request.url ?? '';
          if (!url.startsWith(`/v2/${name}/`)) return false;
          atRegistry.push(request.headers.authorization);
          if (request.headers.authorization !== basic) {
            response.writeHead(401, { 'www-authenticate': 'Basic realm="hostile"', 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
            return true;
          }
          request.resume();
          // Nothing is there yet; an upload opens at LOCATION; a manifest is taken.
          if (request.method === 'POST' && url.startsWith(`/v2/${name}/blobs/uploads/`)) response.writeHead(202, { location: location(), 'content-length': '0' }).end();
          else if (request.method === 'PUT' && url.includes('/manifests/')) response.writeHead(201, { 'content-length': '0', ...(what === 'lying-digest' ? { 'docker-content-digest': sha256(Buffer.from('another manifest')) } : {}) }).end();
          else response.writeHead(404).end();
          return true;
        });
        other.handlers.push((request, response) => {
          if (!(request.url ?? '').startsWith('/upload/')) return false;
          atOther.push({ method: request.method ?? '', authorization: request.headers.authorization });
          request.resume();
          request.on('end', () => response.writeHead(201, { 'content-length': '0' }).end());
          return true;
        });
        expect((await runCliCaptured(['import', '--root', root, tarPath, `${registry.host}/${name}:1`])).status).toBe(0);
        const result = await runCliCaptured(['push', '--root', root, '--quiet', `${registry.host}/${name}:1`]);
        expect(result.stderr, what).not.toContain('push-secret');
        if (what === 'other-host') {
          expect(result.stderr, what).toBe('');
          expect(result.status, what).toBe(0);
          // The blobs went to the other host, with nothing of the registry's credentials.
          expect(atOther.length, what).toBeGreaterThan(0);
          expect(atOther.every((entry) => entry.authorization === undefined), what).toBe(true);
        } else if (what === 'lying-digest') {
          expect(result.status, what).toBe(1);
          expect(result.stderr, what).toContain(`push manifest: registry stored ${sha256(Buffer.from('another manifest'))} instead of sha256:`);
        } else {
          expect(result.status, what).toBe(1);
          expect(result.stderr, what).toContain(`${registry.host}/${name}`);
          expect(result.stderr, what).toMatch(/file:/);
          expect(atOther, what).toEqual([]);
        }
        expect(atRegistry.some((value) => value === basic), what).toBe(true);
        other.handlers.length = 0;
      }
    } finally {
      if (saved === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = saved;
    }
  });
});

describe('a layer with foreign URLs', () => {
  /** IMAGE with URLS on its layer: where a non-distributable layer may be fetched from. */
  function withUrls(image: ServedImage, urls: readonly string[]): ServedImage {
    const manifest = JSON.parse(image.manifest.bytes.toString('utf8')) as { layers: { urls?: readonly string[] }[] };
    for (const layer of manifest.layers) layer.urls = urls;
    return { ...image, manifest: blobOf(Buffer.from(JSON.stringify(manifest))) };
  }

  // containerd CVE-2020-15157: a manifest that names a URL of the attacker's for its layer made
  // containerd fetch it there, with the registry's credentials. tsbuild takes every blob from
  // the registry by digest: the URL is never asked, whether the registry has the blob or not.
  it('never fetches a layer from its urls: the registry serves it by digest, or the pull fails', async () => {
    const asked: string[] = [];
    other.handlers.push((request) => {
      asked.push(`${request.method ?? ''} ${request.url ?? ''} ${request.headers.authorization ?? ''}`);
      return false;
    });
    try {
      const served = repository('foreign-served');
      const image = withUrls(imageOf([await hostileTar([{ name: 'file', content: 'from the registry\n' }])]), [`http://${other.host}/v2/${served}/blobs/x`, `http://${other.host}/layer.tar`]);
      registry.serve(served, '1', image);
      const pulled = await pull(`${registry.host}/${served}:1`);
      expect(pulled.stderr).toBe('');
      expect(pulled.status).toBe(0);
      // A build resolves the image through the registry again and copies from the layer.
      const context = join(dir, `ctx-${++serial}`);
      await mkdir(context);
      await writeFile(join(context, 'Dockerfile'), `FROM scratch\nCOPY --from=${registry.host}/${served}:1 /file /copied\n`);
      const built = await runCliCaptured(['build', '--root', root, '--progress', 'plain', '--pull', context]);
      expect(built.stderr).not.toMatch(/ERROR/);
      expect(built.status).toBe(0);

      // The registry does not have it (a non-distributable layer); the URL does.
      const missing = repository('foreign-missing');
      const layerBytes = await hostileTar([{ name: 'file', content: 'from the URL\n' }]);
      const foreign = withUrls(imageOf([layerBytes]), [`http://${other.host}/layer.tar`]);
      registry.serve(missing, '1', { ...foreign, layers: [] });
      other.handlers.push((request, response) => {
        if (request.url !== '/layer.tar') return false;
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(layerBytes.length) }).end(layerBytes);
        return true;
      });
      const refused = await pull(`${registry.host}/${missing}:1`);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain((foreign.layers[0] as Blob).digest);
      expect(asked).toEqual([]);
    } finally {
      other.handlers.length = 0;
    }
  });
});

describe('layers made to escape', () => {
  /** Pulls an image of LAYERS (fine: the registry's bytes are what they claim) and builds FROM it. */
  async function pullAndBuild(what: string, layers: readonly Buffer[]): Promise<CliResult> {
    const name = repository(what);
    registry.serve(name, '1', imageOf(layers));
    const pulled = await pull(`${registry.host}/${name}:1`);
    expect(pulled.stderr).toBe('');
    expect(pulled.status).toBe(0);
    return buildFrom(`${registry.host}/${name}:1`);
  }

  it('refuses entries that climb with .., naming the entry', async () => {
    const result = await pullAndBuild('dotdot', [await hostileTar([{ name: 'ok', content: 'ok\n' }, { name: `../../../../../../../..${outside}/secret`, content: 'pwned\n' }])]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`unpack "../../../../../../../..${outside}/secret": entry name contains ..`);
  });

  it('refuses hard links out of the root, directly and through a symlink, and to an entry not there yet', async () => {
    const up = `../../../../../../..${outside}/secret`;
    const cases: Array<[string, HostileEntry[], string]> = [
      ['hardlink-out', [{ name: 'hl', type: 'link', linkname: up }], `unpack "hl": hard link target ${JSON.stringify(up)} contains ..`],
      // The symlink is followed inside the root, where there is no such file.
      ['hardlink-through', [{ name: 'a', type: 'symlink', linkname: '/' }, { name: 'hl', type: 'link', linkname: `a${outside}/secret` }], `unpack "hl": hard link target "a${outside}/secret" does not exist in the layer`],
      ['hardlink-later', [{ name: 'hl', type: 'link', linkname: 'later' }, { name: 'later', content: 'x\n' }], 'unpack "hl": hard link target "later" does not exist in the layer'],
    ];
    for (const [what, entries, message] of cases) {
      const tar = await hostileTar(entries);
      const result = await pullAndBuild(what, [tar]);
      expect(result.status, what).toBe(1);
      // The layer's digest says which blob to look at.
      expect(result.stderr, what).toContain(`layer ${sha256(tar)}: ${message}`);
    }
  });

  it('refuses whiteouts that climb, and a name with a NUL', async () => {
    for (const [what, tar, message] of [
      ['whiteout-dots', await hostileTar([{ name: '.wh...', content: '' }]), 'unpack ".wh...": invalid whiteout'],
      ['whiteout-up', await hostileTar([{ name: '../.wh.outside', content: '' }]), 'unpack "../.wh.outside": entry name contains ..'],
      ['nul-name', nulNameTar(), 'NUL in entry name'],
    ] as const) {
      const result = await pullAndBuild(what, [tar]);
      expect(result.status, what).toBe(1);
      expect(result.stderr, what).toContain(message);
    }
  });

  it('refuses a layer whose entry promises gigabytes the layer does not hold, naming both, and keeps no half-unpacked root', async () => {
    const content = Buffer.alloc(64 * 1024, 0x61);
    // A consistent blob (its digest and size are what the manifest says) whose tar lies inside.
    const tar = Buffer.concat([encodeHeader({ path: 'huge', type: 'file', size: 8 * 1024 * 1024 * 1024 - 1, mode: 0o644, uid: 0, gid: 0, mtime: 0 }), content]);
    for (let attempt = 0; attempt < 2; attempt++) {
      const result = attempt === 0 ? await pullAndBuild('huge-entry', [tar]) : await buildFrom(`${registry.host}/hostile/huge-entry-${serial - 1}:1`);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`layer ${sha256(tar)}`);
      expect(result.stderr).toContain('unexpected end of archive in the content of "huge"');
      // Nothing half unpacked is kept as the layer's root filesystem, nor left behind.
      expect((await readdir(join(root, 'layers'))).filter((name) => name !== 'sha256' && name !== 'empty')).toEqual([]);
      expect(await readdir(join(root, 'layers', 'sha256')).catch(() => [])).toEqual([]);
    }
  });

  it('keeps writes through planted symlinks inside the root: a -> / then a/etc/passwd, a directory replacing a link, an opaque marker under a link', async () => {
    const result = await pullAndBuild('through-links', [
      await hostileTar([
        { name: 'a', type: 'symlink', linkname: '/' },
        { name: 'a/etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
        { name: 'up', type: 'symlink', linkname: `../../../../../../../..${outside}` },
        { name: 'up/secret', content: 'pwned\n' },
        { name: 'abs', type: 'symlink', linkname: outside },
        { name: 'abs/.wh..wh..opq', content: '' },
        { name: 'abs/.wh.secret', content: '' },
        { name: 'replaced', type: 'symlink', linkname: outside },
        { name: 'replaced', type: 'directory' },
        { name: 'replaced/secret', content: 'inside\n' },
        { name: 'bin/sh', type: 'symlink', linkname: '/bin/true' },
      ]),
    ]);
    // The layer holds no working shell: the RUN fails, but only after the layer was unpacked.
    expect(result.stderr).not.toContain('UNSAFE');
    expect(result.stderr).not.toContain('unpack "');
  });
});

describe('docker load of a hostile archive', () => {
  it('loads it (the archive is consistent) and refuses its layer when it is unpacked', async () => {
    const layer = await hostileTar([{ name: 'ok', content: 'ok\n' }, { name: `../escaped`, content: 'pwned\n' }]);
    const image = imageOf([layer]);
    const archivePath = join(dir, 'archive.tar');
    await writeFile(archivePath, await dockerArchive(image, layer));
    const loaded = await runCliCaptured(['load', '--root', root, '-i', archivePath]);
    expect(loaded.stderr).toBe('');
    expect(loaded.status).toBe(0);
    const result = await buildFrom('hostile/loaded:1');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('unpack "../escaped": entry name contains ..');
  });

  it('refuses an archive whose config names a diff ID by a digest that is a path, loading nothing (containers/image CVE-2024-3727)', async () => {
    const layer = await hostileTar([{ name: 'ok', content: 'ok\n' }]);
    const platform = hostPlatform();
    const image = imageOf([layer], Buffer.from(JSON.stringify({ architecture: platform.architecture, os: platform.os, rootfs: { type: 'layers', diff_ids: [`sha256:${'../'.repeat(8)}${outside.slice(1)}/secret`] } })));
    const archivePath = join(dir, 'archive.tar');
    await writeFile(archivePath, await dockerArchive(image, layer));
    const loaded = await runCliCaptured(['load', '--root', root, '-i', archivePath]);
    expect(loaded.status).toBe(1);
    expect(loaded.stderr).toContain('invalid digest');
    const listed = await runCliCaptured(['images', '--root', root, '--format', '{{.Repository}}']);
    expect(listed.stdout).not.toContain('hostile/loaded');
  });
});

/** `docker save`'s layout of IMAGE (one uncompressed LAYER), tagged hostile/loaded:1. */
async function dockerArchive(image: ServedImage, layer: Buffer): Promise<Buffer> {
  const packer = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of packer) chunks.push(chunk as Buffer);
  })();
  const layerName = `${image.layers[0]?.digest.slice(7) ?? ''}/layer.tar`;
  const configName = `${image.config.digest.slice(7)}.json`;
  const files: Array<[string, Buffer]> = [
    ['manifest.json', Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ['hostile/loaded:1'], Layers: [layerName] }]))],
    [configName, image.config.bytes],
    [layerName, layer],
  ];
  for (const [name, bytes] of files) {
    await new Promise<void>((resolve, reject) => packer.entry({ name, mode: 0o644, mtime: new Date(0) }, bytes, (error) => (error ? reject(error) : resolve())));
  }
  packer.finalize();
  await done;
  return Buffer.concat(chunks);
}
