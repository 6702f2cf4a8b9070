/**
 * Containers that outlive their run, end to end through the installed command: `run -d` hands
 * each to a monitor process of its own, and later tsbuild processes act on it (ps, logs -f,
 * exec, stop with the image's StopSignal and its timeout, kill, restart policies, health
 * checks, rm). As root and as an unprivileged user. At the end no monitor, no container process
 * and no mount is left.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile, readdir, readlink, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform } from '../../src/common/index.js';
import { writeImage } from '../../src/exporter/index.js';
import { openStore, resolveImage, type Store } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { asRootless, buildBinaries, chownTree, ensureRootlessUser, isRoot, mountsUnder, scratchDir, toolExists } from './helpers.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let dir: string;
let root: string;
let store: Store;
/** argv prefix and store of the suite being run (root's, or the unprivileged user's). */
let prefix: readonly string[] = [];
let activeRoot: string;

function tsbuild(...args: string[]): Run {
  const [command, ...rest] = [...prefix, process.execPath, bin, ...args];
  const result = spawnSync(command ?? process.execPath, rest, { encoding: 'utf8', input: '', env: { ...process.env, TSBUILD_ROOT: activeRoot }, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The same, without waiting: for commands that run at once, or that follow. */
function tsbuildAsync(...args: string[]): Promise<Run & { readonly ms: number }> {
  const [command, ...rest] = [...prefix, process.execPath, bin, ...args];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command ?? process.execPath, rest, { env: { ...process.env, TSBUILD_ROOT: activeRoot }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr, ms: Date.now() - started }));
  });
}

function ok(...args: string[]): string {
  const result = tsbuild(...args);
  if (result.status !== 0) expect.fail(`tsbuild ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

const inspect = (container: string, template: string): string => ok('inspect', '--format', template, container).trim();

async function until<T>(what: string, read: () => T | Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) expect.fail(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

interface ContainerJson {
  readonly state: { readonly monitor?: { readonly pid: number }; readonly pid?: number };
}

async function record(id: string): Promise<ContainerJson> {
  return JSON.parse(await readFile(join(activeRoot, 'containers', id, 'container.json'), 'utf8')) as ContainerJson;
}

/** Processes of this suite: monitors of its stores, and anything whose root is a container's. */
async function leftProcesses(): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    const rootOf = await readlink(`/proc/${entry}/root`).catch(() => '');
    if ((cmdline.includes('container-monitor') && cmdline.includes(dir)) || rootOf.startsWith(dir)) found.push(`${entry}: ${cmdline}`);
  }
  return found;
}

async function imageWith(target: Store, name: string, config: Parameters<typeof writeImage>[1]['config']): Promise<void> {
  const base = await resolveImage(target, (await target.resolveReference('docker.io/library/busybox:latest')) ?? expect.fail('no busybox'));
  const layers = [{ descriptor: base.manifest.layers[0] ?? expect.fail('no layer'), diffId: base.config.rootfs.diff_ids[0] ?? expect.fail('no diff id') }];
  await writeImage(target, { layers, platform: hostPlatform(), config }, name);
}

/** The images every suite uses, in TARGET. */
async function makeImages(target: Store): Promise<void> {
  await busyboxImage(target);
  await imageWith(target, 'docker.io/library/stopper:latest', {
    StopSignal: 'SIGUSR1',
    Cmd: ['sh', '-c', 'trap "echo got USR1; exit 3" USR1; echo ready; while true; do sleep 0.1; done'],
  });
  await imageWith(target, 'docker.io/library/checked:latest', {
    // Healthy once /tmp/ok exists (after a second), unhealthy once it is gone again. Within the
    // start period checks come every StartInterval (docker 25's; 5s when not given).
    Cmd: ['sh', '-c', 'sleep 1; touch /tmp/ok; sleep 2; rm /tmp/ok; sleep 100'],
    Healthcheck: { Test: ['CMD-SHELL', 'test -e /tmp/ok'], Interval: 200e6, Timeout: 2e9, Retries: 2, StartPeriod: 1.8e9, StartInterval: 200e6 },
  });
}

beforeAll(async () => {
  buildBinaries();
  dir = scratchDir('tsbuild-containers-');
  root = join(dir, 'root');
  activeRoot = root;
  store = await openStore({ root });
  await makeImages(store);
}, 120_000);

afterAll(async () => {
  // Whatever a failed test left is removed, then checked: nothing may remain.
  for (const [argv, storeRoot] of [[[], root], [prefix, activeRoot]] as const) {
    prefix = argv;
    activeRoot = storeRoot;
    const ids = tsbuild('ps', '-aq', '--no-trunc').stdout.split('\n').filter((id) => id !== '');
    if (ids.length > 0) tsbuild('rm', '-f', ...ids);
  }
  await sleep(200);
  expect(await leftProcesses()).toEqual([]);
  expect(await mountsUnder(dir)).toEqual([]);
  await rm(dir, { recursive: true, force: true });
}, 60_000);

/** The tests both suites run: root's and the unprivileged user's. */
function lifecycleTests(): void {
  it('runs detached: ps, logs, exec and stop with the image\'s StopSignal, the state read back by later processes', async () => {
    const id = ok('run', '-d', '--name', 'stopper1', 'stopper').trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    // The starting process has exited: a new one reads the state.
    expect(inspect('stopper1', '{{.State.Status}} {{.State.Running}} {{.Name}}')).toBe('running true /stopper1');
    const pid = Number(inspect('stopper1', '{{.State.Pid}}'));
    expect(pid).toBeGreaterThan(0);
    // docker's GraphDriver: what the container writes is in its UpperDir.
    ok('exec', 'stopper1', 'sh', '-c', 'echo written > /graph-marker');
    const graph = JSON.parse(inspect('stopper1', '{{json .GraphDriver}}')) as { Name: string; Data: { UpperDir: string; MergedDir: string; LowerDir: string } };
    expect(graph.Name).toBe('overlay');
    expect(readFileSync(join(graph.Data.UpperDir, 'graph-marker'), 'utf8')).toBe('written\n');
    expect(graph.Data.MergedDir).toBe(join(activeRoot, 'containers', id, 'rootfs'));
    expect(existsSync(graph.Data.LowerDir.split(':')[0] ?? '')).toBe(true);
    const table = ok('ps').split('\n');
    expect(table[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    expect(table[1]).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+stopper\\s+"sh -c 'trap .*"\\s+.* ago\\s+Up .*\\s+stopper1$`));
    await until('logs', () => ok('logs', 'stopper1'), (text) => text === 'ready\n');
    expect(ok('exec', 'stopper1', 'echo', 'inside')).toBe('inside\n');
    // The exec's bundle (its environment among it) is made in the container's directory, so that
    // one a killed exec leaves goes with the container; it goes when the exec ends.
    const containerDir = join(activeRoot, 'containers', id);
    const bundles = (): string[] => readdirSync(containerDir).filter((name) => name.startsWith('exec-'));
    const sleeping = tsbuildAsync('exec', 'stopper1', 'sleep', '2');
    await until('exec bundle', () => bundles().length, (count) => count === 1);
    expect((await sleeping).status).toBe(0);
    expect(bundles()).toEqual([]);
    // Its streams are pipes, which it opens again by name (a socket's link refuses with ENXIO).
    expect(ok('exec', 'stopper1', 'sh', '-c', 'echo by-name > /dev/stdout && echo warned > /dev/stderr')).toBe('by-name\n');
    expect(ok('exec', '-e', 'X=1', '-w', '/tmp', '-u', 'nobody', id.slice(0, 8), 'sh', '-c', 'echo $X $(pwd) $(id -u)')).toBe('1 /tmp 65534\n');
    // --env-file's variables, then -e's; --privileged: every capability, where the container has docker's default set.
    const envFile = join(tmpdir(), `tsbuild-exec-${process.pid}.env`);
    writeFileSync(envFile, '# read as docker reads it\nFROM_FILE=yes\nX=file\n', { mode: 0o644 });
    try {
      expect(ok('exec', '--env-file', envFile, '-e', 'X=flag', 'stopper1', 'sh', '-c', 'echo $FROM_FILE $X')).toBe('yes flag\n');
    } finally {
      rmSync(envFile, { force: true });
    }
    const effective = (...flags: string[]): bigint => BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(ok('exec', ...flags, 'stopper1', 'cat', '/proc/self/status'))?.[1] ?? '0'}`);
    expect(effective()).toBe(0xa80425fbn);
    // Every capability this machine lets tsbuild hold (root here lacks CAP_SYS_RESOURCE): its bounding set.
    const bounding = BigInt(`0x${/^CapBnd:\s+([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'}`);
    expect(effective('--privileged')).toBe(bounding);
    // It joined the container's pid namespace: the container's first process is its PID 1.
    expect(ok('exec', 'stopper1', 'cat', '/proc/1/cmdline')).toContain('trap');
    // In a session and process group of its own, as runc's: its `kill 0` reaches no process outside.
    expect(ok('exec', 'stopper1', 'sh', '-c', 'read pid comm state ppid group session rest < /proc/self/stat; echo $((pid == group && pid == session))')).toBe('1\n');
    expect(tsbuild('exec', 'stopper1', 'sh', '-c', 'exit 6').status).toBe(6);
    // docker 26 (and 20.10): exec ends with 126 for any process it could not start, not 127 as run.
    expect(tsbuild('exec', 'stopper1', 'nosuch')).toMatchObject({ status: 126, stderr: expect.stringContaining('execve nosuch: No such file or directory') });
    expect(tsbuild('exec', '-u', 'nosuchuser', 'stopper1', 'true')).toMatchObject({ status: 126, stderr: 'unable to find user nosuchuser: no matching entries in passwd file\n' });
    expect(tsbuild('exec', '-w', 'relative', 'stopper1', 'true').status).toBe(126);
    // Docker's default capabilities, as the container's own process has them, not the runtime's.
    expect(ok('exec', 'stopper1', 'grep', 'CapEff', '/proc/self/status')).toBe('CapEff:\t00000000a80425fb\n');
    expect(ok('top', 'stopper1')).toMatch(/^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD\n/);
    const stop = await tsbuildAsync('stop', 'stopper1');
    expect(stop).toMatchObject({ status: 0, stdout: 'stopper1\n' });
    // SIGUSR1, the image's StopSignal, ended it well before the 10 s timeout.
    expect(stop.ms).toBeLessThan(8000);
    expect(ok('logs', 'stopper1')).toBe('ready\ngot USR1\n');
    expect(inspect('stopper1', '{{.State.Status}} {{.State.ExitCode}} {{.State.Running}} {{.State.Pid}}')).toBe('exited 3 false 0');
    expect(ok('ps', '-a', '--filter', 'name=stopper1', '--format', '{{.Status}}')).toMatch(/^Exited \(3\) (Less than a second|\d+ seconds?) ago\n$/);
    expect(ok('ps', '-q')).not.toContain(id.slice(0, 12));
    // Started again from its record: the same container, the same log.
    ok('start', 'stopper1');
    await until('second ready', () => ok('logs', 'stopper1'), (text) => text === 'ready\ngot USR1\nready\n');
    // restart: stopped with its StopSignal, running again when the command returns.
    expect(ok('restart', 'stopper1')).toBe('stopper1\n');
    expect(inspect('stopper1', '{{.State.Status}}')).toBe('running');
    await until('third ready', () => ok('logs', 'stopper1'), (text) => text === 'ready\ngot USR1\nready\ngot USR1\nready\n');
    ok('rm', '-f', 'stopper1');
    expect(tsbuild('inspect', '--type', 'container', 'stopper1')).toMatchObject({ status: 1, stderr: expect.stringContaining('No such container: stopper1') });
  }, 60_000);

  it('stop sends SIGKILL after the timeout, and --stop-signal replaces the image\'s', async () => {
    // A shell as PID 1 without a handler ignores SIGTERM: only SIGKILL ends it.
    ok('run', '-d', '--name', 'stubborn', 'busybox', 'sleep', '100');
    const stop = await tsbuildAsync('stop', '-t', '1', 'stubborn');
    expect(stop.status).toBe(0);
    expect(stop.ms).toBeGreaterThanOrEqual(1000);
    expect(stop.ms).toBeLessThan(8000);
    expect(inspect('stubborn', '{{.State.ExitCode}}')).toBe('137');
    ok('run', '-d', '--name', 'usr2', '--stop-signal', 'USR2', '--stop-timeout', '20', 'busybox', 'sh', '-c', 'trap "exit 5" USR2; while true; do sleep 0.1; done');
    expect(inspect('usr2', '{{.Config.StopSignal}} {{.Config.StopTimeout}}')).toBe('USR2 20');
    ok('stop', 'usr2');
    expect(inspect('usr2', '{{.State.ExitCode}}')).toBe('5');
    ok('run', '-d', '--name', 'killed', 'busybox', 'sh', '-c', 'trap "exit 9" HUP; while true; do sleep 0.1; done');
    ok('kill', '-s', 'HUP', 'killed');
    expect(await tsbuildAsync('wait', 'killed')).toMatchObject({ status: 0, stdout: '9\n' });
    expect(tsbuild('kill', 'killed')).toMatchObject({ status: 1, stderr: expect.stringContaining('is not running') });
    // docker 26's daemon words, for each container named.
    expect(tsbuild('kill', '-s', 'BOGUS', 'killed', 'usr2')).toMatchObject({ status: 1, stderr: expect.stringContaining('cannot kill container: killed: invalid signal: BOGUS\nError response from daemon: cannot kill container: usr2: invalid signal: BOGUS') });
    expect(tsbuild('kill', '-s', '0', 'killed')).toMatchObject({ status: 1, stderr: 'Error response from daemon: cannot kill container: killed: invalid signal: 0\n' });
    ok('rm', 'stubborn', 'usr2', 'killed');
  }, 60_000);

  it('reports exit codes; --rm containers are removed when they end; foreground runs keep their record', async () => {
    ok('run', '-d', '--name', 'seven', 'busybox', 'sh', '-c', 'exit 7');
    expect(ok('wait', 'seven')).toBe('7\n');
    expect(ok('ps', '-a', '--filter', 'exited=7', '--format', '{{.Names}} {{.State}}')).toBe('seven exited\n');
    // A command not found: 127, as docker 26; its ID printed all the same, and the container,
    // which never ran, stays created with that exit code and the error, never restarted.
    expect(tsbuild('run', '-d', '--name', 'missing', '--restart', 'always', 'busybox', 'nosuch')).toMatchObject({ status: 127, stdout: expect.stringMatching(/^[0-9a-f]{64}\n$/), stderr: expect.stringContaining('nosuch') });
    expect(inspect('missing', '{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}} {{.State.StartedAt}}')).toBe('created 127 0 0001-01-01T00:00:00Z');
    expect(inspect('missing', '{{.State.Error}}')).toContain('execve nosuch');
    expect(ok('ps', '-a', '--filter', 'name=missing', '--format', '{{.Status}}')).toBe('Created\n');
    expect(tsbuild('start', 'missing')).toMatchObject({ status: 1, stderr: expect.stringContaining('execve nosuch') });
    // One that ran before and cannot start again (its shell removed itself) is exited.
    ok('run', '--name', 'ranonce', 'busybox', 'sh', '-c', 'rm /bin/sh');
    // It started, however quickly it ended.
    expect(inspect('ranonce', '{{.State.StartedAt}}')).not.toBe('0001-01-01T00:00:00Z');
    expect(tsbuild('start', 'ranonce')).toMatchObject({ status: 1, stderr: expect.stringContaining('execve sh') });
    expect(inspect('ranonce', '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 127');
    const before = (await readdir(join(activeRoot, 'containers'))).length;
    const removed = ok('run', '-d', '--rm', 'busybox', 'sh', '-c', 'sleep 0.3').trim();
    await until('--rm container removed', () => tsbuild('inspect', '--type', 'container', removed).status, (status) => status === 1);
    // One that ends before `run -d` looked at it is fine too; one that cannot run says so.
    expect(tsbuild('run', '-d', '--rm', 'busybox', 'true').status).toBe(0);
    expect(tsbuild('run', '-d', '--rm', 'busybox', 'nosuch')).toMatchObject({ status: 127, stderr: expect.stringContaining('execve nosuch') });
    await until('quick --rm container removed', async () => (await readdir(join(activeRoot, 'containers'))).length, (count) => count === before);
    // In the foreground without --rm: the output here, the exit status, the container kept.
    const foreground = tsbuild('run', '--name', 'fg', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3');
    expect(foreground).toMatchObject({ status: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(ok('logs', 'fg')).toBe('out\n');
    // docker 26's --details: the line's attributes (none without log-opt labels or env) and a blank before it.
    expect(tsbuild('logs', '--details', 'fg')).toMatchObject({ status: 0, stdout: ' out\n', stderr: ' err\n' });
    expect(inspect('fg', '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 3');
    // docker 26's Config.Env: the run's variables as given (a bare name too), then the image's;
    // HOSTNAME, TERM and HOME are the process's only.
    ok('create', '--name', 'envs', '-t', '-e', 'FOO=1', '-e', 'TSBUILD_TEST_UNSET', 'busybox', 'true');
    expect(JSON.parse(inspect('envs', '{{json .Config.Env}}'))).toEqual(['FOO=1', 'TSBUILD_TEST_UNSET', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    // create, then start -a: the output and the exit status.
    ok('create', '--name', 'later', 'busybox', 'sh', '-c', 'echo attached; exit 4');
    expect(inspect('later', '{{.State.Status}}')).toBe('created');
    expect(ok('ps', '-a', '--filter', 'name=later', '--format', '{{.Status}}')).toBe('Created\n');
    expect(tsbuild('start', '-a', 'later')).toMatchObject({ status: 4, stdout: 'attached\n' });
    ok('rename', 'later', 'renamed');
    // docker 26: the daemon's reason (a conflict said as allocating the name), then which rename failed.
    expect(tsbuild('rename', 'renamed', 'fg')).toMatchObject({
      status: 1,
      stderr: expect.stringMatching(/^Error response from daemon: Error when allocating new name: Conflict\. The container name "\/fg" is already in use by container "[0-9a-f]{64}"\. You have to remove \(or rename\) that container to be able to reuse that name\.\nError: failed to rename container named renamed\n$/),
    });
    expect(inspect('renamed', '{{.Name}}')).toBe('/renamed');
    expect(ok('container', 'ls', '-a', '--format', '{{.Names}}').split('\n')).toEqual(expect.arrayContaining(['seven', 'missing', 'fg', 'renamed']));
    // Without -f it asks on standard output, as docker does; no answer removes nothing.
    expect(tsbuild('container', 'prune')).toMatchObject({ status: 0, stdout: 'WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ' });
    expect(ok('ps', '-aq')).not.toBe('');
    // docker's filters: label= (and label!=), until=; the space is what the writable layers held.
    ok('run', '--name', 'kept-by-label', '--label', 'keep=yes', 'busybox', 'true');
    ok('run', '--name', 'written', 'busybox', 'sh', '-c', 'head -c 300000 /dev/zero > /filled');
    expect(tsbuild('container', 'prune', '-f', '--filter', 'colour=red')).toMatchObject({ status: 1, stderr: expect.stringContaining('bad filter "colour=red"') });
    expect(tsbuild('container', 'prune', '-f', '--filter', 'until=2000-01-01T00:00:00Z')).toMatchObject({ status: 0, stdout: 'Total reclaimed space: 0B\n' });
    const pruned = ok('container', 'prune', '-f', '--filter', 'label!=keep=yes');
    expect(pruned).toMatch(/^Deleted Containers:\n[0-9a-f]{64}\n[\s\S]*\nTotal reclaimed space: 30\d(\.\d)?kB\n$/);
    expect(ok('ps', '-a', '--format', '{{.Names}}')).toBe('kept-by-label\n');
    expect(ok('container', 'prune', '-f', '--filter', 'label=keep')).toContain('Deleted Containers:');
    expect(ok('ps', '-aq')).toBe('');
  }, 60_000);

  it('logs -f follows a running container until it ends; --tail and -t', async () => {
    ok('run', '-d', '--name', 'counter', 'busybox', 'sh', '-c', 'for i in 1 2 3 4; do echo n$i; sleep 0.4; done');
    const followed = await tsbuildAsync('logs', '-f', 'counter');
    expect(followed.status).toBe(0);
    expect(followed.stdout).toBe('n1\nn2\nn3\nn4\n');
    // It waited for the lines written after it started, and ended with the container.
    expect(followed.ms).toBeGreaterThan(700);
    expect(ok('logs', '--tail', '1', 'counter')).toBe('n4\n');
    expect(ok('logs', '-t', '--tail', '2', 'counter')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z n3\n\S+ n4\n$/);
    const raw = (await readFile(join(activeRoot, 'containers', inspect('counter', '{{.Id}}'), 'container.log'), 'utf8')).split('\n')[0] ?? '';
    expect(JSON.parse(raw)).toMatchObject({ log: 'n1\n', stream: 'stdout', time: expect.any(String) });
    ok('rm', 'counter');
  }, 60_000);

  it('lists and execs into a foreground run --rm container', async () => {
    const foreground = tsbuildAsync('run', '--rm', 'busybox', 'sh', '-c', 'sleep 2; echo done');
    const id = await until('foreground container', () => ok('ps', '-q', '--no-trunc').trim(), (text) => /^[0-9a-f]{64}$/.test(text));
    await until('its pid', () => tsbuild('exec', id, 'echo', 'joined'), (result) => result.status === 0 && result.stdout === 'joined\n');
    expect(await foreground).toMatchObject({ status: 0, stdout: 'done\n' });
    expect(ok('ps', '-aq')).toBe('');
  }, 60_000);

  it('update --restart changes the policy of a running container, which its monitor follows when the process ends', async () => {
    ok('run', '-d', '--name', 'updated', 'busybox', 'sh', '-c', 'sleep 2; exit 3');
    expect(ok('update', '--restart', 'on-failure:2', 'updated')).toBe('updated\n');
    expect(inspect('updated', '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}')).toBe('on-failure 2');
    await until('updated ended', () => inspect('updated', '{{.RestartCount}} {{.State.Status}}'), (state) => state === '2 exited', 30_000);
    expect(inspect('updated', '{{.State.ExitCode}}')).toBe('3');
    expect(tsbuild('update', 'updated')).toMatchObject({ status: 1, stderr: expect.stringContaining('you must provide one or more flags') });
    expect(tsbuild('update', '--restart', 'sometimes', 'updated')).toMatchObject({ status: 1, stderr: expect.stringContaining('invalid restart policy') });
    ok('rm', 'updated');
  }, 60_000);

  it('restart=on-failure:3 restarts a failing container three times', async () => {
    ok('run', '-d', '--name', 'flaky', '--restart', 'on-failure:3', 'busybox', 'sh', '-c', 'echo attempt; exit 1');
    await until('flaky ended', () => inspect('flaky', '{{.State.Status}}'), (status) => status === 'exited');
    expect(inspect('flaky', '{{.RestartCount}} {{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}')).toBe('3 1 on-failure 3');
    expect(ok('logs', 'flaky')).toBe('attempt\n'.repeat(4));
    // A success is not restarted; `always` is until stopped.
    ok('run', '-d', '--name', 'fine', '--restart', 'on-failure', 'busybox', 'true');
    expect(ok('wait', 'fine')).toBe('0\n');
    expect(inspect('fine', '{{.RestartCount}}')).toBe('0');
    ok('run', '-d', '--name', 'again', '--restart', 'always', 'busybox', 'sh', '-c', 'sleep 0.2');
    await until('restarted', () => Number(inspect('again', '{{.RestartCount}}')), (count) => count >= 2);
    ok('stop', 'again');
    expect(inspect('again', '{{.State.Status}}')).toBe('exited');
    const count = inspect('again', '{{.RestartCount}}');
    await sleep(700);
    expect(inspect('again', '{{.RestartCount}}')).toBe(count);
    ok('rm', 'flaky', 'fine', 'again');
  }, 60_000);

  it('runs the HEALTHCHECK: starting, then healthy, then unhealthy', async () => {
    ok('run', '-d', '--name', 'checked', 'checked');
    const seen: string[] = [];
    await until(
      'health',
      () => {
        const status = inspect('checked', '{{.State.Health.Status}}');
        if (seen.at(-1) !== status) seen.push(status);
        return status;
      },
      (status) => status === 'unhealthy',
    );
    expect(seen).toEqual(['starting', 'healthy', 'unhealthy']);
    const health = JSON.parse(inspect('checked', '{{json .State.Health}}')) as { FailingStreak: number; Log: { ExitCode: number }[] };
    expect(health.FailingStreak).toBeGreaterThanOrEqual(2);
    expect(health.Log.length).toBeLessThanOrEqual(5);
    expect(health.Log.at(-1)?.ExitCode).toBe(1);
    expect(ok('ps', '--filter', 'name=checked', '--format', '{{.Status}}')).toMatch(/^Up \d+ seconds? \(unhealthy\)\n$/);
    expect(ok('ps', '--filter', 'health=unhealthy', '-q')).not.toBe('');
    ok('rm', '-f', 'checked');
  }, 60_000);

  it('reports a container whose monitor was killed as dead, never running; rm -f ends it', async () => {
    const id = ok('run', '-d', '--name', 'orphan', 'busybox', 'sleep', '100').trim();
    const { state } = await record(id);
    const monitor = state.monitor?.pid ?? expect.fail('no monitor');
    const pid = state.pid ?? expect.fail('no pid');
    process.kill(monitor, 'SIGKILL');
    await until('monitor gone', () => spawnSync('kill', ['-0', String(monitor)]).status, (status) => status !== 0);
    expect(inspect('orphan', '{{.State.Status}} {{.State.Running}} {{.State.Dead}}')).toBe('dead false true');
    expect(ok('ps', '-a', '--filter', 'name=orphan', '--format', '{{.Status}}')).toBe('Dead\n');
    expect(ok('ps', '-q')).toBe('');
    expect(tsbuild('rm', 'orphan')).toMatchObject({ status: 1, stderr: expect.stringContaining('force remove') });
    ok('rm', '-f', 'orphan');
    await until('container process gone', () => spawnSync('kill', ['-0', String(pid)]).status, (status) => status !== 0);
  }, 60_000);

  it('two commands acting on one container at once leave one consistent state', async () => {
    const id = ok('create', '--name', 'twice', 'busybox', 'sleep', '100').trim();
    const starts = await Promise.all([tsbuildAsync('start', 'twice'), tsbuildAsync('start', 'twice'), tsbuildAsync('start', 'twice')]);
    expect(starts.map((start) => start.status)).toEqual([0, 0, 0]);
    // One monitor watches it.
    const monitors = (await leftProcesses()).filter((line) => line.includes('container-monitor') && line.includes(id));
    expect(monitors).toHaveLength(1);
    expect(inspect('twice', '{{.State.Status}}')).toBe('running');
    const [first, second, kill] = await Promise.all([tsbuildAsync('stop', '-t', '1', 'twice'), tsbuildAsync('stop', '-t', '1', 'twice'), tsbuildAsync('kill', 'twice')]);
    expect([first.status, second.status]).toEqual([0, 0]);
    // The kill may come after the stop ended it.
    expect([0, 1]).toContain(kill.status);
    expect(inspect('twice', '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 137');
    expect(JSON.parse(await readFile(join(activeRoot, 'containers', id, 'container.json'), 'utf8'))).toMatchObject({ id, name: 'twice' });
    // Two creates of one name: one wins, the other leaves nothing.
    const before = (await readdir(join(activeRoot, 'containers'))).filter((name) => /^[0-9a-f]{64}$/.test(name)).length;
    const creates = await Promise.all([tsbuildAsync('create', '--name', 'same', 'busybox', 'true'), tsbuildAsync('create', '--name', 'same', 'busybox', 'true')]);
    // The loser's is its daemon's refusal (the name in use): docker's create exits 1 for it.
    expect(creates.map((create) => create.status).sort()).toEqual([0, 1]);
    expect((await readdir(join(activeRoot, 'containers'))).filter((name) => /^[0-9a-f]{64}$/.test(name)).length).toBe(before + 1);
    ok('rm', 'twice', 'same');
  }, 60_000);

  it('fails clearly and leaves nothing for a name in use, an image not found or a bad flag', async () => {
    ok('create', '--name', 'taken', 'busybox', 'true');
    const count = async (): Promise<number> => (await readdir(join(activeRoot, 'containers'))).filter((name) => /^[0-9a-f]{64}$/.test(name)).length;
    const before = await count();
    expect(tsbuild('run', '-d', '--name', 'taken', 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('The container name "/taken" is already in use') });
    expect(tsbuild('run', '-d', 'sha256:0000000000000000000000000000000000000000000000000000000000000000')).toMatchObject({ status: 125, stderr: expect.stringContaining("Unable to find image 'sha256:0000000000000000000000000000000000000000000000000000000000000000' locally\ntsbuild: Error response from daemon: ") });
    expect(tsbuild('run', '-d', '--restart', 'sometimes', 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('invalid restart policy') });
    expect(tsbuild('run', '-d', '--rm', '--restart', 'always', 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('Conflicting options: --restart and --rm') });
    expect(tsbuild('run', '-d', '--stop-signal', 'BOGUS', 'busybox', 'true')).toMatchObject({ status: 125, stderr: "tsbuild: Error response from daemon: invalid signal: BOGUS.\nSee 'tsbuild run --help'.\n" });
    // docker's daemon checks it: create says so after the daemon's prefix, with status 1.
    expect(tsbuild('create', '--stop-signal', 'BOGUS', 'busybox', 'true')).toMatchObject({ status: 1, stderr: 'Error response from daemon: invalid signal: BOGUS\n' });
    expect(tsbuild('run', '-d', '-p', '99999:80', 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('Invalid hostPort: 99999') });
    expect(tsbuild('run', '-d', '--name', '/bad name', 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('Invalid container name') });
    expect(tsbuild('run', '-d', '--nosuchflag', 'busybox')).toMatchObject({ status: 125, stderr: expect.stringContaining('unknown flag: --nosuchflag') });
    expect(tsbuild('stop', 'nosuch')).toMatchObject({ status: 1, stderr: expect.stringContaining('No such container: nosuch') });
    // docker 26: rm -f of a container that is not there says so and succeeds (cleanup steps rely on it); rm fails.
    expect(tsbuild('rm', '-f', 'nosuch')).toMatchObject({ status: 0, stdout: '', stderr: 'Error response from daemon: No such container: nosuch\n' });
    expect(tsbuild('rm', 'nosuch')).toMatchObject({ status: 1, stderr: 'Error response from daemon: No such container: nosuch\n' });
    // docker 26's CLI refuses -it without a terminal before it creates anything, with status 1
    // (spawnSync's input is a pipe); the foreground --rm run takes the same words.
    expect(tsbuild('run', '-it', 'busybox', 'true')).toMatchObject({ status: 1, stderr: 'the input device is not a TTY\n' });
    expect(tsbuild('run', '--rm', '-it', 'busybox', 'true')).toMatchObject({ status: 1, stderr: 'the input device is not a TTY\n' });
    expect(await count()).toBe(before);
    ok('rm', 'taken');
  }, 60_000);
}


/** Each FLAGS makes `run` fail as docker does: status 125, WORDS in the message. */
/** A block device of the host and its numbers (`MAJ:MIN`), for the block I/O flags. */
function hostBlockDevice(): { path: string; numbers: string } | undefined {
  for (const name of readdirSync('/dev').sort()) {
    const info = statSync(join('/dev', name), { throwIfNoEntry: false });
    if (info?.isBlockDevice() === true) return { path: join('/dev', name), numbers: `${Math.floor(info.rdev / 256) & 0xfff}:${(info.rdev & 0xff) | ((info.rdev >> 12) & ~0xff)}` };
  }
  return undefined;
}

const blkioThrottleFiles = ['read_bps', 'write_bps', 'read_iops', 'write_iops'].map((kind) => `/sys/fs/cgroup/blkio/blkio.throttle.${kind}_device`);

function expectRefused(cases: ReadonlyArray<readonly [readonly string[], string]>): void {
  for (const [flags, words] of cases) {
    const result = tsbuild('run', '--rm', ...flags, 'busybox', 'true');
    expect([flags, result.status, result.stderr.includes(words)]).toEqual([flags, 125, true]);
  }
}
describe.runIf(isRoot)('containers as root', () => {
  lifecycleTests();

  it('shows the container its own cgroups at /sys/fs/cgroup, read-only, its limits at their top (--memory, --memory-swap, --memory-reservation, --cpuset-*) and nothing of the host\'s tree', () => {
    const unified = existsSync('/sys/fs/cgroup/cgroup.controllers');
    const probe = unified
      ? 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; grep -c . /sys/fs/cgroup/cgroup.procs; ls /sys/fs/cgroup | grep -c "^tsbuild$"; touch /sys/fs/cgroup/x'
      : 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; grep -c . /sys/fs/cgroup/pids/cgroup.procs; ls /sys/fs/cgroup/memory | grep -c "^tsbuild$"; touch /sys/fs/cgroup/memory/x';
    const limited = tsbuild('run', '--rm', '--network', 'none', '--memory', '64m', '--pids-limit', '50', 'busybox', 'sh', '-c', probe);
    // The shell and its grep are all the group holds; the host's groups (tsbuild's own among them) are not there.
    expect(limited.stdout.trim().split(/\s+/)).toEqual(['67108864', '50', '2', '0']);
    expect(limited.stderr).toContain('Read-only file system');
    const free = tsbuild('run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', probe);
    expect(free.stdout.trim().split(/\s+/).slice(1)).toEqual(['max', '2', '0']);
    // --memory-swap (twice --memory unless given) and --memory-reservation, as docker's daemon sets them.
    if (!unified && existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes')) {
      const files = 'cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes /sys/fs/cgroup/memory/memory.soft_limit_in_bytes';
      expect(ok('run', '--rm', '--network', 'none', '-m', '64m', 'busybox', 'sh', '-c', files).split('\n')[0]).toBe(String(128 * 1024 * 1024));
      expect(ok('run', '--rm', '--network', 'none', '-m', '64m', '--memory-swap', '100m', '--memory-reservation', '32m', 'busybox', 'sh', '-c', files)).toBe(`${100 * 1024 * 1024}\n${32 * 1024 * 1024}\n`);
    }
    ok('create', '--name', 'reserved', '-m', '64m', '--memory-reservation', '32m', 'busybox', 'true');
    expect(inspect('reserved', '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}}')).toBe(`${64 * 1024 * 1024} ${128 * 1024 * 1024} ${32 * 1024 * 1024}`);
    ok('rm', 'reserved');
    expectRefused([
      [['-m', '64m', '--memory-swap', '32m'], 'Minimum memoryswap limit should be larger than memory limit, see usage'],
      [['--memory-swap', '64m'], 'You should always set the Memory limit when using Memoryswap limit, see usage'],
      [['-m', '64m', '--memory-reservation', '128m'], 'Minimum memory limit can not be less than memory reservation limit, see usage'],
      [['--memory-reservation', '1m'], 'Minimum memory reservation allowed is 6MB'],
    ]);
    // --cpuset-cpus: the container runs on the CPUs named, and reads them where docker's do.
    const pinned = ok('run', '--rm', '--network', 'none', '--cpuset-cpus', '0', 'busybox', 'sh', '-c', unified ? 'nproc; cat /sys/fs/cgroup/cpuset.cpus' : 'nproc; cat /sys/fs/cgroup/cpuset/cpuset.cpus');
    expect(pinned).toBe('1\n0\n');
    ok('create', '--name', 'pinned', '--cpuset-cpus', '0', '--cpuset-mems', '0', 'busybox', 'true');
    expect(inspect('pinned', '{{.HostConfig.CpusetCpus}}|{{.HostConfig.CpusetMems}}')).toBe('0|0');
    ok('rm', 'pinned');
    expectRefused([
      [['--cpuset-cpus', 'x'], 'Invalid value x for cpuset cpus'],
      [['--cpuset-cpus', '0-4095'], 'Requested CPUs are not available - requested 0-4095, available: '],
      [['--cpuset-mems', '1,x'], 'Invalid value 1,x for cpuset mems'],
    ]);
    const mounts = ok('run', '--rm', '--network', 'none', 'busybox', 'grep', ' /sys/fs/cgroup', '/proc/mounts');
    expect(mounts).toMatch(unified ? /^cgroup2? \/sys\/fs\/cgroup cgroup2 ro,/m : /^cgroup \/sys\/fs\/cgroup\/memory cgroup ro,nosuid,nodev,noexec,/m);
  });

  it('takes --memory-swappiness, --oom-kill-disable and --blkio-weight as docker does: applied where the cgroups have them, else discarded with its warning; out of range refused', () => {
    const unified = existsSync('/sys/fs/cgroup/cgroup.controllers');
    expectRefused([
      [['--memory-swappiness', '101'], 'Invalid value: 101, valid memory swappiness range is 0-100'],
      [['--blkio-weight', '5'], 'Range of blkio weight is from 10 to 1000'],
    ]);
    const tuned = tsbuild('run', '--rm', '--network', 'none', '-m', '64m', '--memory-swappiness', '10', '--oom-kill-disable', 'busybox', 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.swappiness; head -1 /sys/fs/cgroup/memory/memory.oom_control');
    expect(tuned.status).toBe(0);
    if (unified) {
      expect(tuned.stderr).toContain('Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.');
      expect(tuned.stderr).toContain('Your kernel does not support OomKillDisable. OomKillDisable discarded.');
    } else expect(tuned.stdout).toBe('10\noom_kill_disable 1\n');
    // No memory limit: the OOM switch still applies, with docker's warning.
    const unbounded = tsbuild('run', '--rm', '--network', 'none', '--oom-kill-disable', 'busybox', 'true');
    if (!unified) expect(unbounded.stderr).toContain('OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.');
    const weightFiles = ['/sys/fs/cgroup/blkio/blkio.weight', '/sys/fs/cgroup/blkio/blkio.bfq.weight', '/sys/fs/cgroup/io.bfq.weight'];
    const weighted = tsbuild('run', '--rm', '--network', 'none', '--blkio-weight', '300', 'busybox', 'true');
    expect(weighted.status).toBe(0);
    if (!weightFiles.some((file) => existsSync(file))) expect(weighted.stderr).toContain('Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
    ok('create', '--name', 'tuning', '-m', '64m', '--memory-swappiness', '0', '--oom-kill-disable', 'busybox', 'true');
    expect(inspect('tuning', '{{.HostConfig.MemorySwappiness}} {{.HostConfig.OomKillDisable}}')).toBe(unified ? '<nil> false' : '0 true');
    ok('rm', 'tuning');
  });

  it.runIf(hostBlockDevice() !== undefined && blkioThrottleFiles.every((file) => existsSync(file)))(
    "takes docker's block I/O throttles: refused in its CLI's words, shown in inspect, applied to the container's blkio cgroup, a device missing at start refused in its daemon's",
    () => {
      const device = hostBlockDevice() ?? expect.fail('no block device');
      expectRefused([
        [['--device-read-bps', 'x'], 'invalid argument "x" for "--device-read-bps" flag: bad format: x'],
        [['--device-write-bps', 'vda:1mb'], 'invalid argument "vda:1mb" for "--device-write-bps" flag: bad format for device path: vda:1mb'],
        [['--device-read-bps', '/dev/vda:1xb'], 'invalid rate for device: /dev/vda:1xb. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb'],
        [['--device-read-iops', '/dev/vda:1k'], 'invalid argument "/dev/vda:1k" for "--device-read-iops" flag: invalid rate for device: /dev/vda:1k. The correct format is <device-path>:<number>. Number must be a positive integer'],
        [['--device-write-iops', '/dev/vda:-2'], 'invalid rate for device: /dev/vda:-2.'],
        [['--blkio-weight-device', '/dev/vda:5'], 'invalid argument "/dev/vda:5" for "--blkio-weight-device" flag: invalid weight for device: /dev/vda:5'],
        [['--blkio-weight-device', '/dev/vda'], 'bad format: /dev/vda'],
      ]);
      const limits = ['--device-read-bps', `${device.path}:1mb`, '--device-write-bps', `${device.path}:10K`, '--device-read-iops', `${device.path}:100`, '--device-write-iops', `${device.path}:7`];
      const probe = 'cd /sys/fs/cgroup/blkio; cat blkio.throttle.read_bps_device blkio.throttle.write_bps_device blkio.throttle.read_iops_device blkio.throttle.write_iops_device';
      const applied = `${device.numbers} 1048576\n${device.numbers} 10240\n${device.numbers} 100\n${device.numbers} 7\n`;
      expect(tsbuild('run', '--rm', '--network', 'none', ...limits, 'busybox', 'sh', '-c', probe)).toMatchObject({ status: 0, stdout: applied });
      // A detached container's monitor gives it the same at each start.
      ok('create', '--name', 'throttled', '--network', 'none', ...limits, 'busybox', 'sh', '-c', probe);
      expect(inspect('throttled', '{{json .HostConfig.BlkioDeviceReadBps}} {{json .HostConfig.BlkioDeviceWriteBps}} {{json .HostConfig.BlkioDeviceReadIOps}} {{json .HostConfig.BlkioDeviceWriteIOps}}')).toBe(
        [1048576, 10240, 100, 7].map((rate) => JSON.stringify([{ Path: device.path, Rate: rate }])).join(' '),
      );
      expect(ok('start', '-a', 'throttled')).toBe(applied);
      ok('rm', 'throttled');
      // None asked: docker's empty lists.
      ok('create', '--name', 'unthrottled', 'busybox', 'true');
      expect(inspect('unthrottled', '{{json .HostConfig.BlkioWeightDevice}} {{json .HostConfig.BlkioDeviceReadBps}} {{json .HostConfig.BlkioDeviceWriteIOps}}')).toBe('[] [] []');
      ok('rm', 'unthrottled');
      // The path is stat'ed when the container starts, as docker's daemon does.
      ok('create', '--name', 'nodevice', '--device-read-bps', '/dev/nosuch-disk:1mb', 'busybox', 'true');
      expect(tsbuild('start', 'nodevice')).toMatchObject({ status: 1, stderr: expect.stringContaining('stat /dev/nosuch-disk: no such file or directory') });
      ok('rm', 'nodevice');
      // A per-device weight needs CFQ's or BFQ's files: without them it is discarded with docker's warning.
      const weighted = tsbuild('run', '--rm', '--network', 'none', '--blkio-weight-device', `${device.path}:300`, 'busybox', 'true');
      expect(weighted.status).toBe(0);
      if (!['/sys/fs/cgroup/blkio/blkio.weight_device', '/sys/fs/cgroup/blkio/blkio.bfq.weight_device'].some((file) => existsSync(file))) {
        expect(weighted.stderr).toContain('WARNING: Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.');
      }
    },
  );

  it('update changes the limits of a running container at once, keeps them for its later starts and refuses what docker refuses', () => {
    const unified = existsSync('/sys/fs/cgroup/cgroup.controllers');
    const probe = unified
      ? 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpuset.cpus'
      : 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpuset/cpuset.cpus';
    const seen = (): string[] => ok('exec', 'tuned', 'sh', '-c', probe).trim().split(/\s+/);
    ok('run', '-d', '--name', 'tuned', '--network', 'none', '-m', '64m', 'busybox', 'sleep', '100');
    // Above memory and swap together (twice 64m), the memory alone is refused, as docker's daemon does.
    const refused = tsbuild('update', '-m', '512m', 'tuned');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/Cannot update container [0-9a-f]{64}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time/);
    expect(ok('update', '-m', '512m', '--memory-swap', '1g', '--pids-limit', '30', '--cpus', '0.5', '--cpuset-cpus', '0', 'tuned')).toBe('tuned\n');
    const applied = [String(512 * 1024 * 1024), '30', unified ? '50000' : '50000', '0'];
    expect(seen().filter((value) => value !== '100000')).toEqual(applied);
    expect(inspect('tuned', '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpusetCpus}}')).toBe(`${512 * 1024 * 1024} ${1024 * 1024 * 1024} 30 500000000 0`);
    // Kept for the next start, whoever starts it.
    ok('restart', '-t', '0', 'tuned');
    expect(seen().filter((value) => value !== '100000')).toEqual(applied);
    // Lowered below what is set, and unlimited again (-1), as docker's update takes them.
    ok('update', '-m', '128m', '--pids-limit', '-1', 'tuned');
    expect(seen().slice(0, 2)).toEqual([String(128 * 1024 * 1024), 'max']);
    for (const [flags, words] of [
      [['--cpu-period', '50000'], 'Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set'],
      [['-m', '256m', '--memory-swap', '128m'], 'Minimum memoryswap limit should be larger than memory limit, see usage'],
      [['--memory-reservation', '1m'], 'Minimum memory reservation allowed is 6MB'],
      [['--cpuset-cpus', '0-4095'], 'Requested CPUs are not available - requested 0-4095'],
      [['-m', '1m'], 'Minimum memory limit allowed is 6MB'],
    ] as const) {
      const result = tsbuild('update', ...flags, 'tuned');
      expect([flags, result.status, result.stderr.includes(words)]).toEqual([flags, 1, true]);
    }
    // A refused update changes nothing.
    expect(inspect('tuned', '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}')).toBe(`${128 * 1024 * 1024} 500000000`);
    ok('rm', '-f', 'tuned');
    // A stopped container's limits wait for its start.
    ok('create', '--name', 'later', '--network', 'none', 'busybox', 'sh', '-c', unified ? 'cat /sys/fs/cgroup/pids.max' : 'cat /sys/fs/cgroup/pids/pids.max');
    ok('update', '--pids-limit', '42', 'later');
    ok('start', '-a', 'later');
    expect(ok('logs', 'later')).toBe('42\n');
    ok('rm', 'later');
  });

  it('applies --memory, --pids-limit and --cpus through cgroups where they can be written, --read-only, --hostname, --label', () => {
    // Root may write the v1 memory and pids hierarchies here: the limits are applied.
    const result = tsbuild('run', '--rm', '--memory', '64m', '--pids-limit', '50', '--read-only', '--hostname', 'named', '--label', 'a=b', 'busybox', 'sh', '-c', 'hostname; touch /x');
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('named\n');
    expect(result.stderr).toContain('Read-only file system');
    ok('run', '-d', '--name', 'limited', '--memory', '64m', '--pids-limit', '20', '--cpus', '1.5', '--cpu-shares', '512', 'busybox', 'sleep', '100');
    const pid = inspect('limited', '{{.State.Pid}}');
    const cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    const path = (controller: string): string => cgroups.split('\n').find((line) => line.split(':')[1] === controller)?.split(':')[2] ?? expect.fail(`no ${controller} cgroup`);
    expect(readFileSync(`/sys/fs/cgroup/memory${path('memory')}/memory.limit_in_bytes`, 'utf8').trim()).toBe('67108864');
    expect(readFileSync(`/sys/fs/cgroup/pids${path('pids')}/pids.max`, 'utf8').trim()).toBe('20');
    // --cpus 1.5: a quota of 150 ms per period of 100 ms, as docker sets it.
    const cpu = ['cpu.cfs_quota_us', 'cpu.cfs_period_us', 'cpu.shares'].map((file) => readFileSync(`/sys/fs/cgroup/cpu${path('cpu')}/${file}`, 'utf8').trim());
    expect(cpu).toEqual(['150000', '100000', '512']);
    expect(inspect('limited', '{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}}')).toBe('1500000000 512');
    ok('rm', '-f', 'limited');
    expectRefused([
      [['--cpus', '99'], 'range of CPUs is from 0.01 to'],
      [['--cpus', 'x'], 'failed to parse x as a rational number'],
      [['--cpus', '1', '--cpu-quota', '5000'], 'Conflicting options: Nano CPUs and CPU Period cannot both be set'],
    ]);
    ok('create', '--name', 'labelled', '--label', 'tier=web', '--memory', '64m', 'busybox', 'true');
    expect(inspect('labelled', '{{.Config.Labels.tier}} {{.HostConfig.Memory}}')).toBe('web 67108864');
    expect(ok('ps', '-a', '--filter', 'label=tier=web', '--format', '{{.Names}}')).toBe('labelled\n');
    // docker's ps templates: a method (.Label), Go's functions, and `table` heading its columns as docker does.
    expect(ok('ps', '-a', '--filter', 'label=tier=web', '--format', '{{.Names}}|{{.Label "tier"}}|{{upper .State}}|{{index (split .Labels "=") 0}}')).toBe('labelled|web|CREATED|tier\n');
    // As docker 26's ps, which runs the format on an empty row first: its labels split give one
    // empty string, and index 1 of that fails, containers or none.
    const emptyRow = tsbuild('ps', '-a', '--filter', 'label=tier=web', '--format', '{{index (split .Labels "=") 1}}');
    expect(emptyRow).toMatchObject({ status: 1, stdout: '' });
    expect(emptyRow.stderr).toBe('failed to execute template: template: :1:2: executing "" at <index (split .Labels "=") 1>: error calling index: reflect: slice index out of range\n');
    const table = ok('ps', '-a', '--filter', 'label=tier=web', '--format', 'table {{.ID}}\\t{{.Names}}\\t{{.RunningFor}}\\t{{.State}}');
    expect(table).toMatch(/^CONTAINER ID   NAMES      CREATED\s+STATE\n[0-9a-f]{12}   labelled   .* ago\s+created\n$/);
    expect(inspect('labelled', '{{range $key, $value := .Config.Labels}}{{$key}}={{$value}}{{end}} {{if eq .State.Status "created"}}new{{end}}')).toBe('tier=web new');
    // docker ps -s: the writable layer and, with the image, the virtual size; a template naming .Size asks for it too.
    expect(ok('ps', '-a', '--filter', 'label=tier=web', '--format', '{{.Size}}')).toMatch(/^\d+(\.\d+)?k?B \(virtual \d+(\.\d+)?[kM]B\)\n$/);
    expect(ok('ps', '-a', '-s', '--filter', 'label=tier=web').split('\n')[0]).toMatch(/\s+NAMES\s+SIZE$/);
    // json names every field but asks for no size: 0B without -s, as docker's.
    expect(JSON.parse(ok('ps', '-a', '--filter', 'label=tier=web', '--format', 'json'))).toMatchObject({ Names: 'labelled', Size: '0B' });
    expect(JSON.parse(ok('ps', '-a', '-s', '--filter', 'label=tier=web', '--format', 'json'))).toMatchObject({ Size: expect.stringContaining('(virtual ') });
    ok('rm', 'labelled');
  }, 60_000);

  it('takes docker\'s --cap-add, --cap-drop, --privileged, --add-host, --group-add and --ulimit, and refuses bad ones with docker\'s words', () => {
    const caps = (...flags: string[]): string => ok('run', '--rm', ...flags, 'busybox', 'sh', '-c', 'grep CapEff /proc/self/status').split(/\s+/)[1] ?? '';
    // Bit 10 is CAP_NET_BIND_SERVICE, bit 25 CAP_SYS_TIME; docker's default set is 00000000a80425fb.
    expect(caps('--cap-drop', 'ALL', '--cap-add', 'NET_BIND_SERVICE')).toBe('0000000000000400');
    expect(caps('--cap-add', 'sys_time')).toBe('00000000aa0425fb');
    expect(caps('--cap-drop', 'CAP_CHOWN')).toBe('00000000a80425fa');
    const own = /CapBnd:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    expect(caps('--privileged')).toBe(own);
    // Privileged: nothing of /proc masked or read-only.
    const masks = 'grep -cE " /proc/(keys|timer_list|sys) " /proc/mounts || true';
    expect(ok('run', '--rm', '--privileged', 'busybox', 'sh', '-c', masks)).toBe('0\n');
    // Masked where the host has them (/proc/keys, /proc/timer_list), and /proc/sys read-only.
    const masked = ['/proc/keys', '/proc/timer_list'].filter((path) => existsSync(path)).length + 1;
    expect(ok('run', '--rm', 'busybox', 'sh', '-c', masks)).toBe(`${masked}\n`);
    const hosts = ok('run', '--rm', '--add-host', 'db:10.1.2.3', '--add-host', 'v6=::1', 'busybox', 'cat', '/etc/hosts');
    expect(hosts).toContain('10.1.2.3\tdb\n');
    expect(hosts).toContain('::1\tv6\n');
    // --dns, --dns-search and --dns-option replace what resolv.conf takes from the host, as moby's resolvconf.Build writes it.
    expect(ok('run', '--rm', '--dns', '192.0.2.53', '--dns', '2001:db8::53', '--dns-search', 'example.test', '--dns-option', 'ndots:3', 'busybox', 'cat', '/etc/resolv.conf')).toBe(
      'nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.test\noptions ndots:3\n',
    );
    expect(ok('run', '--rm', '--network', 'none', '--dns-search', '.', '--dns-option', 'attempts:1', 'busybox', 'sh', '-c', 'grep -c search /etc/resolv.conf; grep options /etc/resolv.conf')).toBe('0\noptions attempts:1\n');
    expect(ok('run', '--rm', '--group-add', '42', '--group-add', 'nogroup', 'busybox', 'id')).toBe('uid=0(root) gid=0(root) groups=0(root),42,65534(nogroup)\n');
    expect(ok('run', '--rm', '--ulimit', 'nofile=512:1024', '--ulimit', 'core=0', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -Hn; ulimit -c')).toBe('512\n1024\n0\n');
    // The limits not given are the caller's, as docker's containers keep its daemon's (docker 20.10,
    // docker 26 and podman all gave 20000 and 20000 here, the host's; tsbuild gave 1024).
    const ownLimits = execFileSync('sh', ['-c', 'ulimit -n; ulimit -Hn'], { encoding: 'utf8' });
    expect(ok('run', '--rm', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -Hn')).toBe(ownLimits);
    expect(ok('run', '--rm', '--ulimit', 'core=0', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -Hn')).toBe(ownLimits);
    // As docker 20.10 and 26 give every network namespace of a container's own: any user binds
    // ports below 1024 and pings; --sysctl replaces them; the host's network keeps the host's.
    const sysctls = 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range';
    expect(ok('run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', sysctls)).toBe('0\n0\t2147483647\n');
    expect(ok('run', '-d', '--name', 'low-port', '--network', 'none', '-u', '1000', 'busybox', 'httpd', '-f', '-p', '80')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(ok('exec', 'low-port', 'sh', '-c', 'netstat -ltn | grep -c ":80 "')).toBe('1\n');
    expect(inspect('low-port', '{{json .HostConfig.Sysctls}}')).toBe('null');
    ok('rm', '-f', 'low-port');
    expect(ok('run', '--rm', '--network', 'none', '--sysctl', 'net.ipv4.ip_unprivileged_port_start=500', 'busybox', 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start')).toBe('500\n');
    expect(ok('run', '--rm', '--network', 'host', 'busybox', 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start')).toBe(`${readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')}`);
    ok('create', '--name', 'capped', '--cap-add', 'NET_ADMIN', '--ulimit', 'nproc=10', '--add-host', 'a:1.2.3.4', '--group-add', '42', '--dns', '192.0.2.1', 'busybox', 'true');
    expect(inspect('capped', '{{json .HostConfig.CapAdd}} {{json .HostConfig.Ulimits}} {{json .HostConfig.ExtraHosts}} {{json .HostConfig.GroupAdd}} {{.HostConfig.Privileged}} {{.HostConfig.Dns}} {{json .HostConfig.DnsSearch}}')).toBe(
      '["NET_ADMIN"] [{"Name":"nproc","Hard":10,"Soft":10}] ["a:1.2.3.4"] ["42"] false [192.0.2.1] []',
    );
    // docker 26 lists its masked and read-only paths, null for a privileged container.
    expect(inspect('capped', '{{json .HostConfig.MaskedPaths}} {{json .HostConfig.ReadonlyPaths}}')).toBe(
      '["/proc/asound","/proc/acpi","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/firmware","/sys/devices/virtual/powercap"] ["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]',
    );
    ok('create', '--name', 'allowed', '--privileged', 'busybox', 'true');
    expect(inspect('allowed', '{{json .HostConfig.MaskedPaths}} {{json .HostConfig.ReadonlyPaths}}')).toBe('null null');
    ok('rm', 'capped', 'allowed');
    expectRefused([
      [['--cap-add', 'NOPE'], 'unknown capability: "CAP_NOPE"'],
      [['--ulimit', 'foo=1'], 'invalid ulimit type: foo'],
      [['--ulimit', 'nofile=10:5'], 'soft limit must be less than or equal to hard limit'],
      [['--add-host', 'bad'], 'invalid argument "bad" for add-host'],
      [['--add-host', 'x:not-an-ip'], 'invalid IP address in add-host'],
      [['--dns', 'resolver.example'], 'invalid argument "resolver.example" for "--dns" flag: resolver.example is not an ip address'],
      [['--network', 'container:nosuch', '--dns', '192.0.2.1'], 'conflicting options: dns and the network mode'],
      [['--group-add', 'nosuchgroup'], 'Unable to find group nosuchgroup'],
    ]);
    expect(ok('ps', '-a', '-q')).toBe('');
  }, 120_000);

  it('takes --shm-size, --platform and --cidfile, as docker', () => {
    expect(ok('run', '--rm', '--shm-size', '128m', 'busybox', 'sh', '-c', "df -k /dev/shm | tail -n 1 | awk '{print $2}'")).toBe('131072\n');
    expect(ok('run', '--rm', 'busybox', 'sh', '-c', "df -k /dev/shm | tail -n 1 | awk '{print $2}'")).toBe('65536\n');
    const own = process.arch === 'arm64' ? 'linux/arm64' : 'linux/amd64';
    const other = process.arch === 'arm64' ? 'linux/amd64' : 'linux/arm64';
    expect(ok('run', '--rm', '--platform', own, 'busybox', 'true')).toBe('');
    // The store's busybox is this machine's alone: another platform's is not there, as docker says.
    const foreign = tsbuild('run', '--rm', '--pull', 'never', '--platform', other, 'busybox', 'true');
    expect([foreign.status, foreign.stderr.includes(`image with reference busybox was found but does not match the specified platform: wanted ${other}, actual: ${own}`)]).toEqual([125, true]);
    const cidfile = join(dir, `cid-${process.pid}`);
    const id = ok('create', '--cidfile', cidfile, '--shm-size', '1g', 'busybox', 'true').trim();
    expect(readFileSync(cidfile, 'utf8')).toBe(id);
    expect(inspect(id, '{{.HostConfig.ShmSize}}')).toBe('1073741824');
    const again = tsbuild('create', '--cidfile', cidfile, 'busybox', 'true');
    expect([again.status, again.stderr.includes('Container ID file found')]).toEqual([125, true]);
    ok('rm', id);
    expect(ok('ps', '-a', '-q')).toBe('');
  }, 60_000);

  it('writes namespaced --sysctl values in the container\'s own namespaces only, as docker checks them', () => {
    const host = ['/proc/sys/kernel/shmmni', '/proc/sys/net/core/somaxconn'].map((path) => readFileSync(path, 'utf8'));
    const seen = ok('run', '--rm', '--sysctl', 'kernel.shmmni=1234', '--sysctl', 'net.core.somaxconn=77', 'busybox', 'cat', '/proc/sys/kernel/shmmni', '/proc/sys/net/core/somaxconn');
    expect(seen).toBe('1234\n77\n');
    expect(['/proc/sys/kernel/shmmni', '/proc/sys/net/core/somaxconn'].map((path) => readFileSync(path, 'utf8'))).toEqual(host);
    ok('create', '--name', 'tuned', '--sysctl', 'net.ipv4.ip_unprivileged_port_start=0', 'busybox', 'true');
    expect(inspect('tuned', '{{json .HostConfig.Sysctls}}')).toBe('{"net.ipv4.ip_unprivileged_port_start":"0"}');
    ok('rm', 'tuned');
    // docker's optional HostConfig fields: absent (Sysctls, Init) or null (PidsLimit) when not asked for.
    ok('create', '--name', 'plain', 'busybox', 'true');
    expect(inspect('plain', '{{json .HostConfig.Sysctls}} {{json .HostConfig.Init}} {{json .HostConfig.PidsLimit}}')).toBe('null null null');
    expect(Object.keys(JSON.parse(ok('inspect', 'plain'))[0].HostConfig)).not.toContain('Init');
    // docker's fields for what was not asked for, at docker's values; Config.Volumes null without volumes.
    expect(inspect('plain', '{{json .Config.Volumes}} {{.HostConfig.PublishAllPorts}} {{json .HostConfig.ConsoleSize}} {{json .ExecIDs}} {{json .Config.OnBuild}}')).toBe('null false [0,0] null null');
    ok('rm', 'plain');
    ok('create', '--name', 'limited', '--init', '--pids-limit', '20', '-v', '/data', '-P', 'busybox', 'true');
    expect(inspect('limited', '{{json .HostConfig.Init}} {{json .HostConfig.PidsLimit}} {{json .Config.Volumes}} {{.HostConfig.PublishAllPorts}}')).toBe('true 20 {"/data":{}} true');
    ok('rm', '-v', 'limited');
    expectRefused([
      [['--sysctl', 'kernel.pid_max=5'], "sysctl 'kernel.pid_max' is not allowed: it is not namespaced"],
      [['--network', 'host', '--sysctl', 'net.core.somaxconn=5'], "not allowed in the host's network namespace"],
      [['--ipc', 'host', '--sysctl', 'kernel.shmmni=5'], "not allowed in the host's IPC namespace"],
      [['--sysctl', 'net/../../kernel/pid_max=5'], 'is not in the form key=value'],
    ]);
    expect(ok('ps', '-a', '-q')).toBe('');
  }, 60_000);

  it('gives a host device node with --device, at its own path or another, and refuses what is no device', () => {
    // /dev/net/tun opens (and answers EBADFD to a read before TUNSETIFF): the node is the host's.
    const probe = 'ls -ln /dev/net/tun /dev/other-null | cut -c1-10; cat /dev/net/tun 2>&1; echo x > /dev/other-null && echo written';
    const out = ok('run', '--rm', '--device', '/dev/net/tun', '--device', '/dev/null:/dev/other-null:rw', 'busybox', 'sh', '-c', probe);
    expect(out).toContain('File descriptor in bad state');
    expect(out).toContain('written');
    expect(out.split('\n').filter((line) => line.startsWith('crw'))).toHaveLength(2);
    expect(tsbuild('run', '--rm', 'busybox', 'test', '-e', '/dev/net/tun').status).toBe(1);
    ok('create', '--name', 'devices', '--device', '/dev/net/tun', 'busybox', 'true');
    expect(inspect('devices', '{{json .HostConfig.Devices}}')).toBe('[{"PathOnHost":"/dev/net/tun","PathInContainer":"/dev/net/tun","CgroupPermissions":"rwm"}]');
    ok('rm', 'devices');
    expectRefused([
      [['--device', '/etc/passwd'], 'not a device node'],
      [['--device', '/dev/nosuch'], 'error gathering device information while adding custom device "/dev/nosuch"'],
      [['--device', 'relative'], 'bad format for path'],
    ]);
    expect(ok('ps', '-a', '-q')).toBe('');
  }, 60_000);

  it('shares the host\'s PID, IPC and UTS namespaces with --pid, --ipc and --uts host, and only then', () => {
    const own = (kind: string): string => readlinkSync(`/proc/self/ns/${kind}`);
    const seen = (...flags: string[]): string => ok('run', '--rm', ...flags, 'busybox', 'sh', '-c', 'for kind in pid ipc uts; do readlink /proc/self/ns/$kind; done; hostname');
    const shared = seen('--pid', 'host', '--ipc', 'host', '--uts', 'host').split('\n');
    expect(shared.slice(0, 3)).toEqual([own('pid'), own('ipc'), own('uts')]);
    expect(shared[3]).toBe(hostname());
    const separate = seen('--ipc', 'private').split('\n');
    expect(separate.slice(0, 3).filter((ns, index) => ns === [own('pid'), own('ipc'), own('uts')][index])).toEqual([]);
    // The host's /dev/shm comes with its IPC namespace.
    const marker = `tsbuild-shm-${process.pid}`;
    writeFileSync(`/dev/shm/${marker}`, 'shared');
    try {
      expect(ok('run', '--rm', '--ipc', 'host', 'busybox', 'cat', `/dev/shm/${marker}`)).toBe('shared');
    } finally {
      rmSync(`/dev/shm/${marker}`, { force: true });
    }
    ok('create', '--name', 'hostns', '--pid', 'host', 'busybox', 'true');
    expect(inspect('hostns', '{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}} {{.HostConfig.UTSMode}}')).toBe('host private');
    ok('rm', 'hostns');
    expectRefused([
      [['--uts', 'host', '--hostname', 'x'], 'conflicting options: hostname and the UTS mode'],
      [['--pid', 'container:other'], 'invalid --pid'],
    ]);
  }, 60_000);

  it("confines containers and what exec starts in them with their capabilities and docker's default seccomp rules, lifted by --security-opt seccomp=unconfined or --privileged", () => {
    const status = 'grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\\t " " "; unshare -U true 2>/dev/null && echo unshared || echo refused';
    expect(ok('run', '--rm', 'busybox', 'sh', '-c', status)).toBe('NoNewPrivs: 0\nSeccomp: 2\nrefused\n');
    expect(ok('run', '--rm', '--security-opt', 'seccomp=unconfined', 'busybox', 'sh', '-c', status)).toBe('NoNewPrivs: 0\nSeccomp: 0\nunshared\n');
    expect(ok('run', '--rm', '--privileged', 'busybox', 'sh', '-c', status)).toBe('NoNewPrivs: 0\nSeccomp: 0\nunshared\n');
    expect(ok('run', '--rm', '--security-opt', 'no-new-privileges', 'busybox', 'sh', '-c', status)).toBe('NoNewPrivs: 1\nSeccomp: 2\nrefused\n');
    // CAP_SYS_ADMIN lifts the namespace refusals, as docker's profile does.
    expect(ok('run', '--rm', '--cap-add', 'SYS_ADMIN', 'busybox', 'sh', '-c', 'unshare -U true && echo unshared')).toBe('unshared\n');
    ok('run', '-d', '--name', 'confined', '--security-opt', 'seccomp=unconfined', 'busybox', 'sleep', '100');
    expect(ok('exec', 'confined', 'sh', '-c', 'grep ^Seccomp: /proc/self/status | tr -s "\\t " " "')).toBe('Seccomp: 0\n');
    expect(inspect('confined', '{{json .HostConfig.SecurityOpt}}')).toBe('["seccomp=unconfined"]');
    ok('rm', '-f', 'confined');
    // The container's own capabilities too (bit 25 is CAP_SYS_TIME).
    ok('run', '-d', '--name', 'confined', '--cap-add', 'SYS_TIME', 'busybox', 'sleep', '100');
    expect(ok('exec', 'confined', 'sh', '-c', 'grep -E "^(CapEff|Seccomp):" /proc/self/status | tr -s "\\t " " "; unshare -U true 2>/dev/null || echo refused')).toBe('CapEff: 00000000aa0425fb\nSeccomp: 2\nrefused\n');
    ok('rm', '-f', 'confined');
    expectRefused([
      [['--security-opt', 'seccomp=/tmp/profile.json'], 'a seccomp profile file is not supported'],
      [['--security-opt', 'bogus'], 'invalid --security-opt: "bogus"'],
    ]);
  }, 60_000);

  it('exec -t gives the process a terminal of the container\'s own, never the caller\'s (whose input it could push keystrokes into)', () => {
    ok('run', '-d', '--name', 'termed', 'busybox', 'sleep', '100');
    // Without a terminal around tsbuild, the process still gets one.
    expect(ok('exec', '-t', 'termed', 'sh', '-c', 'test -t 0 && test -t 1 && tty')).toMatch(/^\/dev\/pts\/\d+\r?\n$/);
    // From a terminal (script gives tsbuild one): the process's terminal is a node of the
    // container's devpts, not the caller's pty; its exit status comes back.
    const command = `${process.execPath} ${bin} exec -it termed sh -c 'stat -L -c %d /proc/self/fd/0; stat -c %d /dev/pts/ptmx; exit 3'`;
    const inTerminal = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: activeRoot }, timeout: 30_000 });
    expect(inTerminal.status).toBe(3);
    const [own, containers] = inTerminal.stdout.split(/\r?\n/).map((line) => line.replace(/[^0-9]/g, '')).filter((line) => line !== '');
    expect(own).toMatch(/^\d+$/);
    expect(own).toBe(containers);
    ok('rm', '-f', 'termed');
    // run -t too, as docker 26's: the container's own /dev/pts/0, with /dev/console bound on it.
    expect(ok('run', '--rm', '-t', 'busybox', 'sh', '-c', 'tty; stat -c %t:%T /dev/console /dev/pts/0')).toBe('/dev/pts/0\r\n88:0\r\n88:0\r\n');
  }, 60_000);

  it('pauses and unpauses: the processes freeze (a counter stops), ps and inspect say Paused, exec is refused, stop ends it', async () => {
    ok('run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.05; done');
    const pid = inspect('ticker', '{{.State.Pid}}');
    // Read through the container's root as the host sees it: no exec into a frozen container.
    const count = (): number => Number(readFileSync(`/proc/${pid}/root/count`, 'utf8').trim() || '0');
    await until('the counter', count, (value) => value > 2);
    expect(ok('pause', 'ticker')).toBe('ticker\n');
    expect(inspect('ticker', '{{.State.Status}} {{.State.Running}} {{.State.Paused}}')).toBe('paused true true');
    expect(ok('ps', '--filter', 'name=ticker', '--format', '{{.Status}}')).toMatch(/^Up .* \(Paused\)\n$/);
    // Frozen: the counter stands still.
    const before = count();
    await sleep(400);
    expect(count()).toBe(before);
    const frozen = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((line) => line.split(':')[1] === 'freezer')?.split(':')[2] ?? expect.fail('no freezer cgroup');
    expect(readFileSync(`/sys/fs/cgroup/freezer${frozen}/freezer.state`, 'utf8').trim()).toBe('FROZEN');
    const procs = readFileSync(`/sys/fs/cgroup/freezer${frozen}/cgroup.procs`, 'utf8').trim().split('\n');
    expect(procs).toContain(pid);
    const exec = tsbuild('exec', 'ticker', 'true');
    expect(exec.status).not.toBe(0);
    expect(exec.stderr).toContain('is paused, unpause the container before exec');
    expect(tsbuild('pause', 'ticker').stderr).toContain('is already paused');
    ok('unpause', 'ticker');
    expect(inspect('ticker', '{{.State.Status}} {{.State.Paused}}')).toBe('running false');
    const resumed = count();
    await until('the counter after unpause', count, (value) => value > resumed + 2);
    // docker 26's daemon words, its capital C included.
    expect(tsbuild('unpause', 'ticker')).toMatchObject({ status: 1, stderr: expect.stringMatching(/^Error response from daemon: Container [0-9a-f]{64} is not paused\n$/) });
    // Stopped while paused: the stop signal reaches it, and the freezer cgroup goes with it.
    ok('pause', 'ticker');
    ok('stop', '-t', '1', 'ticker');
    expect(inspect('ticker', '{{.State.Status}} {{.State.Paused}}')).toBe('exited false');
    expect(existsSync(`/sys/fs/cgroup/freezer${frozen}`)).toBe(false);
    expect(tsbuild('pause', 'ticker').stderr).toContain('is not running');
    ok('rm', 'ticker');
  }, 60_000);
});

describe.runIf(isRoot && toolExists('newuidmap'))('containers as an unprivileged user', () => {
  beforeAll(async () => {
    const user = ensureRootlessUser();
    const userRoot = join(dir, 'rootless');
    await makeImages(await openStore({ root: userRoot }));
    chownTree(userRoot, user);
    prefix = [...asRootless(user), `TSBUILD_ROOT=${userRoot}`];
    activeRoot = userRoot;
  }, 120_000);

  lifecycleTests();

  it('warns that --memory, --pids-limit and --cpus cannot be applied without a delegated cgroup', () => {
    const result = tsbuild('run', '--rm', '--memory', '64m', '--pids-limit', '50', '--cpus', '1', 'busybox', 'true');
    expect(result.status).toBe(0);
    expect(result.stderr).toContain('WARNING: Your kernel does not support memory limit');
    expect(result.stderr).toContain('PIDs limit discarded');
    expect(result.stderr).toContain('CPU limits discarded');
  });

  it("discards docker's block I/O throttles without a delegated cgroup, with its warnings", () => {
    const result = tsbuild('run', '--rm', '--device-read-bps', '/dev/null:1mb', '--device-write-iops', '/dev/null:5', 'busybox', 'true');
    expect(result.status).toBe(0);
    expect(result.stderr).toContain('WARNING: Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded.');
    expect(result.stderr).toContain('WARNING: Your kernel does not support IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded.');
    ok('create', '--name', 'unthrottled', '--device-read-bps', '/dev/null:1mb', 'busybox', 'true');
    expect(inspect('unthrottled', '{{json .HostConfig.BlkioDeviceReadBps}}')).toBe('[]');
    ok('rm', 'unthrottled');
  });

  it('refuses to pause without a writable freezer, naming why, and the container runs on', () => {
    ok('run', '-d', '--name', 'unfrozen', 'busybox', 'sleep', '100');
    const paused = tsbuild('pause', 'unfrozen');
    expect(paused.status).not.toBe(0);
    expect(paused.stderr).toContain('the cgroup freezer is not writable here');
    expect(inspect('unfrozen', '{{.State.Status}}')).toBe('running');
    ok('rm', '-f', 'unfrozen');
  });
});
