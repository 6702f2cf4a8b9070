/**
 * What the runtime-shim writes or binds into a container's /proc and /dev while it sets the
 * container up, against a root filesystem, volumes and mounts that try to redirect it: runc's
 * CVE-2025-31133 (masked paths), CVE-2025-52565 (/dev/console) and CVE-2025-52881 (writes to
 * /proc redirected through a mount or a link).
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateConfig, type ContainerSpec } from '../../src/runtime/index.js';
import { buildBinaries, isRoot, makeRootfs, scratchDir, shimBinary } from './helpers.js';

let dir: string;
let counter = 0;

beforeAll(() => {
  buildBinaries();
  dir = scratchDir('tsbuild-hostile-proc-');
});

afterAll(() => {
  spawnSync('rm', ['-rf', dir]);
});

type Mount = NonNullable<ContainerSpec['mounts']>[number];

/** A bundle whose root filesystem PLANT may change, with MOUNTS after the default ones. */
function bundleWith(spec: Omit<ContainerSpec, 'rootfs'> | ((bundle: string) => Omit<ContainerSpec, 'rootfs'>), plant: (rootfs: string, bundle: string) => void = () => undefined): string {
  const bundle = join(dir, `b${++counter}`);
  mkdirSync(bundle, { recursive: true });
  const rootfs = makeRootfs(bundle);
  plant(rootfs, bundle);
  const given = typeof spec === 'function' ? spec(bundle) : spec;
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(generateConfig({ rootless: false, ...given, rootfs })));
  return bundle;
}

function runShim(bundle: string, extraArgs: readonly string[] = []): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(shimBinary, ['--root', join(dir, 'state'), 'run', ...extraArgs, '--bundle', bundle, `p${++counter}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

interface Stat {
  readonly errno: number;
  readonly type: string;
  readonly rdev: string;
}

function bind(source: string, destination: string): Mount {
  return { destination, source, options: ['rbind'] };
}

describe.runIf(isRoot)('runtime-shim against a hostile /proc', () => {
  it('writes a sysctl into the container\'s own procfs only: a volume under a /proc link, or a mount over /proc/sys, never receives it (runc CVE-2025-52881)', () => {
    const untouched = 'untouched\n';
    // The image's /proc is a link into a VOLUME: once the volume is mounted, /proc/sys/... is a
    // file of the volume (a host directory), which a write through the root would reach.
    const volume = join(dir, `volume-${counter}`);
    mkdirSync(join(volume, 'p', 'sys', 'kernel'), { recursive: true });
    writeFileSync(join(volume, 'p', 'sys', 'kernel', 'shmmni'), untouched);
    const throughLink = bundleWith({ args: ['/test-init', 'exit', '0'], sysctls: { 'kernel.shmmni': '321' }, mounts: [bind(volume, '/data')] }, (rootfs) => {
      rmSync(join(rootfs, 'proc'), { recursive: true });
      mkdirSync(join(rootfs, 'data'));
      symlinkSync('data/p', join(rootfs, 'proc'));
    });
    const linked = runShim(throughLink);
    expect(linked.status).toBe(125);
    expect(linked.stderr).toContain('/proc is not the container');
    expect(readFileSync(join(volume, 'p', 'sys', 'kernel', 'shmmni'), 'utf8')).toBe(untouched);

    // A directory of the host bound over /proc/sys/kernel, holding a file where the sysctl is.
    const kernel = join(dir, `kernel-${counter}`);
    mkdirSync(kernel);
    writeFileSync(join(kernel, 'shmmni'), untouched);
    const overSys = runShim(bundleWith({ args: ['/test-init', 'exit', '0'], sysctls: { 'kernel.shmmni': '321' }, mounts: [bind(kernel, '/proc/sys/kernel')] }));
    expect(overSys.status).toBe(125);
    expect(readFileSync(join(kernel, 'shmmni'), 'utf8')).toBe(untouched);

    // Without a hostile mount the same sysctl is written, in the container's namespace only.
    expect(runShim(bundleWith({ args: ['/test-init', 'exit', '0'], sysctls: { 'kernel.shmmni': '321' } }))).toMatchObject({ status: 0, stderr: '' });
    expect(readFileSync('/proc/sys/kernel/shmmni', 'utf8')).not.toBe('321\n');
  });

  it('mounts nothing inside /proc but over the files runc allows, and over /proc itself only what the spec names, so no mount decides what the runtime writes or masks there', () => {
    const file = join(dir, `file-${counter}`);
    writeFileSync(file, 'host file\n');
    for (const destination of ['/proc/cmdline', '/proc/sys/kernel/core_pattern', '/proc/self/attr/current', '/proc/timer_list']) {
      const result = runShim(bundleWith({ args: ['/test-init', 'exit', '0'], mounts: [bind(file, destination)] }));
      expect([destination, result.status]).toEqual([destination, 125]);
      expect(result.stderr).toContain('inside /proc');
    }
    const directory = join(dir, `directory-${counter}`);
    mkdirSync(directory);
    for (const destination of ['/proc/sys', '/proc']) {
      const result = runShim(bundleWith({ args: ['/test-init', 'exit', '0'], mounts: [bind(directory, destination)] }));
      expect([destination, result.status]).toEqual([destination, 125]);
    }
    // A file system the spec itself puts on /proc stays possible, as with runc (a RUN
    // --mount=type=tmpfs,target=/proc); the container then has no procfs, which it asked for.
    const tmpfs = runShim(bundleWith({ args: ['/test-init', 'stat', '/proc/self'], mounts: [{ destination: '/proc', type: 'tmpfs', source: 'tmpfs', options: [] }] }));
    expect(tmpfs).toMatchObject({ status: 0, stderr: '' });
    expect((JSON.parse(tmpfs.stdout) as Record<string, Stat>)['/proc/self']).toMatchObject({ errno: 2 });
    // What lxcfs binds stays possible, as with runc.
    const uptime = runShim(bundleWith({ args: ['/test-init', 'stat', '/proc/uptime'], mounts: [bind(file, '/proc/uptime')] }));
    expect(uptime).toMatchObject({ status: 0, stderr: '' });
    expect((JSON.parse(uptime.stdout) as Record<string, Stat>)['/proc/uptime']).toMatchObject({ errno: 0, type: 'f' });
    expect(readFileSync(file, 'utf8')).toBe('host file\n');
  });

  it('refuses a container whose /proc, once every mount is in place, is not the procfs mounted for it', () => {
    // The image's /proc is a link into a VOLUME, which then covers the procfs mounted there.
    const bundle = bundleWith(
      (parent) => ({ args: ['/test-init', 'exit', '0'], mounts: [bind(join(parent, 'volume'), '/data')] }),
      (rootfs, parent) => {
        mkdirSync(join(parent, 'volume', 'p'), { recursive: true });
        rmSync(join(rootfs, 'proc'), { recursive: true });
        mkdirSync(join(rootfs, 'data'));
        symlinkSync('data/p', join(rootfs, 'proc'));
      },
    );
    const result = runShim(bundle);
    expect(result.status).toBe(125);
    expect(result.stderr).toContain('/proc is not the container');
  });

  it('trusts no /proc a root filesystem holds once it is entered: descriptors are closed, groups cleared, the bounding set dropped whatever it says', () => {
    // A spec without a /proc mount, over a root whose /proc is a directory of its own: no
    // descriptor listed, setgroups denied, a kernel whose last capability is 0.
    const bundle = bundleWith({ args: ['/test-init', 'probe'], user: { uid: 1000, gid: 1000, additionalGids: [] }, capabilities: [] }, (rootfs) => {
      mkdirSync(join(rootfs, 'proc', 'self', 'fd'), { recursive: true });
      mkdirSync(join(rootfs, 'proc', 'sys', 'kernel'), { recursive: true });
      writeFileSync(join(rootfs, 'proc', 'self', 'setgroups'), 'deny\n');
      writeFileSync(join(rootfs, 'proc', 'sys', 'kernel', 'cap_last_cap'), '0\n');
    });
    const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { mounts: { destination: string }[] };
    config.mounts = config.mounts.filter((m) => m.destination !== '/proc');
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
    const leaked = openSync('/etc', 'r');
    try {
      // The runtime started with a supplementary group and descriptors it should not pass on.
      const result = spawnSync('setpriv', ['--groups', '4242', '--', shimBinary, '--root', join(dir, 'state'), 'run', '--bundle', bundle, `p${++counter}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', leaked, leaked] });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({ fds: [0, 1, 2], groups: [], bounding: '0' });
    } finally {
      closeSync(leaked);
    }
  });

  it('masks /proc files with the host\'s /dev/null, whatever the image\'s /dev/null is (runc CVE-2025-31133)', () => {
    const masked = ['/proc/timer_list', '/proc/keys'];
    for (const devMounted of [false, true]) {
      const bundle = bundleWith({ args: ['/test-init', 'stat', ...masked] }, (rootfs) => {
        // The image's /dev/null is a link to a file of its own (and, without a /dev mount, it
        // is what the container sees): binding it over a masked file would unmask it.
        writeFileSync(join(rootfs, 'etc', 'secret'), 'readable\n');
        symlinkSync('/etc/secret', join(rootfs, 'dev', 'null'));
      });
      if (!devMounted) {
        const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { mounts: { destination: string }[] };
        config.mounts = config.mounts.filter((m) => !m.destination.startsWith('/dev'));
        writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
      }
      const result = runShim(bundle);
      expect([devMounted, result.status, result.stderr]).toEqual([devMounted, 0, '']);
      const stats = JSON.parse(result.stdout) as Record<string, Stat>;
      for (const path of masked) expect([devMounted, path, stats[path]]).toEqual([devMounted, path, { errno: 0, type: 'c', rdev: '1:3' }]);
    }
  });

  it('binds the terminal on a new /dev/console, never through a link a /dev volume holds, and gives the process that very terminal (runc CVE-2025-52565)', async () => {
    const socket = join(dir, `console${++counter}.sock`);
    const testInit = join(shimBinary, '..', 'test-init');
    const listener = spawn(testInit, ['console-receiver', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
    let received = '';
    listener.stdout.on('data', (chunk: Buffer) => (received += chunk.toString()));
    for (let i = 0; i < 250 && !received.includes('listening'); i++) await new Promise((r) => setTimeout(r, 20));
    // A VOLUME at /dev, filled by the image (or another container) with a console that is a
    // link: relative, it leads to /work/target of the root as the host resolves it before the
    // root is entered.
    const bundle = bundleWith(
      (parent) => ({ args: ['/test-init', 'stat', '/dev/console', '/work/target'], terminal: true, mounts: [bind(join(parent, 'dev-volume'), '/dev')] }),
      (rootfs, parent) => {
        writeFileSync(join(rootfs, 'work', 'target'), 'a file of the image\n');
        mkdirSync(join(parent, 'dev-volume'));
        symlinkSync('../rootfs/work/target', join(parent, 'dev-volume', 'console'));
      },
    );
    const result = runShim(bundle, ['--console-socket', socket]);
    await new Promise((resolve) => listener.on('close', resolve));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const line = received.split('\n').find((l) => l.startsWith('{')) ?? '';
    const stats = JSON.parse(line.replace(/\r$/, '')) as Record<string, Stat>;
    // /dev/console is the terminal (a pty, majors 136-143), the link's target still a file. (A
    // /dev volume hides the devpts the spec mounts: the host's terminal is the one bound there.)
    expect(stats['/dev/console']).toMatchObject({ errno: 0, type: 'c' });
    expect(Number(stats['/dev/console']?.rdev.split(':')[0])).toBeGreaterThanOrEqual(136);
    expect(stats['/work/target']).toMatchObject({ errno: 0, type: 'f' });
    expect(readFileSync(join(bundle, 'rootfs', 'work', 'target'), 'utf8')).toBe('a file of the image\n');
  });

  it('refuses to bind the terminal where a mount covers /dev/console', async () => {
    const socket = join(dir, `console${++counter}.sock`);
    const testInit = join(shimBinary, '..', 'test-init');
    const listener = spawn(testInit, ['console-receiver', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
    let received = '';
    listener.stdout.on('data', (chunk: Buffer) => (received += chunk.toString()));
    for (let i = 0; i < 250 && !received.includes('listening'); i++) await new Promise((r) => setTimeout(r, 20));
    // A mount the spec puts on /dev/console: the terminal bound under it would not be what the
    // process opens there.
    const bundle = bundleWith({ args: ['/test-init', 'tty'], terminal: true, mounts: [{ destination: '/dev/console', source: '/dev/null', options: ['bind'] }] });
    const result = runShim(bundle, ['--console-socket', socket]);
    listener.kill();
    await new Promise((resolve) => listener.on('close', resolve));
    expect(result.status).toBe(125);
    expect(result.stdout).toBe('');
  });
});
