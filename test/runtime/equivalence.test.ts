/**
 * The same bundles under runtime-shim and under an established runtime: what the process
 * observes (ids, capabilities, environment, cwd, hostname, mount table, rlimits, pid,
 * no_new_privs, network devices) and how it ends (exit codes, signals) must agree.
 * Rootful against crun (and the mount table against runc); rootless, as an unprivileged user
 * the tests create, against crun and runc. crun 1.8 refuses cgroup v1 "hybrid" hosts unless the unified hierarchy is unmounted in
 * its mount namespace: root prepares such a namespace, then becomes the user to start crun.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandRuntime, ShimRuntime, generateConfig, subordinateRange, type ContainerSpec } from '../../src/runtime/index.js';
import { asRootless, buildBinaries, chownTree, ensureRootlessUser, isRoot, makeRootfs, rootlessUser, scratchDir, shimBinary, toolExists } from './helpers.js';

interface Case {
  readonly name: string;
  readonly args: readonly string[];
  readonly spec?: Partial<ContainerSpec>;
}

const cases: readonly Case[] = [
  { name: 'ids and groups', args: ['ids'], spec: { user: { uid: 1000, gid: 1000, additionalGids: [10, 20] } } },
  { name: 'root ids', args: ['ids'] },
  { name: 'capabilities', args: ['caps'] },
  { name: 'capabilities of a non-root user', args: ['caps'], spec: { user: { uid: 1000, gid: 1000 } } },
  { name: 'environment', args: ['env'], spec: { env: ['A=1', 'B=two words', 'PATH=/bin'] } },
  { name: 'cwd', args: ['cwd'], spec: { cwd: '/work' } },
  { name: 'hostname', args: ['hostname'], spec: { hostname: 'box' } },
  { name: 'mount table', args: ['mounts'] },
  { name: 'mount table, read-only root', args: ['mounts'], spec: { readonlyRootfs: true } },
  { name: 'rlimits', args: ['rlimits'], spec: { rlimits: { RLIMIT_NOFILE: { soft: 1000, hard: 2000 }, RLIMIT_CORE: { soft: 0, hard: 0 } } } },
  { name: 'no_new_privs', args: ['nnp'], spec: { noNewPrivileges: true } },
  { name: 'network none: loopback only', args: ['netdevs'] },
  { name: 'pid 1', args: ['pid'] },
  { name: 'session and process group', args: ['session'] },
  { name: 'exit code', args: ['exit', '7'] },
  { name: 'exit code 0', args: ['exit', '0'] },
  { name: 'descriptors', args: ['fds'] },
  { name: 'orphans of PID 1', args: ['zombies'] },
];

let dir: string;
let rootfs: string;

function bundle(name: string, spec: ContainerSpec, owner?: { uid: number; gid: number }): string {
  const path = join(dir, name.replace(/[^a-z0-9]+/gi, '-'));
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'config.json'), JSON.stringify(generateConfig(spec)));
  if (owner !== undefined) chownTree(path, owner);
  return path;
}

beforeAll(() => {
  buildBinaries();
  dir = scratchDir('tsbuild-equivalence-');
  rootfs = makeRootfs(dir);
});

afterAll(() => {
  spawnSync('rm', ['-rf', dir]);
});

describe.runIf(isRoot && toolExists('crun'))('runtime-shim and crun, rootful', () => {
  const shim = (): ShimRuntime => new ShimRuntime(join(dir, 'state-shim'));
  const crun = (): CommandRuntime => new CommandRuntime('crun', 'crun', join(dir, 'state-crun'));
  let n = 0;

  for (const c of cases) {
    it(`agree on ${c.name}`, async () => {
      const path = bundle(`rootful-${c.name}`, { args: ['/test-init', ...c.args], rootfs, rootless: false, ...c.spec });
      const ours = await shim().run(path, `s${++n}`, { stdio: 'pipe' });
      const theirs = await crun().run(path, `c${n}`, { stdio: 'pipe' });
      if (c.args[0] !== 'exit') expect(ours.stdout.length).toBeGreaterThan(0);
      expect({ status: ours.status, stdout: normalizeRootful(c.args[0] ?? '', ours.stdout) }).toEqual({ status: theirs.status, stdout: normalizeRootful(c.args[0] ?? '', theirs.stdout) });
    });
  }

  it('gives the process pipes for stdout and stderr, which it opens again through /proc/self/fd (a socket refuses: ENXIO)', async () => {
    for (const fd of [1, 2]) {
      const path = bundle(`rootful-reopen-${fd}`, { args: ['/test-init', 'write', `/proc/self/fd/${fd}`], rootfs, rootless: false });
      const ran = await shim().run(path, `p${++n}`, { stdio: 'pipe' });
      expect({ status: ran.status, stdout: ran.stdout, stderr: ran.stderr }).toEqual({ status: 0, stdout: fd === 1 ? 'x{"errno":0}\n' : '{"errno":0}\n', stderr: fd === 2 ? 'x' : '' });
    }
  });

  // runc (BuildKit's and docker's runtime) gives a user its streams by uid, keeping their group;
  // crun changes the group too. Rootful only: the rootless runs below hand the runtimes Node's
  // socket pairs, which runc replaces with pipes of its own.
  it.runIf(toolExists('runc'))('agree with runc on who owns the standard streams of a non-root user, and that it opens them again', async () => {
    const path = bundle('rootful-stdio-owner', { args: ['/test-init', 'stdio-owner'], rootfs, rootless: false, user: { uid: 1000, gid: 1000 } });
    const ours = await shim().run(path, `so${++n}`, { stdio: 'pipe' });
    const theirs = await new CommandRuntime('runc', 'runc', join(dir, 'state-runc')).run(path, `ro${n}`, { stdio: 'pipe' });
    expect(JSON.parse(ours.stdout)).toEqual([0, 1, 2].map(() => ({ fifo: true, uid: 1000, gid: 0, reopen: 0 })));
    expect({ status: ours.status, stdout: ours.stdout }).toEqual({ status: theirs.status, stdout: theirs.stdout });
  });

  it('leaves the owner of a named fifo of the host given as a stream: only pipes go to the process', () => {
    const path = bundle('rootful-stdio-fifo', { args: ['/test-init', 'stdio-owner'], rootfs, rootless: false, user: { uid: 1000, gid: 1000 } });
    const fifo = join(dir, 'stdout.fifo');
    spawnSync('mkfifo', [fifo]);
    // Open for reading and writing: no wait for a reader, and the output stays readable here.
    const fd = openSync(fifo, 'r+');
    try {
      const ran = spawnSync(shimBinary, ['--root', join(dir, 'state-shim'), 'run', '--bundle', path, `fifo${++n}`], { stdio: ['ignore', fd, 'pipe'] });
      expect(ran.status).toBe(0);
      expect(statSync(fifo).uid).toBe(0);
      const output = Buffer.alloc(4096);
      const streams = JSON.parse(output.subarray(0, readSync(fd, output)).toString()) as unknown[];
      // The user cannot open it again (0644, root's), as under runc it could not either.
      expect(streams[1]).toEqual({ fifo: true, uid: 0, gid: 0, reopen: 13 });
    } finally {
      closeSync(fd);
    }
  });

  it.runIf(toolExists('runc'))('agree with runc on the mount table, in its order and with its flags', async () => {
    const mounts = cases.find((c) => c.args[0] === 'mounts') ?? expect.fail('no mounts case');
    const path = bundle('rootful-runc-mounts', { args: ['/test-init', ...mounts.args], rootfs, rootless: false, ...mounts.spec });
    const ours = await shim().run(path, `s${++n}`, { stdio: 'pipe' });
    const theirs = await new CommandRuntime('runc', 'runc', join(dir, 'state-runc')).run(path, `r${n}`, { stdio: 'pipe' });
    // runc makes the device nodes with mknod in /dev, the shim binds the host's (withoutDevicePolicy),
    // so the /dev/null runc binds over masked files is its tmpfs's node, and the shim's the host's.
    const table = (stdout: string): unknown => (withoutDevicePolicy(JSON.parse(stdout) as MountEntry[], true) as MountEntry[]).map((m) => (maskedFiles.has(m.target) ? { target: m.target, masked: true } : m));
    expect({ status: ours.status, mounts: table(ours.stdout) }).toEqual({ status: theirs.status, mounts: table(theirs.stdout) });
  });

  for (const [signal, expected] of [
    ['SIGTERM', { status: 0, line: '{"signal":15}' }],
    ['SIGKILL', { status: 137, line: undefined }],
  ] as const) {
    it(`agree on ${signal} sent to the runtime process or the container`, async () => {
      const path = bundle(`rootful-signal-${signal}`, { args: ['/test-init', 'sleep-until-signal'], rootfs, rootless: false });
      const outcomes = [];
      for (const runtime of [shim(), crun()]) {
        const pidFile = join(dir, `${runtime.name}-${signal}.pid`);
        const result = await runUntilReady(runtime.name === 'crun' ? crunArgv(path, `sig-${signal}`) : [shimBinary, '--root', join(dir, 'state-shim'), 'run', '--bundle', path, '--pid-file', pidFile, `sig-${signal}`], async (child) => {
          // SIGTERM goes to the runtime, which forwards it; SIGKILL cannot be forwarded and goes to the container's pid.
          if (signal === 'SIGTERM') child.kill('SIGTERM');
          else {
            // The program may print "ready" before the runtime has written the pid file.
            const file = runtime.name === 'crun' ? join(dir, `crun-pid-sig-${signal}`) : pidFile;
            await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').trim() !== '');
            process.kill(Number(readFileSync(file, 'utf8')), signal);
          }
        });
        outcomes.push(result);
      }
      for (const outcome of outcomes) {
        expect(outcome.status).toBe(expected.status);
        if (expected.line !== undefined) expect(outcome.stdout).toContain(expected.line);
      }
    });
  }

  it('agree on the detached lifecycle: create, start, state, kill through the runtime, delete', async () => {
    const path = bundle('rootful-lifecycle', { args: ['/test-init', 'sleep-until-signal'], rootfs, rootless: false });
    const observed = [];
    for (const runtime of [shim(), crun()]) {
      const id = `life-${runtime.name}`;
      const output = join(dir, `${id}.out`);
      const seen: string[] = [];
      await runtime.create(path, id, { output });
      seen.push((await runtime.state(id)).status);
      await runtime.start(id);
      await waitFor(() => readFileSync(output, 'utf8').includes('ready'));
      seen.push((await runtime.state(id)).status);
      await runtime.kill(id, 'USR1');
      await waitFor(async () => (await runtime.state(id)).status === 'stopped');
      seen.push((await runtime.state(id)).status);
      await runtime.delete(id);
      await expect(runtime.state(id)).rejects.toThrow(/state of container/);
      observed.push({ states: seen, output: readFileSync(output, 'utf8') });
    }
    expect(observed[0]).toEqual({ states: ['created', 'running', 'stopped'], output: 'ready\n{"signal":10}\n' });
    expect(observed[1]).toEqual(observed[0]);
  });

  it('runtime-shim as init: PID 1 reaps the orphans of the program, which runs as PID 2', async () => {
    const path = bundle('rootful-init-zombies', { args: ['/test-init', 'zombies'], rootfs, rootless: false, init: true });
    const result = await shim().run(path, 'init-zombies', { stdio: 'pipe' });
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ self: 2, orphanParent: 1, orphan: 'reaped' });
  });

  function crunArgv(path: string, id: string): string[] {
    return ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"', 'sh', 'crun', '--root', join(dir, 'state-crun'), 'run', '--bundle', path, '--pid-file', join(dir, `crun-pid-${id}`), id];
  }
});

/** Polls (every 20 ms, at most 5 s) until the condition holds. */
async function waitFor(condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('condition not met within 5 s');
}

/** Runs a container whose program prints "ready" before waiting, then acts on it. */
function runUntilReady(argv: readonly string[], act: (child: ReturnType<typeof spawn>) => Promise<void>): Promise<{ status: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const [command, ...args] = argv;
    const child = spawn(command ?? '', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let acted = false;
    let failure: unknown;
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!acted && stdout.includes('ready')) {
        acted = true;
        act(child).catch((error: unknown) => {
          failure = error;
          // The program would wait a minute for a signal: SIGINT makes it end now (the runtime forwards it).
          child.kill('SIGINT');
        });
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure !== undefined) reject(failure instanceof Error ? failure : new Error(String(failure)));
      else resolve({ status: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stdout });
    });
  });
}

describe.runIf(isRoot && toolExists('runc') && toolExists('newuidmap'))('runtime-shim, crun and runc, rootless', () => {
  let user: { uid: number; gid: number; runtimeDir: string };
  let rootlessRootfs: string;
  let mappings: NonNullable<ContainerSpec['idMappings']>;

  // State directories and pid files of this run only: the user's runtime directory outlives
  // test runs, and what an interrupted one left there must not collide with this one.
  let states: string;

  beforeAll(() => {
    user = ensureRootlessUser();
    states = join(user.runtimeDir, `equivalence-${process.pid}`);
    mkdirSync(states, { mode: 0o700 });
    chownTree(states, user);
    const rootlessDir = join(dir, 'rootless');
    mkdirSync(rootlessDir, { recursive: true });
    rootlessRootfs = makeRootfs(rootlessDir, user);
    const info = { username: rootlessUser, uid: user.uid, gid: user.gid, shell: null, homedir: '' };
    const subuid = subordinateRange('/etc/subuid', info);
    const subgid = subordinateRange('/etc/subgid', info);
    if (subuid === undefined || subgid === undefined) throw new Error('the rootless test user has no subordinate ids');
    mappings = {
      uid: [{ containerID: 0, hostID: user.uid, size: 1 }, { containerID: 1, hostID: subuid.start, size: subuid.count }],
      gid: [{ containerID: 0, hostID: user.gid, size: 1 }, { containerID: 1, hostID: subgid.start, size: subgid.count }],
    };
  });

  afterAll(() => {
    rmSync(states, { recursive: true, force: true });
  });

  const run = (argv: readonly string[]): { status: number; stdout: string; stderr: string } => {
    const result = spawnSync(asRootless(user)[0] ?? '', [...asRootless(user).slice(1), ...argv], { encoding: 'utf8', cwd: '/' });
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  };

  /**
   * crun as the unprivileged user, in a mount namespace root prepared without the unified
   * hierarchy (the user cannot unmount it: the mount is locked in any namespace the user owns).
   */
  const runCrun = (argv: readonly string[]): { status: number; stdout: string; stderr: string } => {
    const prefix = hybrid() ? ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$@"', 'sh'] : [];
    const full = [...prefix, ...asRootless(user), ...argv];
    const result = spawnSync(full[0] ?? '', full.slice(1), { encoding: 'utf8', cwd: '/' });
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  };

  let n = 0;
  // A single-id namespace has no uid 1000.
  const rootlessCases = cases.flatMap((c) => [true, false].map((full) => ({ c, full }))).filter(({ c, full }) => full || c.spec?.user === undefined);
  for (const { c, full } of rootlessCases) {
    const spec = (): ContainerSpec => ({
      args: ['/test-init', ...c.args],
      rootfs: rootlessRootfs,
      rootless: true,
      idMappings: full ? mappings : { uid: [{ containerID: 0, hostID: user.uid, size: 1 }], gid: [{ containerID: 0, hostID: user.gid, size: 1 }] },
      ...c.spec,
    });
    const label = full ? 'full id range through newuidmap' : 'single id';

    it.runIf(toolExists('crun'))(`agree with crun on ${c.name} (${label})`, () => {
      const path = bundle(`rootless-crun-${full ? 'full' : 'single'}-${c.name}`, spec(), user);
      n++;
      const ours = run([shimBinary, '--root', join(states, 'shim'), 'run', '--bundle', path, `rs${n}`]);
      const theirs = runCrun(['crun', '--root', join(states, 'crun'), 'run', '--bundle', path, `rc${n}`]);
      expect(ours.stderr).not.toContain('"error"');
      expect(theirs.stderr).toBe('');
      if (c.args[0] !== 'exit') expect(ours.stdout.length).toBeGreaterThan(0);
      expect({ status: ours.status, stdout: normalizeCrunRootless(c.args[0] ?? '', ours.stdout) }).toEqual({ status: theirs.status, stdout: normalizeCrunRootless(c.args[0] ?? '', theirs.stdout) });
    });

    // runc refuses additional groups rootless (crun and the shim set them).
    it.runIf(c.spec?.user?.additionalGids === undefined)(`agree with runc on ${c.name} (${label})`, () => {
      const path = bundle(`rootless-runc-${full ? 'full' : 'single'}-${c.name}`, spec(), user);
      n++;
      const ours = run([shimBinary, '--root', join(states, 'shim'), 'run', '--bundle', path, `rs${n}`]);
      const theirs = run(['runc', '--root', join(states, 'runc'), 'run', '--bundle', path, `rr${n}`]);
      expect(ours.stderr).not.toContain('"error"');
      if (c.args[0] !== 'exit') expect(ours.stdout.length).toBeGreaterThan(0);
      expect({ status: ours.status, stdout: normalizeRootless(c.args[0] ?? '', ours.stdout) }).toEqual({ status: theirs.status, stdout: normalizeRootless(c.args[0] ?? '', theirs.stdout) });
    });
  }

  for (const [signal, expected] of [
    ['SIGTERM', { status: 0, line: '{"signal":15}' }],
    ['SIGKILL', { status: 137, line: undefined }],
  ] as const) {
    it(`agree on ${signal} sent to the runtime process or the container, as the user`, async () => {
      const path = bundle(`rootless-signal-${signal}`, { args: ['/test-init', 'sleep-until-signal'], rootfs: rootlessRootfs, rootless: true, idMappings: mappings }, user);
      const crunPrefix = hybrid() ? ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$@"', 'sh'] : [];
      const outcomes: Record<string, { status: number; stdout: string }> = {};
      for (const name of ['shim', 'crun', 'runc'] as const) {
        const id = `rsig-${name}-${signal}`;
        const pidFile = join(states, `${id}.pid`);
        const binary = name === 'shim' ? shimBinary : name;
        const argv = [...(name === 'crun' ? crunPrefix : []), ...asRootless(user), binary, '--root', join(states, name), 'run', '--bundle', path, '--pid-file', pidFile, id];
        // Every wrapper execs: the spawned process is the runtime itself.
        outcomes[name] = await runUntilReady(argv, async (child) => {
          if (signal === 'SIGTERM') child.kill('SIGTERM');
          else {
            await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');
            process.kill(Number(readFileSync(pidFile, 'utf8')), signal);
          }
        });
      }
      for (const outcome of Object.values(outcomes)) {
        expect(outcome.status).toBe(expected.status);
        if (expected.line !== undefined) expect(outcome.stdout).toContain(expected.line);
      }
      expect(outcomes['shim']).toEqual(outcomes['crun']);
    });
  }
});

const hybrid = (): boolean => readFileSync('/proc/self/mountinfo', 'utf8').includes(' /sys/fs/cgroup/unified ');

/**
 * runc differs from crun (which cannot run rootless here) in details that are not behaviour, so those are compared loosely: the order of the mount table
 * (compared as a set), masked files (runc leaves its /dev/null binds writable, crun makes them
 * read-only: nothing can be written to /dev/null either way), the primary group repeated in
 * the supplementary groups (runc), and whether stdio reaches the process as pipes or sockets.
 */
describe.runIf(isRoot && toolExists('newuidmap'))('runtime-shim rootless, on its own', () => {
  it('sets additional groups with a full id range', () => {
    const user = ensureRootlessUser();
    const info = { username: rootlessUser, uid: user.uid, gid: user.gid, shell: null, homedir: '' };
    const subuid = subordinateRange('/etc/subuid', info);
    const subgid = subordinateRange('/etc/subgid', info);
    expect(subuid).toBeDefined();
    const rootlessDir = join(dir, 'rootless-groups');
    mkdirSync(rootlessDir, { recursive: true });
    const fs = makeRootfs(rootlessDir, user);
    const path = bundle('rootless-groups', {
      args: ['/test-init', 'ids'],
      rootfs: fs,
      rootless: true,
      user: { uid: 1000, gid: 1000, additionalGids: [10, 20] },
      idMappings: {
        uid: [{ containerID: 0, hostID: user.uid, size: 1 }, { containerID: 1, hostID: subuid?.start ?? 0, size: subuid?.count ?? 0 }],
        gid: [{ containerID: 0, hostID: user.gid, size: 1 }, { containerID: 1, hostID: subgid?.start ?? 0, size: subgid?.count ?? 0 }],
      },
    }, user);
    const states = join(user.runtimeDir, `groups-${process.pid}`);
    const result = spawnSync(asRootless(user)[0] ?? '', [...asRootless(user).slice(1), shimBinary, '--root', states, 'run', '--bundle', path, 'groups'], { encoding: 'utf8', cwd: '/' });
    rmSync(states, { recursive: true, force: true });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ uid: 1000, gid: 1000, euid: 1000, egid: 1000, groups: [10, 20] });
  });
});

/** Inode numbers of the pipes and sockets the runtimes' callers pass as stdio differ by nature. */
function normalize(stdout: string): string {
  return stdout.replace(/(socket|pipe):\[\d+\]/g, '$1');
}

interface MountEntry {
  readonly target: string;
  readonly type: string;
  readonly ro: boolean;
  readonly nosuid: boolean;
  readonly nodev: boolean;
  readonly noexec: boolean;
}

const deviceNodes = new Set(['/dev/null', '/dev/zero', '/dev/full', '/dev/tty', '/dev/random', '/dev/urandom']);

/**
 * The one deliberate difference: crun keeps devices from the process with a cgroup of devices,
 * the shim with nodev on the root and /dev (its device nodes are then binds from the host, which
 * crun makes with mknod when it can). build-hostile.test.ts shows what each keeps out; the
 * comparison leaves out how.
 */
function withoutDevicePolicy(mounts: readonly MountEntry[], dropDeviceNodes: boolean): unknown[] {
  return mounts
    .filter((m) => !dropDeviceNodes || !deviceNodes.has(m.target))
    .map((m) => {
      if (m.target !== '/' && m.target !== '/dev') return m;
      const { nodev: _nodev, ...rest } = m;
      return rest;
    });
}

const readonlyProcPaths = new Set(['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys']);
/** The masked paths that are files (/dev/null bound over them); the others are directories (an empty tmpfs over them). */
const maskedFiles = new Set(['/proc/keys', '/proc/timer_list', '/proc/kcore', '/proc/latency_stats', '/proc/timer_stats', '/proc/sched_debug']);
const maskedPaths = new Set([...maskedFiles, '/proc/acpi', '/proc/scsi', '/sys/firmware']);
const byTarget = (a: MountEntry, b: MountEntry): number => a.target.localeCompare(b.target);

/**
 * Where crun and runc differ, the shim follows runc (what docker and BuildKit run, so what a
 * container or a RUN sees in /proc/mounts), and the comparison with crun leaves out: the order
 * of the cgroup v1 hierarchies (crun's is the reverse of the host's), the order of read-only
 * and masked paths (runc's read-only ones first), and the read-only /proc paths keeping proc's
 * nosuid, nodev and noexec (runc).
 */
function withoutCrunOrder(mounts: readonly MountEntry[]): unknown {
  const cgroups = mounts.filter((m) => m.target.startsWith('/sys/fs/cgroup/')).sort(byTarget);
  const late = mounts.filter((m) => readonlyProcPaths.has(m.target) || maskedPaths.has(m.target)).sort(byTarget);
  const others = mounts.filter((m) => !cgroups.includes(m) && !late.includes(m));
  return { others, cgroups, late: late.map((m) => (readonlyProcPaths.has(m.target) ? { target: m.target, type: m.type, ro: m.ro } : m)) };
}

function normalizeRootful(subcommand: string, stdout: string): unknown {
  if (subcommand !== 'mounts') return normalize(stdout);
  return withoutCrunOrder(withoutDevicePolicy(JSON.parse(stdout) as MountEntry[], true) as MountEntry[]);
}

/**
 * Rootless, the device nodes are binds from the host and the read-only /proc paths binds of
 * themselves. crun and the shim make the device binds in another order, and differ from each
 * other as rootful (withoutCrunOrder): neither changes what a proc file does. Everything else
 * in the mount table must match exactly.
 */
function normalizeCrunRootless(subcommand: string, stdout: string): unknown {
  if (subcommand !== 'mounts') return normalize(stdout);
  const devices = deviceNodes;
  const mounts = withoutDevicePolicy(JSON.parse(stdout) as MountEntry[], false) as MountEntry[];
  const others = withoutCrunOrder(mounts.filter((m) => !devices.has(m.target)));
  const deviceBinds = mounts.filter((m) => devices.has(m.target)).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return { others, deviceBinds };
}

function normalizeRootless(subcommand: string, stdout: string): unknown {
  if (subcommand === 'mounts') {
    const mounts = JSON.parse(stdout) as { target: string; type: string; ro: boolean }[];
    return mounts.map((m) => `${m.target} ${maskedFiles.has(m.target) ? 'masked' : m.ro ? 'ro' : 'rw'}`).sort();
  }
  if (subcommand === 'ids') {
    const ids = JSON.parse(stdout) as { gid: number; groups: number[] };
    return { ...ids, groups: ids.groups.filter((g) => g !== ids.gid) };
  }
  return normalize(stdout).replace(/"(socket|pipe)"/g, '"stdio"');
}
