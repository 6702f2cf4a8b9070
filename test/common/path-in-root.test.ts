import { chmod, chown, lstat, mkdir, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirInRoot, resolveInRoot, setXattr } from '../../src/common/index.js';
import { codeOf } from '../helpers/error-code.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

let dir: { path: string; cleanup: () => Promise<void> };
let root: string;
let outside: string;

beforeEach(async () => {
  dir = await temporaryDirectory();
  root = join(dir.path, 'root');
  outside = join(dir.path, 'outside');
  await mkdir(join(root, 'etc'), { recursive: true });
  await mkdir(join(root, 'usr/lib'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
});
afterEach(async () => dir.cleanup());

describe('resolveInRoot', () => {
  it('resolves plain paths, absolute or relative, to the host path', async () => {
    expect(await resolveInRoot(root, '/etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, 'etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/')).toBe(root);
    expect(await resolveInRoot(root, '')).toBe(root);
    expect(await resolveInRoot(root, './etc/./passwd')).toBe(join(root, 'etc/passwd'));
  });

  it('takes a link that goes, or becomes a directory, between its lstat and its readlink as it now is', async () => {
    // The visibility check runs between the two: the host changes the tree there.
    const swapOnce = (change: () => Promise<void>) => {
      let done = false;
      return async (relativePath: string) => {
        if (relativePath === 'swapped' && !done) {
          done = true;
          await change();
        }
        return true;
      };
    };
    await symlink(outside, join(root, 'swapped'));
    const gone = swapOnce(() => rm(join(root, 'swapped')));
    expect(await resolveInRoot(root, 'swapped/secret', { visible: gone })).toBe(join(root, 'swapped/secret'));
    await symlink(outside, join(root, 'swapped'));
    const directory = swapOnce(async () => {
      await rm(join(root, 'swapped'));
      await mkdir(join(root, 'swapped'));
      await symlink('/etc', join(root, 'swapped/inner'));
    });
    expect(await resolveInRoot(root, 'swapped/inner/passwd', { visible: directory })).toBe(join(root, 'etc/passwd'));
  });

  it('stops .. at the root', async () => {
    expect(await resolveInRoot(root, '../../../etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/usr/../../..')).toBe(root);
  });

  it('restarts absolute symlink targets at the root', async () => {
    await symlink('/etc', join(root, 'usr/lib/etc-link'));
    await symlink(outside, join(root, 'escape'));
    expect(await resolveInRoot(root, '/usr/lib/etc-link/passwd')).toBe(join(root, 'etc/passwd'));
    // The host directory OUTSIDE is read as a path inside the root, where it does not exist.
    expect(await resolveInRoot(root, '/escape/x')).toBe(join(root, outside, 'x'));
  });

  it('keeps relative symlinks that climb with .. inside the root', async () => {
    await symlink('../../../../../..', join(root, 'usr/lib/up'));
    await symlink('../../outside', join(root, 'etc/out'));
    expect(await resolveInRoot(root, '/usr/lib/up/etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/etc/out/file')).toBe(join(root, 'outside/file'));
  });

  it('refuses, when asked, a symlink that climbs above the root, and only that', async () => {
    await symlink('../../../../../..', join(root, 'usr/lib/up'));
    await symlink('../../outside', join(root, 'etc/out'));
    await symlink('/usr/../..', join(root, 'absolute-up'));
    await symlink('../etc', join(root, 'usr/etc-link'));
    await symlink('/etc', join(root, 'etc-abs'));
    for (const path of ['/usr/lib/up/etc/passwd', '/etc/out/file', '/absolute-up/x']) {
      expect(await codeOf(resolveInRoot(root, path, { refuseEscape: true })), path).toBe('UNSAFE_PATH');
    }
    // Links that stay inside, and `..` in the path itself (a chroot's `.` at the top), resolve.
    expect(await resolveInRoot(root, '/usr/etc-link/passwd', { refuseEscape: true })).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/etc-abs/passwd', { refuseEscape: true })).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/../etc/passwd', { refuseEscape: true })).toBe(join(root, 'etc/passwd'));
  });

  it('follows .. after a symlink from its target, as the kernel does', async () => {
    await symlink('/usr/lib', join(root, 'lib'));
    expect(await resolveInRoot(root, '/lib/../x')).toBe(join(root, 'usr/x'));
  });

  it('follows or keeps a final symlink as asked', async () => {
    await symlink('etc/passwd', join(root, 'pw'));
    expect(await resolveInRoot(root, '/pw')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/pw', { followFinal: false })).toBe(join(root, 'pw'));
    // A symlink in the middle is always followed.
    await symlink('/etc', join(root, 'e'));
    expect(await resolveInRoot(root, '/e/passwd', { followFinal: false })).toBe(join(root, 'etc/passwd'));
  });

  it('returns missing trailing components as written, and follows a symlink to a missing target', async () => {
    expect(await resolveInRoot(root, '/etc/missing/deeper/x')).toBe(join(root, 'etc/missing/deeper/x'));
    expect(await resolveInRoot(root, '/etc/missing/../passwd')).toBe(join(root, 'etc/passwd'));
    await symlink('/nowhere/file', join(root, 'dangling'));
    expect(await resolveInRoot(root, '/dangling')).toBe(join(root, 'nowhere/file'));
  });

  it('refuses symlink loops after 40 hops', async () => {
    await symlink('b', join(root, 'a'));
    await symlink('a', join(root, 'b'));
    expect(await codeOf(resolveInRoot(root, '/a/x'))).toBe('UNSAFE_PATH');
    // 40 hops are allowed.
    for (let index = 0; index < 40; index++) await symlink(index === 39 ? '/etc' : `/chain${index + 1}`, join(root, `chain${index}`));
    expect(await resolveInRoot(root, '/chain0/passwd')).toBe(join(root, 'etc/passwd'));
    await symlink('/chain0', join(root, 'chain-1'));
    expect(await codeOf(resolveInRoot(root, '/chain-1/passwd'))).toBe('UNSAFE_PATH');
  });
});

describe('mkdirInRoot', () => {
  it('makes missing directories with the mode and owner asked, and says which', async () => {
    const result = await mkdirInRoot(root, '/usr/local/share/x', { mode: 0o750, uid: 1234, gid: 5678 });
    expect(result.path).toBe(join(root, 'usr/local/share/x'));
    expect(result.created).toEqual([join(root, 'usr/local'), join(root, 'usr/local/share'), join(root, 'usr/local/share/x')]);
    for (const path of result.created) {
      const info = await stat(path);
      expect(info.mode & 0o7777).toBe(0o750);
      if (process.getuid?.() === 0) expect([info.uid, info.gid]).toEqual([1234, 5678]);
    }
    // Existing directories are left alone.
    expect((await stat(join(root, 'usr'))).mode & 0o777).not.toBe(0o750);
    expect((await mkdirInRoot(root, 'usr/local/share/x')).created).toEqual([]);
  });

  it('keeps the setgid bit and group a directory takes from a setgid parent, chowned or not', async () => {
    const shared = join(root, 'var/local');
    await mkdir(shared, { recursive: true });
    // Root may give it any group; another user one of its own.
    const group = process.getuid?.() === 0 ? 50 : (process.getgid?.() ?? 0);
    await chown(shared, process.getuid?.() ?? 0, group);
    await chmod(shared, 0o2775);
    const plain = await mkdirInRoot(root, '/var/local/a/b', { mode: 0o755 });
    for (const path of plain.created) {
      const info = await stat(path);
      expect(info.mode & 0o7777).toBe(0o2755);
      expect(info.gid).toBe(group);
    }
    const owned = await mkdirInRoot(root, '/var/local/owned', { mode: 0o755, uid: process.getuid?.() ?? 0, gid: group });
    expect((await stat(owned.path)).mode & 0o7777).toBe(0o2755);
    // Not below a setgid directory: the mode asked, exactly.
    expect((await stat((await mkdirInRoot(root, '/var/plain', { mode: 0o755 })).path)).mode & 0o7777).toBe(0o755);
  });

  it('leaves the mode a default ACL gave, unless asked for the exact mode', async () => {
    const shared = join(root, 'srv/acl');
    await mkdir(shared, { recursive: true });
    // A default ACL of owner rwx, group r-x, others nothing (the kernel's format: version 2, then
    // tag, permissions and id of each entry), as `setfacl -d -m u::rwx,g::rx,o::-` writes it.
    const acl = Buffer.alloc(4 + 3 * 8);
    acl.writeUInt32LE(2, 0);
    for (const [index, [tag, permissions]] of [[0x01, 7], [0x04, 5], [0x20, 0]].entries()) {
      acl.writeUInt16LE(tag ?? 0, 4 + index * 8);
      acl.writeUInt16LE(permissions ?? 0, 6 + index * 8);
      acl.writeUInt32LE(0xffffffff, 8 + index * 8);
    }
    setXattr(shared, 'system.posix_acl_default', acl);
    const made = await mkdirInRoot(root, '/srv/acl/a/b', { mode: 0o755 });
    for (const path of made.created) expect((await stat(path)).mode & 0o7777).toBe(0o750);
    expect((await stat((await mkdirInRoot(root, '/srv/acl/exact', { mode: 0o755, exactMode: true })).path)).mode & 0o7777).toBe(0o755);
  });

  it('makes directories through symlinks inside the root only', async () => {
    await symlink(outside, join(root, 'escape'));
    await symlink('../../../../outside', join(root, 'usr/up'));
    const viaAbsolute = await mkdirInRoot(root, '/escape/made');
    const viaRelative = await mkdirInRoot(root, '/usr/up/made');
    expect(viaAbsolute.path.startsWith(`${root}/`)).toBe(true);
    expect(viaRelative.path).toBe(join(root, 'outside/made'));
    expect(await readdir(outside)).toEqual([]);
    expect((await lstat(join(root, 'escape'))).isSymbolicLink()).toBe(true);
  });

  it('fails when a component is a file', async () => {
    expect(await codeOf(mkdirInRoot(root, '/etc/passwd/x'))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(mkdirInRoot(root, '/etc/passwd'))).toBe('INVALID_ARGUMENT');
  });
});
