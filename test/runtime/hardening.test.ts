/**
 * What a container must not be able to do to the host, whatever its root filesystem holds,
 * and the runtime's detached lifecycle and error reporting.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTsbuildError } from '../../src/common/index.js';
import { ShimRuntime, defaultCapabilities, generateConfig, type ContainerSpec } from '../../src/runtime/index.js';
import { asRootless, buildBinaries, chownTree, ensureRootlessUser, isRoot, makeRootfs, scratchDir, shimBinary, toolExists } from './helpers.js';

let dir: string;
let counter = 0;

beforeAll(() => {
  buildBinaries();
  dir = scratchDir('tsbuild-hardening-');
});

afterAll(() => {
  spawnSync('rm', ['-rf', dir]);
});

function prepare(spec: Omit<ContainerSpec, 'rootfs'>, rootfs?: string): { bundle: string; rootfs: string } {
  const bundle = join(dir, `b${++counter}`);
  mkdirSync(bundle, { recursive: true });
  const fs = rootfs ?? makeRootfs(bundle);
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(generateConfig({ rootless: false, ...spec, rootfs: fs })));
  return { bundle, rootfs: fs };
}

function runShim(bundle: string, extraArgs: readonly string[] = [], stdio: ('ignore' | 'pipe' | number)[] = ['ignore', 'pipe', 'pipe']): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(shimBinary, ['--root', join(dir, 'state'), 'run', ...extraArgs, '--bundle', bundle, `h${++counter}`], { encoding: 'utf8', stdio });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** The host's mounts at or below this suite's directory: other suites mount elsewhere meanwhile. */
function hostMounts(): string {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.split(' ')[4]?.startsWith(dir) === true)
    .join('\n');
}

describe.runIf(isRoot)('runtime-shim hardening', () => {
  it("confines the process with docker's default seccomp rules for its capabilities, and not when unconfined", () => {
    const answers = (spec: Omit<ContainerSpec, 'rootfs' | 'args'>): Record<string, number> => {
      const { bundle } = prepare({ args: ['/test-init', 'seccomp'], ...spec });
      const result = runShim(bundle);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      return JSON.parse(result.stdout) as Record<string, number>;
    };
    const EPERM = 1;
    const ENOSYS = 38;
    // A user namespace needs no capability; docker's profile refuses it without CAP_SYS_ADMIN.
    expect(answers({})).toEqual({ unshare_user: EPERM, keyctl: EPERM, clone3: ENOSYS, io_uring_setup: EPERM, getpid: 0 });
    const unconfined = answers({ seccomp: false });
    expect(unconfined.unshare_user).toBe(0);
    expect(unconfined.keyctl).not.toBe(EPERM);
    expect(unconfined.clone3).not.toBe(ENOSYS);
    const admin = answers({ capabilities: [...defaultCapabilities, 'CAP_SYS_ADMIN'] });
    expect(admin).toMatchObject({ unshare_user: 0, keyctl: EPERM, io_uring_setup: EPERM });
    // A privileged container (nothing masked) is unconfined, as docker's --privileged.
    expect(answers({ unmasked: true }).unshare_user).toBe(0);
    // A filter that is not whole instructions in hex is refused before anything runs.
    for (const filter of ['zz00000000000000', '00', '']) {
      const { bundle } = prepare({ args: ['/test-init', 'seccomp'] });
      const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { annotations: Record<string, string> };
      config.annotations['org.tsbuild.seccomp'] = filter;
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
      const result = runShim(bundle);
      expect([filter, result.status, result.stdout]).toEqual([filter, 125, '']);
      expect(result.stderr).toContain('org.tsbuild.seccomp');
    }
  });

  it('writes linux.sysctl through the container\'s own /proc, and refuses a name that is a path', () => {
    const { bundle } = prepare({ args: ['/test-init', 'exit', '0'], sysctls: { 'kernel.shmmni': '321' } });
    expect(runShim(bundle)).toMatchObject({ status: 0, stderr: '' });
    for (const name of ['kernel/../../etc/passwd', '../kernel.shmmni', 'kernel..shmmni']) {
      const hostile = prepare({ args: ['/test-init', 'exit', '0'], sysctls: { [name]: '1' } });
      const result = runShim(hostile.bundle);
      expect([name, result.status]).toEqual([name, 125]);
      expect(result.stderr).toContain('linux.sysctl');
    }
    expect(readFileSync('/proc/sys/kernel/shmmni', 'utf8')).not.toBe('321\n');
  });

  it('lets only descriptors 0-2 reach the process, whatever the caller leaked', () => {
    const { bundle } = prepare({ args: ['/test-init', 'fds'] });
    const leaked = openSync('/etc', 'r');
    try {
      const result = runShim(bundle, [], ['ignore', 'pipe', 'pipe', leaked, leaked]);
      expect(result.stderr).toBe('');
      const fds = (JSON.parse(result.stdout) as { fd: number }[]).map((f) => f.fd);
      expect(fds).toEqual([0, 1, 2]);
    } finally {
      closeSync(leaked);
    }
  });

  it('refuses a cwd that reaches the host through a leaked descriptor', () => {
    const { bundle } = prepare({ args: ['/test-init', 'cwd'], cwd: '/proc/self/fd/3' });
    const leaked = openSync('/etc', 'r');
    try {
      for (const preserve of [[], ['--preserve-fds', '1']]) {
        const result = runShim(bundle, preserve, ['ignore', 'pipe', 'pipe', leaked]);
        expect(result.status).toBe(125);
        expect(result.stdout).toBe('');
        expect(result.stderr).toMatch(/^\{"error":\{"syscall":"(chdir|getcwd)"/);
      }
    } finally {
      closeSync(leaked);
    }
  });

  it('resolves mount destinations inside the root: symlinked /dev, /proc and a bind target never reach the host', () => {
    const hostDev = join(dir, `host-dev-${counter}`);
    const hostProc = join(dir, `host-proc-${counter}`);
    const hostBind = join(dir, `host-bind-${counter}`);
    for (const d of [hostDev, hostProc, hostBind]) mkdirSync(d, { recursive: true });
    const bundle = join(dir, `evil${++counter}`);
    mkdirSync(bundle);
    const rootfs = makeRootfs(bundle);
    spawnSync('rm', ['-rf', join(rootfs, 'dev'), join(rootfs, 'proc')]);
    symlinkSync(hostDev, join(rootfs, 'dev'));
    symlinkSync(`../../../../../../../../..${hostProc}`, join(rootfs, 'proc'));
    symlinkSync(hostBind, join(rootfs, 'evil'));
    const source = join(dir, `source-${counter}`);
    mkdirSync(source);
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(generateConfig({ args: ['/test-init', 'mounts'], rootfs, rootless: false, mounts: [{ destination: '/evil/inside', source, options: ['rbind', 'ro'] }] })));
    const before = hostMounts();
    const result = runShim(bundle);
    // Whether the run succeeds (mounts land inside the root) or fails, the host is untouched.
    for (const d of [hostDev, hostProc, hostBind]) expect(readdirSync(d)).toEqual([]);
    expect(hostMounts()).toBe(before);
    if (result.status === 0) {
      // The links were followed inside the root, as runc's securejoin follows them: the mount
      // points were made there, at the host's path as a path of the container.
      const mounts = (JSON.parse(result.stdout) as { target: string }[]).map((m) => m.target);
      expect(mounts).toEqual(expect.arrayContaining([hostDev, hostProc, join(hostBind, 'inside')]));
      for (const d of [hostDev, hostProc, join(hostBind, 'inside')]) expect(statSync(join(rootfs, d)).isDirectory(), d).toBe(true);
    } else {
      expect(result.stderr).toMatch(/^\{"error":/);
    }
  });

  it('does not follow a planted /dev/null symlink when /dev is not mounted', () => {
    const target = join(dir, `planted-${counter}`);
    writeFileSync(target, 'host file\n');
    const bundle = join(dir, `planted${++counter}`);
    mkdirSync(bundle);
    const rootfs = makeRootfs(bundle);
    symlinkSync(target, join(rootfs, 'dev', 'null'));
    const config = generateConfig({ args: ['/test-init', 'write', '/dev/null'], rootfs, rootless: false }) as { mounts: { destination: string }[] };
    config.mounts = config.mounts.filter((m) => !m.destination.startsWith('/dev'));
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
    const result = runShim(bundle);
    expect(result.status).toBe(0);
    // Inside the container the symlink resolves within the root: the host file keeps its content.
    expect(readFileSync(target, 'utf8')).toBe('host file\n');
  });

  it.runIf(toolExists('strace'))("leaves no container process waiting for ever when the runtime dies before letting it start (killed with its caller)", async () => {
    const { bundle } = prepare({ args: ['/test-init', 'sleep-until-signal'], killWithCaller: true });
    const childrenOf = (pid: number): number[] =>
      (existsSync(`/proc/${pid}/task/${pid}/children`) ? readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8') : '').split(' ').filter((word) => word !== '').map(Number);
    const until = async <T>(probe: () => T | undefined, ms: number): Promise<T | undefined> => {
      for (const start = Date.now(); Date.now() - start < ms; await new Promise((resolve) => setTimeout(resolve, 20))) {
        const found = probe();
        if (found !== undefined) return found;
      }
      return probe();
    };
    // Every write of the runtime itself (not of its child) is held 2 s: it is killed while it
    // sets the container up, before the byte that lets the container's process go on.
    const tracer = spawn('strace', ['-o', '/dev/null', '-e', 'trace=write', '-e', 'inject=write:delay_enter=2000000', shimBinary, '--root', join(dir, 'state'), 'run', '--bundle', bundle, `orphan${++counter}`], { stdio: 'ignore' });
    try {
      // Generous bounds: each write before the fork waits its 2 s, more on a loaded machine.
      const runtime = await until(() => childrenOf(tracer.pid ?? 0)[0], 20_000);
      expect(runtime).toBeDefined();
      const waiting = await until(() => childrenOf(runtime ?? 0)[0], 30_000);
      expect(waiting).toBeDefined();
      process.kill(runtime ?? 0, 'SIGKILL');
      // Its copy of the pipe's write end closed, the process sees the runtime's end go: EOF.
      expect(await until(() => (existsSync(`/proc/${waiting ?? 0}`) ? undefined : true), 5_000)).toBe(true);
    } finally {
      tracer.kill('SIGKILL');
    }
  }, 90_000);

  it('runs from a sealed copy: the runtime binary on the host cannot be opened for writing through /proc/PID/exe', async () => {
    const { bundle } = prepare({ args: ['/test-init', 'sleep-until-signal'] });
    const child = spawn(shimBinary, ['--root', join(dir, 'state'), 'run', '--bundle', bundle, `sealed${++counter}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve()));
    const exe = readlinkSync(`/proc/${child.pid}/exe`);
    let writeError = '';
    try {
      closeSync(openSync(`/proc/${child.pid}/exe`, 'r+'));
    } catch (error) {
      writeError = (error as NodeJS.ErrnoException).code ?? '';
    }
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('close', resolve));
    expect(exe).toMatch(/^\/memfd:tsbuild-runtime/);
    expect(['EPERM', 'ETXTBSY', 'EACCES']).toContain(writeError);
    expect(existsSync(shimBinary)).toBe(true);
  });

  it('honours no_new_privs, drops capabilities to the default set, and gives --network none only lo', () => {
    const nnp = runShim(prepare({ args: ['/test-init', 'nnp'], noNewPrivileges: true }).bundle);
    expect(JSON.parse(nnp.stdout)).toEqual({ NoNewPrivs: '1' });
    const caps = runShim(prepare({ args: ['/test-init', 'caps'], user: { uid: 1000, gid: 1000 } }).bundle);
    expect(JSON.parse(caps.stdout)).toEqual({ CapInh: '0000000000000000', CapPrm: '0000000000000000', CapEff: '0000000000000000', CapBnd: '00000000a80425fb', CapAmb: '0000000000000000' });
    const rootCaps = runShim(prepare({ args: ['/test-init', 'caps'] }).bundle);
    expect(JSON.parse(rootCaps.stdout)).toMatchObject({ CapEff: '00000000a80425fb', CapBnd: '00000000a80425fb' });
    const net = runShim(prepare({ args: ['/test-init', 'netdevs'], network: 'none' }).bundle);
    expect(JSON.parse(net.stdout)).toEqual(['lo']);
  });
});

describe.runIf(isRoot)('runtime-shim lifecycle and errors', () => {
  it('creates, starts, reports, signals and deletes a detached container', async () => {
    const runtime = new ShimRuntime(join(dir, 'state-lifecycle'));
    const { bundle } = prepare({ args: ['/test-init', 'sleep-until-signal'] });
    const id = `life${++counter}`;
    await runtime.create(bundle, id);
    expect(await runtime.state(id)).toMatchObject({ id, status: 'created', bundle });
    await runtime.start(id);
    expect((await runtime.state(id)).status).toBe('running');
    await expect(runtime.delete(id)).rejects.toThrow(/running/);
    await runtime.kill(id, 'KILL');
    for (let i = 0; i < 100 && (await runtime.state(id)).status !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await runtime.state(id)).status).toBe('stopped');
    await runtime.delete(id);
    await expect(runtime.state(id)).rejects.toThrow(/does not exist/);
  });

  it('reports a malformed config.json as one JSON line and exit status 125, and as a clear error', async () => {
    const bundle = join(dir, `bad${++counter}`);
    mkdirSync(join(bundle, 'rootfs'), { recursive: true });
    writeFileSync(join(bundle, 'config.json'), '{"process": {"args": ["/x"]], "root": {}}');
    const result = runShim(bundle);
    expect(result.status).toBe(125);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ error: { errno: 22, message: expect.stringContaining('malformed config.json') } });
    const error = await new ShimRuntime(join(dir, 'state')).run(bundle, `bad${counter}`, { stdio: 'pipe' }).catch((e: unknown) => e);
    expect(isTsbuildError(error, 'RUNTIME')).toBe(true);
    expect((error as Error).message).toContain('malformed config.json');
  });

  it('takes an rlimit of 18446744073709551615 (RLIM_INFINITY, what runc writes for unlimited) as unlimited, not as a malformed number', () => {
    const { bundle } = prepare({ args: ['/test-init', 'rlimits'] });
    const path = join(bundle, 'config.json');
    const config = JSON.parse(readFileSync(path, 'utf8')) as { process: { rlimits: unknown } };
    config.process.rlimits = 'RLIMITS';
    // The number as text: a JavaScript number cannot hold it, and the shim's reader rounds it to 2^64.
    writeFileSync(path, JSON.stringify(config).replace('"RLIMITS"', '[{"type":"RLIMIT_CORE","soft":18446744073709551615,"hard":18446744073709551615}]'));
    const result = runShim(bundle);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ CORE: [-1, -1] });
  });

  it('refuses a root.path longer than PATH_MAX instead of resolving the shorter path it would be cut to', () => {
    const { bundle, rootfs } = prepare({ args: ['/test-init', 'exit', '0'] });
    const path = join(bundle, 'config.json');
    const config = JSON.parse(readFileSync(path, 'utf8')) as { root: { path: string } };
    // Cut at 4095 bytes, this is the root filesystem itself.
    config.root.path = `${rootfs}${'/'.repeat(5000)}elsewhere`;
    writeFileSync(path, JSON.stringify(config));
    const result = runShim(bundle);
    expect(result.status).toBe(125);
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { errno: 36, message: 'config.json: root.path is longer than 4095 bytes' } });
  });

  it('reports a missing program with the path and errno', () => {
    const result = runShim(prepare({ args: ['/nonexistent'] }).bundle);
    expect(result.status).toBe(125);
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { syscall: 'execve', path: '/nonexistent', errno: 2 } });
    // And in runc's words, which docker 26's messages carry (`exec: "nosuch": executable file not found in $PATH`).
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { message: `start the container's process: exec: "/nonexistent": stat /nonexistent: no such file or directory` } });
    const inPath = runShim(prepare({ args: ['nosuch'] }).bundle);
    expect(JSON.parse(inPath.stderr)).toMatchObject({ error: { syscall: 'execve', path: 'nosuch', errno: 2, message: expect.stringContaining('exec: "nosuch": executable file not found in $PATH (') } });
  });

  it('exits 128+N when the process is killed by signal N, and acts as PID 1 when asked', () => {
    const asInit = runShim(prepare({ args: ['/test-init', 'kill-self', '9'], init: true }).bundle);
    expect(asInit.status).toBe(137);
    const pid = runShim(prepare({ args: ['/test-init', 'pid'], init: true }).bundle);
    expect(JSON.parse(pid.stdout)).toMatchObject({ Pid: '2', PPid: '1' });
  });
});

describe.runIf(isRoot)('runtime-shim namespaces and cgroups', () => {
  /** Starts a container that waits for a signal; returns its runtime process and container pid. */
  async function startWaiting(spec: Omit<ContainerSpec, 'rootfs' | 'args'>, id: string): Promise<{ child: ReturnType<typeof spawn>; pid: number; output: () => string }> {
    const { bundle } = prepare({ ...spec, args: ['/test-init', 'sleep-until-signal'] });
    const pidFile = join(dir, `${id}.pid`);
    const child = spawn(shimBinary, ['--root', join(dir, 'state'), 'run', '--bundle', bundle, '--pid-file', pidFile, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    for (let i = 0; i < 250 && !(output.includes('ready') && existsSync(pidFile)); i++) await new Promise((r) => setTimeout(r, 20));
    return { child, pid: Number(readFileSync(pidFile, 'utf8')), output: () => output };
  }

  async function stop(child: ReturnType<typeof spawn>): Promise<void> {
    const closed = new Promise((resolve) => child.on('close', resolve));
    child.kill('SIGTERM');
    await closed;
  }

  it('joins the namespaces named by path', async () => {
    const first = await startWaiting({ hostname: 'first-box' }, `ns-first${++counter}`);
    try {
      const joined = runShim(prepare({ args: ['/test-init', 'hostname'], hostname: '', joinNamespaces: { uts: `/proc/${first.pid}/ns/uts` } }).bundle);
      expect(joined.stderr).toBe('');
      expect(JSON.parse(joined.stdout)).toBe('first-box');
    } finally {
      await stop(first.child);
    }
  });

  it.runIf(existsSync('/sys/fs/cgroup/pids') || existsSync('/sys/fs/cgroup/cgroup.controllers'))('applies memory and pids limits in a cgroup, removed afterwards', async () => {
    const id = `limits${++counter}`;
    const running = await startWaiting({ memoryLimit: 64 * 1024 * 1024, pidsLimit: 32 }, id);
    const unified = existsSync('/sys/fs/cgroup/cgroup.controllers');
    const pidsDir = unified ? `/sys/fs/cgroup/tsbuild/${id}` : `/sys/fs/cgroup/pids/tsbuild/${id}`;
    const memoryFile = unified ? `/sys/fs/cgroup/tsbuild/${id}/memory.max` : `/sys/fs/cgroup/memory/tsbuild/${id}/memory.limit_in_bytes`;
    try {
      expect(readFileSync(join(pidsDir, 'pids.max'), 'utf8').trim()).toBe('32');
      expect(readFileSync(memoryFile, 'utf8').trim()).toBe(String(64 * 1024 * 1024));
      expect(readFileSync(join(pidsDir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(running.pid));
    } finally {
      await stop(running.child);
    }
    expect(existsSync(pidsDir)).toBe(false);
  });
});

describe.runIf(isRoot)('runtime-shim terminals', () => {
  it('sends the terminal to --console-socket and gives it to the process as stdio', async () => {
    const socket = join(dir, `console${++counter}.sock`);
    const testInit = join(shimBinary, '..', 'test-init');
    const listener = spawn(testInit, ['console-receiver', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
    let received = '';
    listener.stdout.on('data', (chunk: Buffer) => (received += chunk.toString()));
    for (let i = 0; i < 250 && !received.includes('listening'); i++) await new Promise((r) => setTimeout(r, 20));
    const { bundle } = prepare({ args: ['/test-init', 'tty'], terminal: true });
    const result = runShim(bundle, ['--console-socket', socket]);
    await new Promise((resolve) => listener.on('close', resolve));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const line = received.split('\n').find((l) => l.startsWith('{')) ?? '';
    // A terminal of the container's own devpts, as runc gives it (docker 26's `run -t busybox tty`
    // says /dev/pts/0), not the host's reached through /dev/console.
    expect(JSON.parse(line.replace(/\r$/, ''))).toMatchObject({ stdin: true, stdout: true, name: '/dev/pts/0' });
  });
});

describe.runIf(isRoot && toolExists('newuidmap'))('runtime-shim rootless mounts', () => {
  it('mounts proc, tmpfs, a bind and an overlay inside the user namespace', () => {
    const user = ensureRootlessUser();
    const base = join(dir, `rootless-mounts${++counter}`);
    mkdirSync(base);
    const rootfs = makeRootfs(base);
    for (const d of ['lower', 'upper', 'work', 'shared']) mkdirSync(join(base, d));
    writeFileSync(join(base, 'lower', 'from-lower'), 'x');
    const config = generateConfig({
      args: ['/test-init', 'mounts'],
      rootfs,
      rootless: true,
      idMappings: { uid: [{ containerID: 0, hostID: user.uid, size: 1 }], gid: [{ containerID: 0, hostID: user.gid, size: 1 }] },
      mounts: [
        { destination: '/shared', source: join(base, 'shared'), options: ['rbind', 'ro'] },
        { destination: '/merged', type: 'overlay', source: 'overlay', options: [`lowerdir=${join(base, 'lower')}`, `upperdir=${join(base, 'upper')}`, `workdir=${join(base, 'work')}`] },
      ],
    });
    writeFileSync(join(base, 'config.json'), JSON.stringify(config));
    chownTree(base, user);
    const argv = [...asRootless(user), shimBinary, '--root', join(user.runtimeDir, 'shim-mounts'), 'run', '--bundle', base, `rm${counter}`];
    const result = spawnSync(argv[0] ?? '', argv.slice(1), { encoding: 'utf8', cwd: '/' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const mounts = JSON.parse(result.stdout) as { target: string; type: string; ro: boolean }[];
    expect(mounts.find((m) => m.target === '/proc')?.type).toBe('proc');
    expect(mounts.find((m) => m.target === '/dev')?.type).toBe('tmpfs');
    expect(mounts.find((m) => m.target === '/shared')).toMatchObject({ ro: true });
    expect(mounts.find((m) => m.target === '/merged')?.type).toBe('overlay');
  });
});

describe('building runtime-shim', () => {
  it('fails with what to install when there is no C compiler', () => {
    const copy = scratchDir('tsbuild-shim-build-');
    spawnSync('cp', ['-r', join(shimBinary, '..', '..', 'src'), join(shimBinary, '..', '..', 'Makefile'), copy]);
    const result = spawnSync('make', ['-C', copy, 'CC=tsbuild-no-such-compiler'], { encoding: 'utf8' });
    spawnSync('rm', ['-rf', copy]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('apt-get install -y gcc libc6-dev make');
  });
});
