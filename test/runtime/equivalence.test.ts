/**
 * The same bundles under runtime-shim and under an established runtime: what the process
 * observes (ids, capabilities, environment, cwd, hostname, mount table, rlimits, pid,
 * no_new_privs, network devices) and how it ends (exit codes, signals) must agree.
 * Rootful against crun. Rootless against runc: crun 1.8 cannot run rootless on these cgroup v1
 * "hybrid" hosts (it needs the unified hierarchy unmounted, which an unprivileged user cannot do).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
  { name: 'exit code', args: ['exit', '7'] },
  { name: 'exit code 0', args: ['exit', '0'] },
  { name: 'descriptors', args: ['fds'] },
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
      expect({ status: ours.status, stdout: normalize(ours.stdout) }).toEqual({ status: theirs.status, stdout: normalize(theirs.stdout) });
    });
  }

  for (const [signal, expected] of [
    ['SIGTERM', { status: 0, line: '{"signal":15}' }],
    ['SIGKILL', { status: 137, line: undefined }],
  ] as const) {
    it(`agree on ${signal} sent to the runtime process or the container`, async () => {
      const path = bundle(`rootful-signal-${signal}`, { args: ['/test-init', 'sleep-until-signal'], rootfs, rootless: false });
      const outcomes = [];
      for (const runtime of [shim(), crun()]) {
        const pidFile = join(dir, `${runtime.name}-${signal}.pid`);
        const result = await runUntilReady(runtime.name === 'crun' ? crunArgv(path, `sig-${signal}`) : [shimBinary, '--root', join(dir, 'state-shim'), 'run', '--bundle', path, '--pid-file', pidFile, `sig-${signal}`], (child) => {
          // SIGTERM goes to the runtime, which forwards it; SIGKILL cannot be forwarded and goes to the container's pid.
          if (signal === 'SIGTERM' && runtime.name !== 'crun') child.kill('SIGTERM');
          else {
            const containerPid = Number(readFileSync(runtime.name === 'crun' ? join(dir, `crun-pid-sig-${signal}`) : pidFile, 'utf8'));
            process.kill(containerPid, signal);
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

  function crunArgv(path: string, id: string): string[] {
    return ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"', 'sh', 'crun', '--root', join(dir, 'state-crun'), 'run', '--bundle', path, '--pid-file', join(dir, `crun-pid-${id}`), id];
  }
});

/** Runs a container whose program prints "ready" before waiting, then acts on it. */
function runUntilReady(argv: readonly string[], act: (child: ReturnType<typeof spawn>) => void): Promise<{ status: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const [command, ...args] = argv;
    const child = spawn(command ?? '', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let acted = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!acted && stdout.includes('ready')) {
        acted = true;
        act(child);
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stdout });
    });
  });
}

describe.runIf(isRoot && toolExists('runc') && toolExists('newuidmap'))('runtime-shim and runc, rootless', () => {
  let user: { uid: number; gid: number; runtimeDir: string };
  let rootlessRootfs: string;
  let mappings: NonNullable<ContainerSpec['idMappings']>;

  beforeAll(() => {
    user = ensureRootlessUser();
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

  const run = (argv: readonly string[]): { status: number; stdout: string; stderr: string } => {
    const result = spawnSync(asRootless(user)[0] ?? '', [...asRootless(user).slice(1), ...argv], { encoding: 'utf8', cwd: '/' });
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  };

  let n = 0;
  // A single-id namespace has no uid 1000; runc refuses additional groups rootless (crun and
  // the shim set them: checked on its own below).
  const rootlessCases = cases.flatMap((c) => [true, false].map((full) => ({ c, full }))).filter(({ c, full }) => (full || c.spec?.user === undefined) && c.spec?.user?.additionalGids === undefined);
  for (const { c, full } of rootlessCases) {
    {
      it(`agree on ${c.name} (${full ? 'full id range through newuidmap' : 'single id'})`, () => {
        const spec: ContainerSpec = {
          args: ['/test-init', ...c.args],
          rootfs: rootlessRootfs,
          rootless: true,
          idMappings: full ? mappings : { uid: [{ containerID: 0, hostID: user.uid, size: 1 }], gid: [{ containerID: 0, hostID: user.gid, size: 1 }] },
          ...c.spec,
        };
        const path = bundle(`rootless-${full ? 'full' : 'single'}-${c.name}`, spec, user);
        n++;
        const ours = run([shimBinary, '--root', join(user.runtimeDir, 'shim'), 'run', '--bundle', path, `rs${n}`]);
        const theirs = run(['runc', '--root', join(user.runtimeDir, 'runc'), 'run', '--bundle', path, `rr${n}`]);
        expect(ours.stderr).not.toContain('"error"');
        if (c.args[0] !== 'exit') expect(ours.stdout.length).toBeGreaterThan(0);
        expect({ status: ours.status, stdout: normalizeRootless(c.args[0] ?? '', ours.stdout) }).toEqual({ status: theirs.status, stdout: normalizeRootless(c.args[0] ?? '', theirs.stdout) });
      });
    }
  }
});

/**
 * runc differs from crun (which the shim follows, and which cannot run rootless here) in
 * details that are not behaviour, so those are compared loosely: the order of the mount table
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
    const result = spawnSync(asRootless(user)[0] ?? '', [...asRootless(user).slice(1), shimBinary, '--root', join(user.runtimeDir, 'shim'), 'run', '--bundle', path, 'groups'], { encoding: 'utf8', cwd: '/' });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ uid: 1000, gid: 1000, euid: 1000, egid: 1000, groups: [10, 20] });
  });
});

/** Inode numbers of the pipes and sockets the runtimes' callers pass as stdio differ by nature. */
function normalize(stdout: string): string {
  return stdout.replace(/(socket|pipe):\[\d+\]/g, '$1');
}

function normalizeRootless(subcommand: string, stdout: string): unknown {
  if (subcommand === 'mounts') {
    const mounts = JSON.parse(stdout) as { target: string; type: string; ro: boolean }[];
    const maskedFiles = new Set(['/proc/keys', '/proc/timer_list', '/proc/kcore', '/proc/latency_stats', '/proc/timer_stats', '/proc/sched_debug']);
    return mounts.map((m) => `${m.target} ${maskedFiles.has(m.target) ? 'masked' : m.ro ? 'ro' : 'rw'}`).sort();
  }
  if (subcommand === 'ids') {
    const ids = JSON.parse(stdout) as { gid: number; groups: number[] };
    return { ...ids, groups: ids.groups.filter((g) => g !== ids.gid) };
  }
  return normalize(stdout).replace(/"(socket|pipe)"/g, '"stdio"');
}
