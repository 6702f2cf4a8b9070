/**
 * `volume create -o`: the local driver's options as docker takes them — a tmpfs with its size,
 * owner and mode, a bind of a host directory, another filesystem type with a device — checked
 * at create in docker's words, mounted when a container using the volume starts (a missing
 * device is the start's failure, status 127 as docker's CLI gives it), shared by the
 * containers using it and unmounted after the last one. `volume rm` never removes what a bind
 * volume's host directory holds.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localVolumeMount, parseMountOptions } from '../../src/runtime/volumes/local-mount.js';
import { asRootless, busyboxStore, chownTree, ensureRootlessUser, isRoot, mountsUnder, removeBusyboxStore, runInstalledCli, toolExists } from './helpers.js';

describe('the local driver\'s mount options', () => {
  it('splits o= into mount flags and the filesystem\'s data, as moby/sys/mount', () => {
    expect(parseMountOptions('size=10m,uid=1000,mode=0750')).toEqual({ flags: 0, data: 'size=10m,uid=1000,mode=0750' });
    expect(parseMountOptions('bind')).toEqual({ flags: 0x1000, data: '' });
    expect(parseMountOptions('ro,nosuid,rw,addr=10.0.0.1')).toEqual({ flags: 0x2, data: 'addr=10.0.0.1' });
  });

  it('needs a mount only with a type or a device; propagation and a read-only bind apart', () => {
    expect(localVolumeMount(null)).toBeUndefined();
    expect(localVolumeMount({ o: 'size=1m' })).toBeUndefined();
    expect(localVolumeMount({ type: 'none', device: '/srv', o: 'rbind,ro,rshared' })).toEqual({ type: 'none', device: '/srv', flags: 0x5001, propagation: 0x104000 & ~0x4000, data: '', remountReadOnly: true });
  });
});

describe.runIf(isRoot)('volume create -o, as root', () => {
  let store: { dir: string; root: string };
  const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } => runInstalledCli(args, { root: store.root });

  beforeAll(async () => {
    store = await busyboxStore('tsbuild-volume-options-');
  }, 120_000);

  afterAll(() => {
    removeBusyboxStore(store);
  });

  it('refuses what docker\'s local driver refuses, in its words, with status 1', () => {
    const cases: [string[], string][] = [
      [['-o', 'type=tmpfs'], 'create v1: missing required option: "device"'],
      [['-o', 'o=size=1m'], 'create v1: missing required option: "device"'],
      [['-o', 'device=tmpfs', '-o', 'o=size=1m'], 'create v1: missing required option: "type"'],
      [['-o', 'foo=bar'], 'create v1: invalid option: "foo"'],
      [['-o', 'bad'], 'create v1: invalid option: "bad"'],
      [['-o', 'size=10m'], 'create v1: quota size requested but no quota support'],
    ];
    for (const [options, message] of cases) {
      const result = cli('volume', 'create', ...options, 'v1');
      expect(result.stderr).toBe(`Error response from daemon: ${message}\n`);
      expect(result.status).toBe(1);
    }
    expect(cli('volume', 'ls', '-q').stdout).toBe('');
  });

  it('shows the options in inspect, and mounts a tmpfs volume with them, shared and unmounted after its last container', async () => {
    expect(cli('volume', 'create', '-o', 'type=tmpfs', '--opt', 'device=tmpfs', '-o', 'o=size=10m,uid=1000,mode=0750', 'scratch').stdout).toBe('scratch\n');
    const [info] = JSON.parse(cli('volume', 'inspect', 'scratch').stdout) as { Options: unknown; Mountpoint: string }[];
    expect(JSON.stringify(info?.Options)).toBe('{"device":"tmpfs","o":"size=10m,uid=1000,mode=0750","type":"tmpfs"}');
    const mountpoint = info?.Mountpoint ?? '';

    const seen = cli('run', '--rm', '-v', 'scratch:/v', 'busybox', 'sh', '-c', 'stat -c "%u %a" /v; grep " /v " /proc/mounts');
    expect(seen.stderr).toBe('');
    expect(seen.stdout).toMatch(/^1000 750\ntmpfs \/v tmpfs \S*size=10240k,mode=750,uid=1000 /);
    expect(seen.status).toBe(0);
    expect(readdirSync(mountpoint)).toEqual([]);

    const first = cli('run', '-d', '-v', 'scratch:/v', 'busybox', 'sh', '-c', 'echo shared > /v/note; exec sleep 60').stdout.trim();
    const second = cli('run', '-d', '-v', 'scratch:/v', 'busybox', 'sleep', '60').stdout.trim();
    try {
      expect(cli('exec', second, 'sh', '-c', 'while [ ! -f /v/note ]; do sleep 0.1; done; cat /v/note').stdout).toBe('shared\n');
      expect(await mountsUnder(mountpoint)).toEqual([mountpoint]);
      cli('stop', '-t', '0', first);
      expect(await mountsUnder(mountpoint)).toEqual([mountpoint]);
      cli('stop', '-t', '0', second);
      expect(await mountsUnder(mountpoint)).toEqual([]);
      // The tmpfs's content went with it, as docker's.
      expect(readdirSync(mountpoint)).toEqual([]);
    } finally {
      cli('rm', '-f', first, second);
    }
  }, 60_000);

  it('binds a host directory (type=none, o=bind), fills it from the image, and keeps it through volume rm', async () => {
    const host = join(store.dir, 'host-data');
    mkdirSync(host);
    expect(cli('volume', 'create', '-o', 'type=none', '-o', 'o=bind', '-o', `device=${host}`, 'hostdir').status).toBe(0);
    const result = cli('run', '--rm', '-v', 'hostdir:/etc', 'busybox', 'sh', '-c', 'echo written > /etc/by-container; cat /etc/passwd | head -1');
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('root:x:0:0:root:/root:/bin/sh\n');
    expect(readFileSync(join(host, 'by-container'), 'utf8')).toBe('written\n');
    expect(existsSync(join(host, 'passwd'))).toBe(true);
    expect(await mountsUnder(join(store.root, 'volumes'))).toEqual([]);
    writeFileSync(join(host, 'kept'), 'kept\n');
    expect(cli('volume', 'rm', 'hostdir').status).toBe(0);
    expect(readFileSync(join(host, 'kept'), 'utf8')).toBe('kept\n');
  }, 60_000);

  it('fails the start, not the create, when the device is missing; with docker\'s words and status 127', () => {
    const missing = join(store.dir, 'missing');
    cli('volume', 'create', '-o', 'type=none', '-o', 'o=bind', '-o', `device=${missing}`, 'gone');
    const mountpoint = join(store.root, 'volumes', 'gone', '_data');
    const words = `error while mounting volume '${mountpoint}': failed to mount local volume: mount ${missing}:${mountpoint}, flags: 0x1000: no such file or directory`;

    const foreground = cli('run', '--rm', '-v', 'gone:/v', 'busybox', 'true');
    expect(foreground.stderr).toBe(`tsbuild: Error response from daemon: ${words}.\n`);
    expect(foreground.status).toBe(127);

    const created = cli('create', '-v', 'gone:/v', 'busybox', 'true');
    expect(created.status).toBe(0);
    const id = created.stdout.trim();
    const started = cli('start', id);
    expect(started.stderr).toContain(words);
    expect(started.status).toBe(1);
    const detached = cli('run', '-d', '-v', 'gone:/v', 'busybox', 'true');
    expect(detached.stderr).toBe(`tsbuild: Error response from daemon: ${words}.\n`);
    expect(detached.status).toBe(127);
    cli('rm', '-f', id, detached.stdout.trim());

    // Where the image has content at the target, docker's create mounts the volume to fill it.
    const populate = cli('create', '-v', 'gone:/etc', 'busybox', 'true');
    expect(populate.stderr).toBe(`Error response from daemon: failed to populate volume: ${words}\n`);
    expect(populate.status).toBe(1);
  }, 60_000);

  it('mounts other types with the given device and data, mount(2)\'s error in docker\'s words', () => {
    cli('volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=bogus=1', 'badopts');
    const mountpoint = join(store.root, 'volumes', 'badopts', '_data');
    const result = cli('run', '--rm', '-v', 'badopts:/v', 'busybox', 'true');
    expect(result.stderr).toBe(`tsbuild: Error response from daemon: error while mounting volume '${mountpoint}': failed to mount local volume: mount tmpfs:${mountpoint}, data: bogus=1: invalid argument.\nSee 'tsbuild run --help'.\n`);
    expect(result.status).toBe(125);

    cli('volume', 'create', '-o', 'type=ext4', '-o', 'device=/dev/tsbuild-no-such-disk', 'nodisk');
    const disk = join(store.root, 'volumes', 'nodisk', '_data');
    const missing = cli('run', '--rm', '-v', 'nodisk:/v', 'busybox', 'true');
    expect(missing.stderr).toBe(`tsbuild: Error response from daemon: error while mounting volume '${disk}': failed to mount local volume: mount /dev/tsbuild-no-such-disk:${disk}: no such file or directory.\n`);
    expect(missing.status).toBe(127);
  }, 60_000);
});

describe.runIf(isRoot && toolExists('newuidmap'))('volume create -o, as an unprivileged user', () => {
  let store: { dir: string; root: string };
  let prefix: string[];
  const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } => runInstalledCli(args, { root: store.root, prefix });

  beforeAll(async () => {
    const user = ensureRootlessUser();
    prefix = asRootless(user);
    store = await busyboxStore('tsbuild-volume-options-rootless-');
    chownTree(store.dir, user);
  }, 120_000);

  afterAll(() => {
    removeBusyboxStore(store);
  });

  it('mounts tmpfs and bind volumes in its own namespaces, and says why a device cannot be', () => {
    cli('volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=4m', 'scratch');
    const tmpfs = cli('run', '--rm', '-v', 'scratch:/v', 'busybox', 'sh', '-c', 'grep " /v " /proc/mounts');
    expect(tmpfs.stdout).toMatch(/^tmpfs \/v tmpfs \S*size=4096k/);
    expect(tmpfs.status).toBe(0);

    cli('volume', 'create', '-o', 'type=ext4', '-o', 'device=/dev/tsbuild-no-such-disk', 'disk');
    const disk = join(store.root, 'volumes', 'disk', '_data');
    const refused = cli('run', '--rm', '-v', 'disk:/v', 'busybox', 'true');
    expect(refused.stderr).toBe(`tsbuild: Error response from daemon: error while mounting volume '${disk}': failed to mount local volume: mount /dev/tsbuild-no-such-disk:${disk}: operation not permitted (rootless: only type=tmpfs and bind volumes can be mounted).\nSee 'tsbuild run --help'.\n`);
    expect(refused.status).toBe(125);
  }, 60_000);
});
