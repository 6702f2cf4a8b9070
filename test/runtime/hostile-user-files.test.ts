/**
 * An image's /etc/passwd and /etc/group as a way out (containers/storage CVE-2024-9676 class): a
 * USER name is looked up in the container's own files, so an image whose /etc/passwd or
 * /etc/group is a link to a host path (absolute or climbing with `..`), to /dev/zero, or whose
 * /etc a running container swaps for a link to a host directory while `exec -u NAME` reads it,
 * must never have the host's file decide the user, nor hang the lookup. Checked for `run -u`,
 * `exec -u`, a Dockerfile's USER before RUN and COPY --chown. `exec` reads the files of a
 * running container, through /proc/PID/root, so only a resolution by the kernel at the moment of
 * the open (openat2, RESOLVE_IN_ROOT) keeps a swap by the container from leading it out.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform } from '../../src/common/index.js';
import { writeImage, writeLayer, type LayerEntry } from '../../src/exporter/index.js';
import { lookupUser } from '../../src/runtime/index.js';
import { openStore, resolveImage } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { buildBinaries, isRoot, runInstalledCli } from './helpers.js';

let dir: string;
let root: string;
/** A directory of the host holding a passwd and a group that name `hostonly`. */
let outside: string;
let removeDir: () => Promise<void>;

function tsbuild(args: readonly string[], timeoutMs = 30_000): { status: number | null; stdout: string; stderr: string } {
  return runInstalledCli(args, { root, timeoutMs });
}

const symlink = (path: string, target: string): LayerEntry => ({ path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, linkname: target });
const directory = (path: string): LayerEntry => ({ path, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 });

describe.runIf(isRoot)('USER lookups in an image whose /etc/passwd or /etc/group lead out', () => {
  beforeAll(async () => {
    buildBinaries();
    ({ path: dir, cleanup: removeDir } = await temporaryDirectory('tsbuild-hostile-user-files-'));
    root = join(dir, 'root');
    outside = join(dir, 'etc');
    mkdirSync(outside);
    writeFileSync(join(outside, 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nhostonly:x:4242:4242::/:/bin/sh\n');
    writeFileSync(join(outside, 'group'), 'root:x:0:\nhostonly:x:4242:\n');
    const store = await openStore({ root });
    await busyboxImage(store);
    const base = await resolveImage(store, (await store.resolveReference('docker.io/library/busybox:latest')) ?? expect.fail('no busybox'));
    const baseLayer = { descriptor: base.manifest.layers[0] ?? expect.fail('no layer'), diffId: base.config.rootfs.diff_ids[0] ?? expect.fail('no diff id') };
    const up = '../'.repeat(12) + outside.slice(1);
    const images: Record<string, LayerEntry[]> = {
      'users-abs': [directory('etc'), symlink('etc/group', `${outside}/group`), symlink('etc/passwd', `${outside}/passwd`)],
      'users-up': [directory('etc'), symlink('etc/group', `${up}/group`), symlink('etc/passwd', `${up}/passwd`)],
      'etc-abs': [symlink('etc', outside)],
      'users-zero': [directory('etc'), symlink('etc/group', '/dev/zero'), symlink('etc/passwd', '/dev/zero')],
      // Its own files, with a user the host's files do not name, for exec while /etc is swapped.
      // /etc in a directory the container makes its own, so that it can swap it for a link.
      'etc-moved': [symlink('etc', '/x/etc')],
    };
    for (const [name, entries] of Object.entries(images)) {
      const layer = await writeLayer(entries, store);
      await writeImage(store, { layers: [baseLayer, layer], platform: hostPlatform(), config: { Cmd: ['sh'] } }, `docker.io/library/${name}:latest`);
    }
  }, 120_000);

  afterAll(async () => {
    tsbuild(['rm', '-f', 'swapper']);
    await removeDir();
  });

  it('never takes `exec -u NAME` from a host file while the container swaps a directory on the way for a link to it', async () => {
    // /etc is a link to /x/etc; the container swaps /x (its own, so it may rename it) between a
    // directory and a link to the host directory that holds etc/passwd naming `hostonly`.
    expect(tsbuild(['run', '-d', '--name', 'swapper', 'etc-moved', 'sh', '-c', `ln -s ${dirname(outside)} /x.link; while :; do mv /x /x.own; mv /x.link /x; mv /x /x.link; mv /x.own /x; done`]).status).toBe(0);
    const pid = tsbuild(['inspect', '-f', '{{.State.Pid}}', 'swapper']).stdout.trim();
    expect(pid).toMatch(/^[1-9]\d*$/);
    // What exec does before it starts the process, many times over while the container swaps
    // (a walk that checked each component and then opened the path read the host's file within
    // a few thousand tries).
    const answers = new Set<string>();
    const started = Date.now();
    while (Date.now() - started < 2_500) {
      answers.add(await lookupUser(`/proc/${pid}/root`, 'hostonly').then((user) => `found ${user.uid}`, (error: unknown) => (error as Error).message));
    }
    expect([...answers]).toEqual(['unable to find user hostonly: no matching entries in passwd file']);
    const result = tsbuild(['exec', '-u', 'hostonly', 'swapper', 'id', '-u']);
    expect(result).toMatchObject({ status: 126, stdout: '' });
    expect(result.stderr).toContain('unable to find user hostonly');
  }, 60_000);

  it('looks `run -u NAME` and `run -u 0:GROUP` up in the image only, through links to host paths', () => {
    for (const image of ['users-abs', 'users-up', 'etc-abs']) {
      const user = tsbuild(['run', '--rm', '-u', 'hostonly', image, 'id', '-u']);
      expect([image, user.status, user.stdout]).toEqual([image, 125, '']);
      expect(user.stderr).toContain('unable to find user hostonly: no matching entries in passwd file');
      const group = tsbuild(['run', '--rm', '-u', '0:hostonly', image, 'id', '-g']);
      expect([image, group.status, group.stdout]).toEqual([image, 125, '']);
      expect(group.stderr).toContain('unable to find group hostonly');
    }
  });

  it('refuses at once an /etc/passwd or /etc/group that is a link to /dev/zero, in run and exec', () => {
    const started = Date.now();
    expect(tsbuild(['run', '--rm', '-u', 'nobody', 'users-zero', 'true'])).toMatchObject({ status: 125 });
    // In a running container the link reaches the container's own /dev/zero: a device, never read.
    expect(tsbuild(['run', '-d', '--name', 'zero', 'users-zero', 'sleep', '30']).status).toBe(0);
    try {
      const result = tsbuild(['exec', '-u', 'nobody', 'zero', 'true']);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('read /etc/passwd: not a regular file');
      // As runc, /etc/passwd is read for a numeric user too, and refused first.
      expect(tsbuild(['exec', '-u', '0:nobody', 'zero', 'true']).stderr).toMatch(/read \/etc\/(passwd|group): not a regular file/);
    } finally {
      tsbuild(['rm', '-f', 'zero']);
    }
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);

  it('looks a Dockerfile USER and COPY --chown up in the image only, through links to host paths', () => {
    const build = (index: number, lines: readonly string[], tag: string): { status: number | null; stdout: string; stderr: string } => {
      const context = join(dir, `context-${index}`);
      mkdirSync(context, { recursive: true });
      writeFileSync(join(context, 'file'), 'file\n');
      writeFileSync(join(context, 'Dockerfile'), lines.join('\n') + '\n');
      return tsbuild(['build', '--progress', 'plain', '--no-cache', '-t', tag, context]);
    };
    for (const [index, lines] of [
      ['FROM users-abs', 'USER hostonly', 'RUN echo "ran$(true) as $(id -u)"'],
      ['FROM users-up', 'USER 0:hostonly', 'RUN echo "ran$(true) as $(id -g)"'],
      ['FROM etc-abs', 'USER hostonly', 'RUN echo "ran$(true) as $(id -u)"'],
    ].entries()) {
      const result = build(index, lines, `user-${index}`);
      expect([lines, result.status]).not.toEqual([lines, 0]);
      expect(result.stderr).not.toContain('ran as');
      // BuildKit's words when the image's own file is missing: `unable to find user 0: invalid argument` for 0:GROUP.
      expect(result.stderr).toMatch(/unable to find (user|group) (hostonly|0)/);
    }
    // A name the image does not know is 0 to COPY --chown, as in BuildKit: never the host's 4242.
    for (const [index, lines] of [
      ['FROM users-abs', 'COPY --chown=hostonly file /file'],
      ['FROM users-up', 'COPY --chown=0:hostonly file /file'],
      ['FROM etc-abs', 'COPY --chown=hostonly:hostonly file /file'],
      // Inside the stage's root /dev/zero is nothing: the host's device is never read.
      ['FROM users-zero', 'COPY --chown=nobody file /file'],
    ].entries()) {
      const result = build(10 + index, lines, `chown-${index}`);
      expect([lines, result.status, result.stderr]).toEqual([lines, 0, expect.any(String)]);
      expect(tsbuild(['run', '--rm', `chown-${index}`, 'stat', '-c', '%u:%g', '/file'])).toMatchObject({ status: 0, stdout: '0:0\n' });
    }
  }, 120_000);
});
