/**
 * Volumes and mounts end to end: `tsbuild volume …` and `tsbuild run --rm` with `-v`, `--mount`,
 * `--tmpfs` and `--read-only`, against a store holding busybox and an image of its own (a
 * VOLUME with content owned by another user, a symlink planted to lead a mount out of the root,
 * one that stays in it). As root, then as an unprivileged user. After every test no container
 * directory and no mount under the store is left.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform, isTsbuildError } from '../../src/common/index.js';
import { writeImage, writeLayer, type LayerEntry } from '../../src/exporter/index.js';
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag, prepareMounts, releaseContainerVolumes, removeVolume } from '../../src/runtime/index.js';
import { openStore, resolveImage, type Store } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { asRootless, buildBinaries, chownTree, ensureRootlessUser, isRoot, rootlessUser, scratchDir, toolExists } from './helpers.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let dir: string;
let root: string;
/** Where the planted symlink of the image leads on the host, were it followed there. */
let outside: string;

function tsbuild(args: readonly string[], options: { root?: string; prefix?: readonly string[]; input?: string } = {}): Run {
  const prefix = options.prefix ?? [];
  const argv = [...prefix, ...(prefix.length > 0 ? [`TSBUILD_ROOT=${options.root ?? root}`] : []), process.execPath, bin, ...args];
  const result = spawnSync(argv[0] ?? '', argv.slice(1), {
    encoding: 'utf8',
    input: options.input ?? '',
    env: { ...process.env, TSBUILD_ROOT: options.root ?? root },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const run = (...args: string[]): Run => tsbuild(['run', '--rm', ...args]);

/** The TsbuildError code WORK fails with, undefined when it succeeds. */
function errorCode(work: () => unknown): string | undefined {
  try {
    work();
    return undefined;
  } catch (error) {
    return isTsbuildError(error) ? error.code : `not a TsbuildError: ${String(error)}`;
  }
}

function mountsUnder(path: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(path));
}

function text(path: string, content: string, owner = 0, mode = 0o644): LayerEntry {
  const bytes = Buffer.from(content);
  return { path, type: 'file', mode, uid: owner, gid: owner, mtime: 0, size: bytes.length, content: () => bytes };
}

function directory(path: string, owner = 0, mode = 0o755): LayerEntry {
  return { path, type: 'directory', mode, uid: owner, gid: owner, mtime: 0 };
}

function symlink(path: string, target: string): LayerEntry {
  return { path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, linkname: target };
}

/**
 * `app`: busybox and a layer with a user 1000, /data (VOLUME, 0750, owned by 1000) holding a
 * file of theirs, /srv/seed, and two symlinks: /escape climbing out of the root to OUTSIDE,
 * and /srvlink, absolute, which stays in it.
 */
async function makeImages(store: Store, outsideDir: string): Promise<void> {
  await busyboxImage(store);
  const base = await resolveImage(store, (await store.resolveReference('docker.io/library/busybox:latest')) ?? expect.fail('no busybox'));
  const layer = await writeLayer(
    [
      directory('data', 1000, 0o750),
      text('data/seed', 'from the image\n', 1000, 0o640),
      symlink('escape', `${'../'.repeat(12)}${outsideDir.slice(1)}`),
      directory('etc'),
      text('etc/group', 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n'),
      text('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'),
      directory('srv'),
      text('srv/seed', 'srv content\n'),
      symlink('srvlink', '/srv'),
    ],
    store,
  );
  const layers = [{ descriptor: base.manifest.layers[0] ?? expect.fail('no layer'), diffId: base.config.rootfs.diff_ids[0] ?? expect.fail('no diff id') }, layer];
  await writeImage(store, { layers, platform: hostPlatform(), config: { Cmd: ['sh'], Volumes: { '/data': {} } } }, 'docker.io/library/app:latest');
}

function volumeNames(storeRoot: string): string[] {
  return existsSync(join(storeRoot, 'volumes')) ? readdirSync(join(storeRoot, 'volumes')).sort() : [];
}

describe('mount flags', () => {
  it('read -v as docker: a host path, a volume name or an anonymous volume, with modes', () => {
    expect(parseVolumeFlag('data:/srv/data')).toEqual({ kind: 'volume', name: 'data', target: '/srv/data', readonly: false, noCopy: false });
    expect(parseVolumeFlag('/data/')).toEqual({ kind: 'volume', target: '/data', readonly: false, noCopy: false });
    expect(parseVolumeFlag('data:/d:ro,nocopy')).toMatchObject({ kind: 'volume', readonly: true, noCopy: true });
    expect(parseVolumeFlag('/host:/d:ro,rshared,z')).toEqual({ kind: 'bind', source: '/host', target: '/d', readonly: true, createSource: true, propagation: 'rshared', recursive: true });
    expect(parseVolumeFlag('./here:/d', '/work')).toMatchObject({ kind: 'bind', source: '/work/here' });
    expect(errorCode(() => parseVolumeFlag('data:relative'))).toBe('INVALID_ARGUMENT');
    expect(errorCode(() => parseVolumeFlag('data:/'))).toBe('INVALID_ARGUMENT');
    expect(errorCode(() => parseVolumeFlag('data:/d:rx'))).toBe('INVALID_ARGUMENT');
    expect(errorCode(() => parseVolumeFlag('a:b:c:d'))).toBe('INVALID_ARGUMENT');
    // A name is a name: never a path, never one character.
    for (const name of ['x', '-x', 'a/b', 'a b', '~x']) expect(errorCode(() => parseVolumeFlag(`${name}:/d`)), name).toBe('INVALID_ARGUMENT');
    expect(() => parseVolumeFlag('data:/d')).not.toThrow();
  });

  it('read --mount with docker keys, and --tmpfs', () => {
    expect(parseMountFlag('type=bind,source=/h,target=/t,readonly')).toEqual({ kind: 'bind', source: '/h', target: '/t', readonly: true, createSource: false, recursive: true });
    expect(parseMountFlag('type=bind,src=/h,dst=/t,ro=false,bind-propagation=rslave,bind-nonrecursive')).toEqual({
      kind: 'bind',
      source: '/h',
      target: '/t',
      readonly: false,
      createSource: false,
      propagation: 'rslave',
      recursive: false,
    });
    expect(parseMountFlag('source=v1,destination=/t,volume-nocopy')).toEqual({ kind: 'volume', name: 'v1', target: '/t', readonly: false, noCopy: true, mountFlag: true });
    expect(parseMountFlag('type=volume,target=/t')).toEqual({ kind: 'volume', target: '/t', readonly: false, noCopy: false, mountFlag: true });
    expect(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770')).toEqual({ kind: 'tmpfs', target: '/t', readonly: false, options: ['size=67108864', 'mode=1770'] });
    expect(parseTmpfsFlag('/run:size=1m,exec')).toEqual({ kind: 'tmpfs', target: '/run', readonly: false, options: ['size=1m', 'exec'] });
    for (const bad of ['type=volume,source=../etc,target=/t', 'type=volume,source=/etc,target=/t', 'type=bind,target=/t', 'type=tmpfs,source=x,target=/t', 'type=bind,source=/h', 'type=nfs,target=/t', 'type=volume,target=/t,colour=red', 'type=bind,src=/h,dst=/t,tmpfs-size=1m']) {
      expect(errorCode(() => parseMountFlag(bad)), bad).toBe('INVALID_ARGUMENT');
    }
    expect(errorCode(() => parseTmpfsFlag('relative'))).toBe('INVALID_ARGUMENT');
  });

  it("refuses an unknown --mount type and an empty -v part in docker 26's words", () => {
    // docker 26 `run --mount type=nfs,dst=/t` and `run -v :/x`.
    expect(() => parseMountFlag('type=nfs,target=/t')).toThrow('invalid mount config for type "nfs": mount type unknown');
    expect(() => parseVolumeFlag(':/x')).toThrow('invalid spec: :/x: empty section between colons');
    expect(() => parseVolumeFlag('data::ro')).toThrow('invalid spec: data::ro: empty section between colons');
  });
});

describe('prepareMounts', () => {
  it('gives OCI mounts, parents first, records the use, and releases it for a later process', async () => {
    const scratch = await temporaryDirectory();
    try {
      const store = await openStore({ root: join(scratch.path, 'root') });
      const rootfs = join(scratch.path, 'rootfs');
      mkdirSync(join(rootfs, 'data'), { recursive: true });
      writeFileSync(join(rootfs, 'data', 'seed'), 'seed\n');
      const id = 'c'.repeat(64);
      mkdirSync(join(store.root, 'containers', id), { recursive: true });
      const prepared = await prepareMounts({
        store,
        container: id,
        root: rootfs,
        requests: [parseVolumeFlag('named:/srv/deep/er:ro'), parseTmpfsFlag('/srv:size=1m'), parseVolumeFlag(`${scratch.path}:/host`)],
        imageVolumes: ['/data', 'srv'],
      });
      const anonymous = prepared.volumes.find((name) => name !== 'named') ?? expect.fail('no anonymous volume');
      expect(anonymous).toMatch(/^[0-9a-f]{64}$/);
      expect(prepared.mounts).toEqual([
        { destination: '/srv', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', 'size=1m', 'rw'] },
        { destination: '/host', type: 'bind', source: scratch.path, options: ['rbind', 'rw', 'rprivate'] },
        { destination: '/data', type: 'bind', source: join(store.root, 'volumes', anonymous, '_data'), options: ['rbind', 'rw', 'rprivate'] },
        { destination: '/srv/deep/er', type: 'bind', source: join(store.root, 'volumes', 'named', '_data'), options: ['rbind', 'ro', 'rprivate'] },
      ]);
      expect(prepared.covers('/srv/')).toBe(true);
      expect(readFileSync(join(store.root, 'volumes', anonymous, '_data', 'seed'), 'utf8')).toBe('seed\n');
      for (const name of ['named', anonymous]) {
        await expect(removeVolume(store, name)).rejects.toMatchObject({ code: 'CONFLICT', message: `remove ${name}: volume is in use - [${id}]` });
      }
      // `rm -v` in another process knows the container's id only.
      await releaseContainerVolumes(store, id, { removeAnonymous: true });
      expect(volumeNames(store.root)).toEqual(['named']);
      await removeVolume(store, 'named');
      expect(volumeNames(store.root)).toEqual([]);
    } finally {
      await scratch.cleanup();
    }
  });
});

describe.runIf(isRoot)('volumes, as root', () => {
  beforeAll(async () => {
    buildBinaries();
    dir = scratchDir('tsbuild-volumes-');
    root = join(dir, 'root');
    outside = join(dir, 'outside');
    mkdirSync(outside);
    await makeImages(await openStore({ root }), outside);
  }, 120_000);

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    expect(mountsUnder(root)).toEqual([]);
    expect(existsSync(join(root, 'containers')) ? readdirSync(join(root, 'containers')) : []).toEqual([]);
  });

  it('create, ls, inspect, rm and prune as docker shows them', () => {
    expect(tsbuild(['volume', 'create', '--label', 'team=web', 'site'])).toMatchObject({ status: 0, stdout: 'site\n' });
    // Creating it again is no error, as docker.
    expect(tsbuild(['volume', 'create', 'site'])).toMatchObject({ status: 0, stdout: 'site\n' });
    const anonymous = tsbuild(['volume', 'create']);
    expect(anonymous.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const anonymousName = anonymous.stdout.trim();
    expect(tsbuild(['volume', 'ls']).stdout).toBe(`DRIVER    VOLUME NAME\nlocal     ${anonymousName}\nlocal     site\n`);
    expect(tsbuild(['volume', 'ls', '-q', '--filter', 'label=team=web']).stdout).toBe('site\n');
    expect(tsbuild(['volume', 'ls', '--format', '{{.Name}} {{.Driver}}', '--filter', 'name=sit']).stdout).toBe('site local\n');
    // json is docker's row (Labels as k=v, N/A where docker keeps no figure), keys sorted.
    expect(tsbuild(['volume', 'ls', '--format', 'json', '--filter', 'name=sit']).stdout).toBe(
      `${JSON.stringify({ Availability: 'N/A', Driver: 'local', Group: 'N/A', Labels: 'team=web', Links: 'N/A', Mountpoint: join(root, 'volumes', 'site', '_data'), Name: 'site', Scope: 'local', Size: 'N/A', Status: 'N/A' })}\n`,
    );
    const inspected = tsbuild(['volume', 'inspect', 'site']);
    expect(inspected.status).toBe(0);
    expect(inspected.stdout).toMatch(/^\[\n {4}\{\n {8}"CreatedAt": /);
    expect(JSON.parse(inspected.stdout)).toEqual([
      { CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), Driver: 'local', Labels: { team: 'web' }, Mountpoint: join(root, 'volumes', 'site', '_data'), Name: 'site', Options: null, Scope: 'local' },
    ]);
    // docker 26: a volume created with no label shows "Labels": null, as one a run made.
    expect(tsbuild(['volume', 'create', 'unlabelled']).status).toBe(0);
    expect(tsbuild(['volume', 'inspect', '-f', '{{json .Labels}} {{json .Options}}', 'unlabelled']).stdout).toBe('null null\n');
    expect(tsbuild(['volume', 'rm', 'unlabelled']).status).toBe(0);
    expect(tsbuild(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'site']).stdout).toBe(`${join(root, 'volumes', 'site', '_data')}\n`);
    expect(tsbuild(['volume', 'inspect', 'nosuch'])).toMatchObject({ status: 1, stdout: '[]\n', stderr: 'Error response from daemon: get nosuch: no such volume\n' });
    // prune takes anonymous volumes only, unless --all.
    expect(tsbuild(['volume', 'prune', '-f'])).toMatchObject({ status: 0, stdout: `Deleted Volumes:\n${anonymousName}\n\nTotal reclaimed space: 0B\n` });
    expect(tsbuild(['volume', 'prune'], { input: 'n\n' }).stdout).toContain('Are you sure you want to continue? [y/N]');
    expect(volumeNames(root)).toEqual(['site']);
    expect(tsbuild(['volume', 'rm', 'site', 'nosuch'])).toMatchObject({ status: 1, stdout: 'site\n', stderr: 'Error response from daemon: get nosuch: no such volume\n' });
    expect(tsbuild(['volume', 'rm', '-f', 'nosuch']).status).toBe(0);
    expect(volumeNames(root)).toEqual([]);
  });

  it('refuses names that are not names', () => {
    for (const name of ['../escape', 'a/b', '.hidden', 'x']) {
      const result = tsbuild(['volume', 'create', name]);
      expect(result.status, name).toBe(1);
      expect(result.stderr).toContain('includes invalid characters for a local volume name');
    }
    expect(run('-v', 'x:/d', 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('includes invalid characters for a local volume name') });
    expect(run('--mount', 'type=volume,source=../../etc,target=/d', 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('invalid volume name') });
    expect(volumeNames(root)).toEqual([]);
    expect(existsSync(join(dir, 'escape'))).toBe(false);
  });

  it('keeps a named volume’s data across containers, and after they are removed', () => {
    expect(run('-v', 'keep:/keep', 'busybox', 'sh', '-c', 'echo first > /keep/file')).toMatchObject({ status: 0 });
    expect(run('--mount', 'source=keep,target=/elsewhere', 'busybox', 'cat', '/elsewhere/file')).toMatchObject({ status: 0, stdout: 'first\n' });
    expect(readFileSync(join(root, 'volumes', 'keep', '_data', 'file'), 'utf8')).toBe('first\n');
    expect(tsbuild(['volume', 'rm', 'keep']).status).toBe(0);
  });

  it('counts volumes and containers in system df: their sizes, and what no container uses', () => {
    expect(tsbuild(['volume', 'create', 'df-volume'])).toMatchObject({ status: 0 });
    expect(run('-v', 'df-volume:/d', 'busybox', 'sh', '-c', 'head -c 5000 /dev/zero > /d/f')).toMatchObject({ status: 0 });
    const df = tsbuild(['system', 'df']);
    expect(df.status, df.stderr).toBe(0);
    expect(df.stdout).toMatch(/^Local Volumes\s+\d+\s+0\s+/m);
    const sizes = /^Local Volumes\s+\d+\s+0\s+(\S+)\s+(\S+) \((\d+)%\)$/m.exec(df.stdout);
    expect(sizes?.[3]).toBe('100');
    // As docker's: no percentage of nothing.
    expect(df.stdout).toMatch(/^Containers\s+0\s+0\s+0B\s+0B$/m);
    expect(tsbuild(['volume', 'rm', 'df-volume'])).toMatchObject({ status: 0 });
  });

  it('fills a new volume from the image’s content at its mount point, owners and modes kept', () => {
    expect(run('-v', 'filled:/data', 'app', 'sh', '-c', 'stat -c "%u %a %n" /data /data/seed; cat /data/seed; echo mine > /data/added')).toMatchObject({
      status: 0,
      stdout: '1000 750 /data\n1000 640 /data/seed\nfrom the image\n',
    });
    const data = join(root, 'volumes', 'filled', '_data');
    expect(statSync(data)).toMatchObject({ uid: 1000, mode: 0o40750 });
    // Not filled again: what the container left stays as it is.
    rmSync(join(data, 'seed'));
    expect(run('-v', 'filled:/data', 'app', 'ls', '/data')).toMatchObject({ stdout: 'added\n' });
    // Another image path: the volume is not empty, nothing copied.
    expect(run('-v', 'filled:/srv', 'app', 'ls', '/srv')).toMatchObject({ stdout: 'added\n' });
    // nocopy: an empty volume stays empty.
    expect(run('-v', 'bare:/srv:nocopy', 'app', 'ls', '-A', '/srv')).toMatchObject({ status: 0, stdout: '' });
    // An absolute symlink in the image stays inside the root: /srvlink/x is the container's /srv/x.
    expect(run('-v', 'linked:/srvlink', 'app', 'sh', '-c', 'cat /srv/seed; ls /srvlink')).toMatchObject({ status: 0, stdout: 'srv content\nseed\n' });
    expect(tsbuild(['volume', 'rm', 'filled', 'bare', 'linked']).status).toBe(0);
  });

  it('gives the image’s VOLUMEs and -v /path anonymous volumes, removed with --rm', () => {
    const result = run('-v', '/scratch', 'app', 'sh', '-c', 'cat /data/seed; grep -E " /(data|scratch) " /proc/self/mountinfo | wc -l; echo x > /scratch/x');
    expect(result).toMatchObject({ status: 0, stdout: 'from the image\n2\n' });
    expect(volumeNames(root)).toEqual([]);
    // An explicit mount on the image's VOLUME replaces its anonymous one.
    expect(run('-v', 'explicit:/data', 'app', 'ls', '/data')).toMatchObject({ stdout: 'seed\n' });
    expect(volumeNames(root)).toEqual(['explicit']);
    // An anonymous volume named by a later run is that run's named volume: --rm leaves it.
    const anonymous = tsbuild(['volume', 'create']).stdout.trim();
    expect(run('-v', `${anonymous}:/a`, 'busybox', 'true').status).toBe(0);
    expect(volumeNames(root)).toEqual([anonymous, 'explicit'].sort());
    expect(tsbuild(['volume', 'rm', 'explicit', anonymous]).status).toBe(0);
  });

  it('mounts host directories read-only when asked, and refuses a missing source for --mount', () => {
    const host = join(dir, 'host');
    mkdirSync(host);
    writeFileSync(join(host, 'given'), 'from the host\n');
    expect(run('-v', `${host}:/h:ro`, 'busybox', 'sh', '-c', 'cat /h/given; echo no > /h/new')).toMatchObject({
      status: 1,
      stdout: 'from the host\n',
      stderr: expect.stringContaining('Read-only file system'),
    });
    expect(run('--mount', `type=bind,source=${host},target=/h,readonly`, 'busybox', 'touch', '/h/new').status).toBe(1);
    expect(existsSync(join(host, 'new'))).toBe(false);
    expect(run('-v', `${host}:/h`, 'busybox', 'sh', '-c', 'echo yes > /h/new')).toMatchObject({ status: 0 });
    expect(readFileSync(join(host, 'new'), 'utf8')).toBe('yes\n');
    // docker makes a missing -v source, and refuses one for --mount.
    expect(run('-v', `${join(dir, 'made')}:/m`, 'busybox', 'true').status).toBe(0);
    expect(statSync(join(dir, 'made')).isDirectory()).toBe(true);
    expect(run('--mount', `type=bind,source=${join(dir, 'missing')},target=/m`, 'busybox', 'true')).toMatchObject({
      status: 125,
      stderr: expect.stringContaining(`bind source path does not exist: ${join(dir, 'missing')}`),
    });
    expect(run('-v', `${host}:/h`, '-v', 'other:/h', 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('Duplicate mount point: /h') });
  });

  it('mounts the volumes and binds of another container with --volumes-from (its modes, or :ro), and inspect lists mounts as docker', () => {
    const shared = join(dir, 'shared-host');
    mkdirSync(shared);
    writeFileSync(join(shared, 'h'), 'host file\n');
    expect(tsbuild(['create', '--name', 'holder', '-v', 'fromvol:/dbdata', '-v', `${shared}:/host:ro`, '--mount', 'type=tmpfs,target=/scratch', 'busybox', 'true'])).toMatchObject({ status: 0 });
    try {
      expect(run('-v', 'fromvol:/dbdata', 'busybox', 'sh', '-c', 'echo precious > /dbdata/file')).toMatchObject({ status: 0 });
      // The backup idiom of docker's documentation: the volume and the bind, at their places; not the tmpfs.
      expect(run('--volumes-from', 'holder', 'busybox', 'sh', '-c', 'cat /dbdata/file /host/h; touch /host/x 2>/dev/null || echo host-ro; grep -c " /scratch " /proc/mounts')).toMatchObject({
        status: 1,
        stdout: 'precious\nhost file\nhost-ro\n0\n',
      });
      expect(run('--volumes-from', 'holder:ro', 'busybox', 'sh', '-c', 'echo more > /dbdata/more')).toMatchObject({ status: 1, stderr: expect.stringContaining('Read-only file system') });
      // The container's own -v keeps its place.
      expect(run('--volumes-from', 'holder', '-v', 'othervol:/dbdata', 'busybox', 'ls', '/dbdata')).toMatchObject({ status: 0, stdout: '' });
      expect(run('--volumes-from', 'no-such-holder', 'busybox', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('No such container: no-such-holder') });
      const mounts = JSON.parse(tsbuild(['inspect', '-f', '{{json .Mounts}}', 'holder']).stdout) as unknown[];
      expect(mounts).toEqual([
        { Type: 'volume', Name: 'fromvol', Source: join(root, 'volumes', 'fromvol', '_data'), Destination: '/dbdata', Driver: 'local', Mode: 'z', RW: true, Propagation: '' },
        { Type: 'bind', Source: shared, Destination: '/host', Mode: 'ro', RW: false, Propagation: 'rprivate' },
        { Type: 'tmpfs', Source: '', Destination: '/scratch', Mode: '', RW: true, Propagation: '' },
      ]);
      // As docker's HostConfig: -v's with a source in Binds as given, --mount's alone in Mounts
      // (docker's mount.Mount fields); ps's MOUNTS a volume by its name, a bind by its source, no
      // tmpfs; LocalVolumes counts the volumes.
      expect(JSON.parse(tsbuild(['inspect', '-f', '{{json .HostConfig.Binds}}', 'holder']).stdout)).toEqual(['fromvol:/dbdata', `${shared}:/host:ro`]);
      expect(JSON.parse(tsbuild(['inspect', '-f', '{{json .HostConfig.Mounts}}', 'holder']).stdout)).toEqual([{ Type: 'tmpfs', Target: '/scratch' }]);
      expect(tsbuild(['ps', '-a', '--no-trunc', '--filter', 'name=holder', '--format', '{{.Mounts}} {{.LocalVolumes}}']).stdout).toBe(`fromvol,${shared} 1\n`);
      expect(tsbuild(['ps', '-a', '--filter', 'name=holder', '--format', '{{.Mounts}}']).stdout).toBe(`fromvol,${shared.slice(0, 15)}…\n`);
    } finally {
      tsbuild(['rm', '-v', 'holder']);
      tsbuild(['volume', 'rm', 'fromvol', 'othervol']);
    }
  });

  it('refuses a target reached through a symlink the image planted to lead out of the root', () => {
    const host = join(dir, 'planted-source');
    mkdirSync(host, { recursive: true });
    for (const flags of [['-v', `${host}:/escape/x`], ['-v', 'planted:/escape'], ['--tmpfs', '/escape/t']]) {
      const result = run(...flags, 'app', 'true');
      expect(result.status, flags.join(' ')).toBe(125);
      expect(result.stderr).toContain("symbolic link on the way leads out of the container's root");
    }
    expect(readdirSync(outside)).toEqual([]);
    expect(volumeNames(root)).toEqual([]);
  });

  it('mounts tmpfs, and a read-only root with writable mounts', () => {
    expect(run('--tmpfs', '/t:size=1m', '--mount', 'type=tmpfs,target=/u,tmpfs-mode=1770', 'busybox', 'sh', '-c', 'grep -E " /(t|u) " /proc/mounts | sort; stat -c %a /u')).toMatchObject({
      status: 0,
      stdout: expect.stringMatching(/^tmpfs \/t tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k 0 0\ntmpfs \/u tmpfs rw,nosuid,nodev,noexec,relatime,mode=1770 0 0\n1770\n$/),
    });
    expect(run('--read-only', '-v', 'writable:/w', '--tmpfs', '/tmp', 'busybox', 'sh', '-c', 'touch /w/ok /tmp/ok && touch /nope')).toMatchObject({
      status: 1,
      stderr: expect.stringContaining('Read-only file system'),
    });
    expect(existsSync(join(root, 'volumes', 'writable', '_data', 'ok'))).toBe(true);
    expect(tsbuild(['volume', 'rm', 'writable']).status).toBe(0);
    // As docker's inspect: --tmpfs in HostConfig.Tmpfs only, a --mount tmpfs in Mounts; an
    // anonymous volume in Config.Volumes, listed without a mode.
    expect(tsbuild(['create', '--name', 'tmpfs-holder', '--tmpfs', '/t:size=1m', '--tmpfs', '/t2', '--mount', 'type=tmpfs,target=/u', '-v', '/anon', 'busybox', 'true']).status).toBe(0);
    try {
      const shown = tsbuild(['inspect', '-f', '{{json .HostConfig.Tmpfs}} {{json .HostConfig.Binds}} {{json .Config.Volumes}} {{range .Mounts}}{{.Type}}:{{.Destination}}:{{.Mode}} {{end}}', 'tmpfs-holder']);
      expect(shown.stdout).toBe('{"/t":"size=1m","/t2":""} null {"/anon":{}} volume:/anon: tmpfs:/u: \n');
    } finally {
      tsbuild(['rm', '-v', 'tmpfs-holder']);
    }
  });

  it.runIf(toolExists('crun') && toolExists('runc'))('gives crun and runc the same mounts', () => {
    for (const runtime of ['crun', 'runc']) {
      const result = run('--runtime', runtime, '--read-only', '-v', 'shared:/data', '-v', `${dir}:/h:ro`, '--tmpfs', '/t', 'app', 'sh', '-c', 'cat /data/seed; touch /t/ok /data/ok && ! touch /h/no 2>/dev/null && ! touch /no 2>/dev/null && echo done');
      expect(result, runtime).toMatchObject({ status: 0, stdout: 'from the image\ndone\n' });
    }
    expect(existsSync(join(dir, 'no'))).toBe(false);
    expect(tsbuild(['volume', 'rm', 'shared']).status).toBe(0);
  });

  it('refuses to remove a volume a container uses, even one another process runs', async () => {
    const data = join(root, 'volumes', 'busy', '_data');
    const child = spawn(process.execPath, [bin, 'run', '--rm', '-v', 'busy:/b', 'busybox', 'sh', '-c', 'touch /b/started; while [ ! -e /b/stop ]; do sleep 0.05; done'], {
      env: { ...process.env, TSBUILD_ROOT: root },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      for (let tries = 0; !existsSync(join(data, 'started')); tries++) {
        if (tries > 600) expect.fail('the container did not start');
        await sleep(50);
      }
      const refused = tsbuild(['volume', 'rm', 'busy']);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/^Error response from daemon: remove busy: volume is in use - \[[0-9a-f]{64}\]\n$/);
      expect(tsbuild(['volume', 'prune', '-a', '-f']).stdout).toBe('Total reclaimed space: 0B\n');
      expect(tsbuild(['volume', 'ls', '-q', '--filter', 'dangling=false']).stdout).toBe('busy\n');
      writeFileSync(join(data, 'stop'), '');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    expect(tsbuild(['volume', 'ls', '-q', '--filter', 'dangling=true']).stdout).toBe('busy\n');
    expect(tsbuild(['volume', 'rm', 'busy'])).toMatchObject({ status: 0, stdout: 'busy\n' });
  }, 60_000);
});

describe.runIf(isRoot && toolExists('newuidmap'))('volumes, as an unprivileged user', () => {
  let user: ReturnType<typeof ensureRootlessUser>;
  let userDir: string;
  let userRoot: string;
  let userOutside: string;

  beforeAll(async () => {
    buildBinaries();
    user = ensureRootlessUser();
    userDir = scratchDir('tsbuild-volumes-user-');
    userRoot = join(userDir, 'root');
    userOutside = join(userDir, 'outside');
    mkdirSync(userOutside);
    await makeImages(await openStore({ root: userRoot }), userOutside);
    chownTree(userDir, user);
  }, 120_000);

  afterAll(() => {
    rmSync(userDir, { recursive: true, force: true });
  });

  const as = (...args: string[]): Run => tsbuild(args, { root: userRoot, prefix: asRootless(user) });

  it('keeps, fills and removes volumes holding files of the container’s other users', () => {
    expect(as('run', '--rm', '-v', 'mine:/data', 'app', 'stat', '-c', '%u %a', '/data', '/data/seed')).toMatchObject({ status: 0, stdout: '1000 750\n1000 640\n' });
    expect(as('run', '--rm', '-u', 'app', '-v', 'mine:/data', 'app', 'sh', '-c', 'echo by-app > /data/app-file')).toMatchObject({ status: 0 });
    expect(as('run', '--rm', '-v', 'mine:/data', 'app', 'cat', '/data/seed', '/data/app-file')).toMatchObject({ status: 0, stdout: 'from the image\nby-app\n' });
    // On the host, the volume's files belong to the user's subordinate ids (1000 is the range's 1000th).
    const [, start] = (readFileSync('/etc/subuid', 'utf8').split('\n').find((line) => line.startsWith(`${rootlessUser}:`)) ?? '').split(':');
    expect(lstatSync(join(userRoot, 'volumes', 'mine', '_data', 'app-file')).uid).toBe(Number(start) + 999);
    expect(as('run', '--rm', '-v', '/anon', 'app', 'cat', '/data/seed')).toMatchObject({ status: 0, stdout: 'from the image\n' });
    expect(volumeNames(userRoot)).toEqual(['mine']);
    expect(as('run', '--rm', '-v', 'planted:/escape', 'app', 'true')).toMatchObject({ status: 125, stderr: expect.stringContaining('leads out') });
    // A read-only bind of the user's own directory, a tmpfs, a read-only root.
    const host = join(userDir, 'host');
    mkdirSync(host);
    chownTree(host, user);
    expect(as('run', '--rm', '--read-only', '-v', `${host}:/h:ro`, '--tmpfs', '/t', '-v', 'mine:/data', 'app', 'sh', '-c', 'touch /t/ok /data/ok && ! touch /h/no 2>/dev/null && ! touch /no 2>/dev/null && echo done')).toMatchObject({
      status: 0,
      stdout: 'done\n',
    });
    expect(readdirSync(host)).toEqual([]);
    expect(readdirSync(userOutside)).toEqual([]);
    expect(as('volume', 'ls', '-q').stdout).toBe('mine\n');
    expect(as('volume', 'rm', 'mine')).toMatchObject({ status: 0, stdout: 'mine\n' });
    expect(volumeNames(userRoot)).toEqual([]);
    expect(mountsUnder(userRoot)).toEqual([]);
    expect(readdirSync(join(userRoot, 'containers'))).toEqual([]);
  }, 120_000);
});
