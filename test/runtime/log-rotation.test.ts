/**
 * `--log-driver` and `--log-opt` as docker's json-file: the log rotates at max-size keeping
 * max-file files (one: it starts again), `logs` reads the rotated files oldest first and follows
 * the log across rotations without losing or repeating a line; `none` keeps nothing and `logs`
 * refuses it; options docker's driver would not take are refused at create.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { installedCliOutput, isRoot, repoRoot, runInstalledCli, scratchDir } from './helpers.js';

const bin = join(repoRoot, 'bin', 'tsbuild.js');
let dir: string;
let root: string;

const tsbuild = (...args: string[]): { status: number | null; stdout: string; stderr: string } => runInstalledCli(args, { root });
const ok = (...args: string[]): string => installedCliOutput(args, { root });

const lines = (from: number, to: number): string => Array.from({ length: to - from }, (_, index) => `line ${from + index}\n`).join('');
const logFiles = (id: string): string[] =>
  readdirSync(join(root, 'containers', id))
    .filter((name) => name.startsWith('container.log'))
    .sort();

describe.skipIf(!isRoot)('log drivers and rotation', () => {
  beforeAll(async () => {
    dir = scratchDir('tsbuild-logs-');
    root = join(dir, 'root');
    await busyboxImage(await openStore({ root }));
  }, 60_000);
  afterAll(() => {
    const ids = tsbuild('ps', '-aq').stdout.split('\n').filter((id) => id !== '');
    if (ids.length > 0) tsbuild('rm', '-f', ...ids);
    spawnSync('rm', ['-rf', dir]);
  });

  it('rotates at max-size keeping max-file files, and logs reads them oldest first', () => {
    // Each entry is about 60 bytes: a file of 1 KiB holds 17 or 18 lines.
    const id = ok('run', '-d', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=3', 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 100 ]; do echo "line $i"; i=$((i+1)); done').trim();
    expect(ok('wait', id)).toBe('0\n');
    expect(logFiles(id)).toEqual(['container.log', 'container.log.1', 'container.log.2']);
    for (const file of logFiles(id)) expect(statSync(join(root, 'containers', id, file)).size).toBeLessThan(1024 + 80);
    const kept = ok('logs', id);
    const first = Number(/^line (\d+)$/m.exec(kept)?.[1]);
    // What is kept is the end of the output, whole and in order.
    expect(first).toBeGreaterThan(30);
    expect(kept).toBe(lines(first, 100));
    expect(ok('logs', '--tail', '2', id)).toBe(lines(98, 100));
    expect(JSON.parse(ok('inspect', '-f', '{{json .HostConfig.LogConfig}}', id))).toEqual({ Type: 'json-file', Config: { 'max-size': '1k', 'max-file': '3' } });
  });

  it('starts one file again with max-file=1', () => {
    const id = ok('run', '-d', '--log-opt', 'max-size=1k', 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 100 ]; do echo "line $i"; i=$((i+1)); done').trim();
    expect(ok('wait', id)).toBe('0\n');
    expect(logFiles(id)).toEqual(['container.log']);
    const kept = ok('logs', id);
    const first = Number(/^line (\d+)$/m.exec(kept)?.[1]);
    expect(first).toBeGreaterThan(70);
    expect(kept).toBe(lines(first, 100));
  });

  it('follows the log across rotations without losing or repeating a line', async () => {
    const id = ok('run', '-d', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=20', 'busybox', 'sh', '-c', 'sleep 0.5; i=0; while [ $i -lt 150 ]; do echo "line $i"; i=$((i+1)); usleep 10000; done').trim();
    const follower = spawn(process.execPath, [bin, 'logs', '-f', id], { env: { ...process.env, TSBUILD_ROOT: root } });
    let output = '';
    follower.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const status = await new Promise<number | null>((resolve) => follower.on('close', resolve));
    expect(status).toBe(0);
    expect(output).toBe(lines(0, 150));
    expect(logFiles(id).length).toBeGreaterThan(5);
  }, 60_000);

  it('follows the log when it rotates several times between two reads', async () => {
    // 400 lines at once: about 20 rotations, far faster than the follower reads.
    const id = ok('run', '-d', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=40', 'busybox', 'sh', '-c', 'sleep 1; i=0; while [ $i -lt 400 ]; do echo "line $i"; i=$((i+1)); done; sleep 0.3').trim();
    const follower = spawn(process.execPath, [bin, 'logs', '-f', id], { env: { ...process.env, TSBUILD_ROOT: root } });
    let output = '';
    follower.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    expect(await new Promise<number | null>((resolve) => follower.on('close', resolve))).toBe(0);
    expect(output).toBe(lines(0, 400));
  }, 60_000);

  it('keeps nothing with --log-driver none, and refuses what the drivers do not take', () => {
    const id = ok('run', '-d', '--log-driver', 'none', 'busybox', 'echo', 'unseen').trim();
    expect(ok('wait', id)).toBe('0\n');
    expect(existsSync(join(root, 'containers', id, 'container.log'))).toBe(false);
    expect(tsbuild('logs', id)).toMatchObject({ status: 1, stderr: 'Error response from daemon: configured logging driver does not support reading\n' });
    for (const [flags, message] of [
      [['--log-driver', 'syslog'], "no log driver named 'syslog'"],
      [['--log-opt', 'compression=9'], "unknown log opt 'compression' for json-file log driver"],
      [['--log-driver', 'none', '--log-opt', 'max-size=1k'], "unknown log opt 'max-size' for none log driver"],
      [['--log-opt', 'max-file=2'], 'max-file cannot be set when max-size is not set'],
      [['--log-opt', 'max-size=1k', '--log-opt', 'max-file=0'], 'max-file cannot be less than 1'],
    ] as const) {
      expect(tsbuild('create', ...flags, 'busybox', 'true')).toMatchObject({ status: 1, stderr: expect.stringContaining(message) as unknown });
    }
  });
});
