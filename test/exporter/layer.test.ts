import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, symlink, utimes, writeFile, link, chmod, lstat, readdir, readlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { extract } from 'tar-stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { MediaType, decodeFileName, encodeFileName, fsAddon, fsPath, hostPlatform, loadContextAddon, makeSpecialFile, readTar as readLayerTar, readXattrs, setXattr } from '../../src/common/index.js';
import { comparePaths, directoryEntries, encodeHeader, endOfArchive, tarStream, writeImage, writeLayer, type LayerEntry } from '../../src/exporter/index.js';
import { unpackLayer, type Store } from '../../src/store/index.js';

const isRoot = process.getuid?.() === 0;
import { temporaryDirectory, useTemporaryStores } from '../helpers/temporary-store.js';

function file(path: string, content: string, mtime = 1_700_000_000, extra: Partial<LayerEntry> = {}): LayerEntry {
  const bytes = Buffer.from(content);
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, size: bytes.length, content: () => bytes, ...extra };
}

interface ReadEntry {
  name: string;
  type: string;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  mode: number;
  linkname: string | null;
  content: string;
  pax: unknown;
}

async function readTar(tar: Buffer): Promise<ReadEntry[]> {
  const entries: ReadEntry[] = [];
  const extractor = extract();
  Readable.from([tar]).pipe(extractor);
  for await (const entry of extractor) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const { header } = entry;
    entries.push({ name: header.name, type: header.type, uid: header.uid, gid: header.gid, uname: header.uname, gname: header.gname, mtime: header.mtime.getTime() / 1000, mode: header.mode, linkname: header.linkname, content: Buffer.concat(chunks).toString(), pax: header.pax });
  }
  return entries;
}

describe('layer writer', () => {
  const stores = useTemporaryStores();
  let root: string;
  let store: Store;

  beforeEach(async () => {
    root = stores.dir;
    store = await stores.open();
  });

  const blob = async (digest: string): Promise<Buffer> => readFile(join(root, 'store/blobs/sha256', digest.slice(7)));

  it('computes diff ID and digest in one pass, with a fixed gzip header', async () => {
    const layer = await writeLayer([{ path: 'etc', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1 }, file('etc/hostname', 'box\n')], store);
    const compressed = await blob(layer.descriptor.digest);
    expect(layer.descriptor.mediaType).toBe(MediaType.ociLayerGzip);
    expect(layer.descriptor.size).toBe(compressed.length);
    expect(layer.descriptor.digest).toBe(`sha256:${createHash('sha256').update(compressed).digest('hex')}`);
    const tar = gunzipSync(compressed);
    expect(layer.diffId).toBe(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
    // gzip header: magic, deflate, no flags (no name), mtime 0.
    expect([...compressed.subarray(0, 8)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
    const entries = await readTar(tar);
    expect(entries.map((entry) => [entry.name, entry.type, entry.uname, entry.gname])).toEqual([
      ['etc/', 'directory', '', ''],
      ['etc/hostname', 'file', '', ''],
    ]);
    expect(entries[1]?.content).toBe('box\n');
  });

  it('gives an uncompressed layer the diff ID of its bytes, the same as the gzip layer of the same entries', async () => {
    const entries = (): LayerEntry[] => [{ path: 'etc', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1 }, file('etc/hostname', 'box\n')];
    const plain = await writeLayer(entries(), store, { compression: 'none' });
    const tar = await blob(plain.descriptor.digest);
    expect(plain.descriptor.mediaType).toBe(MediaType.ociLayer);
    expect(plain.diffId).toBe(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
    expect(plain.descriptor.digest).toBe(plain.diffId);
    expect((await writeLayer(entries(), store)).diffId).toBe(plain.diffId);
  });

  it('is deterministic and clamps mtimes to SOURCE_DATE_EPOCH', async () => {
    const entries = (): LayerEntry[] => [file('a', 'one', 2_000_000_000), file('b', 'two', 100)];
    const first = await writeLayer(entries(), store, { sourceDateEpoch: 1_000_000 });
    const second = await writeLayer(entries(), store, { sourceDateEpoch: 1_000_000 });
    expect(second).toEqual(first);
    const tar = await readTar(gunzipSync(await blob(first.descriptor.digest)));
    expect(tar.map((entry) => entry.mtime)).toEqual([1_000_000, 100]);
    const unclamped = await writeLayer(entries(), store, { sourceDateEpoch: 3_000_000_000 });
    expect(unclamped.diffId).not.toBe(first.diffId);
  });

  it("orders paths as their components' bytes, parents first, whatever the characters", () => {
    // The order as defined: component by component, each by its bytes on disk.
    const byComponents = (a: string, b: string): number => {
      const x = a.split('/');
      const y = b.split('/');
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const compared = Buffer.compare(encodeFileName(x[i] ?? ''), encodeFileName(y[i] ?? ''));
        if (compared !== 0) return compared;
      }
      return x.length - y.length;
    };
    const component = fc.stringMatching(/^[a-z./ \-é\u{e000}\u{1f600}]{1,4}$/u).filter((name) => !name.includes('/'));
    fc.assert(
      fc.property(fc.array(component, { minLength: 1, maxLength: 3 }), fc.array(component, { minLength: 1, maxLength: 3 }), (x, y) => {
        const [a, b] = [x.join('/'), y.join('/')];
        expect(Math.sign(comparePaths(a, b))).toBe(Math.sign(byComponents(a, b)));
      }),
      { numRuns: 2000 },
    );
    expect(comparePaths('a/b', 'a-c')).toBeLessThan(0);
    expect(comparePaths('a', 'a/b')).toBeLessThan(0);
    expect(comparePaths('ab', 'a/b')).toBeGreaterThan(0);
  });

  it('refuses entries out of tar order', async () => {
    await expect(writeLayer([file('b', '1'), file('a', '2')], store)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(writeLayer([file('a', '1'), file('a', '2')], store)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('gives entry by entry the bytes of header, content and padding, small entries gathered in runs around streamed ones', async () => {
    const entries: LayerEntry[] = [];
    for (let n = 0; n < 3000; n++) entries.push(file(`f${String(n).padStart(5, '0')}`, 'x'.repeat(n % 700)));
    const big = Buffer.alloc(300_000, 7);
    entries.splice(1500, 0, { path: 'f01499z', type: 'file', mode: 0o600, uid: 1, gid: 2, mtime: 5, size: big.length, content: () => Readable.from([big.subarray(0, 1000), big.subarray(1000)]) });
    entries.splice(10, 0, { path: 'f00009z', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 5 });
    const expected: Buffer[] = [];
    for (const entry of entries) {
      expected.push(encodeHeader(entry));
      const size = entry.size ?? 0;
      if (entry.type === 'file') expected.push(entry.path === 'f01499z' ? big : Buffer.from('x'.repeat(size)), Buffer.alloc((512 - (size % 512)) % 512));
    }
    expected.push(endOfArchive);
    const chunks: Buffer[] = [];
    for await (const chunk of tarStream(entries)) chunks.push(chunk);
    expect(Buffer.concat(chunks).equals(Buffer.concat(expected))).toBe(true);
    // Runs, not three chunks a file.
    expect(chunks.length).toBeLessThan(40);
  });

  it('refuses a file whose content is not of its size', async () => {
    await expect(writeLayer([{ ...file('a', 'abc'), size: 2 }], store)).rejects.toMatchObject({ code: 'SIZE_MISMATCH', message: expect.stringContaining('grew while it was read') });
    await expect(writeLayer([{ ...file('a', 'abc'), size: 4 }], store)).rejects.toMatchObject({ code: 'SIZE_MISMATCH', message: expect.stringContaining('has 3 bytes, expected 4') });
  });

  it('refuses entry paths that are empty, absolute or climb out with ..', async () => {
    for (const path of ['', '/etc/passwd', '../outside', 'a/../../b']) {
      await expect(writeLayer([file(path, 'x')], store), JSON.stringify(path)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
      expect(() => encodeHeader({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 })).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
    }
  });

  it('writes PAX records for long and non-ASCII names, large ids, and keeps numeric owners', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
    const entries: LayerEntry[] = [
        { path: 'd'.repeat(120), type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 5 },
        file(long, 'deep'),
        file('héllo', 'unicode', 5, { uid: 3_000_000, gid: 70_000 }),
        { path: 'link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 5, linkname: `/${'t'.repeat(200)}` },
    ];
    const layer = await writeLayer(entries.sort((a, b) => comparePaths(a.path, b.path)), store);
    const tar = gunzipSync(await blob(layer.descriptor.digest));
    const read = await readTar(tar);
    expect(read.find((entry) => entry.name === long)?.content).toBe('deep');
    // ustar cannot hold these ids: they are PAX records (tar-stream reports them raw).
    expect(read.find((entry) => entry.name === 'héllo')).toMatchObject({ pax: { uid: '3000000' }, gid: 70_000, content: 'unicode' });
    expect(read.find((entry) => entry.name === 'link')?.linkname).toBe(`/${'t'.repeat(200)}`);
    // GNU tar, an independent reader, agrees.
    const { path: scratch, cleanup: removeScratch } = await temporaryDirectory();
    try {
      await writeFile(join(scratch, 'layer.tar'), tar);
      const listing = execFileSync('tar', ['--numeric-owner', '-tvf', join(scratch, 'layer.tar')], { encoding: 'utf8' });
      expect(listing).toContain(long);
      expect(listing).toContain('3000000/70000');
      expect(listing).toContain('héllo');
    } finally {
      await removeScratch();
    }
  });

  it('writes a time before 1970 as a PAX record, which GNU tar reads back', async () => {
    const layer = await writeLayer([file('old', 'old', -300_000_000)], store);
    const tar = gunzipSync(await blob(layer.descriptor.digest));
    expect((await readTar(tar)).find((entry) => entry.name === 'old')).toMatchObject({ pax: { mtime: '-300000000' } });
    const { path: scratch, cleanup: removeScratch } = await temporaryDirectory();
    try {
      await writeFile(join(scratch, 'layer.tar'), tar);
      expect(execFileSync('tar', ['--full-time', '--utc', '-tvf', join(scratch, 'layer.tar')], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } })).toContain('1960-06-29 18:40:00');
    } finally {
      await removeScratch();
    }
  });

  it('reads a directory tree lazily in tar order, hard links included', async () => {
    const source = join(root, 'src');
    await mkdir(join(source, 'b/c'), { recursive: true });
    await writeFile(join(source, 'a'), 'a');
    await writeFile(join(source, 'b/c/file'), 'file');
    await link(join(source, 'b/c/file'), join(source, 'b/hard'));
    await symlink('/nowhere', join(source, 'b/sym'));
    // A second name of a symlink or a fifo is a hard link too, as in docker's layers.
    await link(join(source, 'b/sym'), join(source, 'b/sym-hard'));
    makeSpecialFile(join(source, 'b/fifo'), 'fifo', 0o644);
    await link(join(source, 'b/fifo'), join(source, 'b/fifo-hard'));
    await chmod(join(source, 'a'), 0o640);
    for (const path of ['a', 'b/c/file', 'b/c', 'b', '']) await utimes(join(source, path), 1000, 1000);
    const entries: LayerEntry[] = [];
    for await (const entry of directoryEntries(source)) entries.push(entry);
    expect(entries.map((entry) => `${entry.type} ${entry.path}${entry.linkname === undefined ? '' : ` -> ${entry.linkname}`}`)).toEqual([
      'file a',
      'directory b',
      'directory b/c',
      'file b/c/file',
      'fifo b/fifo',
      'link b/fifo-hard -> b/fifo',
      'link b/hard -> b/c/file',
      'symlink b/sym -> /nowhere',
      'link b/sym-hard -> b/sym',
    ]);
    expect(entries[0]?.mode).toBe(0o640);
    const one = await writeLayer(directoryEntries(source), store, { sourceDateEpoch: 500 });
    const two = await writeLayer(directoryEntries(source), store, { sourceDateEpoch: 500 });
    expect(two.descriptor.digest).toBe(one.descriptor.digest);
    const unpacked = join(root, 'tree-unpacked');
    await mkdir(unpacked);
    const plain = await writeLayer(directoryEntries(source), store, { compression: 'none' });
    await unpackLayer(await store.openBlob(plain.descriptor.digest), unpacked);
    const [sym, symHard] = [await lstat(join(unpacked, 'b/sym')), await lstat(join(unpacked, 'b/sym-hard'))];
    expect([symHard.isSymbolicLink(), symHard.ino, symHard.nlink]).toEqual([true, sym.ino, 2]);
    const image = await writeImage(store, { layers: [one], platform: hostPlatform(), created: '1970-01-01T00:08:20Z', history: [{ created_by: 'test' }] }, 'localhost/tree:1');
    expect(image.config.rootfs.diff_ids).toEqual([one.diffId]);
  });

  it('gives the same layer whether the tree is listed by tsbuild-context.node or one lstat per entry', async () => {
    const source = join(root, 'both');
    await mkdir(join(source, 'd/e'), { recursive: true });
    await writeFile(join(source, 'd/e/f'), 'f'.repeat(3000));
    await link(join(source, 'd/e/f'), join(source, 'd/second'));
    await symlink('../d', join(source, 'up'));
    makeSpecialFile(join(source, 'fifo'), 'fifo', 0o600);
    await writeFile(fsPath(join(source, decodeFileName(Buffer.from([0x6e, 0xff])))), 'a name that is not UTF-8');
    await writeFile(join(source, 'old'), 'before 1970');
    await utimes(join(source, 'old'), 1000, 1000);
    fsAddon().lutimens(join(source, 'd/e'), -1_500_000_000n, -1_500_000_001n);
    // Small files are read ahead in runs of 256 and 4 MiB: more than one run, an empty file, the largest small file, a capability.
    await mkdir(join(source, 'many'));
    for (let i = 0; i < 300; i++) await writeFile(join(source, 'many', `f${i}`), `file ${i}\n`.repeat(i));
    await writeFile(join(source, 'many', 'empty'), '');
    await writeFile(join(source, 'many', 'largest-small'), Buffer.alloc(256 * 1024, 3));
    await writeFile(join(source, 'many', 'just-larger'), Buffer.alloc(256 * 1024 + 1, 4));
    if (process.getuid?.() === 0) execFileSync('setcap', ['cap_net_raw=ep', join(source, 'many', 'f7')]);
    const entries = async (withoutContextAddon: boolean): Promise<unknown[]> => {
      const all: unknown[] = [];
      for await (const entry of directoryEntries(source, 'prefix', { withoutContextAddon })) all.push({ ...entry, content: undefined });
      return all;
    };
    const listed = await entries(false);
    expect(listed).toEqual(await entries(true));
    expect(listed).toContainEqual(expect.objectContaining({ path: 'prefix/d/e', mtime: -2 }));
    if (process.getuid?.() === 0) expect(listed).toContainEqual(expect.objectContaining({ path: 'prefix/many/f7', pax: { 'SCHILY.xattr.security.capability': expect.any(Buffer) } }));
    const layer = async (withoutContextAddon: boolean, from = source): Promise<string> => (await writeLayer(directoryEntries(from, '', { withoutContextAddon }), store, { compression: 'none' })).diffId;
    expect(await layer(false)).toBe(await layer(true));
    // A root given through a link is the tree it leads to, either way.
    await symlink(source, join(root, 'both-link'));
    expect(await layer(false, join(root, 'both-link'))).toBe(await layer(true));
  });

  it('holds a bounded few runs of small files read ahead, in a wide directory and down a deep tree, and writes the same layer as without them', async () => {
    if (loadContextAddon().module === undefined) return;
    // 48 MiB of small files in one directory (twelve runs of 4 MiB), and twelve levels each with
    // 4 MiB of small files before and after its subdirectory (read, and read ahead, when the walk
    // goes down): every run held until its directory ended would be 48 MiB at the end of each.
    const wide = join(root, 'wide');
    await mkdir(wide);
    for (let i = 0; i < 192; i++) await writeFile(join(wide, `f${String(i).padStart(3, '0')}`), Buffer.alloc(256 * 1024, i));
    const deep = join(root, 'deep');
    let level = deep;
    for (let depth = 0; depth < 12; depth++) {
      await mkdir(join(level, 'd'), { recursive: true });
      for (let i = 0; i < 32; i++) {
        await writeFile(join(level, `a${String(i).padStart(2, '0')}`), Buffer.alloc(64 * 1024, depth));
        await writeFile(join(level, `f${String(i).padStart(2, '0')}`), Buffer.alloc(64 * 1024, depth + 1));
      }
      level = join(level, 'd');
    }
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    for (const tree of [wide, deep]) {
      gc();
      const before = process.memoryUsage().arrayBuffers;
      let most = 0;
      let count = 0;
      const hash = createHash('sha256');
      for await (const chunk of tarStream(directoryEntries(tree, ''), {})) {
        hash.update(chunk);
        if (++count % 8 === 0) {
          gc();
          most = Math.max(most, process.memoryUsage().arrayBuffers - before);
        }
      }
      expect(most, tree).toBeLessThan(32 * 1024 * 1024);
      const without = createHash('sha256');
      for await (const chunk of tarStream(directoryEntries(tree, '', { withoutContextAddon: true }), {})) without.update(chunk);
      expect(hash.digest('hex'), tree).toBe(without.digest('hex'));
    }
  });

  it('reads small files ahead with tsbuild-context.node: whole, one byte past a size that grew, capabilities, errors like Node', async () => {
    const addon = loadContextAddon().module;
    if (addon === undefined) return;
    const dir = join(root, 'read-ahead');
    await mkdir(dir);
    await writeFile(join(dir, 'a'), 'alpha');
    await writeFile(join(dir, 'empty'), '');
    await writeFile(join(dir, 'grown'), 'grown since listed');
    await symlink('a', join(dir, 'link'));
    if (process.getuid?.() === 0) execFileSync('setcap', ['cap_net_raw=ep', join(dir, 'a')]);
    const { data, lengths, capabilities, errors } = await addon.readFiles(['a', 'empty', 'grown', 'link', 'missing'].map((name) => join(dir, name)), Float64Array.from([5, 0, 5, 1, 1]));
    expect([...lengths]).toEqual([5, 0, 6, 0, 0]);
    expect(data.toString()).toBe('alphagrown ');
    expect(capabilities[0] === undefined).toBe(process.getuid?.() !== 0);
    expect(capabilities.slice(1)).toEqual([undefined, undefined, undefined, undefined]);
    expect(errors.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    // Never through a link: the listing saw a file there.
    expect(errors[3]).toMatchObject({ code: 'ELOOP', syscall: 'open', path: join(dir, 'link') });
    expect(errors[4]).toMatchObject({ code: 'ENOENT', syscall: 'open', path: join(dir, 'missing') });
  });

  it('keeps names that are not UTF-8 as their bytes, through a layer and back', async () => {
    // Latin-1 names, as a RUN leaves them: each must be written, read and unpacked as on disk.
    const bytes = (text: string): Buffer => Buffer.from(join(root, text), 'latin1');
    await mkdir(bytes('latin'));
    await mkdir(bytes('latin/dir\xff'));
    await writeFile(bytes('latin/caf\xe9'), 'x\n');
    await writeFile(bytes('latin/dir\xff/f'), 'y\n');
    await symlink(Buffer.from('dir\xff/f', 'latin1'), bytes('latin/l\xe9'));
    await link(bytes('latin/caf\xe9'), bytes('latin/same\xe9'));
    makeSpecialFile(join(root, 'latin/fifo\udce9'), 'fifo', 0o640);
    const capability = Buffer.from('0100000200200000000000000000000000000000', 'hex');
    if (isRoot) setXattr(join(root, 'latin/caf\udce9'), 'security.capability', capability);
    const source = join(root, 'latin');
    const entries: LayerEntry[] = [];
    for await (const entry of directoryEntries(source, 'latin1')) entries.push(entry);
    expect(entries.map((entry) => `${entry.type} ${entry.path}${entry.linkname === undefined ? '' : ` -> ${entry.linkname}`}`)).toEqual([
      'file latin1/caf\udce9',
      'directory latin1/dir\udcff',
      'file latin1/dir\udcff/f',
      'fifo latin1/fifo\udce9',
      'symlink latin1/l\udce9 -> dir\udcff/f',
      'link latin1/same\udce9 -> latin1/caf\udce9',
    ]);
    const layer = await writeLayer(directoryEntries(source, 'latin1'), store, { compression: 'none' });
    const tar = await blob(layer.descriptor.digest);
    // The PAX records hold the bytes themselves, never UTF-8 of U+FFFD.
    for (const record of ['path=latin1/caf\xe9\n', 'path=latin1/dir\xff/\n', 'path=latin1/dir\xff/f\n', 'linkpath=dir\xff/f\n', 'linkpath=latin1/caf\xe9\n']) {
      expect(tar.includes(Buffer.from(record, 'latin1')), record).toBe(true);
    }
    expect(tar.includes(Buffer.from('\ufffd'))).toBe(false);
    // GNU tar, reading the same archive, lists the same bytes.
    const { path: scratch, cleanup: removeScratch } = await temporaryDirectory();
    try {
      await writeFile(join(scratch, 'layer.tar'), tar);
      const listing = execFileSync('tar', ['--quoting-style=literal', '-tf', join(scratch, 'layer.tar')]).toString('latin1').split('\n');
      expect(listing).toEqual(['latin1/caf\xe9', 'latin1/dir\xff/', 'latin1/dir\xff/f', 'latin1/fifo\xe9', 'latin1/l\xe9', 'latin1/same\xe9', '']);
    } finally {
      await removeScratch();
    }
    const names: Buffer[] = [];
    for await (const entry of readLayerTar(Readable.from([tar]))) names.push(encodeFileName(entry.header.name));
    expect(names.map((name) => name.toString('latin1'))).toEqual(['latin1/caf\xe9', 'latin1/dir\xff/', 'latin1/dir\xff/f', 'latin1/fifo\xe9', 'latin1/l\xe9', 'latin1/same\xe9']);
    // Unpacked, the names on disk are the bytes again, the links as they were.
    const unpacked = join(root, 'latin-unpacked');
    await mkdir(unpacked);
    await unpackLayer(await store.openBlob(layer.descriptor.digest), unpacked);
    const at = (text: string): Buffer => Buffer.from(join(unpacked, text), 'latin1');
    expect((await readdir(at('latin1'), { encoding: 'buffer' })).map((name) => name.toString('latin1')).sort()).toEqual(['caf\xe9', 'dir\xff', 'fifo\xe9', 'l\xe9', 'same\xe9']);
    expect((await lstat(at('latin1/fifo\xe9'))).isFIFO()).toBe(true);
    expect(await readFile(at('latin1/caf\xe9'), 'utf8')).toBe('x\n');
    expect(await readFile(at('latin1/dir\xff/f'), 'utf8')).toBe('y\n');
    expect((await readlink(at('latin1/l\xe9'), { encoding: 'buffer' })).toString('latin1')).toBe('dir\xff/f');
    expect((await lstat(at('latin1/same\xe9'))).ino).toBe((await lstat(at('latin1/caf\xe9'))).ino);
    if (isRoot) expect(readXattrs(join(unpacked, 'latin1/caf\udce9')).get('security.capability')).toEqual(capability);
  });

  it('keeps fifos, device nodes and file capabilities through a layer, as BuildKit diffs do; not sockets or other xattrs', async () => {
    const source = join(root, 'special');
    await mkdir(source);
    makeSpecialFile(join(source, 'fifo'), 'fifo', 0o640);
    if (isRoot) makeSpecialFile(join(source, 'tty'), 'character-device', 0o620, 4, 300_000);
    await writeFile(join(source, 'ping'), 'binary');
    // A capability set (v2: cap_net_raw permitted and effective) needs privilege; user.* does not.
    const capability = Buffer.from('0100000200200000000000000000000000000000', 'hex');
    if (isRoot) setXattr(join(source, 'ping'), 'security.capability', capability);
    setXattr(join(source, 'ping'), 'user.host-detail', Buffer.from('x'));
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(source, 'socket'), resolve));
    try {
      const entries: LayerEntry[] = [];
      for await (const entry of directoryEntries(source)) entries.push(entry);
      expect(entries.map((entry) => `${entry.type} ${entry.path}`)).toEqual(['fifo fifo', 'file ping', ...(isRoot ? ['character-device tty'] : [])]);
      const layer = await writeLayer(directoryEntries(source), store, { compression: 'none' });
      const unpacked = join(root, 'special-unpacked');
      await mkdir(unpacked);
      await unpackLayer(await store.openBlob(layer.descriptor.digest), unpacked);
      expect((await lstat(join(unpacked, 'fifo'))).isFIFO()).toBe(true);
      expect((await lstat(join(unpacked, 'fifo'))).mode & 0o7777).toBe(0o640);
      expect(readXattrs(join(unpacked, 'ping')).has('user.host-detail')).toBe(false);
      if (isRoot) {
        expect(readXattrs(join(unpacked, 'ping')).get('security.capability')).toEqual(capability);
        const [tty, original] = [await lstat(join(unpacked, 'tty')), await lstat(join(source, 'tty'))];
        expect([tty.isCharacterDevice(), tty.rdev, tty.mode]).toEqual([true, original.rdev, original.mode]);
      }
    } finally {
      server.close();
    }
  });

  // A step may set the other namespace's name itself (root: `setfattr -n user.overlay.opaque -v y
  // /d`); read as a mark, it hid from the image everything the layers below held in /d.
  it.runIf(isRoot)('marks an upper directory opaque by the overlay mount\'s own attribute only', async () => {
    const upper = join(root, 'upper');
    for (const name of ['by-user', 'by-trusted']) {
      await mkdir(join(upper, name), { recursive: true });
      await writeFile(join(upper, name, 'new'), 'x');
    }
    setXattr(join(upper, 'by-user'), 'user.overlay.opaque', Buffer.from('y'));
    setXattr(join(upper, 'by-trusted'), 'trusted.overlay.opaque', Buffer.from('y'));
    const markers = async (overlayUserXattrs: boolean): Promise<string[]> => {
      const paths: string[] = [];
      for await (const entry of directoryEntries(upper, '', { overlayUpper: true, overlayUserXattrs })) if (entry.path.endsWith('.wh..wh..opq')) paths.push(entry.path);
      return paths;
    };
    expect(await markers(false)).toEqual(['by-trusted/.wh..wh..opq']);
    expect(await markers(true)).toEqual(['by-user/.wh..wh..opq']);
  });
});
