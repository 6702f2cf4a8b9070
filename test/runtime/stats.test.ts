/**
 * `stats` as docker's: one table with `--no-stream`, redrawn tables otherwise, docker's columns
 * and units; a busy container shows CPU time, the tasks of a container are counted, `--memory`
 * is the limit, a container without a network of its own moves no bytes, `-a` shows stopped
 * containers with zeros, and a name that is no container is docker's error.
 */
import { spawn, spawnSync } from 'node:child_process';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBinaryBytes } from '../../src/cli/format.js';
import { openStore } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { buildBinaries, installedCliOutput, isRoot, repoRoot, runInstalledCli, scratchDir } from './helpers.js';

const bin = join(repoRoot, 'bin', 'tsbuild.js');

let dir: string;
let root: string;

const tsbuild = (...args: string[]): { status: number | null; stdout: string; stderr: string } => runInstalledCli(args, { root });
const ok = (...args: string[]): string => installedCliOutput(args, { root });

/** A table's lines, each split into its columns (docker's tabwriter pads with three spaces or more). */
const cells = (table: string): string[][] =>
  table
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split(/ {2,}/));

interface StatsRow {
  readonly Name: string;
  readonly CPUPerc: string;
  readonly MemUsage: string;
  readonly MemPerc: string;
  readonly NetIO: string;
  readonly BlockIO: string;
  readonly PIDs: string;
}

describe.skipIf(!isRoot)('stats', () => {
  beforeAll(async () => {
    buildBinaries();
    dir = scratchDir('tsbuild-stats-');
    root = join(dir, 'root');
    await busyboxImage(await openStore({ root }));
    ok('run', '-d', '--name', 'busy', '--network', 'none', 'busybox', 'sh', '-c', 'while :; do :; done');
    // 8 MiB in its /dev/shm: memory its cgroup is charged with, which no process holds resident.
    ok('run', '-d', '--name', 'idle', '--memory', '64m', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/dev/shm/filled bs=1M count=8 2>/dev/null; sleep 1000 & sleep 1000 & wait');
    ok('create', '--name', 'stopped', 'busybox', 'true');
  }, 120_000);
  afterAll(() => {
    tsbuild('rm', '-f', 'busy', 'idle', 'stopped');
    spawnSync('rm', ['-rf', dir]);
  });

  it('prints one table of the running containers with --no-stream, in docker\'s columns and units', () => {
    const table = cells(ok('stats', '--no-stream'));
    expect(table[0]).toEqual(['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS']);
    expect(table.slice(1).map((row) => row[1]).sort()).toEqual(['busy', 'idle']);
    for (const row of table.slice(1)) {
      expect(row[0]).toMatch(/^[0-9a-f]{12}$/);
      expect(row[2]).toMatch(/^\d+\.\d\d%$/);
      expect(row[3]).toMatch(/^\d+(\.\d+)?(B|KiB|MiB) \/ \d+(\.\d+)?(MiB|GiB)$/);
      expect(row[5]).toMatch(/^\d+(\.\d+)?k?B \/ \d+(\.\d+)?k?B$/);
    }
  });

  it('shows a busy container\'s CPU time, the tasks of each, its memory against --memory or the machine\'s, and no bytes without a network', () => {
    const rows = ok('stats', '--no-stream', '--format', 'json', 'busy', 'idle')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as StatsRow);
    expect(Object.keys(rows[0] ?? {})).toEqual(['BlockIO', 'CPUPerc', 'Container', 'ID', 'MemPerc', 'MemUsage', 'Name', 'NetIO', 'PIDs']);
    const [busy, idle] = rows;
    if (busy === undefined || idle === undefined) throw new Error('two rows expected');
    // A loop that never sleeps: a share of a CPU even on a loaded machine; the sleepers none.
    expect(Number.parseFloat(busy.CPUPerc)).toBeGreaterThan(10);
    expect(Number.parseFloat(idle.CPUPerc)).toBeLessThan(5);
    expect(busy.PIDs).toBe('1');
    expect(idle.PIDs).toBe('3');
    expect(idle.MemUsage).toMatch(/^\d+(\.\d+)?MiB \/ 64MiB$/);
    // As docker: the cgroup's usage (the shared memory written included) less its inactive file cache.
    expect(Number.parseFloat(idle.MemUsage)).toBeGreaterThanOrEqual(8);
    expect(busy.MemUsage.endsWith(` / ${formatBinaryBytes(totalmem())}`)).toBe(true);
    expect(Number.parseFloat(idle.MemPerc)).toBeGreaterThan(0);
    expect(busy.NetIO).toBe('0B / 0B');
  });

  it('lists stopped containers with zeros under -a, takes a template, and refuses a name that is no container', () => {
    const rows = cells(ok('stats', '--no-stream', '-a', '--format', 'table {{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.NetIO}}\t{{.PIDs}}'));
    expect(rows[0]).toEqual(['NAME', 'CPU %', 'MEM USAGE / LIMIT', 'NET I/O', 'PIDS']);
    expect(rows.find((row) => row[0] === 'stopped')).toEqual(['stopped', '0.00%', '0B / 0B', '0B / 0B', '0']);
    expect(rows.map((row) => row[0]).sort()).toEqual(['NAME', 'busy', 'idle', 'stopped']);
    expect(tsbuild('stats', '--no-stream', 'no-such-container')).toMatchObject({ status: 1, stderr: 'Error response from daemon: No such container: no-such-container\n' });
    expect(tsbuild('stats', '--no-stream', '--format', '{{.Nope')).toMatchObject({ status: 1 });
  });

  it('prints a table again and again until interrupted', async () => {
    const child = spawn(process.execPath, [bin, 'stats', '--format', '{{.Name}} {{.PIDs}}', 'idle'], { env: { ...process.env, TSBUILD_ROOT: root } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const ended = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    child.kill('SIGINT');
    expect(await ended).toBe(0);
    const lines = output.split('\n').filter((line) => line !== '');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(new Set(lines)).toEqual(new Set(['idle 3']));
  });
});
