import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookupUser, resolvePathInRoot, resolveUser } from '../../src/runtime/index.js';
import { codeOf } from '../helpers/error-code.js';

let dir: string;

async function rootfs(name: string, files: Readonly<Record<string, string>>, links: Readonly<Record<string, string>> = {}): Promise<string> {
  const root = join(dir, name);
  await mkdir(root, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
  for (const [path, target] of Object.entries(links)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await symlink(target, join(root, path));
  }
  return root;
}

const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\nsecond:x:1000:2000::/other:/bin/sh\nnohome:x:1200:1200:::/bin/sh\n';
const group = 'root:x:0:\nwheel:x:10:root,app\napp:x:1000:\nstaff:x:50:app\nteam:x:60:\n';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsbuild-user-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('resolveUser', () => {
  it('resolves names and numbers with docker rules', async () => {
    const root = await rootfs('plain', { 'etc/passwd': passwd, 'etc/group': group });
    // No user: root, with the groups listing root.
    expect(await resolveUser(root, '')).toEqual({ uid: 0, gid: 0, additionalGids: [10] });
    expect(await resolveUser(root, 'app')).toEqual({ uid: 1000, gid: 1000, additionalGids: [10, 50] });
    // A uid matches its first entry, with that entry's name for the groups.
    expect(await resolveUser(root, '1000')).toEqual({ uid: 1000, gid: 1000, additionalGids: [10, 50] });
    // An explicit group replaces the primary one and drops the listed ones.
    expect(await resolveUser(root, 'app:team')).toEqual({ uid: 1000, gid: 60, additionalGids: [] });
    expect(await resolveUser(root, 'app:60')).toEqual({ uid: 1000, gid: 60, additionalGids: [] });
    expect(await resolveUser(root, 'app:4242')).toEqual({ uid: 1000, gid: 4242, additionalGids: [] });
    // Numbers need no entry.
    expect(await resolveUser(root, '4000')).toEqual({ uid: 4000, gid: 0, additionalGids: [] });
    expect(await resolveUser(root, '4000:4001')).toEqual({ uid: 4000, gid: 4001, additionalGids: [] });
    expect(await lookupUser(root, 'app')).toMatchObject({ name: 'app', home: '/home/app' });
    expect(await lookupUser(root, 'nohome')).toMatchObject({ home: '/' });
    expect(await lookupUser(root, '4000')).toMatchObject({ home: '/' });
  });

  it("fails in docker's words for names that are not there", async () => {
    const root = await rootfs('words', { 'etc/passwd': passwd, 'etc/group': group });
    await expect(resolveUser(root, 'nosuch')).rejects.toThrow('unable to find user nosuch: no matching entries in passwd file');
    await expect(resolveUser(root, 'app:nosuch')).rejects.toThrow('unable to find group nosuch: no matching entries in group file');
    expect(await codeOf(resolveUser(root, 'nosuch'))).toBe('NOT_FOUND');
    await expect(resolveUser(root, '-1')).rejects.toThrow('uids and gids must be in range 0-2147483647');
    await expect(resolveUser(root, '0:2147483648')).rejects.toThrow('uids and gids must be in range 0-2147483647');
  });

  it('takes an image without passwd or group files as docker does', async () => {
    const root = await rootfs('empty', {});
    expect(await resolveUser(root, '')).toEqual({ uid: 0, gid: 0, additionalGids: [] });
    expect(await resolveUser(root, '1:2')).toEqual({ uid: 1, gid: 2, additionalGids: [] });
    await expect(resolveUser(root, 'app')).rejects.toThrow('unable to find user app: no matching entries in passwd file');
  });

  it('reads the files of the container even through symlinks that point out of it', async () => {
    // /etc is a link climbing far above the root, /etc/passwd an absolute link: both stay inside.
    const root = await rootfs('links', { 'real/etc/passwd-file': 'inside:x:7:7::/:/bin/sh\n', 'real/etc/group': 'seven:x:7:inside\n' }, { etc: '../../../../../../../real/etc', 'real/etc/passwd': '/etc/passwd-file' });
    expect(await resolveUser(root, 'inside')).toEqual({ uid: 7, gid: 7, additionalGids: [7] });
    // The host's own root entry is not seen.
    await expect(resolveUser(root, 'root')).rejects.toThrow('unable to find user root');
    expect(await resolvePathInRoot(root, '/etc/passwd')).toBe(join(root, 'real/etc/passwd-file'));
    expect(await resolvePathInRoot(root, '/../../etc/./missing/x')).toBe(join(root, 'real/etc/missing/x'));
  });

  it('gives up on symlink loops', async () => {
    const root = await rootfs('loop', {}, { 'etc/passwd': '/etc/other', 'etc/other': '/etc/passwd' });
    expect(await codeOf(resolveUser(root, 'x'))).toBe('UNSAFE_PATH');
  });
});
