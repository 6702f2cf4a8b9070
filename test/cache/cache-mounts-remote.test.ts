/**
 * Cache mounts that follow ephemeral runners: `--cache-to …,cache-mounts=true` exports what each
 * `RUN --mount=type=cache` id holds, and a fresh root with `--cache-from` finds it there before
 * the first step that mounts the id; an id whose contents did not change is not uploaded again;
 * a hostile cache mount layer never writes outside the cache's directory.
 */
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashHex, MediaType, parseDigest, readTar } from '../../src/common/index.js';
import { encodeHeader, endOfArchive, padding, type TarHeader } from '../../src/exporter/tar.js';
import { escapeCacheId } from '../../src/executor/cache-mounts.js';
import { decompressLayer } from '../../src/store/index.js';
import { buildFixture, ranSteps, type BuildFixture } from '../helpers/build.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { haveRegistry, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCliCaptured } from '../helpers/run-cli.js';

const dockerfile = [
  'FROM busybox',
  'ARG ROUND=0',
  'RUN echo "$ROUND" > /round',
  // What the mount holds when the step starts goes into the image; then the step adds to it.
  'RUN --mount=type=cache,id=collected,target=/cache --mount=type=cache,id=owned,target=/owned,uid=123,gid=456,mode=0750 ls /cache > /seen && stat -c "%u:%g %a" /owned > /owner && ls /owned > /seen-owned && echo "$(cat /round)" > /cache/round-$(cat /round) && ([ -e /owned/once ] || echo once > /owned/once)',
  '',
].join('\n');

interface CacheMountEntry {
  readonly id: string;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly layers: number[];
}

interface CacheDocumentRead {
  readonly layers: { digest: string; diffId: string; mediaType: string; size: number }[];
  readonly cacheMounts?: CacheMountEntry[];
}

async function textIn(fx: BuildFixture, image: string, path: string): Promise<string | undefined> {
  const resolved = await fx.image(image);
  let text: string | undefined;
  for (const layer of resolved.manifest.layers) {
    for (const file of await fx.layerFiles(layer)) if (file.path === path) text = file.text;
  }
  return text;
}

/** The cache document a registry holds under REF, read with plain HTTP. */
async function registryDocument(registryUrl: string, repository: string, tag: string): Promise<CacheDocumentRead> {
  const manifest = (await (await fetch(`${registryUrl}/v2/${repository}/manifests/${tag}`, { headers: { accept: MediaType.ociManifest } })).json()) as { config: { digest: string } };
  return (await (await fetch(`${registryUrl}/v2/${repository}/blobs/${manifest.config.digest}`)).json()) as CacheDocumentRead;
}

function layerOf(document: CacheDocumentRead, id: string): string {
  const entry = document.cacheMounts?.find((mount) => mount.id === id);
  const index = entry?.layers[0];
  if (entry === undefined || index === undefined || entry.layers.length !== 1) throw new Error(`no single layer for cache mount ${id}`);
  return document.layers[index]?.digest ?? '';
}

/** The digests whose upload a registry proxy saw completed (the PUT that names the digest). */
function uploaded(proxy: FaultProxy, from: number): string[] {
  return proxy.requests
    .slice(from)
    .filter((request) => request.method === 'PUT' && request.path.includes('/blobs/uploads/'))
    .map((request) => decodeURIComponent(/[?&]digest=([^&]+)/.exec(request.path)?.[1] ?? ''));
}

describe.skipIf(!haveRegistry())('cache mounts in the registry cache', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let a: BuildFixture;
  let b: BuildFixture;
  beforeAll(async () => {
    [registry, a, b] = await Promise.all([startRegistry(), buildFixture(), buildFixture()]);
    proxy = await startFaultProxy({ target: registry.url });
  });
  afterAll(async () => {
    await Promise.all([proxy?.stop(), registry?.stop(), a?.cleanup(), b?.cleanup()]);
  });

  it('files a cache mount collected on root A are there for the RUN on a fresh root B; an unchanged id is not uploaded again', async () => {
    const ref = `${proxy.host}/cache/mounts:buildcache`;
    const cacheTo = ['--cache-to', `type=registry,ref=${ref},mode=max,cache-mounts=true`];
    const contextA = await a.context('ctx', { Dockerfile: dockerfile });
    const first = await a.build(['-t', 'app', '--build-arg', 'ROUND=a', ...cacheTo, contextA]);
    expect(first.status, first.stderr).toBe(0);
    expect(await textIn(a, 'app', 'seen')).toBe('');
    const exportedByA = await registryDocument(registry.url, 'cache/mounts', 'buildcache');
    expect(exportedByA.cacheMounts?.map((mount) => [mount.id, mount.uid, mount.gid, mount.mode])).toEqual([
      ['collected', 0, 0, 0o755],
      ['owned', 123, 456, 0o750],
    ]);
    // The layer holds the directory's contents, below no prefix, with their owners.
    const collectedLayer = exportedByA.layers.find((layer) => layer.digest === layerOf(exportedByA, 'collected'));
    const entries: string[] = [];
    for await (const entry of readTar(decompressLayer(await a.store.openBlob(parseDigest(collectedLayer?.digest ?? '')), collectedLayer?.mediaType ?? ''))) entries.push(entry.header.name);
    expect(entries).toEqual(['round-a']);

    // Root B: the base image only. A change above the RUN makes it run again.
    const contextB = await b.context('ctx', { Dockerfile: dockerfile });
    const requestsBefore = proxy.requests.length;
    const second = await b.build(['-t', 'app', '--build-arg', 'ROUND=b', '--cache-from', `type=registry,ref=${ref}`, ...cacheTo, contextB]);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stderr).not.toContain('WARNING');
    expect(ranSteps(second.stderr)).toEqual(['[2/3] RUN echo "b" > /round', expect.stringContaining('[3/3] RUN --mount=type=cache,id=collected') as string]);
    expect(await textIn(b, 'app', 'seen')).toBe('round-a\n');
    expect(await textIn(b, 'app', 'seen-owned')).toBe('once\n');
    // The step's own ask for the directory's owner and mode holds on the restored cache.
    expect(await textIn(b, 'app', 'owner')).toBe('123:456 750\n');
    const restored = join(b.root, 'cache-mounts', 'collected', 'data');
    expect((await readdir(restored)).sort()).toEqual(['round-a', 'round-b']);
    expect(await readFile(join(restored, 'round-a'), 'utf8')).toBe('a\n');

    // B's export: the id that changed has a new layer, uploaded; the unchanged one is A's, not sent again.
    const exportedByB = await registryDocument(registry.url, 'cache/mounts', 'buildcache');
    const sent = uploaded(proxy, requestsBefore);
    expect(layerOf(exportedByB, 'owned')).toBe(layerOf(exportedByA, 'owned'));
    expect(sent).not.toContain(layerOf(exportedByA, 'owned'));
    expect(layerOf(exportedByB, 'collected')).not.toBe(layerOf(exportedByA, 'collected'));
    expect(sent).toContain(layerOf(exportedByB, 'collected'));

    // A runner whose build ran nothing (every step a hit) mounts nothing, and writes back the
    // cache mounts it was given.
    const c = await buildFixture();
    try {
      const hits = await c.build(['-t', 'app', '--build-arg', 'ROUND=b', '--cache-from', `type=registry,ref=${ref}`, ...cacheTo, await c.context('ctx', { Dockerfile: dockerfile })]);
      expect(hits.status, hits.stderr).toBe(0);
      expect(ranSteps(hits.stderr)).toEqual([]);
      const exportedByC = await registryDocument(registry.url, 'cache/mounts', 'buildcache');
      expect(exportedByC.cacheMounts?.map((mount) => [mount.id, layerOf(exportedByC, mount.id)])).toEqual([
        ['collected', layerOf(exportedByB, 'collected')],
        ['owned', layerOf(exportedByB, 'owned')],
      ]);
    } finally {
      await c.cleanup();
    }

    // A cache that is not empty is the runner's own: nothing is restored over it.
    await writeFile(join(restored, 'local-only'), 'kept\n');
    const third = await b.build(['-t', 'app', '--build-arg', 'ROUND=c', '--cache-from', `type=registry,ref=${ref}`, contextB]);
    expect(third.status, third.stderr).toBe(0);
    expect(await textIn(b, 'app', 'seen')).toBe('local-only\nround-a\nround-b\n');
    expect((await runCliCaptured(['verify', '--root', b.root])).status).toBe(0);
  }, 180_000);

  it('without cache-mounts=true the export carries no cache mount', async () => {
    const ref = `${registry.host}/cache/plain:buildcache`;
    const c = await buildFixture();
    try {
      const context = await c.context('ctx', { Dockerfile: dockerfile });
      const built = await c.build(['--build-arg', 'ROUND=x', '--cache-to', `type=registry,ref=${ref},mode=max`, context]);
      expect(built.status, built.stderr).toBe(0);
      expect((await registryDocument(registry.url, 'cache/plain', 'buildcache')).cacheMounts).toBeUndefined();
    } finally {
      await c.cleanup();
    }
  }, 120_000);
});

describe('cache mounts in an OCI layout directory', () => {
  it('type=local carries them too', async () => {
    const [e, f] = await Promise.all([buildFixture(), buildFixture()]);
    try {
      const layout = join(e.dir, 'layout');
      const built = await e.build(['--build-arg', 'ROUND=e', '--cache-to', `type=local,dest=${layout},mode=max,cache-mounts=true`, await e.context('ctx', { Dockerfile: dockerfile })]);
      expect(built.status, built.stderr).toBe(0);
      const imported = await f.build(['-t', 'app', '--build-arg', 'ROUND=f', '--cache-from', `type=local,src=${layout}`, await f.context('ctx', { Dockerfile: dockerfile })]);
      expect(imported.status, imported.stderr).toBe(0);
      expect(imported.stderr).not.toContain('WARNING');
      expect(await textIn(f, 'app', 'seen')).toBe('round-e\n');
    } finally {
      await Promise.all([e.cleanup(), f.cleanup()]);
    }
  }, 120_000);
});

/** A tar of HEADERS (with file CONTENT by name). */
function tarOf(entries: readonly (TarHeader & { content?: string })[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.content ?? '');
    parts.push(encodeHeaderUnchecked({ ...entry, size: entry.type === 'file' ? body.length : 0 }));
    if (entry.type === 'file') parts.push(body, padding(body.length));
  }
  parts.push(endOfArchive);
  return Buffer.concat(parts);
}

/**
 * The writer refuses `..` in names, as it should; a hostile layer is made by writing a harmless
 * name of the same length and patching the header (name and checksum) afterwards.
 */
function encodeHeaderUnchecked(header: TarHeader): Buffer {
  if (!header.path.includes('..')) return encodeHeader(header);
  const block = encodeHeader({ ...header, path: header.path.replaceAll('..', '__') });
  block.write(header.path, 0, 100, 'utf8');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block.subarray(0, 512)) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return block;
}

describe('a hostile cache mount layer', () => {
  let fx: BuildFixture;
  beforeAll(async () => {
    fx = await buildFixture();
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  it('never writes outside the cache directory: .., planted symlinks and hard links out stay in or are refused', async () => {
    const outside = join(fx.dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'host file\n');
    const base = { mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000 };
    const layers = {
      // Refused outright: the first entry climbs out.
      dotdot: tarOf([{ ...base, path: '../../../../outside-written', type: 'file', content: 'escaped\n' }]),
      // A symlink to the host directory, then a file through it: resolved inside the cache, as a chroot would.
      planted: tarOf([
        { ...base, path: 'link', type: 'symlink', linkname: outside },
        { ...base, path: 'link/written', type: 'file', content: 'through the link\n' },
        { ...base, path: 'kept', type: 'file', content: 'inside\n' },
      ]),
      // A hard link to a host file, through an absolute symlink: refused (no such file inside).
      hardlink: tarOf([
        { ...base, path: 'root', type: 'symlink', linkname: '/' },
        { ...base, path: 'stolen', type: 'link', linkname: `root${outside}/secret` },
      ]),
    };
    const layoutDir = join(fx.dir, 'layout');
    await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
    const put = async (bytes: Buffer): Promise<{ digest: string; size: number }> => {
      const digest = `sha256:${hashHex('sha256', bytes)}`;
      await writeFile(join(layoutDir, 'blobs', 'sha256', digest.slice(7)), bytes);
      return { digest, size: bytes.length };
    };
    const documentLayers = [];
    const cacheMounts = [];
    for (const [id, tar] of Object.entries(layers)) {
      const written = await put(tar);
      documentLayers.push({ mediaType: MediaType.ociLayer, ...written, diffId: written.digest });
      cacheMounts.push({ id, uid: 0, gid: 0, mode: 0o755, layers: [documentLayers.length - 1] });
    }
    const config = await put(Buffer.from(JSON.stringify({ version: 1, layers: documentLayers, records: [], cacheMounts })));
    const manifest = await put(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ociManifest,
          artifactType: 'application/vnd.tsbuild.cache.v1',
          config: { mediaType: 'application/vnd.tsbuild.cache.config.v1+json', ...config },
          layers: documentLayers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
        }),
      ),
    );
    await writeFile(join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(join(layoutDir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));

    const context = await fx.context('ctx', {
      Dockerfile: [
        'FROM busybox',
        'RUN --mount=type=cache,id=dotdot,target=/a --mount=type=cache,id=planted,target=/b --mount=type=cache,id=hardlink,target=/c ls -R /a > /seen-a && find /b | sort > /seen-b && ls /c > /seen-c',
        '',
      ].join('\n'),
    });
    const result = await fx.build(['-t', 'hostile', '--cache-from', `type=local,src=${layoutDir}`, context]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/cache mount "dotdot" not restored: .*contains \.\./);
    expect(result.stderr).toMatch(/cache mount "hardlink" not restored: .*hard link target/);
    // The host directory is as it was, and nothing appeared beside the cache folder.
    expect(await readdir(join(fx.root, 'cache-mounts'))).not.toContain('outside-written');
    expect((await readdir(outside)).sort()).toEqual(['secret']);
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('host file\n');
    // What was refused left an empty cache; what stayed inside is inside.
    expect(await textIn(fx, 'hostile', 'seen-a')).toBe('/a:\n');
    expect(await textIn(fx, 'hostile', 'seen-c')).toBe('');
    const planted = join(fx.root, 'cache-mounts', escapeCacheId('planted'), 'data');
    expect(await readFile(join(planted, 'kept'), 'utf8')).toBe('inside\n');
    expect(await readFile(join(planted, outside, 'written'), 'utf8')).toBe('through the link\n');
    expect((await stat(join(planted, 'link'))).isDirectory()).toBe(true);
  }, 120_000);
});
