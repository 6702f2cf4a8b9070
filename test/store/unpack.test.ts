import { lstat, mkdir, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { pack } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTsbuildError, readXattrs } from '../../src/common/index.js';
import { encodeHeader, endOfArchive, padding } from '../../src/exporter/tar.js';
import { unpackLayer } from '../../src/store/index.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';
import { codeOf } from '../helpers/error-code.js';

interface TarItem {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  readonly linkname?: string;
  readonly content?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly mtime?: Date;
}

/** A tar written entry by entry as given: hostile names and orders included. */
async function makeTar(items: readonly TarItem[]): Promise<Buffer> {
  const packer = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of packer) chunks.push(chunk as Buffer);
  })();
  for (const item of items) {
    const type = item.type ?? 'file';
    await new Promise<void>((resolve, reject) => {
      const header = {
        name: item.name,
        type,
        mode: item.mode ?? (type === 'directory' ? 0o755 : 0o644),
        uid: item.uid ?? 0,
        gid: item.gid ?? 0,
        mtime: item.mtime ?? new Date(1_000_000_000_000),
        ...(item.linkname === undefined ? {} : { linkname: item.linkname }),
        ...(type === 'character-device' ? { devmajor: 1, devminor: 3 } : {}),
      };
      if (type === 'file') packer.entry(header, item.content ?? '', (error) => (error ? reject(error) : resolve()));
      else {
        packer.entry(header, (error) => (error ? reject(error) : resolve()));
      }
    });
  }
  packer.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Every path under DIR except SKIP, with type, size and content, to prove nothing changed there. */
async function snapshot(dir: string, skip: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  async function walk(path: string): Promise<void> {
    for (const name of (await readdir(path)).sort()) {
      const child = join(path, name);
      if (child === skip) continue;
      const info = await lstat(child);
      if (info.isDirectory()) {
        result[child] = `dir ${info.mode}`;
        await walk(child);
      } else if (info.isSymbolicLink()) result[child] = `link ${await readlink(child)}`;
      else result[child] = `file ${info.mode} ${info.nlink} ${await readFile(child, 'utf8')}`;
    }
  }
  await walk(dir);
  return result;
}


const isRoot = process.getuid?.() === 0;

describe('unpackLayer', () => {
  let sandbox: string;
  let target: string;
  let outside: string;
  let cleanup: () => Promise<void>;
  let before: Record<string, string>;

  beforeEach(async () => {
    ({ path: sandbox, cleanup } = await temporaryDirectory());
    target = join(sandbox, 'target');
    outside = join(sandbox, 'outside');
    await mkdir(target);
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'untouched');
    await mkdir(join(outside, 'sub'), { mode: 0o700 });
    before = await snapshot(sandbox, target);
  });

  afterEach(async () => {
    // Whatever the tar held, nothing outside the target changed.
    expect(await snapshot(sandbox, target)).toEqual(before);
    await cleanup();
  });

  const unpack = async (items: readonly TarItem[], root?: boolean): Promise<Awaited<ReturnType<typeof unpackLayer>>> =>
    unpackLayer(Readable.from([await makeTar(items)]), target, root === undefined ? {} : { root });

  it('refuses names with ..', async () => {
    expect(await codeOf(unpack([{ name: '../outside/secret', content: 'pwned' }]))).toBe('UNSAFE_PATH');
    expect(await codeOf(unpack([{ name: 'a/../../outside/new', content: 'pwned' }]))).toBe('UNSAFE_PATH');
  });

  it('cleans names whose .. stays inside, and an absolute name’s .. at the root, as moby’s untar does', async () => {
    await unpack([
      { name: 'x/', type: 'directory' },
      { name: 'x/../y', content: 'y' },
      { name: './z/./w', content: 'w' },
      { name: '/../top', content: 't' },
    ]);
    expect(await readFile(join(target, 'y'), 'utf8')).toBe('y');
    expect(await readFile(join(target, 'z/w'), 'utf8')).toBe('w');
    expect(await readFile(join(target, 'top'), 'utf8')).toBe('t');
  });

  it('sets a time before 1970 as the epoch, but a symlink’s as it is, as moby’s untar does', async () => {
    const mtime = Date.UTC(1969, 0, 1) / 1000;
    const tar = Buffer.concat([
      encodeHeader({ path: 'old', type: 'file', size: 1, mode: 0o644, uid: 0, gid: 0, mtime }),
      Buffer.from('o'),
      padding(1),
      encodeHeader({ path: 'old-dir', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime }),
      encodeHeader({ path: 'old-link', type: 'symlink', linkname: 'old', mode: 0o777, uid: 0, gid: 0, mtime }),
      endOfArchive,
    ]);
    await unpackLayer(Readable.from([tar]), target);
    expect((await stat(join(target, 'old'))).mtimeMs).toBe(0);
    expect((await stat(join(target, 'old-dir'))).mtimeMs).toBe(0);
    expect((await lstat(join(target, 'old-link'))).mtimeMs).toBe(mtime * 1000);
  });

  it('sets a time past what nanoseconds in an int64 hold (2262) as the epoch, a symlink’s too, instead of failing the layer', async () => {
    const far = '9007199254740993';
    const tar = Buffer.concat([
      encodeHeader({ path: 'far', type: 'file', size: 1, mode: 0o644, uid: 0, gid: 0, mtime: 0, pax: { mtime: far } }),
      Buffer.from('f'),
      padding(1),
      encodeHeader({ path: 'far-dir', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, pax: { mtime: far } }),
      encodeHeader({ path: 'far-link', type: 'symlink', linkname: 'far', mode: 0o777, uid: 0, gid: 0, mtime: 0, pax: { mtime: `-${far}` } }),
      endOfArchive,
    ]);
    await unpackLayer(Readable.from([tar]), target);
    expect((await stat(join(target, 'far'))).mtimeMs).toBe(0);
    expect((await stat(join(target, 'far-dir'))).mtimeMs).toBe(0);
    expect((await lstat(join(target, 'far-link'))).mtimeMs).toBe(0);
  });

  it('takes absolute names relative to the target', async () => {
    await unpack([{ name: `${outside}/secret`, content: 'inside' }, { name: '/etc/hostname', content: 'box' }]);
    expect(await readFile(join(target, outside, 'secret'), 'utf8')).toBe('inside');
    expect(await readFile(join(target, 'etc/hostname'), 'utf8')).toBe('box');
  });

  it('does not follow a planted relative symlink out of the target', async () => {
    await unpack([
      { name: 'escape', type: 'symlink', linkname: '../outside' },
      { name: 'escape/secret', content: 'pwned' },
      { name: 'escape/new', content: 'pwned' },
    ]);
    expect(await readlink(join(target, 'escape'))).toBe('../outside');
    // Followed as a chroot would: `..` stops at the target.
    expect(await readFile(join(target, 'outside/secret'), 'utf8')).toBe('pwned');
  });

  it('does not follow a planted absolute symlink out of the target', async () => {
    await unpack([
      { name: 'abs', type: 'symlink', linkname: outside },
      { name: 'abs/secret', content: 'pwned' },
      { name: 'root', type: 'symlink', linkname: '/' },
      { name: 'root/outside-file', content: 'pwned' },
    ]);
    expect(await readlink(join(target, 'abs'))).toBe(outside);
    expect(await readFile(join(target, outside, 'secret'), 'utf8')).toBe('pwned');
    expect(await readFile(join(target, 'outside-file'), 'utf8')).toBe('pwned');
  });

  it('refuses hard links that lead outside, directly or through a symlink', async () => {
    expect(await codeOf(unpack([{ name: 'hl', type: 'link', linkname: '../outside/secret' }]))).toBe('UNSAFE_PATH');
    expect(await codeOf(unpack([{ name: 'hl', type: 'link', linkname: `${outside}/secret` }]))).toBe('UNSAFE_PATH');
    expect(await codeOf(unpack([{ name: 'evil', type: 'symlink', linkname: outside }, { name: 'hl2', type: 'link', linkname: 'evil/secret' }]))).toBe('UNSAFE_PATH');
    expect((await stat(join(outside, 'secret'))).nlink).toBe(1);
  });

  it('makes hard links inside the layer', async () => {
    await unpack([{ name: 'a', content: 'same' }, { name: 'b', type: 'link', linkname: 'a' }]);
    expect((await stat(join(target, 'a'))).ino).toBe((await stat(join(target, 'b'))).ino);
  });

  it('gives a hard link’s target the link header’s owner, mode and time, as moby’s untar does', async () => {
    await unpack([
      { name: 'a', content: 'same', mode: 0o600, uid: 5, gid: 6, mtime: new Date(1_000_000_000_000) },
      { name: 'b', type: 'link', linkname: 'a', mode: 0o640, uid: 7, gid: 8, mtime: new Date(1_100_000_000_000) },
    ]);
    const info = await stat(join(target, 'a'));
    expect([info.mode & 0o7777, info.mtimeMs]).toEqual([0o640, 1_100_000_000_000]);
    if (isRoot) expect([info.uid, info.gid]).toEqual([7, 8]);
  });

  it('refuses a symlink named .', async () => {
    expect(await codeOf(unpack([{ name: '.', type: 'symlink', linkname: outside }]))).toBe('UNSAFE_PATH');
    expect(await codeOf(unpack([{ name: './', type: 'symlink', linkname: '/' }, { name: 'x', content: 'pwned' }]))).toBe('UNSAFE_PATH');
    expect((await lstat(target)).isDirectory()).toBe(true);
  });

  it('makes no device node without privilege, but makes fifos', async () => {
    const result = await unpack([{ name: 'dev/null', type: 'character-device' }, { name: 'pipe', type: 'fifo', mode: 0o640 }, { name: 'ok', content: 'yes' }], false);
    expect(result.skipped.map((entry) => entry.path)).toEqual(['dev/null']);
    await expect(lstat(join(target, 'dev/null'))).rejects.toThrow();
    const pipe = await lstat(join(target, 'pipe'));
    expect(pipe.isFIFO()).toBe(true);
    expect(pipe.mode & 0o7777).toBe(0o640);
    expect(await readFile(join(target, 'ok'), 'utf8')).toBe('yes');
  });

  it.skipIf(!isRoot)('makes device nodes and fifos as root, with their numbers, modes, owners and times', async () => {
    const mtime = 1_600_000_000;
    const layer = Buffer.concat([
      encodeHeader({ path: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666, uid: 0, gid: 0, mtime }),
      encodeHeader({ path: 'dev/loop9', type: 'block-device', devmajor: 7, devminor: 9, mode: 0o660, uid: 0, gid: 6, mtime }),
      encodeHeader({ path: 'run/pipe', type: 'fifo', mode: 0o4620, uid: 1000, gid: 1001, mtime }),
      endOfArchive,
    ]);
    const result = await unpackLayer(Readable.from([layer]), target, { root: true });
    expect(result.skipped).toEqual([]);
    const devnull = await lstat(join(target, 'dev/null'));
    expect([devnull.isCharacterDevice(), devnull.rdev, devnull.mode & 0o7777, devnull.mtimeMs]).toEqual([true, 0x103, 0o666, mtime * 1000]);
    const loop = await lstat(join(target, 'dev/loop9'));
    expect([loop.isBlockDevice(), loop.rdev, loop.mode & 0o7777, loop.gid]).toEqual([true, 0x709, 0o660, 6]);
    const pipe = await lstat(join(target, 'run/pipe'));
    expect([pipe.isFIFO(), pipe.mode & 0o7777, pipe.uid, pipe.gid]).toEqual([true, 0o4620, 1000, 1001]);
  });

  it('sets extended attributes from PAX records, binary values unchanged', async () => {
    const capability = Buffer.from('0100000200200000000000000000000000000000', 'hex');
    const binary = Buffer.from(Array.from({ length: 256 }, (_, index) => index));
    const file = Buffer.from('ping');
    const xattrs = { 'SCHILY.xattr.user.binary': binary, 'SCHILY.xattr.user.text': 'héllo' };
    const layer = Buffer.concat([
      encodeHeader({ path: 'dir', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, pax: xattrs }),
      encodeHeader({ path: 'dir/ping', type: 'file', size: file.length, mode: 0o755, uid: 0, gid: 0, mtime: 0, pax: { ...xattrs, ...(isRoot ? { 'SCHILY.xattr.security.capability': capability } : {}) } }),
      file,
      padding(file.length),
      // user.* attributes are not allowed on symlinks: noted as skipped, not fatal.
      encodeHeader({ path: 'dir/link', type: 'symlink', linkname: 'ping', mode: 0o777, uid: 0, gid: 0, mtime: 0, pax: { 'SCHILY.xattr.user.text': 'x' } }),
      endOfArchive,
    ]);
    const result = await unpackLayer(Readable.from([layer]), target);
    for (const path of ['dir', 'dir/ping']) {
      const attributes = readXattrs(join(target, path));
      expect(attributes.get('user.binary'), path).toEqual(binary);
      expect(attributes.get('user.text')?.toString(), path).toBe('héllo');
    }
    if (isRoot) expect(readXattrs(join(target, 'dir/ping')).get('security.capability')).toEqual(capability);
    expect(await readFile(join(target, 'dir/ping'), 'utf8')).toBe('ping');
    expect(result.skipped).toEqual([{ path: 'dir/link', reason: 'xattr user.text (EPERM)' }]);
  });

  it('replaces duplicate entries without writing through an earlier symlink', async () => {
    await unpack([
      { name: 'dup', content: 'first' },
      { name: 'dup', type: 'symlink', linkname: `${outside}/secret` },
      { name: 'dup', content: 'last' },
      { name: 'through', type: 'symlink', linkname: `${outside}/secret` },
      { name: 'through', content: 'replaced' },
      { name: 'dir', type: 'directory' },
      { name: 'dir/x', content: 'x' },
      { name: 'dir', content: 'now a file' },
    ]);
    expect(await readFile(join(target, 'dup'), 'utf8')).toBe('last');
    expect((await lstat(join(target, 'through'))).isFile()).toBe(true);
    expect(await readFile(join(target, 'through'), 'utf8')).toBe('replaced');
    expect(await readFile(join(target, 'dir'), 'utf8')).toBe('now a file');
  });

  it('never applies a directory mode through a symlink that replaced it later', async () => {
    await unpack([
      { name: 'd', type: 'directory', mode: 0o777 },
      { name: 'd/sub', type: 'directory', mode: 0o777, mtime: new Date(0) },
      { name: 'd', type: 'symlink', linkname: outside },
    ]);
    expect(await readlink(join(target, 'd'))).toBe(outside);
  });

  it('applies whiteouts and opaque directories to the layers below', async () => {
    await unpack([
      { name: 'f', content: 'lower' },
      { name: 'keep', content: 'lower' },
      { name: 'd', type: 'directory' },
      { name: 'd/a', content: 'a' },
      { name: 'd/sub', type: 'directory' },
      { name: 'd/sub/deep', content: 'deep' },
    ]);
    await unpack([
      { name: '.wh.f', content: '' },
      { name: 'd', type: 'directory' },
      { name: 'd/.wh..wh..opq', content: '' },
      { name: 'd/c', content: 'upper' },
      { name: 'd/sub', type: 'directory' },
      { name: 'd/sub/new', content: 'new' },
    ]);
    expect((await readdir(target)).sort()).toEqual(['d', 'keep']);
    expect((await readdir(join(target, 'd'))).sort()).toEqual(['c', 'sub']);
    expect(await readdir(join(target, 'd/sub'))).toEqual(['new']);
  });

  it('applies whiteouts and opaque directories to names that are not UTF-8, by their bytes', async () => {
    // Written by the layer writer, which keeps a name's bytes (tar-stream would write U+FFFD).
    const layer = (entries: ReadonlyArray<{ path: string; directory?: boolean }>): Readable =>
      Readable.from([
        Buffer.concat([
          ...entries.flatMap(({ path, directory }) =>
            directory === true
              ? [encodeHeader({ path, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1 })]
              : [encodeHeader({ path, type: 'file', size: 1, mode: 0o644, uid: 0, gid: 0, mtime: 1 }), Buffer.from('x'), padding(1)],
          ),
          endOfArchive,
        ]),
      ]);
    const names = async (path: string): Promise<string[]> => (await readdir(Buffer.from(join(target, path), 'latin1'), { encoding: 'buffer' })).map((name) => name.toString('latin1')).sort();
    await unpackLayer(layer([{ path: 'd', directory: true }, { path: 'd/a\udce9' }, { path: 'gone\udcff' }, { path: 'l\udce9' }]), target);
    expect(await names('')).toEqual(['d', 'gone\xff', 'l\xe9']);
    expect(await names('d')).toEqual(['a\xe9']);
    await unpackLayer(layer([{ path: '.wh.gone\udcff' }, { path: 'd', directory: true }, { path: 'd/.wh..wh..opq' }, { path: 'd/c\udce9' }]), target);
    expect(await names('')).toEqual(['d', 'l\xe9']);
    expect(await names('d')).toEqual(['c\xe9']);
  });

  it('writes .wh. names as files when whiteouts are off (an archive ADD unpacks)', async () => {
    await unpack([{ name: 'f', content: 'lower' }, { name: 'd', type: 'directory' }, { name: 'd/a', content: 'a' }]);
    await unpackLayer(Readable.from(await makeTar([{ name: '.wh.f', content: '' }, { name: 'd/.wh..wh..opq', content: '' }])), target, { whiteouts: false });
    expect((await readdir(target)).sort()).toEqual(['.wh.f', 'd', 'f']);
    expect((await readdir(join(target, 'd'))).sort()).toEqual(['.wh..wh..opq', 'a']);
  });

  it('never empties a directory outside through an opaque marker whose directory became a symlink', async () => {
    await unpack([
      { name: 'o', type: 'directory' },
      { name: 'o/.wh..wh..opq', content: '' },
      { name: 'o', type: 'symlink', linkname: outside },
    ]);
    expect(await readlink(join(target, 'o'))).toBe(outside);
  });

  it('writes nothing outside the target for any sequence of hostile entries (property)', async () => {
    const component = fc.oneof({ arbitrary: fc.constantFrom('a', 'sub', 'secret'), weight: 6 }, { arbitrary: fc.constantFrom('..', '.', '', '.wh.a', '.wh.secret', '.wh..wh..opq'), weight: 1 });
    const name = fc.tuple(fc.boolean(), fc.array(component, { minLength: 1, maxLength: 3 })).map(([absolute, parts]) => `${absolute ? '/' : ''}${parts.join('/')}`);
    const linkTarget = fc.constantFrom(outside, `${outside}/sub`, `${outside}/secret`, '/', '..', '../..', '../outside', 'a', '.', 'a/b');
    const item = fc.oneof(
      fc.record({ name, type: fc.constant('file' as const), content: fc.constantFrom('x', 'pwned') }),
      fc.record({ name, type: fc.constant('directory' as const), mode: fc.constantFrom(0o777, 0o555, 0o700) }),
      fc.record({ name, type: fc.constant('symlink' as const), linkname: linkTarget }),
      fc.record({ name, type: fc.constant('link' as const), linkname: fc.oneof(name, linkTarget) }),
      // Made with mknod, as root a device too: no more able to escape than a file.
      fc.record({ name, type: fc.constantFrom('fifo' as const, 'character-device' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(item, { minLength: 1, maxLength: 8 }), async (items) => {
        await rm(target, { recursive: true, force: true });
        await mkdir(target);
        try {
          await unpack(items);
        } catch (error) {
          // Refusing is fine; failing any other way is not.
          if (!isTsbuildError(error)) throw error;
        }
        expect(await snapshot(sandbox, target)).toEqual(before);
      }),
      { numRuns: 300 },
    );
  }, 60_000);

  it('resolves whiteouts inside the target too', async () => {
    await unpack([{ name: 'lnk', type: 'symlink', linkname: outside }, { name: 'lnk/.wh.secret', content: '' }]);
    expect(await readlink(join(target, 'lnk'))).toBe(outside);
  });

  it('unpacks a legitimate layer unchanged: absolute and deep .. symlinks, modes, owners, times', async () => {
    const mtime = new Date(1_234_567_890_000);
    await unpack([
      { name: 'bin', type: 'directory', mode: 0o755, mtime },
      { name: 'bin/busybox', content: '#!', mode: 0o4755, uid: 0, gid: 0, mtime },
      { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox', mtime },
      { name: 'usr/lib/a/b', type: 'symlink', linkname: '../../../../../../lib/b' },
      { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
      { name: 'lib/libc.so', content: 'elf' },
      { name: 'home/user/file', content: 'mine', mode: 0o600, uid: 1000, gid: 1001 },
      { name: 'ro', type: 'directory', mode: 0o555 },
      { name: 'ro/child', content: 'written before the mode applies' },
      { name: 'tmp', type: 'directory', mode: 0o1777 },
    ], isRoot);
    expect(await readlink(join(target, 'bin/sh'))).toBe('/bin/busybox');
    expect(await readlink(join(target, 'usr/lib/a/b'))).toBe('../../../../../../lib/b');
    expect(await readFile(join(target, 'usr/lib/libc.so'), 'utf8')).toBe('elf');
    expect((await stat(join(target, 'bin/busybox'))).mode & 0o7777).toBe(0o4755);
    expect((await stat(join(target, 'bin'))).mtime.getTime()).toBe(mtime.getTime());
    expect((await lstat(join(target, 'bin/sh'))).mtime.getTime()).toBe(mtime.getTime());
    const owned = await stat(join(target, 'home/user/file'));
    expect(owned.mode & 0o777).toBe(0o600);
    if (isRoot) expect([owned.uid, owned.gid]).toEqual([1000, 1001]);
    expect((await stat(join(target, 'ro'))).mode & 0o7777).toBe(0o555);
    expect((await stat(join(target, 'tmp'))).mode & 0o7777).toBe(0o1777);
  });
});
