/**
 * A build stopped by the user or killed: SIGINT and SIGTERM cancel it as docker build's Ctrl-C
 * does (the running command killed, nothing left mounted, no image named, 128 + the signal's
 * number), as does a reader of the progress that goes away (141); SIGKILL leaves no step's command running with no one to wait for it. And an image
 * whose /etc/passwd never ends or never opens does not hang the next step's start.
 */
import { spawn } from 'node:child_process';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixture, type BuildFixture } from '../helpers/build.js';

const isRoot = process.getuid?.() === 0;
const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

/** Processes whose command line holds MARKER. */
async function processesWith(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const command = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (command.includes(marker)) found.push(Number(name));
  }
  return found;
}

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < timeoutMs; await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (await condition()) return true;
  }
  return condition();
}

async function mountsUnder(path: string): Promise<string[]> {
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((line) => line.split(' ')[4]?.startsWith(path) === true);
}

describe.runIf(isRoot)('a build interrupted or killed', () => {
  let fx: BuildFixture;

  beforeAll(async () => {
    fx = await buildFixture();
  }, 120_000);

  afterAll(async () => {
    await fx.cleanup();
  });

  /** Starts a build whose step runs `sleep SECONDS` and resolves once that command runs. */
  async function startSleepingBuild(seconds: number): Promise<{ child: ReturnType<typeof spawn>; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> }> {
    const dir = await fx.context(`sleep-${seconds}`, { Dockerfile: ['FROM busybox', `RUN echo started && sleep ${seconds} && echo "step-$((6 * 7))"`].join('\n') });
    const child = spawn(process.execPath, [bin, 'build', '--root', fx.root, '--progress', 'plain', '--no-cache', '-t', `interrupted:${seconds}`, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
    expect(await until(async () => (await processesWith(`sleep ${seconds}`)).length > 0, 60_000)).toBe(true);
    return { child, exited };
  }

  it.each([
    ['SIGTERM', 143, 731],
    ['SIGINT', 130, 732],
  ] as const)('cancels on %s: the step killed, nothing mounted, no image, exit %i', async (signal, status, seconds) => {
    const { child, exited } = await startSleepingBuild(seconds);
    child.kill(signal);
    const result = await exited;
    expect(result.code).toBe(status);
    expect(result.stderr).toContain('CANCELED');
    expect(result.stderr).toContain('ERROR: failed to solve: Canceled: context canceled');
    expect(result.stderr).not.toContain('step-42');
    expect(await processesWith(`sleep ${seconds}`)).toEqual([]);
    expect(await mountsUnder(fx.root)).toEqual([]);
    expect(await fx.store.resolveReference(`docker.io/library/interrupted:${seconds}`)).toBeUndefined();
  }, 120_000);

  it('cancels when the reader of its progress goes away, and ends as SIGPIPE ends docker (141)', async () => {
    const dir = await fx.context('reader-gone', { Dockerfile: ['FROM busybox', 'RUN while :; do echo tick-735; sleep 0.1; done'].join('\n') });
    const child = spawn(process.execPath, [bin, 'build', '--root', fx.root, '--progress', 'plain', '--no-cache', '-t', 'interrupted:reader-gone', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    expect(await until(async () => (await processesWith('tick-735')).length > 0, 60_000)).toBe(true);
    child.stderr?.destroy();
    expect(await exited).toBe(141);
    expect(await processesWith('tick-735')).toEqual([]);
    expect(await mountsUnder(fx.root)).toEqual([]);
    expect(await fx.store.resolveReference('docker.io/library/interrupted:reader-gone')).toBeUndefined();
  }, 120_000);

  it("kills the step's command with the build on SIGKILL", async () => {
    const { child, exited } = await startSleepingBuild(733);
    const sleeping = await processesWith('sleep 733');
    // The command runs in a pid namespace of its own, below the build process.
    expect(await readlink(`/proc/${sleeping[0]}/ns/pid`)).not.toBe(await readlink('/proc/self/ns/pid'));
    child.kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');
    expect(await until(async () => (await processesWith('sleep 733')).length === 0, 10_000)).toBe(true);
    // The next build finds the killed one's step mount and removes it.
    const next = await fx.build([await fx.context('after-kill', { Dockerfile: 'FROM busybox\nRUN true' })]);
    expect(next.status).toBe(0);
    expect(await mountsUnder(fx.root)).toEqual([]);
  }, 120_000);

  it.each([
    ['a link to /dev/zero', 'ln -s /dev/zero /etc/passwd'],
    ['a fifo', 'mkfifo /etc/passwd'],
  ])('starts a step whose image has /etc/passwd as %s, with HOME=/', async (_what, make) => {
    const dir = await fx.context(`passwd-${make.split(' ')[0]}`, { Dockerfile: ['FROM busybox', `RUN rm /etc/passwd && ${make}`, 'RUN echo "home=$HOME"'].join('\n') });
    const result = await fx.build(['--no-cache', dir]);
    expect(result.stderr).toContain('home=/\n');
    expect(result.status).toBe(0);
  }, 60_000);

  it('reads a passwd line longer than any buffer whole: its tail is no entry of its own', async () => {
    // Past 1,024 bytes, the first line's tail reads as an entry for uid 0 if taken alone.
    const long = `pad:x:4242:4242:${'g'.repeat(1_200)}:/nowhere:/bin/sh`;
    const tail = ':x:0:0::/wrong-home:/bin/sh';
    const dir = await fx.context('passwd-long', {
      Dockerfile: ['FROM busybox', 'COPY passwd /etc/passwd', 'RUN echo "home=$HOME"'].join('\n'),
      passwd: `${long}${tail}\nroot:x:0:0:root:/root:/bin/sh\n`,
    });
    const result = await fx.build(['--no-cache', dir]);
    expect(result.stderr).toContain('home=/root\n');
    expect(result.status).toBe(0);
  }, 60_000);
});
