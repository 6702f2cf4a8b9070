/**
 * The build cache's garbage collection: `system df` counts records and sizes; `builder prune`
 * removes what no image uses (or everything with --all, or what was unused for a while), least
 * recently used first down to --keep-storage, never an image's blobs, and leaves the blobs of
 * records a running build may use; the automatic cap after a build.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalStepCache, cacheUsage, pruneBuildCache } from '../../src/cache/index.js';
import { hashHex, hostPlatform, parseByteSize, parseDigest, type Digest } from '../../src/common/index.js';
import { writeLayer } from '../../src/exporter/index.js';
import type { Store } from '../../src/store/index.js';
import { buildFixture, ranSteps, type BuildFixture } from '../helpers/build.js';
import { runCliCaptured } from '../helpers/run-cli.js';

const key = (text: string): Digest => parseDigest(`sha256:${hashHex('sha256', text)}`);

async function layer(store: Store, name: string, bytes: number): Promise<{ descriptor: Awaited<ReturnType<typeof writeLayer>>['descriptor']; diffId: Digest }> {
  const content = randomBytes(bytes);
  const written = await writeLayer([{ path: name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: content.length, content: () => content }], store);
  return { descriptor: written.descriptor, diffId: written.diffId };
}

const dockerfile = ['FROM busybox AS builder', 'RUN echo built > /artifact && echo other > /other', 'FROM busybox', 'COPY --from=builder /artifact /artifact', 'RUN cat /artifact > /copy', ''].join('\n');

describe('builder prune and system df', () => {
  let fx: BuildFixture;
  beforeEach(async () => {
    fx = await buildFixture();
  });
  afterEach(async () => {
    await fx.cleanup();
  });

  it('prunes what no image uses, then everything, never an image', async () => {
    const context = await fx.context('ctx', { Dockerfile: dockerfile });
    expect((await fx.build(['-t', 'app', context])).status).toBe(0);
    const df = await runCliCaptured(['system', 'df', '--root', fx.root]);
    expect(df.status, df.stderr).toBe(0);
    expect(df.stdout).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\n/);
    const before = (await cacheUsage(fx.store)).records.length;
    expect(df.stdout).toMatch(new RegExp(`^Build Cache\\s+${before}\\s+0\\s+`, 'm'));
    expect(df.stdout).toMatch(/^Images\s+2\s+0\s+/m);
    const verbose = await runCliCaptured(['system', 'df', '-v', '--root', fx.root]);
    expect(verbose.stdout).toMatch(/CACHE ID\s+CACHE TYPE\s+SIZE\s+CREATED\s+LAST USED\s+SHARED/);

    // The builder stage's step made a layer no image holds: it dangles; the image's own steps do not.
    const dangling = await runCliCaptured(['builder', 'prune', '-f', '--root', fx.root]);
    expect(dangling.status, dangling.stderr).toBe(0);
    expect(dangling.stdout).toMatch(/^Deleted build cache objects:\n[0-9a-f]{25}\n/);
    expect((await cacheUsage(fx.store)).records.length).toBe(before - 1);
    const again = await fx.build(['-t', 'app', context]);
    expect(ranSteps(again.stderr)).toEqual(['[builder 2/2] RUN echo built > /artifact && echo other > /other']);

    const recent = await runCliCaptured(['builder', 'prune', '-a', '-f', '--filter', 'until=1h', '--root', fx.root]);
    expect(recent.stdout).not.toContain('Deleted');
    const all = await runCliCaptured(['builder', 'prune', '-a', '-f', '--root', fx.root]);
    expect(all.status, all.stderr).toBe(0);
    expect((await cacheUsage(fx.store)).records).toHaveLength(0);
    expect((await runCliCaptured(['verify', '--root', fx.root])).status).toBe(0);
    const rebuilt = await fx.build(['-t', 'app', context]);
    expect(ranSteps(rebuilt.stderr)).toHaveLength(3);
  });

  it('counts cache mounts in the build cache, and prune --all removes them', async () => {
    const context = await fx.context('ctx', { Dockerfile: 'FROM busybox\nRUN --mount=type=cache,id=pkgs,target=/c head -c 30000 /dev/urandom > /c/blob && echo ok > /ok\n' });
    const built = await fx.build([context]);
    expect(built.status, built.stderr).toBe(0);
    const df = await runCliCaptured(['system', 'df', '-v', '--root', fx.root]);
    expect(df.stdout).toMatch(/^pkgs\s+exec\.cachemount\s+30(?:\.00?)?kB\s/m);
    const pruned = await runCliCaptured(['builder', 'prune', '-a', '-f', '--root', fx.root]);
    expect(pruned.stdout).toMatch(/^pkgs$/m);
    const after = await runCliCaptured(['system', 'df', '-v', '--root', fx.root]);
    expect(after.stdout).not.toContain('exec.cachemount');
  });

  it("leaves the blobs of a container's image when records alone held them", async () => {
    const context = await fx.context('ctx', { Dockerfile: 'FROM busybox\nRUN echo one > /one\n' });
    expect((await fx.build(['-t', 'app', context])).status).toBe(0);
    const first = await fx.image('app');
    const created = await runCliCaptured(['create', '--root', fx.root, '--name', 'keeper', 'app', 'true']);
    expect(created.status, created.stderr).toBe(0);
    // The name moves to another image: the container's image is now held by the records alone.
    await writeFile(join(context, 'Dockerfile'), 'FROM busybox\nRUN echo two > /two\n');
    expect((await fx.build(['-t', 'app', context])).status).toBe(0);
    const pruned = await runCliCaptured(['builder', 'prune', '-a', '-f', '--root', fx.root]);
    expect(pruned.status, pruned.stderr).toBe(0);
    for (const layer of first.manifest.layers) expect(await fx.store.hasBlob(layer.digest)).toBe(true);
    expect((await runCliCaptured(['rm', '--root', fx.root, 'keeper'])).status).toBe(0);
  });

  it('system prune: stopped containers, unused networks, build cache; with -a every image no container uses', async () => {
    const context = await fx.context('ctx', { Dockerfile: dockerfile });
    expect((await fx.build(['-t', 'app', context])).status).toBe(0);
    expect((await fx.build(['-t', 'other', '--label', 'x=1', context])).status).toBe(0);
    const appImage = await fx.image('app');
    const keeper = await runCliCaptured(['create', '--root', fx.root, '--name', 'keeper', 'app', 'true']);
    expect(keeper.status, keeper.stderr).toBe(0);
    const stopped = await runCliCaptured(['create', '--root', fx.root, '--name', 'stopped', 'busybox', 'true']);
    expect(stopped.status, stopped.stderr).toBe(0);

    const asked = await runCliCaptured(['system', 'prune', '--root', fx.root]);
    expect(asked.stdout).toBe(
      'WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n\nAre you sure you want to continue? [y/N] \nstandard input is not a terminal: nothing removed (use -f)\n',
    );
    expect((await runCliCaptured(['ps', '-a', '-q', '--root', fx.root])).stdout.trim().split('\n')).toHaveLength(2);

    const plain = await runCliCaptured(['system', 'prune', '-f', '--root', fx.root]);
    expect(plain.status, plain.stderr).toBe(0);
    // Created containers are not running: docker's prune takes them, and both went.
    expect(plain.stdout).toMatch(/^Deleted Containers:\n[0-9a-f]{64}\n[0-9a-f]{64}\n\n/);
    expect(plain.stdout).toMatch(/Total reclaimed space: \S+B\n$/);
    expect((await runCliCaptured(['ps', '-a', '-q', '--root', fx.root])).stdout).toBe('');
    // Named images stay without -a, and what they use.
    expect((await runCliCaptured(['images', '-q', '--root', fx.root])).stdout.trim().split('\n')).toHaveLength(3);
    for (const layer of appImage.manifest.layers) expect(await fx.store.hasBlob(layer.digest)).toBe(true);

    // With -a, every image no container uses goes; a running container's image stays.
    const live = await runCliCaptured(['run', '-d', '--network', 'none', '--root', fx.root, '--name', 'live', 'app', 'sleep', '300']);
    expect(live.status, live.stderr).toBe(0);
    try {
      const before = await runCliCaptured(['system', 'prune', '-a', '--root', fx.root]);
      expect(before.stdout).toContain('  - all images without at least one container associated to them\n  - all build cache\n');
      const all = await runCliCaptured(['system', 'prune', '-a', '-f', '--root', fx.root]);
      expect(all.status, all.stderr).toBe(0);
      expect(all.stdout).toContain('Deleted Images:\n');
      expect(all.stdout).toContain('untagged: other:latest\n');
      expect(all.stdout).toContain('untagged: busybox:latest\n');
      expect(all.stdout).not.toContain('untagged: app:latest');
      expect((await runCliCaptured(['images', '--format', 'json', '--root', fx.root])).stdout.trim().split('\n').map((line) => (JSON.parse(line) as { Repository: string }).Repository)).toEqual(['app']);
      for (const layer of appImage.manifest.layers) expect(await fx.store.hasBlob(layer.digest)).toBe(true);
    } finally {
      expect((await runCliCaptured(['rm', '-f', '--root', fx.root, 'live'])).status).toBe(0);
    }
    expect((await cacheUsage(fx.store)).records).toHaveLength(0);
  });

  it('without -f asks, and does nothing unless told yes', async () => {
    const context = await fx.context('ctx', { Dockerfile: dockerfile });
    expect((await fx.build([context])).status).toBe(0);
    const count = (await cacheUsage(fx.store)).records.length;
    const asked = await runCliCaptured(['builder', 'prune', '-a', '--root', fx.root]);
    expect(asked.stdout).toContain('Are you sure you want to continue? [y/N]');
    expect((await cacheUsage(fx.store)).records).toHaveLength(count);
  });

  it('--keep-storage removes least recently used records first', async () => {
    const cache = new LocalStepCache(fx.store);
    const layers = [await layer(fx.store, 'one', 20_000), await layer(fx.store, 'two', 20_000), await layer(fx.store, 'three', 20_000)];
    for (const [i, entry] of layers.entries()) await cache.put(key(`k${i}`), { layers: [entry] }, hostPlatform());
    const usage = await cacheUsage(fx.store);
    // Record 1 used longest ago, then 0, then 2.
    const ages = [2, 3, 1];
    for (const [i, record] of usage.records.entries()) {
      const when = new Date(Date.now() - (ages[i] ?? 0) * 3600_000);
      await utimes(fx.store.blobPath(record.id), when, when);
    }
    const result = await pruneBuildCache(fx.store, { keepBytes: usage.size - 1 });
    expect(result.removed.map((record) => record.key)).toEqual([key('k1')]);
    expect(await fx.store.hasBlob(layers[1]?.descriptor.digest as Digest)).toBe(false);
    expect(await fx.store.hasBlob(layers[0]?.descriptor.digest as Digest)).toBe(true);
    const two = await pruneBuildCache(fx.store, { keepBytes: 25_000 });
    expect(two.removed.map((record) => record.key)).toEqual([key('k0')]);
  });

  it('leaves the blobs of removed records while another build runs', async () => {
    const cache = new LocalStepCache(fx.store);
    const one = await layer(fx.store, 'one', 1000);
    await cache.put(key('k'), { layers: [one] }, hostPlatform());
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await mkdir(join(fx.root, 'builds'), { recursive: true });
      await writeFile(join(fx.root, 'builds', `${other.pid}-abc`), '');
      const result = await pruneBuildCache(fx.store, { all: true });
      expect(result.deferred).toBe(true);
      expect(result.removed).toHaveLength(1);
      expect(await fx.store.hasBlob(one.descriptor.digest)).toBe(true);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('caps the cache after a build, and reads sizes as docker does', async () => {
    expect(parseByteSize('512m')).toBe(512 * 1024 ** 2);
    expect(parseByteSize('10GB')).toBe(10 * 1024 ** 3);
    expect(parseByteSize('2048')).toBe(2048);
    expect(() => parseByteSize('lots')).toThrow(/parse size/);
    const context = await fx.context('ctx', { Dockerfile: 'FROM busybox\nRUN head -c 50000 /dev/urandom > /big\n' });
    expect((await fx.build([context])).status).toBe(0);
    expect((await cacheUsage(fx.store)).records.length).toBeGreaterThan(0);
    await writeFile(join(context, 'Dockerfile'), 'FROM busybox\nRUN head -c 50000 /dev/urandom > /big2\n');
    const capped = await fx.build(['--cache-max-size', '1', context]);
    expect(capped.status, capped.stderr).toBe(0);
    expect((await cacheUsage(fx.store)).size).toBeLessThanOrEqual(1);
  });
});
