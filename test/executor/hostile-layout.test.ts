/**
 * OCI layouts made to lead out or to crash their reader (containerd's and BuildKit's local
 * content store advisories, BuildKit CVE-2024-23650): `--build-context NAME=oci-layout://DIR`
 * and `--cache-from type=local,src=DIR` whose index.json names a digest that climbs (a path,
 * not a digest), whose documents have fields of the wrong type, whose blob is a link to a host
 * file under another digest, or a fifo where a layer should be. Each is refused naming the
 * layout and what is wrong (a cache is passed over with a warning, as BuildKit does), never
 * with a TypeError of the reader, never by reading the host file into the store, never by
 * waiting forever; the host file is left as it was and the store verifies after each.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, parseDigest } from '../../src/common/index.js';
import { verifyStore } from '../../src/store/index.js';
import { buildFixture, type BuildFixture } from '../helpers/build.js';

const isRoot = process.getuid?.() === 0;
const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;
const sha256 = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');

/** What a reader that trusted the documents' shapes would fail with. */
const readerCrash = /is not a function|Cannot read properties|is not iterable/;

describe.runIf(isRoot)('OCI layouts that name paths or lie about their shape', () => {
  let fx: BuildFixture;
  /** A host file a climbing digest or a link names: never read into the store, never changed. */
  let outside: string;

  beforeAll(async () => {
    fx = await buildFixture();
    outside = join(fx.dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'HOST SECRET\n');
  }, 120_000);

  afterEach(async () => {
    expect(await readdir(outside)).toEqual(['secret']);
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('HOST SECRET\n');
    // Nothing of the host file came into the store.
    expect(await fx.store.blobSize(parseDigest(`sha256:${sha256('HOST SECRET\n')}`))).toBeUndefined();
    const report = await verifyStore(fx.store);
    expect(report.problems).toEqual([]);
  });

  afterAll(async () => {
    await fx.cleanup();
  });

  const manifestOf = (fields: Record<string, unknown>): string => JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, ...fields });
  const entry = (document: string): Record<string, unknown> => ({ mediaType: MediaType.ociManifest, digest: `sha256:${sha256(document)}`, size: Buffer.byteLength(document), annotations: { 'org.opencontainers.image.ref.name': 'latest' } });
  const climbing = (): string => `sha256:${'../'.repeat(12)}${outside.slice(1)}/secret`;
  const misnamed = 'ab'.repeat(32);

  /** Each layout: its index.json (an object, or text as it is), the blobs it holds, and what reading it must say. */
  const layouts = (): Array<{ name: string; index: unknown; blobs?: readonly string[]; links?: Record<string, string>; message: string }> => {
    const nullConfig = manifestOf({ config: null, layers: 'x' });
    const climbingLayer = manifestOf({ config: { mediaType: MediaType.ociConfig, digest: `sha256:${misnamed}`, size: 2 }, layers: [{ mediaType: MediaType.ociLayerGzip, digest: climbing(), size: 12 }] });
    // Nested 100,000 deep in a member no reader knows (moby CVE-2021-21285 class).
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const deepManifest = `${manifestOf({ config: { mediaType: MediaType.ociConfig, digest: `sha256:${misnamed}`, size: 2 }, layers: [] }).slice(0, -1)},"x":${deep}}`;
    const deepCache = `{"version":1,"layers":[],"records":[],"x":${deep}}`;
    const cacheManifest = manifestOf({ config: { mediaType: 'application/vnd.tsbuild.cache.config.v1+json', digest: `sha256:${sha256(deepCache)}`, size: Buffer.byteLength(deepCache) }, layers: [] });
    return [
      { name: 'manifest-deep', index: { schemaVersion: 2, manifests: [entry(deepManifest)] }, blobs: [deepManifest], message: 'nested deeper than 1000 levels' },
      { name: 'cache-document-deep', index: { schemaVersion: 2, manifests: [entry(cacheManifest)] }, blobs: [cacheManifest, deepCache], message: 'nested deeper than 1000 levels' },
      { name: 'climbing-digest', index: { schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: climbing(), size: 12, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }, message: 'invalid digest' },
      { name: 'manifests-string', index: { schemaVersion: 2, manifests: 'abc' }, message: 'parse index: manifests is not an array' },
      { name: 'digest-number', index: { schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: 5, size: 'x' }] }, message: 'parse index entry: missing digest' },
      { name: 'entry-null', index: { schemaVersion: 2, manifests: [null] }, message: 'parse index entry: not an object' },
      { name: 'index-array', index: [1, 2], message: 'parse index: not a JSON object' },
      { name: 'config-null', index: { schemaVersion: 2, manifests: [entry(nullConfig)] }, blobs: [nullConfig], message: 'parse manifest config: not an object' },
      { name: 'layer-climbing', index: { schemaVersion: 2, manifests: [entry(climbingLayer)] }, blobs: [climbingLayer], message: 'invalid digest' },
      // A link to the host file under a digest that is not its own: the store checks what it reads.
      { name: 'linked-blob', index: { schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: `sha256:${misnamed}`, size: 12, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }, links: { [misnamed]: join(outside, 'secret') }, message: `sha256:${misnamed}` },
    ];
  };

  async function writeLayout(dir: string, index: unknown, blobs: readonly string[] = [], links: Record<string, string> = {}): Promise<void> {
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(join(dir, 'index.json'), JSON.stringify(index));
    for (const blob of blobs) await writeFile(join(dir, 'blobs', 'sha256', sha256(blob)), blob);
    for (const [hex, target] of Object.entries(links)) await symlink(target, join(dir, 'blobs', 'sha256', hex));
  }

  it('refuses a --build-context layout whose documents name paths or have the wrong shape, naming the layout and what is wrong', async () => {
    const context = await fx.context('layout-context', { Dockerfile: 'FROM base\n' });
    // A cache document is no image: only --cache-from reads one.
    for (const { name, index, blobs, links, message } of layouts().filter((layout) => !layout.name.startsWith('cache-'))) {
      const dir = join(fx.dir, 'layouts', name);
      await writeLayout(dir, index, blobs, links);
      const result = await fx.build(['--build-context', `base=oci-layout://${dir}`, context]);
      expect(result.status, name).toBe(1);
      expect(result.stderr, name).toContain(`load context base from oci-layout ${dir}: `);
      expect(result.stderr, name).toContain(message);
      expect(result.stderr, name).not.toMatch(readerCrash);
    }
  }, 120_000);

  it('passes over a --cache-from layout whose documents name paths or have the wrong shape, with a warning naming it and what is wrong', async () => {
    for (const { name, index, blobs, links, message } of layouts()) {
      const dir = join(fx.dir, 'caches', name);
      await writeLayout(dir, index, blobs, links);
      // A step of its own each: the import is read only for a step the local cache misses.
      const context = await fx.context(`cache-${name}`, { Dockerfile: `FROM busybox\nRUN echo ${name} > /step\n` });
      const result = await fx.build(['--cache-from', `type=local,src=${dir}`, context]);
      expect(result.stderr, name).toContain(`cache local ${dir}: not imported: `);
      expect(result.stderr, name).toContain(message);
      expect(result.stderr, name).not.toMatch(readerCrash);
      expect(result.status, name).toBe(0);
    }
  }, 180_000);

  it('passes over a cached layer that is a fifo or a device instead of waiting on it or reading it without end', async () => {
    const context = await fx.context('cache-layer-context', { Dockerfile: 'FROM busybox\nRUN echo cached > /cached\n' });
    const exported = join(fx.dir, 'cache-layer-export');
    const made = await fx.build(['--cache-to', `type=local,dest=${exported}`, context]);
    expect(made.status).toBe(0);
    const manifestDigest = (JSON.parse(await readFile(join(exported, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> }).manifests[0]?.digest ?? expect.fail('no cache manifest');
    const manifest = JSON.parse(await readFile(join(exported, 'blobs', 'sha256', manifestDigest.slice('sha256:'.length)), 'utf8')) as { layers: Array<{ digest: string }> };
    // The step's own layer: the last one the cache holds.
    const layerHex = manifest.layers.at(-1)?.digest.slice('sha256:'.length) ?? expect.fail('no cached layer');
    for (const kind of ['fifo', 'device'] as const) {
      const dir = join(fx.dir, `cache-layer-${kind}`);
      await rm(dir, { recursive: true, force: true });
      expect(spawnSync('cp', ['-a', exported, dir]).status).toBe(0);
      const layer = join(dir, 'blobs', 'sha256', layerHex);
      await rm(layer);
      if (kind === 'fifo') expect(spawnSync('mkfifo', [layer]).status).toBe(0);
      else await symlink('/dev/zero', layer);
      // A root of its own, whose store lacks the layer, so that the import has to read it; in a
      // child, as a read that waits forever would hold this process too.
      const other = await buildFixture();
      try {
        const result = spawnSync(process.execPath, [bin, 'build', '--root', other.root, '--progress', 'plain', '--cache-from', `type=local,src=${dir}`, context], { encoding: 'utf8', timeout: 60_000 });
        expect(result.signal, kind).toBeNull();
        expect(result.stderr, kind).toContain(`cache local ${dir}: layer sha256:${layerHex} not used: read ${layer}: not a regular file`);
        expect(result.status, kind).toBe(0);
      } finally {
        await other.cleanup();
      }
    }
  }, 240_000);

  it('passes over a --cache-from whose cache document names a layer or a diff ID by a digest that is a path, reading nothing through it (containers/image CVE-2024-3727)', async () => {
    const context = await fx.context('cache-digest-context', { Dockerfile: 'FROM busybox\nRUN echo digests > /digests\n' });
    const exported = join(fx.dir, 'cache-digest-export');
    expect((await fx.build(['--cache-to', `type=local,dest=${exported}`, context])).status).toBe(0);
    const blob = (digest: string): string => join('blobs', 'sha256', digest.slice('sha256:'.length));
    const index = JSON.parse(await readFile(join(exported, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; size: number }> };
    const entry = index.manifests[0] ?? expect.fail('no cache manifest');
    const manifest = JSON.parse(await readFile(join(exported, blob(entry.digest)), 'utf8')) as { config: { digest: string; size: number } };
    const document = JSON.parse(await readFile(join(exported, blob(manifest.config.digest)), 'utf8')) as { layers: Array<{ digest: string; diffId: string }> };
    const secretHex = sha256('HOST SECRET\n');
    const variants: Array<[string, (layer: { digest: string; diffId: string }, value: string) => void, string]> = [
      ['layer-climbing', (layer, value) => (layer.digest = value), climbing()],
      ['layer-upper-case', (layer, value) => (layer.digest = value), `sha256:${secretHex.toUpperCase()}`],
      ['layer-algorithm', (layer, value) => (layer.digest = value), `sha1:${secretHex.slice(0, 40)}`],
      ['diff-id-climbing', (layer, value) => (layer.diffId = value), `sha256:${secretHex}/../../${'../'.repeat(10)}${outside.slice(1)}/secret`],
    ];
    for (const [name, change, value] of variants) {
      const dir = join(fx.dir, `cache-digest-${name}`);
      await rm(dir, { recursive: true, force: true });
      expect(spawnSync('cp', ['-a', exported, dir]).status).toBe(0);
      // Each document rewritten whole, so that every digest but the planted one is right.
      const changed = structuredClone(document);
      change(changed.layers.at(-1) ?? expect.fail('no layer'), value);
      const config = JSON.stringify(changed);
      await writeFile(join(dir, 'blobs', 'sha256', sha256(config)), config);
      const manifestText = JSON.stringify({ ...manifest, config: { ...manifest.config, digest: `sha256:${sha256(config)}`, size: Buffer.byteLength(config) } });
      await writeFile(join(dir, 'blobs', 'sha256', sha256(manifestText)), manifestText);
      await writeFile(join(dir, 'index.json'), JSON.stringify({ ...index, manifests: [{ ...entry, digest: `sha256:${sha256(manifestText)}`, size: Buffer.byteLength(manifestText) }] }));
      // A root of its own each, whose local cache knows nothing of the step: only the import could serve it.
      const other = await buildFixture();
      try {
        const result = await other.build(['--cache-from', `type=local,src=${dir}`, context]);
        expect(result.stderr, name).toContain(`cache local ${dir}: not imported: `);
        expect(result.stderr, name).toContain('is malformed');
        // The step ran (its base image's step may show CACHED, as BuildKit's does).
        expect(result.stderr, name).not.toMatch(/\] RUN [^\n]*\n#\d+ CACHED$/m);
        expect(result.stderr, name).toMatch(/\] RUN [^\n]*\n#\d+ cache miss/);
        expect(result.status, name).toBe(0);
        expect(await other.store.blobSize(parseDigest(`sha256:${secretHex}`)), name).toBeUndefined();
      } finally {
        await other.cleanup();
      }
    }
  }, 240_000);
});
