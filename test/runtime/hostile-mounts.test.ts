/**
 * `tsbuild run` mounts aimed out of the container by links (runc CVE-2021-30465): `-v`,
 * `--mount` and `--tmpfs` destinations that are, or go through, an image's link to the host,
 * to `/` or climbing out; links a container planted in a volume that a later container mounts
 * other things below, while a running container swaps them. Every mount lands inside the
 * container's root, or is refused with docker's words; the host directory the links name
 * never changes. And the supplementary groups of a USER name (containerd CVE-2023-25173): the
 * ones the image's /etc/group lists for it, for `run` and for a build's RUN, as runc and
 * BuildKit give them, never the groups of the process that started the container.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform, type ContainerConfig } from '../../src/common/index.js';
import { writeImage, writeLayer, type LayerEntry } from '../../src/exporter/index.js';
import { openStore, resolveImage } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { buildBinaries, isRoot } from './helpers.js';

const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

let dir: string;
let root: string;
/** What the image's and the volume's links name on the host: never written, never mounted over. */
let outside: string;
/** A host directory given to `-v` and `--mount`. */
let source: string;
let removeDir: () => Promise<void>;

function tsbuild(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: root }, timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function run(image: string, script: string, flags: readonly string[] = []): { status: number | null; stdout: string; stderr: string } {
  return tsbuild(['run', '--rm', ...flags, image, 'sh', '-c', script]);
}

const symlink = (path: string, target: string): LayerEntry => ({ path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, linkname: target });
const file = (path: string, text: string): LayerEntry => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: Buffer.byteLength(text), content: () => Buffer.from(text) });

describe.runIf(isRoot)('hostile run mounts and users', () => {
  beforeAll(async () => {
    buildBinaries();
    ({ path: dir, cleanup: removeDir } = await temporaryDirectory('tsbuild-hostile-mounts-'));
    root = join(dir, 'root');
    outside = join(dir, 'outside');
    source = join(dir, 'source');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'HOST SECRET\n');
    mkdirSync(source);
    writeFileSync(join(source, 'mine'), 'mine\n');
    const store = await openStore({ root });
    await busyboxImage(store);
    const base = await resolveImage(store, (await store.resolveReference('docker.io/library/busybox:latest')) ?? expect.fail('no busybox'));
    const baseLayer = { descriptor: base.manifest.layers[0] ?? expect.fail('no layer'), diffId: base.config.rootfs.diff_ids[0] ?? expect.fail('no diff id') };
    const links = await writeLayer([symlink('abslink', outside), symlink('rootlink', '/'), symlink('uplink', `${'../'.repeat(12)}${outside.slice(1)}`)], store);
    await writeImage(store, { layers: [baseLayer, links], platform: hostPlatform(), config: { Cmd: ['sh'] } }, 'docker.io/library/links:latest');
    // A VOLUME whose content in the image is links to the host's file and directory.
    const volumeLinks = await writeLayer(
      [{ path: 'data', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 }, symlink('data/dir', outside), symlink('data/file', join(outside, 'secret')), symlink('data/up', `${'../'.repeat(12)}${outside.slice(1)}/secret`)],
      store,
    );
    await writeImage(store, { layers: [baseLayer, volumeLinks], platform: hostPlatform(), config: { Cmd: ['sh'], Volumes: { '/data': {} } } }, 'docker.io/library/volume-links:latest');
    // Sorted, as a layer's entries are.
    const users = await writeLayer(
      [
        { path: 'etc', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
        file('etc/group', ['root:x:0:', 'wheel:x:10:other', 'audio:x:29:app', 'video:x:44:other,app', 'app:x:1000:', 'staff:x:50:'].join('\n') + '\n'),
        file('etc/passwd', ['root:x:0:0:root:/root:/bin/sh', 'app:x:1000:1000::/home/app:/bin/sh', 'other:x:1001:50::/:/bin/sh'].join('\n') + '\n'),
      ],
      store,
    );
    const configs: Record<string, ContainerConfig> = { groups: {}, 'groups-user': { User: 'app' } };
    for (const [name, config] of Object.entries(configs)) {
      await writeImage(store, { layers: [baseLayer, users], platform: hostPlatform(), config: { Cmd: ['sh'], ...config } }, `docker.io/library/${name}:latest`);
    }
  }, 120_000);

  afterEach(() => {
    // No test here may write where the links lead, nor into what it mounted.
    expect(readdirSync(outside)).toEqual(['secret']);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('HOST SECRET\n');
    expect(readdirSync(source)).toEqual(['mine']);
  });

  afterAll(async () => {
    await removeDir();
  });

  describe('mounts aimed out of the container', () => {
  it("mounts -v, --mount and --tmpfs behind an image's absolute link at the path it names inside the root", () => {
    const result = run(
      'links',
      `grep -c " ${outside}/v " /proc/mounts; cat ${outside}/v/mine; grep -c " ${outside}/t " /proc/mounts; grep -c " ${outside}/m " /proc/mounts; cat ${outside}/m/mine`,
      ['-v', `${source}:/abslink/v`, '--tmpfs', '/abslink/t', '--mount', `type=bind,src=${source},dst=/abslink/m`],
    );
    expect(result.stderr).toBe('');
    expect(result).toMatchObject({ status: 0, stdout: '1\nmine\n1\n1\nmine\n' });
  });

  it.each([
    ['-v', (target: string) => ['-v', `${source}:${target}`]],
    ['--mount', (target: string) => ['--mount', `type=bind,src=${source},dst=${target}`]],
    ['--tmpfs', (target: string) => ['--tmpfs', target]],
  ])("refuses %s through an image's link out of the root or to /, with docker's words", (_flag, flags) => {
    expect(run('links', 'true', flags('/uplink/x'))).toMatchObject({ status: 125, stderr: expect.stringContaining("mount /uplink/x: the image's symbolic link on the way leads out of the container's root") });
    expect(run('links', 'true', flags('/rootlink'))).toMatchObject({ status: 125, stderr: expect.stringContaining("mount /rootlink: invalid specification: destination can't be '/'") });
    // Through the link to / to a path below: that path of the container.
    const below = run('links', 'grep -c " /below " /proc/mounts', flags('/rootlink/below'));
    expect(below.stderr).toBe('');
    expect(below).toMatchObject({ status: 0, stdout: '1\n' });
  });

  it("fills an image's VOLUME with its links as links, never with the host files they name", () => {
    const result = run('volume-links', 'readlink /data/dir; readlink /data/file; cat /data/file /data/up /data/dir/secret 2>&1; ls -A /data/dir 2>&1; true');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).not.toContain('HOST SECRET');
    expect(result.stdout.split('\n').slice(0, 2)).toEqual([outside, join(outside, 'secret')]);
  });

  it('mounts below links a container planted in a volume inside the next container, also while another swaps them', () => {
    const volume = `planted-${process.pid}`;
    try {
      const planted = run('busybox', `ln -s ${outside} /vol/abs && ln -s ../../../../../../../..${outside} /vol/up && mkdir /vol/swap`, ['-v', `${volume}:/vol`]);
      expect(planted).toMatchObject({ status: 0, stderr: '' });
      const result = run(
        'busybox',
        `grep -c " ${outside}/bound " /proc/mounts; cat ${outside}/bound/mine; grep -c " ${outside}/t " /proc/mounts`,
        ['-v', `${volume}:/vol`, '-v', `${source}:/vol/abs/bound`, '--tmpfs', '/vol/up/t'],
      );
      expect(result.stderr).toBe('');
      expect(result).toMatchObject({ status: 0, stdout: '1\nmine\n1\n' });

      // A running container swaps /vol/swap between a directory and a link to the host while others start.
      const swapper = spawn(process.execPath, [bin, 'run', '--rm', '-v', `${volume}:/vol`, 'busybox', 'sh', '-c', `end=$(($(date +%s) + 8)); while [ $(date +%s) -lt $end ]; do rm -rf /vol/swap; ln -s ${outside} /vol/swap; rm -f /vol/swap; mkdir /vol/swap; done`], {
        env: { ...process.env, TSBUILD_ROOT: root },
        stdio: 'ignore',
      });
      try {
        for (let attempt = 0; attempt < 6; attempt++) {
          // A file bind too: its mount point is a file the runtime makes (runc CVE-2024-45310 made
          // empty files and directories on the host through such a swap).
          const raced = run('busybox', `cat ${outside}/secret /vol/swap/b/secret 2>/dev/null; true`, ['-v', `${volume}:/vol`, '-v', `${source}:/vol/swap/b`, '--tmpfs', '/vol/swap/t', '-v', `${join(source, 'mine')}:/vol/swap/f`]);
          expect(raced.stdout).not.toContain('HOST SECRET');
          expect(['b', 't', 'f'].filter((name) => existsSync(join(outside, name)))).toEqual([]);
        }
      } finally {
        swapper.kill('SIGKILL');
      }
    } finally {
      // The swapper's container may still hold the volume for a moment.
      for (let attempt = 0; attempt < 20 && tsbuild(['volume', 'rm', '-f', volume]).status !== 0; attempt++) spawnSync('sleep', ['0.5']);
    }
  }, 120_000);
  });

  describe('supplementary groups of a USER', () => {
  it.each([
    // As docker's getUser over runc's GetExecUser: the primary group, then the groups listing the user by name.
    ['app', [], '1000 29 44'],
    ['1000', [], '1000 29 44'],
    // An explicit group: that group alone.
    ['app:staff', [], '50'],
    ['1000:1000', [], '1000'],
    // Not in /etc/passwd: gid 0, and no group of the caller's.
    ['4242', [], '0'],
    ['4242:4343', [], '4343'],
    ['other', ['--group-add', 'audio'], '50 10 29 44'],
  ])('gives --user %s %j the groups %s', (user, flags, groups) => {
    const result = run('groups', 'id -G', ['--user', user, ...flags]);
    expect(result.stderr).toBe('');
    expect(result).toMatchObject({ status: 0, stdout: `${groups}\n` });
  });

  // `id -G` prints the primary group first whatever the list holds; the kernel's list is what a
  // setgid program keeps: the primary group must be in it, or a file whose group is denied
  // access is read by leaving that group (buildah CVE-2022-2990, moby CVE-2022-36109).
  it.each([
    ['app', [], '29 44 1000'],
    ['app:staff', [], '50'],
    ['4242:4343', [], '4343'],
    ['other', ['--group-add', 'audio'], '10 29 44 50'],
  ])('keeps the primary group of --user %s %j in the supplementary list: %s', (user, flags, groups) => {
    const result = run('groups', 'grep "^Groups:" /proc/self/status', ['--user', user, ...flags]);
    expect(result).toMatchObject({ status: 0, stdout: `Groups:\t${groups} \n` });
    const context = join(dir, `groups-status-${user.replace(/\W/g, '-')}`);
    mkdirSync(context, { recursive: true });
    writeFileSync(join(context, 'Dockerfile'), ['FROM groups', `USER ${user}`, `RUN test "$(grep '^Groups:' /proc/self/status)" = "$(printf 'Groups:\\t${groups} ')"`].join('\n'));
    if (flags.length === 0) {
      const built = tsbuild(['build', '--progress', 'plain', context]);
      expect(built.stderr).not.toMatch(/ERROR/);
      expect(built.status).toBe(0);
    }
  }, 60_000);

  it("gives the image's USER its groups, in run and exec", () => {
    const result = run('groups-user', 'id -G');
    expect(result).toMatchObject({ status: 0, stdout: '1000 29 44\n' });
    const name = `groups-${process.pid}`;
    expect(tsbuild(['run', '-d', '--name', name, 'groups-user', 'sleep', '30']).status).toBe(0);
    try {
      expect(tsbuild(['exec', name, 'id', '-G'])).toMatchObject({ status: 0, stdout: '1000 29 44\n' });
      expect(tsbuild(['exec', '--user', 'other', name, 'id', '-G'])).toMatchObject({ status: 0, stdout: '50 10 44\n' });
    } finally {
      tsbuild(['rm', '-f', name]);
    }
  });

  it('gives a RUN step of a build the groups of its USER, as BuildKit', () => {
    const context = join(dir, 'groups-context');
    mkdirSync(context, { recursive: true });
    writeFileSync(
      join(context, 'Dockerfile'),
      ['FROM groups', 'USER app', 'RUN test "$(id -G)" = "1000 29 44"', 'USER app:staff', 'RUN test "$(id -G)" = "50"', 'USER 4242:4343', 'RUN test "$(id -G)" = "4343"', 'USER 1001', 'RUN test "$(id -G)" = "50 10 44"'].join('\n'),
    );
    const result = tsbuild(['build', '--progress', 'plain', context]);
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.status).toBe(0);
  }, 60_000);
});
});
