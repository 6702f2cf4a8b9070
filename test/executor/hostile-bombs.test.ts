/**
 * Decompression bombs (containers/storage CVE-2021-20291's class, docker's and BuildKit's alike):
 * archives of a few hundred KiB that unfold into 256 MiB of zeros, given to ADD (gzip, bzip2,
 * xz, zstd), `import`, `load` (a layer) then `run` and FROM, and a build's context on standard input. No ratio bounds a layer, as in
 * docker and BuildKit; the store's disk does: on a store of 48 MiB each fails with the disk's
 * own words naming the store, in seconds, and leaves nothing of the bomb behind (no scratch
 * file, no half-unpacked layer, no mount), so the store stays whole and usable. And a build
 * interrupted while it unpacks one ends at once, its decompressor killed, instead of going on to
 * write what the bomb holds (it went on to name the image); so does one interrupted while COPY
 * copies a sparse file of gigabytes of holes from a context tar of a few KiB, or while it unpacks
 * a base image whose layer is one, or while it hashes a context file of 64 GiB of holes.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { goJson, hostPlatform } from '../../src/common/index.js';
import { formatBytes } from '../../src/cli/format.js';
import { encodeHeader } from '../../src/exporter/tar.js';
import { openStore, verifyStore } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { buildFixture } from '../helpers/build.js';
import { storeBombImage } from '../helpers/bomb-image.js';
import { runCliCaptured, type CliResult } from '../helpers/run-cli.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { validateLayout } from '../helpers/validate.js';

const isRoot = process.getuid?.() === 0;
const bombBytes = 256 * 1024 * 1024;

type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd';
const suffix: Record<Compression, string> = { gzip: 'gz', bzip2: 'bz2', xz: 'xz', zstd: 'zst' };

describe.runIf(isRoot)('decompression bombs against a store of 48 MiB', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let root: string;
  let context: string;
  /** The uncompressed tar's digest: a layer's diff ID. */
  let diffId: string;
  /** Every file of the store before the bombs, with its size. */
  let before: string[];

  const tsbuild = (args: readonly string[]): Promise<CliResult> => runCliCaptured([args[0] ?? '', '--root', root, ...args.slice(1)]);

  async function storeListing(): Promise<string[]> {
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    return entries
      .filter((entry) => !entry.isDirectory() && entry.name !== 'events.log')
      .map((entry) => join(entry.parentPath, entry.name).slice(root.length))
      .sort();
  }

  async function expectNothingLeft(allowed: readonly string[] = []): Promise<void> {
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((line) => line.split(' ')[4]?.startsWith(`${root}/`) === true);
    expect(mounts).toEqual([]);
    // Only what the context's hashes, the sizes of the layers `images` listed, and, after load,
    // the bomb's own compressed blobs (and the records naming them) add.
    const added = (await storeListing()).filter((path) => !before.includes(path) && !['/context-index/', '/layer-sizes/', ...allowed].some((prefix) => path.startsWith(prefix)));
    expect(added).toEqual([]);
    expect((await verifyStore(await openStore({ root }))).problems).toEqual([]);
    await validateLayout(root);
  }

  beforeAll(async () => {
    ({ path: dir, cleanup } = await temporaryDirectory('tsbuild-bombs-'));
    root = join(dir, 'store');
    context = join(dir, 'context');
    await mkdir(root);
    await mkdir(context);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', root]);
    await busyboxImage(await openStore({ root }));
    // A sparse file: the zeros take no disk here, only in a tar that holds them.
    const source = join(dir, 'source');
    await mkdir(source);
    execFileSync('truncate', ['-s', String(bombBytes), join(source, 'zeros')]);
    const tar = `tar -C ${source} -cf - zeros`;
    diffId = `sha256:${execFileSync('sh', ['-c', `${tar} | sha256sum`], { encoding: 'utf8' }).split(' ')[0] ?? ''}`;
    for (const compression of Object.keys(suffix) as Compression[]) {
      const command = compression === 'zstd' ? 'zstd -1 -q -c' : `${compression} -1 -c`;
      execFileSync('sh', ['-c', `${tar} | ${command} > ${join(context, `bomb.tar.${suffix[compression]}`)}`]);
    }
    // The base unpacked first, by a build that fits: what the bombs' steps find in place.
    await writeFile(join(context, 'Dockerfile.small'), 'FROM busybox\nRUN echo small > /small\n');
    expect((await tsbuild(['build', '--progress', 'plain', '-f', join(context, 'Dockerfile.small'), context])).status).toBe(0);
    before = await storeListing();
  }, 180_000);

  afterAll(async () => {
    execFileSync('umount', ['-l', root]);
    await cleanup();
  });

  it('fails a build whose context on standard input is a bomb, in a temporary directory of 32 MiB, leaving nothing there', async () => {
    const scratch = join(dir, 'tmp');
    await mkdir(scratch);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', scratch]);
    try {
      const source = join(dir, 'source');
      await writeFile(join(source, 'Dockerfile'), 'FROM busybox\nRUN echo reached-$((2 + 3))\n');
      const input = execFileSync('sh', ['-c', `tar -C ${source} -cf - Dockerfile zeros | gzip -1`], { maxBuffer: 64 * 1024 * 1024 });
      const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;
      const result = spawnSync(process.execPath, [bin, 'build', '--root', root, '--progress', 'plain', '-'], { input, encoding: 'utf8', env: { ...process.env, TMPDIR: scratch }, timeout: 60_000 });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('unpack the context from standard input');
      expect(result.stderr).toMatch(/no space left on device/i);
      expect(result.stderr).not.toContain('reached-5');
      expect(await readdir(scratch)).toEqual([]);
      await expectNothingLeft();
    } finally {
      execFileSync('umount', ['-l', scratch]);
    }
  }, 120_000);

  it.each(Object.keys(suffix) as Compression[])('fails an ADD of a %s bomb on the full disk, naming the archive and the store, leaving nothing', async (compression) => {
    const name = `bomb.tar.${suffix[compression]}`;
    await writeFile(join(context, `Dockerfile.${compression}`), `FROM busybox\nADD ${name} /unpacked/\nRUN echo reached-$((2 + 3))\n`);
    const started = Date.now();
    const result = await tsbuild(['build', '--progress', 'plain', '-t', `bomb-${compression}`, '-f', join(context, `Dockerfile.${compression}`), context]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/no space left on device/i);
    expect(result.stderr).toContain(`unpack ${name} into /unpacked/`);
    expect(result.stderr).toContain(root);
    expect(result.stderr).not.toContain('reached-5');
    expect(result.stderr).not.toContain('internal error');
    expect(Date.now() - started).toBeLessThan(60_000);
    await expectNothingLeft();
  }, 120_000);

  it.each(['gzip', 'xz'] as const)('fails to import a %s bomb on the full disk, storing nothing', async (compression) => {
    const result = await tsbuild(['import', join(context, `bomb.tar.${suffix[compression]}`), `imported-${compression}:1`]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/no space left on device/i);
    expect(result.stderr).toContain(root);
    await expectNothingLeft();
    expect((await tsbuild(['images', '-q', `imported-${compression}:1`])).stdout).toBe('');
  }, 120_000);

  it('loads an archive whose layer is a bomb (it is small), and fails to run or build from it, leaving no half-unpacked layer', async () => {
    const layer = await readFile(join(context, 'bomb.tar.gz'));
    const platform = hostPlatform();
    const config = Buffer.from(goJson({ architecture: platform.architecture, os: platform.os, config: { Cmd: ['/zeros'] }, rootfs: { type: 'layers', diff_ids: [diffId] } }));
    const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
    const members = join(dir, 'archive');
    await mkdir(members);
    await writeFile(join(members, configName), config);
    await writeFile(join(members, 'layer.tar.gz'), layer);
    await writeFile(join(members, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: ['bombload:1'], Layers: ['layer.tar.gz'] }]));
    const archive = join(dir, 'bomb-archive.tar');
    execFileSync('tar', ['-C', members, '-cf', archive, configName, 'layer.tar.gz', 'manifest.json']);
    const loaded = await tsbuild(['load', '-q', '-i', archive]);
    expect(loaded.stderr).toBe('');
    expect(loaded.status).toBe(0);
    const allowed = ['/blobs/', '/index.json', '/repositories'];
    // Listed without unfolding the bomb to size it: its size is what it is stored in.
    const listedAt = Date.now();
    expect(await tsbuild(['images', '--format', '{{.Repository}} {{.Size}}', 'bombload'])).toMatchObject({ status: 0, stdout: `bombload ${formatBytes(layer.length, 3, '')}\n` });
    expect(Date.now() - listedAt).toBeLessThan(20_000);
    expect(existsSync(join(root, 'layer-sizes', createHash('sha256').update(layer).digest('hex')))).toBe(false);
    const ran = await tsbuild(['run', '--rm', 'bombload:1']);
    expect(ran.status).toBe(125);
    expect(ran.stderr).toMatch(/no space left on device/i);
    expect(ran.stderr).toContain(`layer sha256:${createHash('sha256').update(layer).digest('hex')}`);
    await expectNothingLeft(allowed);
    await writeFile(join(context, 'Dockerfile.from'), 'FROM bombload:1\nRUN echo reached-$((2 + 3))\n');
    const built = await tsbuild(['build', '--progress', 'plain', '-f', join(context, 'Dockerfile.from'), context]);
    expect(built.status).toBe(1);
    expect(built.stderr).toMatch(/no space left on device/i);
    expect(built.stderr).not.toContain('reached-5');
    await expectNothingLeft(allowed);
    // The store is usable once the bomb is gone.
    expect((await tsbuild(['rmi', 'bombload:1'])).status).toBe(0);
    const small = await tsbuild(['build', '--progress', 'plain', '-f', join(context, 'Dockerfile.small'), context]);
    expect(small.status).toBe(0);
  }, 180_000);
});

interface InterruptedBuild {
  /** Standard output and error together. */
  readonly output: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** From the SIGTERM to the build's end. */
  readonly stoppedInMs: number;
  /** The build's child processes just before the signal. */
  readonly children: readonly string[];
}

describe.runIf(isRoot)('a decompression bomb in an interrupted build', () => {
  /** The builds started: one that outlives a failed test would go on writing its zeros. */
  const started: ChildProcess[] = [];
  afterEach(() => {
    for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

  /**
   * `tsbuild build ARGS` on ROOT (INPUT on its standard input), sent SIGTERM once READY holds
   * (polled; at most READY_WITHIN ms) and SETTLE ms more have passed.
   */
  async function interruptBuild(
    root: string,
    args: readonly string[],
    options: { readonly input?: Buffer; readonly ready: (output: string, pid: number) => boolean | Promise<boolean>; readonly readyWithinMs?: number; readonly settleMs: number },
  ): Promise<InterruptedBuild> {
    const build = spawn(process.execPath, [bin, 'build', '--root', root, '--progress', 'plain', ...args], { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    started.push(build);
    if (options.input !== undefined) build.stdin?.end(options.input);
    let output = '';
    build.stdout?.on('data', (data: Buffer) => (output += data.toString()));
    build.stderr?.on('data', (data: Buffer) => (output += data.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => build.on('close', (code, signal) => resolve({ code, signal })));
    const pid = build.pid ?? 0;
    const deadline = Date.now() + (options.readyWithinMs ?? 60_000);
    while (!(await options.ready(output, pid)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await options.ready(output, pid), output).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, options.settleMs));
    const children = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter((child) => child !== '');
    build.kill('SIGTERM');
    const stopped = Date.now();
    const ended = await exited;
    return { output, ...ended, stoppedInMs: Date.now() - stopped, children };
  }

  /** What every interrupted build here must show: it ended at once, canceled, and left no temporary. */
  async function expectCanceled(root: string, build: InterruptedBuild): Promise<void> {
    expect(build.stoppedInMs).toBeLessThan(5_000);
    expect(build.code, build.output).not.toBe(0);
    expect(build.output).toContain('failed to solve: Canceled: context canceled');
    expect(build.output).not.toContain('writing image');
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  }

  it.each(['xz', 'gzip'] as const)('ends a build interrupted while ADD unpacks a %s bomb of 64 GiB at once, its decompressor killed, naming nothing', async (compression) => {
    const fx = await buildFixture();
    try {
      const context = join(fx.dir, 'context');
      await mkdir(context);
      // A tar entry of 64 GiB of zeros as 256 compressed streams of 256 MiB each, one after the
      // other, which xz and gzip read as one: built in a second, it would take minutes to write.
      const chunk = join(fx.dir, `zeros.${compression}`);
      execFileSync('sh', ['-c', `head -c 268435456 /dev/zero | ${compression} -1 -c > ${chunk}`]);
      const header = execFileSync(compression, ['-1', '-c'], { input: encodeHeader({ path: 'zeros', type: 'file', size: 256 * 268435456, mode: 0o644, uid: 0, gid: 0, mtime: 0 }) });
      const repeated = await readFile(chunk);
      await writeFile(join(context, 'bomb.tar'), Buffer.concat([header, ...Array.from({ length: 256 }, () => repeated)]));
      await writeFile(join(context, 'Dockerfile'), 'FROM busybox\nADD bomb.tar /unpacked/\n');
      const build = await interruptBuild(fx.root, ['-t', 'interrupted-bomb', context], { ready: (output) => /ADD bomb\.tar/.test(output), settleMs: 1500 });
      if (compression === 'xz') expect(build.children.length).toBeGreaterThan(0);
      await expectCanceled(fx.root, build);
      expect(build.output).toContain('CANCELED');
      // The decompressor went with the build, and so did what it had written.
      for (const pid of build.children) expect(existsSync(`/proc/${pid}`), `process ${pid}`).toBe(false);
      expect(await fx.store.resolveReference('docker.io/library/interrupted-bomb:latest')).toBeUndefined();
    } finally {
      await fx.cleanup();
    }
  }, 120_000);

  it('ends a build interrupted while COPY copies a sparse file of 8 GiB of holes from a context tar of a few KiB on standard input', async () => {
    const fx = await buildFixture();
    try {
      const source = join(fx.dir, 'sparse-source');
      await mkdir(source);
      await writeFile(join(source, 'Dockerfile'), 'FROM busybox\nCOPY big /big\n');
      execFileSync('truncate', ['-s', '8G', join(source, 'big')]);
      const input = execFileSync('tar', ['--sparse', '-C', source, '-cf', '-', 'Dockerfile', 'big'], { maxBuffer: 16 * 1024 * 1024 });
      expect(input.length).toBeLessThan(1024 * 1024);
      const build = await interruptBuild(fx.root, ['-t', 'interrupted-copy', '-'], { input, ready: (output) => /COPY big \/big/.test(output), settleMs: 1000 });
      await expectCanceled(fx.root, build);
      expect(build.output).toContain('CANCELED');
    } finally {
      await fx.cleanup();
    }
  }, 120_000);

  it('ends a build interrupted while it unpacks a base image whose layer is a bomb of 64 GiB, leaving no half-unpacked layer', async () => {
    const fx = await buildFixture();
    try {
      await storeBombImage(fx.store, fx.dir, 'docker.io/library/bomb-base:1');
      const context = join(fx.dir, 'context');
      await mkdir(context);
      await writeFile(join(context, 'Dockerfile'), 'FROM bomb-base:1\nRUN true\n');
      const build = await interruptBuild(fx.root, ['-t', 'interrupted-base', context], { ready: (output) => /RUN true/.test(output), settleMs: 1500 });
      await expectCanceled(fx.root, build);
      expect(build.output).toContain('CANCELED');
      // No snapshot of the bomb, whole or half: only the base busybox's.
      expect((await readdir(join(fx.root, 'layers'))).filter((name) => name.startsWith('unpack'))).toEqual([]);
    } finally {
      // Named no more, so the layout's check after the test does not read its 64 GiB.
      await fx.store.deleteReference('docker.io/library/bomb-base:1').catch(() => undefined);
      await fx.cleanup();
    }
  }, 120_000);

  it.each([
    ['the build context', 'FROM busybox\nCOPY big /big\n', false],
    ['a named context (--build-context)', 'FROM busybox\nCOPY --from=files big /big\n', true],
  ])('ends a build interrupted while it hashes a file of 64 GiB of holes in %s, leaving nothing of it in the context index', async (_where, dockerfile, named) => {
    const fx = await buildFixture();
    try {
      const context = join(fx.dir, 'context');
      await mkdir(context);
      await writeFile(join(context, 'Dockerfile'), dockerfile);
      const files = named ? join(fx.dir, 'files') : context;
      if (named) await mkdir(files);
      execFileSync('truncate', ['-s', '64G', join(files, 'big')]);
      // Once the file is open to be hashed (which took a minute, its holes read as zeros).
      const reading = async (_output: string, pid: number): Promise<boolean> => {
        const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
        const targets = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
        return targets.includes(join(files, 'big'));
      };
      const build = await interruptBuild(fx.root, ['-t', 'interrupted-hash', ...(named ? ['--build-context', `files=${files}`] : []), context], { ready: reading, readyWithinMs: 30_000, settleMs: 500 });
      await expectCanceled(fx.root, build);
      expect({ code: build.code, signal: build.signal }, build.output).toEqual({ code: 143, signal: null });
      expect(build.output).not.toContain('failed to compute cache key');
      // No temporary and no entry of the file in the context's index.
      for (const name of await readdir(join(fx.root, 'context-index')).catch(() => [])) {
        expect(name).not.toMatch(/\.tmp$/);
        expect(await readFile(join(fx.root, 'context-index', name), 'utf8')).not.toContain('"big"');
      }
      expect((await verifyStore(await openStore({ root: fx.root }))).problems).toEqual([]);
    } finally {
      await fx.cleanup();
    }
  }, 30_000);
});
