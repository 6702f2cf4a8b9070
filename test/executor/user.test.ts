import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTsbuildError } from '../../src/common/index.js';
import { resolveChown, resolveUser } from '../../src/executor/user.js';
import { codeOf } from '../helpers/error-code.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

const passwd = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'app:x:1000:1001:App:/home/app:/bin/sh',
  'numbered:x:2000:2000::/:/bin/sh',
  '',
].join('\n');
const group = [
  'root:x:0:',
  '# a comment line',
  'daemon:x:1:',
  'appgroup:x:1001:',
  'audio:x:29:app,other',
  'video:x:44:other,app',
  'staff:x:50:',
  'self:x:1001:app',
  '',
].join('\n');

let dir: { path: string; cleanup: () => Promise<void> };
let rootfs: string;
let bare: string;

beforeEach(async () => {
  dir = await temporaryDirectory();
  rootfs = join(dir.path, 'rootfs');
  bare = join(dir.path, 'bare');
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await mkdir(bare);
  await writeFile(join(rootfs, 'etc/passwd'), passwd);
  await writeFile(join(rootfs, 'etc/group'), group);
});
afterEach(async () => dir.cleanup());

async function messageOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return '';
  } catch (error) {
    return isTsbuildError(error) ? error.message : String(error);
  }
}

describe('resolveUser', () => {
  it('resolves a name to its ids and supplementary groups, primary first', async () => {
    expect(await resolveUser(rootfs, 'app')).toEqual({ uid: 1000, gid: 1001, additionalGids: [29, 44, 1001] });
    expect(await resolveUser(rootfs, 'daemon')).toEqual({ uid: 1, gid: 1, additionalGids: [1] });
    expect(await resolveUser(rootfs, 'root')).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
  });

  it('resolves a numeric uid through passwd when it is there, else gid 0', async () => {
    expect(await resolveUser(rootfs, '1000')).toEqual({ uid: 1000, gid: 1001, additionalGids: [29, 44, 1001] });
    expect(await resolveUser(rootfs, '4242')).toEqual({ uid: 4242, gid: 0, additionalGids: [0] });

  });

  it('takes uid:gid as given, without reading the files and without supplementary groups', async () => {
    expect(await resolveUser(rootfs, '1000:50')).toEqual({ uid: 1000, gid: 50, additionalGids: [50] });
    expect(await resolveUser(bare, '7:8')).toEqual({ uid: 7, gid: 8, additionalGids: [8] });
    expect(await resolveUser(bare, 'root:root')).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
  });

  it('resolves name:group, name:gid and uid:group, with no supplementary groups', async () => {
    expect(await resolveUser(rootfs, 'app:staff')).toEqual({ uid: 1000, gid: 50, additionalGids: [50] });
    expect(await resolveUser(rootfs, 'app:77')).toEqual({ uid: 1000, gid: 77, additionalGids: [77] });
    expect(await resolveUser(rootfs, '1000:audio')).toEqual({ uid: 1000, gid: 29, additionalGids: [29] });
    expect(await resolveUser(rootfs, '31:audio')).toEqual({ uid: 31, gid: 29, additionalGids: [29] });
  });

  it('fails in docker words for a name the root does not know', async () => {
    expect(await messageOf(resolveUser(rootfs, 'nobody'))).toBe('unable to find user nobody: no matching entries in passwd file');
    expect(await codeOf(resolveUser(rootfs, 'nobody'))).toBe('NOT_FOUND');
    // Without the files, as BuildKit (a nil file that reads as EINVAL): all but uid:gid fail.
    expect(await messageOf(resolveUser(bare, 'app'))).toBe('unable to find user app: invalid argument');
    expect(await messageOf(resolveUser(bare, '4242'))).toBe('unable to find user 4242: invalid argument');
    expect(await messageOf(resolveUser(bare, 'root'))).toBe('unable to find user root: invalid argument');
    await mkdir(join(bare, 'etc'));
    await writeFile(join(bare, 'etc/passwd'), passwd);
    expect(await resolveUser(bare, '4242')).toEqual({ uid: 4242, gid: 0, additionalGids: [0] });
    expect(await messageOf(resolveUser(bare, 'app'))).toBe('unable to find groups for spec app: invalid argument');
    expect(await messageOf(resolveUser(bare, '4242:staff'))).toBe('unable to find groups for spec : invalid argument');
    expect(await messageOf(resolveUser(rootfs, 'app:nogroup'))).toBe('unable to find group nogroup: no matching entries in group file');
    expect(await codeOf(resolveUser(rootfs, '-1'))).toBe('INVALID_ARGUMENT');
  });

  it('reads /etc inside the root even through a symlink pointing out of it', async () => {
    const other = join(dir.path, 'other');
    await mkdir(join(other, 'etc'), { recursive: true });
    await writeFile(join(other, 'etc/passwd'), 'outsider:x:5:5::/:/bin/sh\n');
    // An absolute target is taken inside the root: /other/etc/passwd there, which does not exist.
    await symlink(join(other, 'etc'), join(bare, 'etc'));
    expect(await codeOf(resolveUser(bare, 'outsider'))).toBe('NOT_FOUND');
    await mkdir(join(bare, other, 'etc'), { recursive: true });
    await writeFile(join(bare, other, 'etc/passwd'), 'insider:x:6:6::/:/bin/sh\n');
    await writeFile(join(bare, other, 'etc/group'), 'insiders:x:6:\n');
    expect(await resolveUser(bare, 'insider')).toEqual({ uid: 6, gid: 6, additionalGids: [6] });
  });

  it('takes an empty user (`:group`, `:`) as the default uid 0, through its passwd entry when there is one', async () => {
    await writeFile(join(rootfs, 'etc/group'), `${group}wheel:x:10:root,app\n`);
    expect(await resolveUser(rootfs, ':50')).toEqual({ uid: 0, gid: 50, additionalGids: [50] });
    expect(await resolveUser(rootfs, ':staff')).toEqual({ uid: 0, gid: 50, additionalGids: [50] });
    // No group either: root's primary group and the groups listing root, as `USER root` gives.
    expect(await resolveUser(rootfs, ':')).toEqual({ uid: 0, gid: 0, additionalGids: [0, 10] });
    expect(await messageOf(resolveUser(bare, ':50'))).toBe('unable to find user 0: invalid argument');
    await mkdir(join(bare, 'etc'));
    await writeFile(join(bare, 'etc/passwd'), 'app:x:1000:1001::/:/bin/sh\n');
    await writeFile(join(bare, 'etc/group'), group);
    expect(await resolveUser(bare, ':staff')).toEqual({ uid: 0, gid: 50, additionalGids: [50] });
  });

  it('runs as root when no user is given', async () => {
    expect(await resolveUser(bare, '')).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
  });

  it('refuses a passwd that is not a regular file', async () => {
    await mkdir(join(bare, 'etc/passwd'), { recursive: true });
    expect(await codeOf(resolveUser(bare, 'app'))).toBe('INVALID_ARGUMENT');
  });
});

describe('resolveChown', () => {
  it('gives a user name its uid and primary group', async () => {
    expect(await resolveChown(rootfs, 'app')).toEqual({ uid: 1000, gid: 1001 });
  });

  it('gives a numeric uid alone the same number as gid', async () => {
    expect(await resolveChown(rootfs, '1000')).toEqual({ uid: 1000, gid: 1000 });
    expect(await resolveChown(bare, '33')).toEqual({ uid: 33, gid: 33 });
    expect(await resolveChown(bare, 'root')).toEqual({ uid: 0, gid: 0 });
  });

  it('lets a group, by name or id, replace the gid', async () => {
    expect(await resolveChown(rootfs, 'app:staff')).toEqual({ uid: 1000, gid: 50 });
    expect(await resolveChown(rootfs, 'app:9')).toEqual({ uid: 1000, gid: 9 });
    expect(await resolveChown(rootfs, '10:audio')).toEqual({ uid: 10, gid: 29 });
    expect(await resolveChown(bare, '10:20')).toEqual({ uid: 10, gid: 20 });
  });

  it('takes unknown names as BuildKit does, or fails when strict', async () => {
    expect(await resolveChown(rootfs, 'nobody')).toEqual({ uid: 0, gid: 0 });
    expect(await resolveChown(rootfs, '10:nogroup')).toEqual({ uid: 10, gid: 10 });
    expect(await resolveChown(bare, 'app:staff')).toEqual({ uid: 0, gid: 0 });
    expect(await codeOf(resolveChown(rootfs, 'nobody', { strict: true }))).toBe('NOT_FOUND');
    expect(await codeOf(resolveChown(rootfs, '10:nogroup', { strict: true }))).toBe('NOT_FOUND');
  });

  it('takes an empty user part as uid 0, strict or not', async () => {
    expect(await resolveChown(rootfs, ':staff', { strict: true })).toEqual({ uid: 0, gid: 50 });
    expect(await resolveChown(bare, ':7')).toEqual({ uid: 0, gid: 7 });
  });

  it('refuses a name, but not an id, root or an empty part, in an empty scratch stage, as BuildKit does', async () => {
    for (const spec of ['app', 'app:staff', '10:staff', ':staff', 'nobody']) {
      expect(await messageOf(resolveChown(bare, spec, { emptyRoot: true }))).toMatch(/^invalid user index: -1 /);
    }
    expect(await resolveChown(bare, '10:20', { emptyRoot: true })).toEqual({ uid: 10, gid: 20 });
    expect(await resolveChown(bare, 'root:root', { emptyRoot: true })).toEqual({ uid: 0, gid: 0 });
    expect(await resolveChown(bare, ':7', { emptyRoot: true })).toEqual({ uid: 0, gid: 7 });
    expect(await resolveChown(bare, '33', { emptyRoot: true })).toEqual({ uid: 33, gid: 33 });
  });
});
