/**
 * What each export holds: mode=min the exported image's own steps, mode=max every stage's; the
 * inline cache rides in the pushed image and a fresh root builds from it; --cache-to flags are
 * checked before anything runs, and a failed export fails the build unless ignore-error=true.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCacheFrom, parseCacheTo } from '../../src/cache/index.js';
import type { Digest } from '../../src/common/index.js';
import { buildFixture, ranSteps, type BuildFixture } from '../helpers/build.js';
import { haveRegistry, startRegistry, type TestRegistry } from '../helpers/registry.js';

const dockerfile = [
  'FROM busybox AS builder',
  'RUN echo built > /artifact && echo other > /other',
  'FROM busybox',
  'COPY --from=builder /artifact /artifact',
  'RUN cat /artifact > /copy',
  '',
].join('\n');

async function records(dir: string): Promise<number> {
  const blob = (digest: string): string => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(await readFile(blob(index.manifests[0]?.digest ?? ''), 'utf8')) as { config: { digest: string; mediaType: string }; artifactType: string };
  expect(manifest.artifactType).toBe('application/vnd.tsbuild.cache.v1');
  expect(manifest.config.mediaType).toBe('application/vnd.tsbuild.cache.config.v1+json');
  return (JSON.parse(await readFile(blob(manifest.config.digest), 'utf8')) as { records: unknown[] }).records.length;
}

describe('cache flags', () => {
  it('reads buildx specs and refuses what it cannot do', () => {
    expect(parseCacheFrom('user/app:cache')).toEqual({ type: 'registry', ref: 'docker.io/user/app:cache' });
    expect(parseCacheFrom('type=local,src=/tmp/c')).toEqual({ type: 'local', src: '/tmp/c', tag: 'latest' });
    expect(parseCacheTo('type=registry,ref=r.example/a:c,mode=max,ignore-error=true')).toMatchObject({ type: 'registry', ref: 'r.example/a:c', mode: 'max', ignoreError: true, cacheMounts: false });
    expect(parseCacheTo('type=inline')).toMatchObject({ type: 'inline', mode: 'min' });
    expect(() => parseCacheTo('type=inline,mode=max')).toThrow(/inline/);
    expect(parseCacheTo('type=local,dest=/tmp/c,cache-mounts=true')).toMatchObject({ type: 'local', cacheMounts: true });
    expect(() => parseCacheTo('type=inline,cache-mounts=true')).toThrow(/cache mounts need/);
    expect(() => parseCacheTo('type=registry,ref=a,cache-mounts=yes')).toThrow(/true or false/);
    expect(() => parseCacheTo('type=registry,ref=a,mode=all')).toThrow(/mode/);
    expect(() => parseCacheTo('type=s3,bucket=b')).toThrow(/unsupported type/);
    expect(() => parseCacheTo('type=local')).toThrow(/dest=/);
    expect(() => parseCacheFrom('type=registry,ref=a,color=blue')).toThrow(/unknown attribute/);
  });
});

describe.skipIf(!haveRegistry())('cache modes and the inline cache', () => {
  let registry: TestRegistry;
  const fixtures: BuildFixture[] = [];
  const fresh = async (): Promise<{ fx: BuildFixture; context: string }> => {
    const fx = await buildFixture();
    fixtures.push(fx);
    return { fx, context: await fx.context('ctx', { Dockerfile: dockerfile }) };
  };
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await Promise.all([registry?.stop(), ...fixtures.map((fx) => fx.cleanup())]);
  });

  it('mode=min exports the image stage only, mode=max every stage', async () => {
    const { fx, context } = await fresh();
    const min = join(fx.dir, 'min');
    const max = join(fx.dir, 'max');
    const built = await fx.build(['--cache-to', `type=local,dest=${min}`, '--cache-to', `type=local,dest=${max},mode=max`, context]);
    expect(built.status, built.stderr).toBe(0);
    expect(ranSteps(built.stderr)).toHaveLength(3);
    expect(await records(max)).toBeGreaterThan(await records(min));
    // Each export is a step of the build's progress, after the image's, as BuildKit shows them.
    const exportSteps = built.stderr.match(/^#\d+ (exporting to image|exporting cache to client directory|preparing build cache for export done|DONE [\d.]+s)$/gm) ?? [];
    expect(exportSteps.filter((line) => !line.includes('DONE')).map((line) => line.replace(/^#\d+ /, ''))).toEqual([
      'exporting to image',
      'exporting cache to client directory',
      'preparing build cache for export done',
      'exporting cache to client directory',
      'preparing build cache for export done',
    ]);

    const fromMin = await fresh();
    const a = await fromMin.fx.build(['--cache-from', `type=local,src=${min}`, fromMin.context]);
    expect(a.status, a.stderr).toBe(0);
    expect(ranSteps(a.stderr)).toEqual(['[builder 2/2] RUN echo built > /artifact && echo other > /other']);

    const fromMax = await fresh();
    const b = await fromMax.fx.build(['--cache-from', `type=local,src=${max}`, fromMax.context]);
    expect(b.status, b.stderr).toBe(0);
    expect(ranSteps(b.stderr)).toEqual([]);
  });

  it('compression=zstd exports the layers in zstd, and a fresh root builds from them without running a step', async () => {
    const { fx, context } = await fresh();
    const dest = join(fx.dir, 'zstd');
    const built = await fx.build(['--cache-to', `type=local,dest=${dest},mode=max,compression=zstd`, context]);
    expect(built.status, built.stderr).toBe(0);
    const blob = (digest: string): string => join(dest, 'blobs', 'sha256', digest.slice('sha256:'.length));
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifest = JSON.parse(await readFile(blob(index.manifests[0]?.digest ?? ''), 'utf8')) as { layers: { mediaType: string; digest: string }[] };
    // The busybox base layer is gzip in the store too: every layer of the cache is zstd.
    expect(manifest.layers.length).toBeGreaterThan(1);
    for (const layer of manifest.layers) {
      expect(layer.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
      expect((await readFile(blob(layer.digest))).subarray(0, 4).toString('hex')).toBe('28b52ffd');
    }
    const other = await fresh();
    const rebuilt = await other.fx.build(['--cache-from', `type=local,src=${dest}`, other.context]);
    expect(rebuilt.status, rebuilt.stderr).toBe(0);
    expect(ranSteps(rebuilt.stderr)).toEqual([]);
  });

  it('the inline cache: pushed with the image, a fresh root builds from the image alone', async () => {
    const ref = `${registry.host}/inline/app:1`;
    const { fx, context } = await fresh();
    const pushed = await fx.build(['-t', ref, '--push', '--cache-to', 'type=inline', '--iidfile', join(fx.dir, 'iid'), context]);
    expect(pushed.status, pushed.stderr).toBe(0);
    const config = JSON.parse(await readFile(fx.store.blobPath((await fx.image(ref)).manifest.config.digest), 'utf8')) as Record<string, { records: unknown[] }>;
    expect(config['org.tsbuild.cache.v1']?.records.length).toBeGreaterThan(0);

    const other = await fresh();
    // The build argument docker build and buildx take for --cache-to type=inline: the same config.
    const rebuilt = await other.fx.build(['-t', ref, '--cache-from', ref, '--build-arg', 'BUILDKIT_INLINE_CACHE=true', '--iidfile', join(other.fx.dir, 'iid'), other.context]);
    expect(rebuilt.status, rebuilt.stderr).toBe(0);
    expect(rebuilt.stderr).not.toContain('were not consumed');
    // The builder stage is not in an inline cache (it is not the image's): it runs; the image's own steps do not.
    expect(ranSteps(rebuilt.stderr)).toEqual(['[builder 2/2] RUN echo built > /artifact && echo other > /other']);
    expect(await readFile(join(other.fx.dir, 'iid'), 'utf8')).toBe(await readFile(join(fx.dir, 'iid'), 'utf8'));
    // A value Go's ParseBool reads as false, or cannot read, asks for none.
    for (const value of ['0', 'yes']) {
      const plain = await other.fx.build(['-q', '--build-arg', `BUILDKIT_INLINE_CACHE=${value}`, other.context]);
      expect(plain.status, plain.stderr).toBe(0);
      const id = plain.stdout.toString().trim();
      const plainConfig = JSON.parse(await readFile(other.fx.store.blobPath(id as Digest), 'utf8')) as Record<string, unknown>;
      expect(plainConfig['org.tsbuild.cache.v1']).toBeUndefined();
    }
  });

  it('a failed export fails the build, unless ignore-error=true', async () => {
    const { fx, context } = await fresh();
    const unreachable = `127.0.0.1:9/nothing/here:cache`;
    const failed = await fx.build(['--cache-to', `type=registry,ref=${unreachable}`, context]);
    expect(failed.status).not.toBe(0);
    expect(failed.stderr).toMatch(/^#(\d+) exporting cache to registry\n(#\1 .*\n)*#\1 ERROR: .*ECONNREFUSED/m);
    const ignored = await fx.build(['--cache-to', `type=registry,ref=${unreachable},ignore-error=true`, context]);
    expect(ignored.status, ignored.stderr).toBe(0);
    expect(ignored.stderr).toContain(`WARNING: failed to export cache to ${unreachable}`);
  });
});
