/**
 * `attach` as docker's: a detached container's output reaches every client attached, the input
 * of one made with -i reaches it, a terminal (-t) is raw, resized and left with the detach keys
 * while the container goes on, signals are passed on without a terminal (unless
 * --sig-proxy=false), and attach ends with the container's exit status; a stopped container
 * cannot be attached to.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDetachKeys } from '../../src/runtime/index.js';
import { busyboxStore, installedCliOutput, isRoot, removeBusyboxStore, repoRoot, runInstalledCli, toolExists } from './helpers.js';

const bin = join(repoRoot, 'bin', 'tsbuild.js');

let dir: string;
let root: string;

const tsbuild = (...args: string[]): { status: number | null; stdout: string; stderr: string } => runInstalledCli(args, { root });
const ok = (...args: string[]): string => installedCliOutput(args, { root });

/** A running attach: what it printed so far, its input, and its end. */
function attach(...args: string[]): { output: () => string; errors: () => string; write: (text: string) => void; kill: (signal: NodeJS.Signals) => void; ended: Promise<number | null> } {
  const child = spawn(process.execPath, [bin, 'attach', ...args], { env: { ...process.env, TSBUILD_ROOT: root }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return {
    output: () => stdout,
    errors: () => stderr,
    write: (text) => child.stdin.write(text),
    kill: (signal) => child.kill(signal),
    ended: new Promise((resolve) => child.on('close', resolve)),
  };
}

async function until(what: string, read: () => string, done: (value: string) => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (done(value)) return;
    if (Date.now() > deadline) expect.fail(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

const status = (name: string): string => ok('inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', name).trim();

describe('detach keys', () => {
  it("reads docker's --detach-keys", () => {
    expect([...parseDetachKeys('ctrl-p,ctrl-q')]).toEqual([0x10, 0x11]);
    expect([...parseDetachKeys('a,ctrl-@,ctrl-_')]).toEqual([0x61, 0x00, 0x1f]);
    // Empty: docker's default.
    expect([...parseDetachKeys('')]).toEqual([0x10, 0x11]);
    expect([...parseDetachKeys('ctrl-X,Z')]).toEqual([0x18, 0x5a]);
    // docker's daemon's words.
    expect(() => parseDetachKeys('ctrl-pp')).toThrow(/^Invalid detach keys \(ctrl-pp\) provided$/);
    expect(() => parseDetachKeys('ab')).toThrow(/^Invalid detach keys \(ab\) provided$/);
    expect(() => parseDetachKeys('ctrl-1', 'escape')).toThrow(/^Invalid escape keys \(ctrl-1\) provided$/);
  });
});

describe.skipIf(!isRoot)('attach', () => {
  beforeAll(async () => {
    ({ dir, root } = await busyboxStore('tsbuild-attach-'));
  }, 120_000);
  afterAll(() => removeBusyboxStore({ dir, root }));

  it("sends input to a container made with -i, gives every client its output, and ends with the container's status", async () => {
    ok('run', '-d', '-i', '--name', 'reader', 'busybox', 'sh', '-c', 'while read line; do [ "$line" = quit ] && exit 4; echo "out $line"; echo "err $line" >&2; done');
    const first = attach('reader');
    const second = attach('--no-stdin', 'reader');
    // Both connected (output from before a client attaches is not sent to it).
    await sleep(1500);
    first.write('hello\n');
    await until('first client output', first.output, (text) => text.includes('out hello\n'));
    await until('second client output', second.output, (text) => text.includes('out hello\n'));
    await until('first client errors', first.errors, (text) => text.includes('err hello\n'));
    // The second client's input goes nowhere (--no-stdin); the first's ends the loop.
    first.write('quit\n');
    expect(await first.ended).toBe(4);
    expect(await second.ended).toBe(4);
    expect(status('reader')).toBe('exited 4');
    // What attach showed is in the log too.
    expect(ok('logs', 'reader')).toBe('out hello\n');
  }, 60_000);

  it('start -a -i sends input to a container made with -i and prints all its output, ending with its status', () => {
    ok('create', '-i', '--name', 'asker', 'busybox', 'sh', '-c', 'echo question; read answer; echo "answer $answer"; exit 5');
    const started = runInstalledCli(['start', '-a', '-i', 'asker'], { root, input: 'yes\n', timeoutMs: 30_000 });
    expect(started).toMatchObject({ status: 5, stdout: 'question\nanswer yes\n' });
  }, 60_000);

  it('passes signals on to the container without a terminal, unless --sig-proxy=false', async () => {
    ok('run', '-d', '--name', 'trapper', 'busybox', 'sh', '-c', 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.1; done');
    await until('ready', () => ok('logs', 'trapper'), (text) => text === 'ready\n');
    const unproxied = attach('--sig-proxy=false', 'trapper');
    await sleep(1500);
    unproxied.kill('SIGTERM');
    await unproxied.ended;
    expect(status('trapper')).toBe('running 0');
    const proxied = attach('trapper');
    // Its handlers in place before the signal comes.
    await sleep(1500);
    proxied.kill('SIGTERM');
    expect(await proxied.ended).toBe(7);
    expect(proxied.output()).toBe('got-term\n');
    expect(status('trapper')).toBe('exited 7');
  }, 60_000);

  it('refuses a stopped container and a terminal without one, in docker\'s words', () => {
    ok('create', '--name', 'never', 'busybox', 'true');
    expect(tsbuild('attach', 'never')).toMatchObject({ status: 1, stderr: 'You cannot attach to a stopped container, start it first\n' });
    ok('run', '-dit', '--name', 'shell0', 'busybox', 'sh');
    expect(tsbuild('attach', 'shell0')).toMatchObject({ status: 1, stderr: 'the input device is not a TTY\n' });
    // docker's daemon's words for keys it cannot read, status 1; the container goes on.
    expect(tsbuild('attach', '--detach-keys=ctrl-pp', 'shell0')).toMatchObject({ status: 1, stderr: 'Error response from daemon: Invalid detach keys (ctrl-pp) provided\n' });
    expect(tsbuild('start', '-a', '--detach-keys', 'ab', 'never')).toMatchObject({ status: 1, stderr: 'Error response from daemon: Invalid detach keys (ab) provided\n' });
    expect(status('never')).toBe('created 0');
  });

  it.runIf(toolExists('script'))("detaches from exec -i and -it with the detach keys as docker's: 'read escape sequence', status 1, the command running on", async () => {
    ok('run', '-d', '--name', 'execd', 'busybox', 'sleep', '1000');
    const processes = (): string => ok('exec', 'execd', 'ps', '-o', 'args');
    // A terminal: the shell stays, its terminal held.
    const command = `TSBUILD_ROOT=${root} ${process.execPath} ${bin} exec -it execd sh -c 'exec sh -i'; echo exec-exit=\\$?`;
    const typed = spawnSync('sh', ['-c', `(sleep 1.2; printf 'echo in-$((6*7))\\r'; sleep 0.5; printf '\\020\\021'; sleep 2) | script -qfec "${command}" /dev/null`], { encoding: 'utf8', timeout: 30_000 }).stdout.replace(/\r/g, '');
    expect(typed).toContain('in-42\n');
    expect(typed).toMatch(/read escape sequence\n(.|\n)*exec-exit=1\n/);
    await sleep(300);
    expect(processes()).toContain('sh -i');
    // Pipes, other keys: its input held open, its output drained.
    const piped = spawn(process.execPath, [bin, 'exec', '-i', '--detach-keys', 'ctrl-x', 'execd', 'sh', '-c', 'cat; echo never'], { env: { ...process.env, TSBUILD_ROOT: root }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let errors = '';
    piped.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    piped.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    piped.stdin.write('first\n');
    await until('the first line', () => out, (text) => text === 'first\n');
    piped.stdin.write('\x18');
    expect(await new Promise((resolve) => piped.on('close', resolve))).toBe(1);
    expect(errors).toBe('read escape sequence\n');
    await sleep(300);
    expect(processes()).toMatch(/sh -c cat; echo never\n/);
    expect(tsbuild('exec', '-i', '--detach-keys', 'ab', 'execd', 'true')).toMatchObject({ status: 1, stderr: 'Error response from daemon: Invalid escape keys (ab) provided\n' });
    ok('rm', '-f', 'execd');
  }, 60_000);

  it.runIf(toolExists('script'))('puts a terminal in raw mode, resizes it, detaches with ctrl-p,ctrl-q and attaches again', async () => {
    ok('run', '-dit', '--name', 'shell', 'busybox', 'sh');
    const session = (input: string, columns: number): string => {
      // `script` gives attach a terminal of the given size; the input is typed into it.
      const command = `stty cols ${columns} rows 30; TSBUILD_ROOT=${root} ${process.execPath} ${bin} attach shell; echo attach-exit=$?`;
      const typed = spawnSync('sh', ['-c', `(${input}) | script -qfec '${command}' /dev/null`], { encoding: 'utf8', timeout: 30_000 });
      return typed.stdout.replace(/\r/g, '');
    };
    const first = session(`sleep 1.2; printf 'echo inside $((6*7))\\r'; sleep 0.4; printf 'stty size\\r'; sleep 0.4; printf '\\020\\021'; sleep 0.5`, 91);
    expect(first).toContain('inside 42\n');
    expect(first).toContain('30 91\n');
    // docker's attach ends on its escape error when detached.
    expect(first).toContain('read escape sequence\nattach-exit=1');
    expect(status('shell')).toBe('running 0');
    const second = session(`sleep 1.2; printf 'exit 3\\r'; sleep 1`, 80);
    expect(second).toContain('attach-exit=3');
    expect(status('shell')).toBe('exited 3');
  }, 60_000);
});
