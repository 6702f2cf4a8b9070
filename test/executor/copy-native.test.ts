/**
 * COPY's small files through tsbuild-context.node's copyFiles (on the thread pool) against the
 * main thread's copy of the same sources, which is what runs where the addon does not load: the
 * two must make the same tree, to the owner, mode bit, nanosecond, xattr and hard link; and
 * copyFiles itself refuses a source that is no longer the walked file or ends early.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { chmod, chown, link, lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openContext } from '../../src/cache/index.js';
import { loadContextAddon, readXattrs, setExactTimes, setXattr, type ContextAddon } from '../../src/common/index.js';
import { copyInto, type CopyRequest } from '../../src/executor/copy.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

const root = process.getuid?.() === 0;
const addon = loadContextAddon().module;
let dir: { path: string; cleanup: () => Promise<void> };

beforeEach(async () => {
  dir = await temporaryDirectory();
});

afterEach(async () => {
  await dir.cleanup();
});

function request(overrides: Partial<CopyRequest>): CopyRequest {
  return { sources: ['.'], contents: [], dest: '/app/', workdir: '/', parents: false, exclude: [], add: false, ...overrides };
}

/** Every entry under BASE: type, mode, owner, nanosecond times, link count and inode group, content or target, xattrs. */
async function record(base: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  const inodes = new Map<bigint, string>();
  async function walk(relative: string): Promise<void> {
    for (const name of (await readdir(join(base, relative))).sort()) {
      const path = relative === '' ? name : `${relative}/${name}`;
      const info = await lstat(join(base, path), { bigint: true });
      const first = inodes.get(info.ino) ?? path;
      inodes.set(info.ino, first);
      const xattrs = info.isSymbolicLink() ? '' : [...readXattrs(join(base, path))].map(([key, value]) => `${key}=${value.toString('hex')}`).join(',');
      const what = info.isDirectory() ? 'dir' : info.isSymbolicLink() ? `-> ${await readlink(join(base, path))}` : `file ${createHash('sha256').update(await readFile(join(base, path))).digest('hex')}`;
      // The directory a context's root is merged into takes the copy's time.
      const mtime = relative === '' ? 'now' : info.mtimeNs;
      result[path] = `${what} ${(info.mode & 0o7777n).toString(8)} ${info.uid}:${info.gid} mtime ${mtime} links ${info.nlink} first ${first} xattrs ${xattrs}`;
      if (info.isDirectory()) await walk(path);
    }
  }
  await walk('');
  return result;
}

describe.skipIf(addon === undefined)('copyFiles (tsbuild-context.node)', () => {
  async function makeSources(base: string): Promise<void> {
    await mkdir(join(base, 'sub', 'deep'), { recursive: true });
    await writeFile(join(base, 'plain.txt'), 'plain\n');
    await writeFile(join(base, 'empty'), '');
    await writeFile(join(base, 'sub', 'tool'), '#!/bin/sh\necho tool\n');
    await chmod(join(base, 'sub', 'tool'), 0o755);
    await writeFile(join(base, 'sub', 'setid'), 'setid');
    await chmod(join(base, 'sub', 'setid'), 0o6755);
    await writeFile(join(base, 'sub', 'deep', 'private'), 'private');
    await chmod(join(base, 'sub', 'deep', 'private'), 0o600);
    await writeFile(join(base, 'sub', 'deep', 'large.bin'), Buffer.alloc(200 * 1024, 7));
    await link(join(base, 'plain.txt'), join(base, 'sub', 'plain-link'));
    await symlink('../plain.txt', join(base, 'sub', 'to-plain'));
    setXattr(join(base, 'plain.txt'), 'user.note', Buffer.from('kept'));
    if (root) {
      await chown(join(base, 'sub', 'tool'), 1234, 5678);
      // A file capability (cap_net_bind_service=ep), which a copy from a context drops and one from a stage keeps.
      execFileSync('setcap', ['cap_net_bind_service=ep', join(base, 'sub', 'deep', 'private')]);
    }
    // Before 1970 and to the nanosecond: the times go through as they are.
    setExactTimes(join(base, 'sub', 'deep', 'private'), -86_400_000_000_123n, -86_400_000_000_123n);
    setExactTimes(join(base, 'plain.txt'), 1_600_000_000_123_456_789n, 1_600_000_000_987_654_321n);
  }

  const cases: Array<{ name: string; overrides: Partial<CopyRequest> }> = [
    { name: 'as they are', overrides: {} },
    { name: 'with --chown', overrides: { chown: { uid: 1000, gid: 1000 } } },
    { name: 'with --chmod', overrides: { chmod: 0o640 } },
  ];
  for (const { name, overrides } of cases) {
    it(`copies a context ${name} as the main thread does`, async () => {
      const context = join(dir.path, 'context');
      await makeSources(context);
      const byAddon = join(dir.path, 'by-addon');
      const byMainThread = join(dir.path, 'by-main-thread');
      await mkdir(byAddon);
      await mkdir(byMainThread);
      const native = addon as ContextAddon;
      let batches = 0;
      const counted: ContextAddon = { ...native, copyFiles: (...args) => (batches++, native.copyFiles(...args)) };
      await copyInto({ kind: 'context', context: { ...(await openContext(context)), nativeListing: counted } }, byAddon, request(overrides));
      expect(batches).toBe(1);
      await copyInto({ kind: 'context', context: await openContext(context, { withoutContextAddon: true }) }, byMainThread, request(overrides));
      const made = await record(byAddon);
      expect(made).toEqual(await record(byMainThread));
      expect(made['app/plain.txt']).toContain('user.note=6b657074');
      expect(made['app/sub/plain-link']).toContain('first app/plain.txt');
      expect(made['app/sub/deep/private']).toContain('mtime -86400000000123');
      expect(made['app/sub/deep/private']).not.toContain('security.capability');
      if (root && overrides.chmod === undefined) expect(made['app/sub/setid']).toMatch(/^file \S+ 6755 /);
    });
  }

  it.skipIf(!root)('copies a stage root filesystem with its owners and file capabilities, as the main thread does', async () => {
    const stage = join(dir.path, 'stage');
    await makeSources(stage);
    const byAddon = join(dir.path, 'by-addon');
    await mkdir(byAddon);
    await copyInto({ kind: 'rootfs', dir: stage }, byAddon, request({}));
    const made = await record(byAddon);
    expect(made['app/sub/tool']).toContain(' 755 1234:5678 ');
    expect(made['app/sub/deep/private']).toContain('security.capability=');
  });

  it('copies --parents pivots that name one destination, small files and large, as the main thread does: the last one wins', async () => {
    const context = join(dir.path, 'context');
    await mkdir(join(context, 'a'), { recursive: true });
    await mkdir(join(context, 'b'));
    await writeFile(join(context, 'a', 'x'), 'from a\n');
    await writeFile(join(context, 'b', 'x'), 'from b\n');
    // Large files too, which are copied on the thread pool either way.
    await writeFile(join(context, 'a', 'big'), Buffer.alloc(300 * 1024, 'a'));
    await writeFile(join(context, 'b', 'big'), Buffer.alloc(300 * 1024, 'b'));
    for (const [out, options] of [['by-addon', {}], ['by-main-thread', { withoutContextAddon: true }]] as const) {
      await mkdir(join(dir.path, out));
      await copyInto({ kind: 'context', context: await openContext(context, options) }, join(dir.path, out), request({ sources: ['*/./x', '*/./big'], dest: '/dest/', parents: true }));
      expect(await readFile(join(dir.path, out, 'dest', 'x'), 'utf8')).toBe('from b\n');
      expect((await readFile(join(dir.path, out, 'dest', 'big'))).equals(Buffer.alloc(300 * 1024, 'b'))).toBe(true);
    }
  });

  it('refuses a source that is no longer the walked file, or that ends before its walked size, and reports a destination it cannot write like Node', async () => {
    const source = join(dir.path, 'source');
    await writeFile(source, 'x'.repeat(1000));
    const walked = await lstat(source, { bigint: true });
    const fields = (size = walked.size): BigInt64Array => BigInt64Array.from([walked.ino, walked.dev, size, 0o644n, -1n, 0n, -1n, walked.atimeNs, walked.mtimeNs, 1n]);
    const copy = (destination: string, size?: bigint): ReturnType<NonNullable<typeof addon>['copyFiles']> => (addon as NonNullable<typeof addon>).copyFiles([source], [destination], fields(size));

    const whole = await copy(join(dir.path, 'whole'));
    expect([...whole.codes]).toEqual([0]);
    expect(await readFile(join(dir.path, 'whole'), 'utf8')).toBe('x'.repeat(1000));
    expect((await lstat(join(dir.path, 'whole'), { bigint: true })).mtimeNs).toBe(walked.mtimeNs);

    // Bytes appended after the walk are left out.
    await writeFile(source, 'y'.repeat(10), { flag: 'a' });
    await copy(join(dir.path, 'appended'));
    expect((await readFile(join(dir.path, 'appended'))).length).toBe(1000);

    await truncate(source, 300);
    const cut = await copy(join(dir.path, 'cut'));
    expect([...cut.codes, ...cut.copied]).toEqual([-2, 300]);

    const taken = await copy(join(dir.path, 'whole'));
    expect(taken.codes[0]).toBe(17);
    expect(taken.errors[0]).toMatchObject({ code: 'EEXIST', syscall: 'open', path: join(dir.path, 'whole') });

    // The same name, another file: the walk saw another inode.
    await writeFile(`${source}.new`, 'x'.repeat(1000));
    await rename(`${source}.new`, source);
    expect([...(await copy(join(dir.path, 'replaced'))).codes]).toEqual([-1]);
    // A link where the file was is never followed.
    await rm(source);
    await symlink(join(dir.path, 'whole'), source);
    expect([...(await copy(join(dir.path, 'linked'))).codes]).toEqual([-1]);
    await expect(lstat(join(dir.path, 'linked'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('fails a COPY whose small file was replaced after the walk with the main thread\'s error', async () => {
    const context = join(dir.path, 'context');
    await mkdir(context);
    for (let i = 0; i < 20; i++) await writeFile(join(context, `f${i}`), `file ${i}\n`);
    const opened = await openContext(context);
    // Asked of each file the walk found as its copy is set up: f5 is replaced then, so the
    // batch finds another file at its name.
    let replaced = false;
    const source = {
      ...opened,
      contentWithheld: (relative: string): boolean => {
        if (!replaced && relative === 'f5') {
          replaced = true;
          // Made before the old one goes, so that it cannot take the freed inode.
          writeFileSync(join(context, 'f5.new'), 'another\n');
          renameSync(join(context, 'f5.new'), join(context, 'f5'));
        }
        return false;
      },
    };
    await mkdir(join(dir.path, 'out'));
    await expect(copyInto({ kind: 'context', context: source }, join(dir.path, 'out'), request({}))).rejects.toThrow('copy f5: not found: the file changed since the source was read');
    expect(replaced).toBe(true);
  });
});
