/**
 * Reproducible images with SOURCE_DATE_EPOCH, as BuildKit's rewrite-timestamp makes them: times
 * later than the epoch are clamped to it and earlier ones kept, in the layers the build adds
 * only (the base image's layers and history stay as they are); the same inputs give the same
 * digest on another root, at another time, and built by an ordinary user in its own user
 * namespace, zstd layers included.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixture, type BuildFixture } from '../helpers/build.js';
import { asRootless, buildBinaries, chownTree, ensureRootlessUser, isRoot, repoRoot, scratchDir, toolExists } from '../runtime/helpers.js';

const bin = join(repoRoot, 'bin', 'tsbuild.js');
/** 2017-07-14T02:40:00Z: after the context's old file, before anything the test makes now. */
const epoch = 1_500_000_000;
const epochText = '2017-07-14T02:40:00Z';
const oldTime = 1_000_000_000;

const dockerfile = ['FROM base', 'COPY old new /files/', 'RUN mkdir /made && echo made > /made/file && touch -d @900000000 /made/older', 'ENV X=1'].join('\n');

/** A context whose `old` file predates the epoch and whose `new` file is from now. */
function writeContext(directory: string): void {
  mkdirSync(directory, { recursive: true });
  writeFileSync(join(directory, 'Dockerfile'), dockerfile);
  writeFileSync(join(directory, 'old'), 'old\n');
  writeFileSync(join(directory, 'new'), 'new\n');
  utimesSync(join(directory, 'old'), oldTime, oldTime);
}

/** The Dockerfile of `base`: a layer whose times are those it ran at, long after the epoch. */
const baseDockerfile = 'FROM busybox\nRUN echo base > /base-file\n';

describe('reproducible images with SOURCE_DATE_EPOCH', () => {
  let fx: BuildFixture;
  let dir: string;

  beforeAll(async () => {
    buildBinaries();
    fx = await buildFixture();
    dir = scratchDir('tsbuild-reproducible-');
    chmodSync(dir, 0o755);
  });
  afterAll(async () => {
    await fx.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('clamps only later times, in the layers the build adds; the base image is left as it is', async () => {
    expect((await fx.build(['-t', 'base', await fx.context('base', { Dockerfile: baseDockerfile })])).status).toBe(0);
    const base = await fx.image('base');
    const context = join(fx.dir, 'clamp');
    writeContext(context);
    const result = await fx.build(['-q', '-t', 'clamped', '--build-arg', `SOURCE_DATE_EPOCH=${epoch}`, context]);
    expect(result.status).toBe(0);
    const image = await fx.image('clamped');
    // busybox and base's RUN, as they were: the base's layer keeps times after the epoch.
    expect(image.manifest.layers.slice(0, 2)).toEqual(base.manifest.layers);
    expect((await fx.layerFiles(base.manifest.layers[1] ?? expect.fail('no layer'))).some((file) => file.mtime > epoch)).toBe(true);
    expect(image.config.history?.slice(0, base.config.history?.length)).toEqual(base.config.history);
    expect(image.config.history?.slice(base.config.history?.length).map((entry) => entry.created)).toEqual([epochText, epochText, epochText]);
    expect(image.config.created).toBe(epochText);

    const times = async (index: number): Promise<Record<string, number>> =>
      Object.fromEntries((await fx.layerFiles(image.manifest.layers[index] ?? expect.fail('no layer'))).map((file) => [file.path, file.mtime]));
    // COPY: the old file keeps its time, the new one (and the directory made now) gets the epoch.
    expect(await times(2)).toEqual({ files: epoch, 'files/new': epoch, 'files/old': oldTime });
    // RUN: a file made now is clamped; one the step dated before the epoch is not.
    const run = await times(3);
    expect([run.made, run['made/file'], run['made/older']]).toEqual([epoch, epoch, 900_000_000]);
    expect(Math.max(...Object.values(run))).toBe(epoch);
  }, 120_000);

  it.runIf(isRoot && toolExists('newuidmap') && toolExists('unshare'))('gives one digest on two roots, at two times, rootful and rootless (with another umask), gzip and zstd', async () => {
    const user = ensureRootlessUser();
    const results: { manifest: string; zstd: string }[] = [];
    for (const [n, mode] of (['rootful', 'rootful', 'rootless'] as const).entries()) {
      const work = join(dir, `build-${n}`);
      const root = join(work, 'root');
      mkdirSync(join(work, 'base'), { recursive: true });
      writeFileSync(join(work, 'base', 'Dockerfile'), baseDockerfile);
      writeContext(join(work, 'context'));
      if (mode === 'rootless') chownTree(work, user);
      const prefix = mode === 'rootless' ? asRootless(user) : ['env'];
      // The ordinary user's umask is not root's: it reaches neither the directories the first
      // RUN on busybox (which lacks /dev, /proc and /sys) keeps nor what a command makes.
      const umask = mode === 'rootless' ? ['sh', '-c', 'umask 027 && exec "$@"', 'sh'] : [];
      const run = (args: readonly string[], env: readonly string[] = []): { status: number | null; stdout: string; stderr: string } =>
        spawnSync(prefix[0] ?? '', [...prefix.slice(1), `TSBUILD_ROOT=${root}`, ...env, ...umask, ...args], { encoding: 'utf8', cwd: repoRoot, timeout: 180_000 });
      const busybox = run([process.execPath, '--import', 'tsx', join(repoRoot, 'scripts', 'make-busybox-image.ts')]);
      expect(busybox.stderr).toBe('');
      // The base image, built with an epoch of its own, is the same on every root.
      const baseBuilt = run([process.execPath, bin, 'build', '-q', '--build-arg', `SOURCE_DATE_EPOCH=${epoch - 1}`, '-t', 'base', join(work, 'base')]);
      expect(baseBuilt.stderr).toBe('');
      // The build argument on the first root, the environment on the others.
      const metadata = join(work, 'metadata.json');
      const outputs = ['-o', `type=image,name=zstd:1,compression=zstd`, '--metadata-file', metadata];
      const built =
        n === 0
          ? run([process.execPath, bin, 'build', '-q', '-t', 'app', '--build-arg', `SOURCE_DATE_EPOCH=${epoch}`, ...outputs, join(work, 'context')])
          : run([process.execPath, bin, 'build', '-q', '-t', 'app', ...outputs, join(work, 'context')], [`SOURCE_DATE_EPOCH=${epoch}`]);
      expect(built.stderr).toBe('');
      expect(built.status).toBe(0);
      const manifest = JSON.parse(readFileSync(join(root, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
      const named = (name: string): string => manifest.manifests.find((entry) => entry.annotations?.['org.opencontainers.image.ref.name'] === name)?.digest ?? '';
      const zstd = (JSON.parse(readFileSync(metadata, 'utf8')) as Record<string, string>)['containerimage.digest'] ?? '';
      expect(zstd).toBe(named('docker.io/library/zstd:1'));
      results.push({ manifest: named('docker.io/library/app:latest'), zstd });
      // Times that were not clamped would differ from one build to the next.
      await new Promise((resolve) => setTimeout(resolve, 1100));
    }
    expect(results[0]?.manifest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(results[0]?.zstd).not.toBe(results[0]?.manifest);
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
  }, 600_000);
});
