/**
 * What a fresh root writes when it builds from a registry cache: every step hits, so no layer is
 * unpacked (nothing runs on one) and, when the build sends nothing on, only the layers' tars are
 * kept, not the compressed bytes that came. A later miss on top of those layers unpacks them and
 * runs; a build that exports keeps the fetched bytes and sends them on as they came.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LargestFirst } from '../../src/cache/build-cache.js';
import { buildFixture, imageFiles, ranSteps, type BuildFixture } from '../helpers/build.js';
import { haveRegistry, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runCliCaptured } from '../helpers/run-cli.js';

const dockerfile = ['FROM busybox', 'RUN echo one > /one', 'COPY a.txt /a.txt', 'RUN cat /a.txt /one > /both', 'COPY b.txt /b.txt', 'RUN cat /b.txt /both > /all', ''].join('\n');
const epoch = ['--build-arg', 'SOURCE_DATE_EPOCH=1700000000'];

/** Every entry under the root's unpacked layers (`layers/sha256`, `layers/diff`). */
async function snapshots(root: string): Promise<string[]> {
  const names: string[] = [];
  for (const kind of ['sha256', 'diff']) names.push(...(await readdir(join(root, 'layers', kind)).catch(() => [])).map((name) => `${kind}/${name}`));
  return names.sort();
}

const blobs = async (root: string): Promise<Set<string>> => new Set((await readdir(join(root, 'blobs', 'sha256'))).map((name) => `sha256:${name}`));

describe.skipIf(!haveRegistry())('what a fresh root writes for an import', () => {
  let registry: TestRegistry;
  let ref: string;
  /** The cache manifest's layers, as fetched. */
  let cacheLayers: { digest: string; mediaType: string }[];
  let expectedId: string;
  const fixtures: BuildFixture[] = [];

  const fresh = async (files: Record<string, string> = { 'a.txt': 'alpha\n', 'b.txt': 'beta\n' }): Promise<{ fx: BuildFixture; context: string }> => {
    const fx = await buildFixture();
    fixtures.push(fx);
    return { fx, context: await fx.context('ctx', { Dockerfile: dockerfile, ...files }) };
  };
  const manifestLayers = async (reference: string): Promise<{ digest: string; mediaType: string }[]> => {
    const [repository, tag] = reference.slice(registry.host.length + 1).split(':');
    const response = await fetch(`${registry.url}/v2/${repository}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    return ((await response.json()) as { layers: { digest: string; mediaType: string }[] }).layers;
  };

  beforeAll(async () => {
    registry = await startRegistry();
    ref = `${registry.host}/writes/app:cache`;
    const { fx, context } = await fresh();
    const built = await fx.build([...epoch, '--iidfile', join(fx.dir, 'iid'), '--cache-to', `type=registry,ref=${ref},mode=max`, context]);
    expect(built.status, built.stderr).toBe(0);
    expect(ranSteps(built.stderr)).toHaveLength(5);
    expectedId = await readFile(join(fx.dir, 'iid'), 'utf8');
    cacheLayers = await manifestLayers(ref);
    expect(cacheLayers.length).toBeGreaterThanOrEqual(3);
    expect(cacheLayers.every((layer) => layer.mediaType.endsWith('+gzip'))).toBe(true);
  });
  afterAll(async () => {
    await Promise.all([registry?.stop(), ...fixtures.map((fx) => fx.cleanup())]);
  });

  it('every step hitting: nothing unpacked, only the tars kept, the same image; a later miss on top still runs', async () => {
    const { fx, context } = await fresh();
    const before = await snapshots(fx.root);
    const had = await blobs(fx.root);
    // The base image's layer, already in the store, is not among them.
    const imported = cacheLayers.filter((layer) => !had.has(layer.digest));
    expect(imported.length).toBe(cacheLayers.length - 1);
    const result = await fx.build([...epoch, '-t', 'app', '--iidfile', join(fx.dir, 'iid'), '--cache-from', `type=registry,ref=${ref}`, context]);
    expect(result.status, result.stderr).toBe(0);
    expect(ranSteps(result.stderr)).toEqual([]);
    expect(await readFile(join(fx.dir, 'iid'), 'utf8')).toBe(expectedId);
    // No step ran, so no layer was needed as a directory.
    expect(await snapshots(fx.root)).toEqual(before);
    // The image names the tars; the gzip bytes the registry sent were not written.
    expect((await fx.image('app')).manifest.layers.slice(1).map((layer) => layer.mediaType)).toEqual(Array(imported.length).fill('application/vnd.oci.image.layer.v1.tar'));
    const after = await blobs(fx.root);
    expect(imported.filter((layer) => after.has(layer.digest))).toEqual([]);
    // Every hit became a local record, whether its layers arrived early or last.
    expect((await fx.store.readSideIndex('step-cache')).manifests).toHaveLength(5);
    expect((await runCliCaptured(['verify', '--root', fx.root])).status).toBe(0);

    // A change read by a late step: what follows it runs on the imported layers, unpacked now.
    await writeFile(join(context, 'b.txt'), 'changed\n');
    const edited = await fx.build([...epoch, '-t', 'app2', '--cache-from', `type=registry,ref=${ref}`, context]);
    expect(edited.status, edited.stderr).toBe(0);
    expect(ranSteps(edited.stderr)).toEqual(['[5/6] COPY b.txt /b.txt', '[6/6] RUN cat /b.txt /both > /all']);
    expect((await snapshots(fx.root)).length).toBeGreaterThan(before.length);
    expect((await imageFiles(fx, 'app2')).get('all')?.text).toBe('changed\nalpha\none\n');
    expect((await runCliCaptured(['verify', '--root', fx.root])).status).toBe(0);
  });

  it('a build that exports keeps the fetched bytes and sends them on as they came', async () => {
    const { fx, context } = await fresh();
    const had = await blobs(fx.root);
    const onward = `${registry.host}/writes/onward:cache`;
    const result = await fx.build([...epoch, '--iidfile', join(fx.dir, 'iid'), '--cache-from', `type=registry,ref=${ref}`, '--cache-to', `type=registry,ref=${onward},mode=max`, context]);
    expect(result.status, result.stderr).toBe(0);
    expect(ranSteps(result.stderr)).toEqual([]);
    expect(await readFile(join(fx.dir, 'iid'), 'utf8')).toBe(expectedId);
    const after = await blobs(fx.root);
    expect(cacheLayers.filter((layer) => !had.has(layer.digest) && !after.has(layer.digest))).toEqual([]);
    expect((await manifestLayers(onward)).map((layer) => layer.digest).sort()).toEqual(cacheLayers.map((layer) => layer.digest).sort());
    expect((await runCliCaptured(['verify', '--root', fx.root])).status).toBe(0);
  });
});

describe('layer fetches, largest first', () => {
  it('runs at most its slots at once, and starts the largest waiting task when one frees', async () => {
    const limit = new LargestFirst(2);
    const started: number[] = [];
    let running = 0;
    let most = 0;
    const releases = new Map<number, () => void>();
    const task = (size: number) => () => {
      started.push(size);
      most = Math.max(most, ++running);
      return new Promise<number>((resolve) => releases.set(size, () => resolve(size)));
    };
    const done = [1, 2, 3, 50, 4].map((size) => limit.run(size, task(size)));
    await Promise.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([1, 2]);
    const finish = async (size: number): Promise<void> => {
      running--;
      releases.get(size)?.();
      await new Promise((resolve) => setImmediate(resolve));
    };
    await finish(1);
    expect(started).toEqual([1, 2, 50]);
    await finish(2);
    expect(started).toEqual([1, 2, 50, 4]);
    await finish(50);
    await finish(4);
    await finish(3);
    expect(started).toEqual([1, 2, 50, 4, 3]);
    expect(most).toBe(2);
    expect(await Promise.all(done)).toEqual([1, 2, 3, 50, 4]);
  });

  it('a task that fails frees its slot and fails its caller only', async () => {
    const limit = new LargestFirst(1);
    const failing = limit.run(5, () => Promise.reject(new Error('boom')));
    const after = limit.run(1, () => Promise.resolve('ran'));
    await expect(failing).rejects.toThrow('boom');
    await expect(after).resolves.toBe('ran');
  });
});
