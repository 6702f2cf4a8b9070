/**
 * The config.json made from a ContainerSpec, and the runtime's errors made into messages.
 * No container is run here: the equivalence and hardening tests do that.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildBinaries, isRoot, makeRootfs, scratchDir } from './helpers.js';
import { isTsbuildError } from '../../src/common/index.js';
import { CommandRuntime, ShimRuntime, defaultCapabilities, generateConfig, runtimeError, selectRuntime, subordinateRange } from '../../src/runtime/index.js';

interface Config {
  ociVersion: string;
  process: {
    user: { uid: number; gid: number; additionalGids?: number[]; umask?: number };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: Record<string, string[]>;
    rlimits: { type: string; soft: number; hard: number }[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options: string[] }[];
  linux: {
    namespaces: { type: string; path?: string }[];
    uidMappings?: { containerID: number; hostID: number; size: number }[];
    gidMappings?: { containerID: number; hostID: number; size: number }[];
    resources?: unknown;
    seccomp?: { defaultAction: string; architectures: string[]; syscalls: { names: string[]; errnoRet: number; args?: unknown[] }[] };
    maskedPaths: string[];
    readonlyPaths: string[];
  };
  annotations?: Record<string, string>;
}

const config = (spec: Parameters<typeof generateConfig>[0]): Config => generateConfig(spec) as unknown as Config;
const shellHardLimit = (flag: string): number => {
  const text = execFileSync('sh', ['-c', `ulimit -H${flag}`], { encoding: 'utf8' }).trim();
  return text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text);
};

describe('generateConfig', () => {
  it('fills in Docker\'s defaults around what the spec says', () => {
    const c = config({ args: ['/bin/sh', '-c', 'true'], rootfs: '/b/rootfs', rootless: false });
    expect(c.ociVersion).toBe('1.0.2');
    expect(c.process.args).toEqual(['/bin/sh', '-c', 'true']);
    expect(c.process.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    expect(c.process.cwd).toBe('/');
    expect(c.process.user).toEqual({ uid: 0, gid: 0 });
    expect(c.process.capabilities).toEqual({ bounding: defaultCapabilities, effective: defaultCapabilities, permitted: defaultCapabilities, inheritable: [], ambient: [] });
    expect(defaultCapabilities).toHaveLength(14);
    expect(defaultCapabilities).not.toContain('CAP_SYS_ADMIN');
    expect(c.root).toEqual({ path: '/b/rootfs', readonly: false });
    expect(c.mounts.map((m) => `${m.destination}:${m.type}`)).toEqual(['/proc:proc', '/dev:tmpfs', '/dev/pts:devpts', '/dev/shm:tmpfs', '/dev/mqueue:mqueue', '/sys:sysfs', '/sys/fs/cgroup:cgroup']);
    expect(c.linux.namespaces.map((n) => n.type).sort()).toEqual(['cgroup', 'ipc', 'mount', 'network', 'pid', 'uts']);
    expect(c.linux.uidMappings).toBeUndefined();
    expect(c.linux.maskedPaths).toContain('/proc/kcore');
    expect(c.linux.readonlyPaths).toContain('/proc/sys');
    // docker's default seccomp rules, as the spec gives them to crun and runc and compiled for the shim.
    expect(c.linux.seccomp?.defaultAction).toBe('SCMP_ACT_ALLOW');
    const refused = c.linux.seccomp?.syscalls.filter((rule) => rule.args === undefined).flatMap((rule) => rule.names);
    expect(refused).toEqual(expect.arrayContaining(['keyctl', 'unshare', 'mount', 'setns', 'clone3', 'io_uring_setup', 'bpf', 'kexec_load', 'init_module']));
    expect(refused).not.toContain('ptrace');
    expect(c.linux.seccomp?.syscalls.filter((rule) => rule.names.includes('clone'))).toHaveLength(7);
    expect(Object.keys(c.annotations ?? {})).toEqual(['org.tsbuild.seccomp']);
    expect(c.annotations?.['org.tsbuild.seccomp']).toMatch(/^([0-9a-f]{16})+$/);
  });

  it('lifts the seccomp refusals the capabilities given allow, and confines nothing when unconfined or privileged', () => {
    const refused = (spec: Partial<Parameters<typeof generateConfig>[0]>): string[] | undefined =>
      config({ args: ['x'], rootfs: '/r', ...spec }).linux.seccomp?.syscalls.flatMap((rule) => rule.names);
    const admin = refused({ capabilities: ['CAP_SYS_ADMIN', 'CAP_SYS_TIME'] });
    expect(admin).not.toContain('mount');
    expect(admin).not.toContain('clone');
    expect(admin).not.toContain('clock_settime');
    expect(admin).toContain('keyctl');
    expect(refused({ seccomp: false })).toBeUndefined();
    expect(refused({ unmasked: true })).toBeUndefined();
    expect(config({ args: ['x'], rootfs: '/r', seccomp: false }).annotations).toBeUndefined();
  });

  it('carries user, groups, umask, hostname, cwd, read-only root, bind mounts, limits and init', () => {
    const c = config({
      args: ['x'],
      rootfs: '/r',
      rootless: false,
      user: { uid: 1000, gid: 100, additionalGids: [10, 20], umask: 0o22 },
      hostname: 'box',
      cwd: '/work',
      readonlyRootfs: true,
      mounts: [{ destination: '/data', source: '/srv/data', options: ['rbind', 'ro'] }],
      noNewPrivileges: true,
      capabilities: ['CAP_CHOWN'],
      memoryLimit: 1 << 20,
      pidsLimit: 64,
      init: true,
    });
    expect(c.process.user).toEqual({ uid: 1000, gid: 100, additionalGids: [10, 20], umask: 0o22 });
    expect(c.hostname).toBe('box');
    expect(c.process.cwd).toBe('/work');
    expect(c.root.readonly).toBe(true);
    expect(c.mounts.at(-1)).toEqual({ destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro'] });
    expect(c.process.noNewPrivileges).toBe(true);
    expect(c.process.capabilities['bounding']).toEqual(['CAP_CHOWN']);
    expect(c.linux.resources).toEqual({ memory: { limit: 1 << 20 }, pids: { limit: 64 } });
    expect(c.annotations).toMatchObject({ 'org.tsbuild.init': 'true' });
  });

  it('clamps rlimits to the caller\'s hard limits, never asking for more', () => {
    const nofile = shellHardLimit('n');
    const c = config({ args: ['x'], rootfs: '/r', rootless: false, rlimits: { RLIMIT_NOFILE: { soft: 10_000_000, hard: 20_000_000 }, RLIMIT_CORE: { soft: 0, hard: 0 } } });
    expect(c.process.rlimits).toEqual([
      { type: 'RLIMIT_NOFILE', soft: Math.min(10_000_000, nofile), hard: Math.min(20_000_000, nofile) },
      { type: 'RLIMIT_CORE', soft: 0, hard: 0 },
    ]);
    // None asked for: none set, the process keeps its caller's, as docker's keep its daemon's.
    const defaults = config({ args: ['x'], rootfs: '/r', rootless: false }).process.rlimits;
    expect(defaults).toEqual([]);
  });

  it('networks: none is a new namespace, host shares the host\'s, a path joins one', () => {
    const types = (network: Parameters<typeof generateConfig>[0]['network']): { type: string; path?: string }[] =>
      config({ args: ['x'], rootfs: '/r', rootless: false, network }).linux.namespaces.filter((n) => n.type === 'network');
    expect(types('none')).toEqual([{ type: 'network' }]);
    expect(types('host')).toEqual([]);
    expect(types({ path: '/proc/1/ns/net' })).toEqual([{ type: 'network', path: '/proc/1/ns/net' }]);
  });

  it('makes no namespace the container shares with the host, and binds the host\'s /dev/shm with its IPC namespace', () => {
    const shared = config({ args: ['x'], rootfs: '/r', hostNamespaces: ['pid', 'ipc', 'uts'] });
    expect(shared.linux.namespaces.map((ns) => ns.type)).toEqual(['mount', 'cgroup', 'network']);
    expect(shared.mounts.find((mount) => mount.destination === '/dev/shm')).toMatchObject({ type: 'bind', source: '/dev/shm' });
    expect(config({ args: ['x'], rootfs: '/r' }).linux.namespaces.map((ns) => ns.type)).toEqual(['pid', 'ipc', 'uts', 'mount', 'cgroup', 'network']);
  });

  it('binds a --device node at its path and allows it in the device cgroup, rootful only', () => {
    const device = { hostPath: '/dev/net/tun', path: '/dev/net/tun', type: 'c' as const, major: 10, minor: 200, access: 'rwm' };
    const rootful = config({ args: ['x'], rootfs: '/r', rootless: false, devices: [device] });
    expect(rootful.mounts.at(-1)).toEqual({ destination: '/dev/net/tun', type: 'bind', source: '/dev/net/tun', options: ['bind', 'nosuid', 'noexec'] });
    expect(rootful.linux.resources).toEqual({ devices: [{ allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }] });
    expect(config({ args: ['x'], rootfs: '/r', rootless: true, devices: [device] }).linux.resources).toBeUndefined();
    // A container's: docker's rules first (all denied, then the defaults), then the devices', then
    // --device-cgroup-rule's, as moby orders them: an allow before the deny of all would be undone.
    const rule = { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' };
    const ordered = config({ args: ['x'], rootfs: '/r', rootless: false, devices: [device], deviceRules: [rule], dockerDevices: true }).linux.resources as { devices: unknown[] };
    expect(ordered.devices[0]).toEqual({ allow: false, type: 'a', access: 'rwm' });
    expect(ordered.devices.slice(-2)).toEqual([{ allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, rule]);
    expect(ordered.devices).toHaveLength(15);
  });

  it('asks the shim for an overlay root through an annotation, beside init', () => {
    expect(config({ args: ['x'], rootfs: '/r', rootfsOverlay: 'lowerdir=/l,upperdir=/u,workdir=/w', init: true }).annotations).toEqual({
      'org.tsbuild.init': 'true',
      'run.oci.init': 'true',
      'org.tsbuild.rootfs.overlay': 'lowerdir=/l,upperdir=/u,workdir=/w',
      'org.tsbuild.seccomp': expect.stringMatching(/^[0-9a-f]+$/),
    });
    expect(config({ args: ['x'], rootfs: '/r', seccomp: false }).annotations).toBeUndefined();
  });

  it('sizes a terminal from the start, and only a terminal', () => {
    const size = { rows: 30, columns: 100 };
    expect(generateConfig({ args: ['x'], rootfs: '/r', terminal: true, consoleSize: size }).process).toMatchObject({ terminal: true, consoleSize: { height: 30, width: 100 } });
    expect(generateConfig({ args: ['x'], rootfs: '/r', consoleSize: size }).process).not.toHaveProperty('consoleSize');
  });

  it('rootless: a user namespace with the given maps, no cgroup limits, no gid=5 on devpts', () => {
    const idMappings = { uid: [{ containerID: 0, hostID: 1000, size: 1 }, { containerID: 1, hostID: 100000, size: 65536 }], gid: [{ containerID: 0, hostID: 1000, size: 1 }] };
    const c = config({ args: ['x'], rootfs: '/r', rootless: true, idMappings, memoryLimit: 1 << 20 });
    expect(c.linux.namespaces).toContainEqual({ type: 'user' });
    expect(c.linux.uidMappings).toEqual(idMappings.uid);
    expect(c.linux.gidMappings).toEqual(idMappings.gid);
    expect(c.linux.resources).toBeUndefined();
    expect(c.mounts.find((m) => m.destination === '/dev/pts')?.options).not.toContain('gid=5');
    // With the host's network, sysfs cannot be mounted in a user namespace: it is bound instead.
    const host = config({ args: ['x'], rootfs: '/r', rootless: true, idMappings, network: 'host' });
    expect(host.mounts.find((m) => m.destination === '/sys')).toMatchObject({ type: 'none', source: '/sys' });
  });

  it('rootless without given maps maps the caller to root', () => {
    const c = config({ args: ['x'], rootfs: '/r', rootless: true });
    expect(c.linux.uidMappings?.[0]).toEqual({ containerID: 0, hostID: process.getuid?.() ?? 0, size: 1 });
    expect(c.linux.gidMappings?.[0]).toEqual({ containerID: 0, hostID: process.getgid?.() ?? 0, size: 1 });
  });
});

describe('subordinateRange', () => {
  it('finds the user\'s range by name or by uid, and nothing for others', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-subuid-'));
    try {
      const file = join(dir, 'subuid');
      writeFileSync(file, 'alice:100000:65536\n1001:200000:1000\n');
      expect(subordinateRange(file, { username: 'alice', uid: 1000 })).toEqual({ start: 100000, count: 65536 });
      expect(subordinateRange(file, { username: 'bob', uid: 1001 })).toEqual({ start: 200000, count: 1000 });
      expect(subordinateRange(file, { username: 'carol', uid: 1002 })).toBeUndefined();
      expect(subordinateRange(join(dir, 'missing'), { username: 'alice', uid: 1000 })).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('runtimeError', () => {
  it('turns the shim\'s JSON line into "verb noun: call path: cause (what it was doing)"', () => {
    const line = '{"error":{"syscall":"mount","path":"/proc","errno":2,"strerror":"No such file or directory","message":"mount proc (proc)"}}';
    const error = runtimeError('run container c1', `{"warning":"memory limit skipped"}\n${line}\n`);
    expect(isTsbuildError(error, 'RUNTIME')).toBe(true);
    expect(error.message).toBe('run container c1: mount /proc: No such file or directory (mount proc (proc))');
  });

  it('uses the runtime\'s words when no system call failed', () => {
    const line = '{"error":{"syscall":"","path":"","errno":22,"strerror":"Invalid argument","message":"malformed config.json: expected , or } at offset 30"}}';
    expect(runtimeError('run container c2', line).message).toBe('run container c2: malformed config.json: expected , or } at offset 30: Invalid argument');
  });

  it('falls back to the last line of another runtime\'s text', () => {
    const stderr = 'time="x" level=warning msg="a"\ncontainer "c3" does not exist\n';
    expect(runtimeError('state of container c3', stderr).message).toBe('state of container c3: container "c3" does not exist');
    expect(runtimeError('kill container c4', '').message).toBe('kill container c4: the runtime failed');
  });
});

describe('CommandRuntime', () => {
  it('reports a runtime binary that cannot be started as a RUNTIME error, as a rejection', async () => {
    const runtime = new CommandRuntime('nosuch', '/nonexistent/tsbuild-no-runtime');
    const run = await runtime.run('/nonexistent', 'x', { stdio: 'pipe' }).catch((e: unknown) => e);
    expect(isTsbuildError(run, 'RUNTIME')).toBe(true);
    expect((run as Error).message).toMatch(/^run container x: start \/nonexistent\/tsbuild-no-runtime: .*ENOENT/);
    const state = runtime.state('x');
    await expect(state).rejects.toThrow(/^state of container x: start/);
  });

  it('streams a process\'s own line that looks like the shim\'s error when the runtime did not fail', async () => {
    const dir = scratchDir('tsbuild-spec-');
    try {
      const line = '{"error":{"syscall":"open","path":"/x","errno":2,"strerror":"No such file or directory","message":"a JSON log of the app"}}';
      const fake = join(dir, 'fake-runtime');
      writeFileSync(fake, `#!/bin/sh\necho before >&2\nsleep 0.1\necho '${line}' >&2\nsleep 0.1\necho after >&2\nexit 0\n`, { mode: 0o755 });
      const streamed: string[] = [];
      const result = await new CommandRuntime('fake', fake).run(dir, 'c', { stdio: 'pipe', onOutput: (_stream, chunk) => streamed.push(chunk.toString()) });
      expect(result.status).toBe(0);
      expect(streamed.join('')).toBe(`before\n${line}\nafter\n`);
      // Last, it is passed on once the process has ended with a status of its own.
      writeFileSync(fake, `#!/bin/sh\necho '${line}' >&2\nexit 3\n`, { mode: 0o755 });
      const last: string[] = [];
      expect((await new CommandRuntime('fake', fake).run(dir, 'c', { stdio: 'pipe', onOutput: (_stream, chunk) => last.push(chunk.toString()) })).status).toBe(3);
      expect(last.join('')).toBe(`${line}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.runIf(isRoot)('gives the shim\'s failure to start a program as a clear message', async () => {
    buildBinaries();
    const dir = scratchDir('tsbuild-spec-');
    try {
      const rootfs = makeRootfs(dir);
      writeFileSync(join(dir, 'config.json'), JSON.stringify(generateConfig({ args: ['/nonexistent'], rootfs, rootless: false })));
      const streamed: string[] = [];
      const error = await new ShimRuntime(join(dir, 'state'))
        .run(dir, 'missing-program', { stdio: 'pipe', onOutput: (_stream, chunk) => streamed.push(chunk.toString()) })
        .catch((e: unknown) => e);
      expect(isTsbuildError(error, 'RUNTIME')).toBe(true);
      expect((error as Error).message).toMatch(/^run container missing-program: execve \/nonexistent: No such file or directory/);
      // Streamed, as a build step's log, the shim's JSON line is the failure's message, not a line of the log.
      expect(streamed.join('')).not.toContain('"error"');
      // A program's own exit status 125 is not the runtime's failure.
      writeFileSync(join(dir, 'config.json'), JSON.stringify(generateConfig({ args: ['/test-init', 'exit', '125'], rootfs, rootless: false })));
      expect((await new ShimRuntime(join(dir, 'state')).run(dir, 'exit-125', { stdio: 'pipe' })).status).toBe(125);
      // Inherited stdio: the container's stderr is passed on to the stream given.
      writeFileSync(join(dir, 'config.json'), JSON.stringify(generateConfig({ args: ['/test-init'], rootfs, rootless: false })));
      const passed: string[] = [];
      const sink = new PassThrough().on('data', (chunk: Buffer) => passed.push(chunk.toString()));
      const usage = await new ShimRuntime(join(dir, 'state')).run(dir, 'usage', { stdio: 'inherit', stderr: sink });
      expect(usage.status).toBe(2);
      expect(passed.join('')).toBe('usage: test-init SUBCOMMAND\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('selects runtimes by name or path', () => {
    expect(selectRuntime('crun').name).toBe('crun');
    expect(selectRuntime('/usr/sbin/runc').name).toBe('runc');
  });
});
