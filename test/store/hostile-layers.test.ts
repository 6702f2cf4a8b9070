/**
 * Layers whose metadata is aimed through links (umoci CVE-2021-29136, containerd
 * CVE-2021-32760): a link to a host directory or file planted by a layer below, then entries of
 * the same name with modes, owners and times (directory, file, hard link), entries below it, and
 * entries naming the unpack root itself (`.`, `./`) as a link, a file or a directory. And tar
 * headers made to crash a reader or be read forever: sizes of gigabytes or beyond 2^53 over a
 * short body, PAX sizes past what a number holds, PAX names of sparse files, GNU sparse entries.
 * The host directory and file the links name never change: not their entries, modes, owners,
 * nor times; a refusal is an UNSAFE_PATH or INVALID_ARCHIVE error that names the entry.
 */
import { chmod, lstat, mkdir, readFile, readdir, readlink, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TsbuildError, readXattrs } from '../../src/common/index.js';
import { encodeHeader, endOfArchive, padding } from '../../src/exporter/tar.js';
import { unpackLayer } from '../../src/store/index.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

const isRoot = process.getuid?.() === 0;

// The collector, to count what the unpacking holds rather than garbage not yet collected.
setFlagsFromString('--expose-gc');

interface Entry {
  readonly path: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link';
  readonly linkname?: string;
  readonly content?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly mtime?: number;
  readonly pax?: Record<string, string>;
}

/** A tar of ENTRIES as given, names such as `.` included (written as ustar headers by hand). */
function tarOf(entries: readonly Entry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const content = Buffer.from(entry.content ?? '');
    const path = entry.path === '.' || entry.path === './' ? 'placeholder' : entry.path;
    const header = encodeHeader({
      path,
      type,
      mode: entry.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: entry.uid ?? 0,
      gid: entry.uid ?? 0,
      mtime: entry.mtime ?? 1_000_000_000,
      ...(type === 'file' ? { size: content.length } : {}),
      ...(entry.linkname === undefined ? {} : { linkname: entry.linkname }),
      pax: { ...(entry.path === path ? {} : { path: entry.path }), ...entry.pax },
    });
    blocks.push(header);
    if (type === 'file') blocks.push(content, padding(content.length));
  }
  blocks.push(endOfArchive);
  return Buffer.concat(blocks);
}

/** A ustar header block with another type flag and size field, its checksum made again. */
function retyped(block: Buffer, flag: string, sizeField?: Buffer): Buffer {
  const copy = Buffer.from(block.subarray(0, 512));
  copy.write(flag, 156, 'latin1');
  if (sizeField !== undefined) sizeField.copy(copy, 124);
  copy.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of copy) sum += byte;
  copy.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return copy;
}

/** Runs COMMAND; its standard output. */
function spawnOrFail(command: string, args: readonly string[]): Buffer {
  const result = spawnSync(command, args, { maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr.toString()}`);
  return result.stdout;
}

/** PAX records `LENGTH KEY=VALUE\n`, LENGTH counting the whole record. */
function paxRecords(records: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat(
    records.map(([key, value]) => {
      const rest = ` ${key}=${value}\n`;
      let length = Buffer.byteLength(rest) + 1;
      while (String(length).length + Buffer.byteLength(rest) !== length) length++;
      return Buffer.from(`${length}${rest}`);
    }),
  );
}

/** An extended header of FLAG (`x` for the next entry, `g` global) holding DATA. */
function extendedHeader(flag: 'x' | 'g', data: Buffer): Buffer {
  const header = retyped(encodeHeader({ path: 'PaxHeaders/x', type: 'file', size: data.length, mode: 0o644, uid: 0, gid: 0, mtime: 0 }), flag);
  return Buffer.concat([header, data, padding(data.length)]);
}

const unpack = (tar: Buffer, target: string): ReturnType<typeof unpackLayer> => unpackLayer(Readable.from([tar]), target, { root: isRoot });

describe('layers aimed through links', () => {
  let sandbox: string;
  let target: string;
  let outside: string;
  let cleanup: () => Promise<void>;
  let before: string;

  /** What the host directory and file are: entries, modes, owners, times. */
  async function hostState(): Promise<string> {
    const lines: string[] = [];
    for (const path of [outside, join(outside, 'secret'), join(outside, 'sub')]) {
      const info = await lstat(path);
      lines.push(`${path} ${info.mode.toString(8)} ${info.uid}:${info.gid} ${info.mtimeMs}`);
    }
    lines.push((await readdir(outside)).join(','), await readFile(join(outside, 'secret'), 'utf8'));
    return lines.join('\n');
  }

  beforeEach(async () => {
    ({ path: sandbox, cleanup } = await temporaryDirectory('tsbuild-hostile-layers-'));
    target = join(sandbox, 'target');
    outside = join(sandbox, 'outside');
    await mkdir(target, { mode: 0o755 });
    await mkdir(join(outside, 'sub'), { recursive: true, mode: 0o700 });
    await writeFile(join(outside, 'secret'), 'HOST SECRET\n', { mode: 0o600 });
    await chmod(outside, 0o700);
    for (const path of [join(outside, 'secret'), join(outside, 'sub'), outside]) await utimes(path, 1000, 1000);
    before = await hostState();
  });

  afterEach(async () => {
    expect(await hostState()).toBe(before);
    await cleanup();
  });

  it('never chmods, chowns or sets times through a link a layer below planted (a -> /etc, then a directory a)', async () => {
    const climb = `${'../'.repeat(10)}${outside.slice(1)}`;
    await unpack(
      tarOf([
        { path: 'abs', type: 'symlink', linkname: outside },
        { path: 'up', type: 'symlink', linkname: climb },
        { path: 'root', type: 'symlink', linkname: '/' },
        { path: 'filelink', type: 'symlink', linkname: join(outside, 'secret') },
        { path: 'sublink', type: 'symlink', linkname: join(outside, 'sub') },
      ]),
      target,
    );
    await unpack(
      tarOf([
        // The same names as directories and files with modes, owners and times of their own.
        { path: 'abs', type: 'directory', mode: 0o777, uid: 4321, mtime: 0 },
        { path: 'up', type: 'directory', mode: 0o777, uid: 4321, mtime: 0 },
        { path: 'filelink', content: 'replaced\n', mode: 0o4777, uid: 4321, mtime: 0 },
        { path: 'hard', type: 'link', linkname: 'sublink' },
        // Entries below a link: resolved inside the target, where the link's path is a new directory.
        { path: 'root/sub', type: 'directory', mode: 0o777, uid: 4321, mtime: 0 },
        { path: `sublink/deeper`, type: 'directory', mode: 0o777, uid: 4321, mtime: 0 },
        { path: `root${outside}/secret`, content: 'inside\n', mode: 0o777, uid: 4321, mtime: 0 },
      ]),
      target,
    );
    expect((await lstat(join(target, 'abs'))).isDirectory()).toBe(true);
    expect((await lstat(join(target, 'up'))).isDirectory()).toBe(true);
    expect((await lstat(join(target, 'abs'))).mode & 0o7777).toBe(0o777);
    expect(await readFile(join(target, 'filelink'), 'utf8')).toBe('replaced\n');
    // A hard link to a link is the link itself, never the file it names.
    expect(await readlink(join(target, 'hard'))).toBe(join(outside, 'sub'));
    expect(await readFile(join(target, outside, 'secret'), 'utf8')).toBe('inside\n');
    expect((await stat(join(target, outside, 'sub', 'deeper'))).isDirectory()).toBe(true);
  });

  it('resolves each entry\'s parents again once an earlier entry of the same layer made one of them a link (containerd CVE-2025-47290 class)', async () => {
    // Parents resolved for one entry are remembered for the next ones: an entry that turns one of
    // them into a link to the host (replacing the directory, directly or by a hard link to a
    // link) must make the next entry below it resolve again, inside the root.
    const sequences: Array<[string, Entry[]]> = [
      ['symlink', [{ path: 'a/', type: 'directory' }, { path: 'a/x', content: 'x' }, { path: 'a', type: 'symlink', linkname: outside }, { path: 'a/planted', content: 'bad' }]],
      ['relative symlink', [{ path: 'a/', type: 'directory' }, { path: 'a/x', content: 'x' }, { path: 'a', type: 'symlink', linkname: `../../../../../../../..${outside}` }, { path: 'a/planted', content: 'bad' }]],
      ['deeper', [{ path: 'a/b/x', content: 'x' }, { path: 'a/b', type: 'symlink', linkname: outside }, { path: 'a/b/planted', content: 'bad' }, { path: 'a/b/sub/', type: 'directory', mode: 0o777 }]],
      ['hard link to a link', [{ path: 'l', type: 'symlink', linkname: outside }, { path: 'a/x', content: 'x' }, { path: 'a', type: 'link', linkname: 'l' }, { path: 'a/planted', content: 'bad' }]],
      ['through a link', [{ path: 'c/', type: 'directory' }, { path: 'l', type: 'symlink', linkname: 'c' }, { path: 'l/x', content: 'x' }, { path: 'c', type: 'symlink', linkname: outside }, { path: 'l/planted', content: 'bad' }]],
    ];
    for (const [name, entries] of sequences) {
      const into = join(sandbox, `target-${name.replace(/ /g, '-')}`);
      await mkdir(into);
      await unpack(tarOf(entries), into).catch((error: unknown) => {
        // A refusal is as good as writing inside, but it must name the entry.
        expect([name, error]).toEqual([name, expect.any(TsbuildError)]);
      });
      expect([name, await readdir(outside)]).toEqual([name, ['secret', 'sub']]);
    }
  });

  it('never lets an entry for the root itself (. or ./) be a link or a file, nor apply anything through one', async () => {
    for (const [path, type] of [
      ['.', 'symlink'],
      ['./', 'symlink'],
      ['.', 'file'],
      ['./', 'link'],
    ] as const) {
      const entries: Entry[] = [{ path, type, ...(type === 'file' ? { content: 'x' } : { linkname: type === 'link' ? 'elsewhere' : outside }), mode: 0o777, uid: 4321 }, { path: 'after', content: 'after\n' }];
      const error = await unpack(tarOf(entries), target).catch((caught: unknown) => caught);
      expect(error, `${path} ${type}`).toBeInstanceOf(TsbuildError);
      expect((error as TsbuildError).code).toBe('UNSAFE_PATH');
      expect((error as TsbuildError).message).toContain(`unpack ${JSON.stringify(path)}`);
      expect((await lstat(target)).isDirectory()).toBe(true);
    }
    // A directory entry for the root gives it its mode, whatever links are inside it.
    await unpack(tarOf([{ path: 'abs', type: 'symlink', linkname: outside }, { path: './', type: 'directory', mode: 0o750, mtime: 0 }, { path: 'abs/', type: 'directory', mode: 0o777 }]), target);
    expect((await lstat(target)).mode & 0o7777).toBe(0o750);
  });
});

describe('tar headers made to crash or hang a reader', () => {
  let sandbox: string;
  let target: string;
  let cleanup: () => Promise<void>;

  beforeEach(async () => {
    ({ path: sandbox, cleanup } = await temporaryDirectory('tsbuild-hostile-tar-'));
    target = join(sandbox, 'target');
    await mkdir(target);
  });

  afterEach(async () => {
    await cleanup();
  });

  async function refusal(tar: Buffer): Promise<TsbuildError> {
    const error = await unpack(tar, target).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TsbuildError);
    return error as TsbuildError;
  }

  it('refuses sizes of gigabytes over a short body, naming the entry, after writing what there was', async () => {
    const header = encodeHeader({ path: 'huge', type: 'file', size: 8 * 1024 * 1024 * 1024 - 1, mode: 0o644, uid: 0, gid: 0, mtime: 0 });
    const error = await refusal(Buffer.concat([header, Buffer.alloc(1024 * 1024, 0x61)]));
    expect(error.code).toBe('INVALID_ARCHIVE');
    expect(error.message).toContain('unexpected end of archive in the content of "huge"');
  });

  it('refuses sizes past 2^53 in base-256 and in PAX, and PAX records past their header', async () => {
    const base = encodeHeader({ path: 'endless', type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: 0 });
    const base256 = Buffer.from([0x80, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect((await refusal(Buffer.concat([retyped(base, '0', base256), endOfArchive]))).message).toContain('size is too large');
    for (const [size, message] of [
      ['99999999999999999', 'PAX size is not a number'],
      // One past 2^53: as a double it is 2^53, a count the body could never be told from.
      ['9007199254740993', 'PAX size is too large'],
    ] as const) {
      const pax = encodeHeader({ path: 'endless', type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: 0, pax: { size } });
      const error = await refusal(Buffer.concat([pax, endOfArchive]));
      expect(error.code, size).toBe('INVALID_ARCHIVE');
      expect(error.message, size).toContain(message);
    }
    // A record claiming more bytes than its extended header holds.
    const record = Buffer.from('9999999 path=x\n');
    const extended = retyped(encodeHeader({ path: 'PaxHeaders/x', type: 'file', size: record.length, mode: 0o644, uid: 0, gid: 0, mtime: 0 }), 'x');
    expect((await refusal(Buffer.concat([extended, record, padding(record.length), base, endOfArchive]))).message).toContain('PAX record runs past its header');
  });

  it('refuses an extended header of gigabytes by its size, before reading it', async () => {
    const extended = retyped(encodeHeader({ path: 'PaxHeaders/x', type: 'file', size: 3 * 1024 * 1024 * 1024, mode: 0o644, uid: 0, gid: 0, mtime: 0 }), 'x');
    const error = await refusal(Buffer.concat([extended, Buffer.alloc(4096)]));
    expect(error.message).toMatch(/extended header of 3221225472 bytes, more than the \d+ allowed/);
  });

  it('refuses a chain of PAX headers for one entry that together hold more than one may, before the entry', async () => {
    // 1,100 headers of 1,000 bytes each, every record a new key: each is small, together they
    // pass 1 MiB, which a reader merging them would keep (and copy) for one entry.
    const chain = Array.from({ length: 1100 }, (_, index) => extendedHeader('x', paxRecords([[`SCHILY.xattr.user.k${index}`, 'v'.repeat(970)]])));
    const file = encodeHeader({ path: 'victim', type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: 0 });
    const error = await refusal(Buffer.concat([...chain, file, endOfArchive]));
    expect(error.code).toBe('INVALID_ARCHIVE');
    expect(error.message).toMatch(/extended headers of \d+ bytes for one entry, more than the 1048576 allowed/);
    expect(await readdir(target)).toEqual([]);
    // Several small ones for an entry are still merged, as before.
    const two = [extendedHeader('x', paxRecords([['path', 'renamed']])), extendedHeader('x', paxRecords([['mtime', '1234']]))];
    await unpack(Buffer.concat([...two, file, endOfArchive]), target);
    expect(await readdir(target)).toEqual(['renamed']);
    expect((await lstat(join(target, 'renamed'))).mtimeMs).toBe(1_234_000);
  });

  it('applies a global PAX header to no entry, as Go (and so docker and BuildKit) read layers: 1 MiB of records is not set on each of many entries', async () => {
    // A global header naming every later entry the same and giving each 30,000 xattrs (1 MiB),
    // followed by 300 tiny entries: applied, that is 9 million xattrs for 300 blocks of input.
    const records: Array<[string, string]> = [['path', 'same'], ['uid', '4242']];
    for (let index = 0; index < 30_000; index++) records.push([`SCHILY.xattr.user.g${index}`, 'x'.repeat(6)]);
    const global = extendedHeader('g', paxRecords(records));
    expect(global.length).toBeGreaterThan(1_000_000);
    const names = Array.from({ length: 300 }, (_, index) => `f${index}`);
    const files = names.map((name) => encodeHeader({ path: name, type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: 0 }));
    const { skipped } = await unpack(Buffer.concat([global, ...files, endOfArchive]), target);
    expect((await readdir(target)).sort()).toEqual([...names].sort());
    expect(skipped).toEqual([]);
    if (isRoot) expect((await lstat(join(target, 'f0'))).uid).toBe(0);
    expect([...readXattrs(join(target, 'f0')).keys()].filter((name) => name.startsWith('user.g'))).toEqual([]);
  });

  it('holds nothing per entry of a layer of millions that make nothing on disk: repeated directories, opaque markers, unknown types', async () => {
    // 100,000 each of a directory entry repeated, an opaque marker repeated and an entry of a
    // type nobody makes: 150 MB of tar, a few hundred KB once gzipped.
    const rounds = 100_000;
    const directory = encodeHeader({ path: 'd', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1_000 });
    const last = encodeHeader({ path: 'd', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 2_000 });
    const marker = encodeHeader({ path: 'd/.wh..wh..opq', type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: 0 });
    const odd = retyped(encodeHeader({ path: 'odd', type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: 0 }), 'Z');
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => [directory, marker, odd]).flat());
    const collect = runInNewContext('gc') as () => void;
    let held = 0;
    async function* layer(): AsyncGenerator<Buffer> {
      collect();
      const before = process.memoryUsage().heapUsed;
      for (let round = 0; round < rounds; round += 1000) yield batch;
      // What the unpacking holds now, with all of it read: the list of what it skipped, the
      // markers and the directory times.
      collect();
      held = process.memoryUsage().heapUsed - before;
      yield Buffer.concat([last, endOfArchive]);
    }
    const result = await unpackLayer(layer(), target, { root: isRoot, directoryTimesByName: true });
    expect(result.entries).toBe(3 * rounds + 1);
    expect(result.skippedCount).toBe(rounds);
    expect(result.skipped.length).toBe(1000);
    expect(result.skipped[0]).toEqual({ path: 'odd', reason: 'unsupported entry type "Z"' });
    // 200,000 entries listed or kept would be some 20 MB.
    expect(held).toBeLessThan(8 * 1024 * 1024);
    // The directory has the last time given to it.
    expect((await stat(join(target, 'd'))).mtimeMs).toBe(2_000_000);
  });

  it.each([
    ['gnu', []],
    ['pax', []],
    ['pax', ['--sparse-version=0.1']],
    ['pax', ['--sparse-version=1.0']],
  ])('reads a sparse file GNU tar wrote (--format=%s %j) as Go does: its real size, holes as zeros', async (format, flags) => {
    const source = join(sandbox, 'source');
    await mkdir(source);
    // Data at the start, in the middle and at the end of 3 MiB, holes between.
    const original = Buffer.alloc(3 * 1024 * 1024 + 3);
    original.write('start', 0);
    original.write('middle', 1024 * 1024);
    original.write('end', original.length - 3);
    await writeFile(join(source, 'sparse'), original);
    spawnOrFail('fallocate', ['--dig-holes', join(source, 'sparse')]);
    const tar = spawnOrFail('tar', ['--sparse', `--format=${format}`, ...flags, '-C', source, '-cf', '-', 'sparse']);
    await unpack(tar, target);
    const unpacked = await readFile(join(target, 'sparse'));
    expect(unpacked.length).toBe(original.length);
    expect(unpacked.equals(original)).toBe(true);
    expect(await readdir(target)).toEqual(['sparse']);
  });

  it('leaves the holes of a sparse file holes: 64 GiB of them take no disk', async () => {
    const size = 64 * 1024 * 1024 * 1024;
    const tar = tarOf([{ path: 'GNUSparseFile.0/holes', content: 'data', pax: { 'GNU.sparse.map': `${size / 2},4`, 'GNU.sparse.size': String(size), 'GNU.sparse.name': 'holes' } }]);
    await unpack(tar, target);
    const info = await stat(join(target, 'holes'));
    expect(info.size).toBe(size);
    expect(info.blocks * 512).toBeLessThan(1024 * 1024);
  });

  it('refuses sparse maps that lie, naming the file: out of order, past the real size, mapping other than what is stored', async () => {
    const cases: Array<[Record<string, string>, string, string]> = [
      [{ 'GNU.sparse.map': '100,4,0,4', 'GNU.sparse.size': '200' }, 'abcdefgh', 'regions out of order'],
      [{ 'GNU.sparse.map': '0,4,196,8', 'GNU.sparse.size': '200' }, 'abcdefghijkl', "past the file's size"],
      [{ 'GNU.sparse.map': '0,4', 'GNU.sparse.size': '200' }, 'abcdefgh', '4 bytes mapped, 8 stored'],
      [{ 'GNU.sparse.map': '0,4,8', 'GNU.sparse.size': '200' }, 'abcd', 'malformed GNU.sparse.map'],
      [{ 'GNU.sparse.offset': '0', 'GNU.sparse.numbytes': '4', 'GNU.sparse.size': '200' }, 'abcd', 'PAX format 0.0, which is not read'],
    ];
    for (const [pax, content, message] of cases) {
      const error = await unpack(tarOf([{ path: 'lying', content, pax }]), target).catch((caught: unknown) => caught);
      expect(error, message).toBeInstanceOf(TsbuildError);
      expect((error as TsbuildError).code, message).toBe('INVALID_ARCHIVE');
      expect((error as TsbuildError).message, message).toContain(message);
      expect((error as TsbuildError).message, message).toContain('"lying"');
    }
    // An old GNU sparse header whose map runs past its real size.
    const header = retyped(encodeHeader({ path: 'old', type: 'file', size: 4, mode: 0o644, uid: 0, gid: 0, mtime: 0 }), 'S');
    header.write('00000000010\0', 386, 'latin1');
    header.write('00000000004\0', 398, 'latin1');
    header.write('00000000012\0', 483, 'latin1');
    const fixed = retyped(header, 'S');
    const error = await unpack(Buffer.concat([fixed, Buffer.from('abcd'), padding(4), endOfArchive]), target).catch((caught: unknown) => caught);
    expect((error as TsbuildError).message).toContain('sparse map of "old"');
  });

  it('reads a PAX 1.0 sparse map in time linear in its length, and refuses one longer than an extended header (Go: errSparseTooLong)', async () => {
    // A count, then 8 MiB without a line end: split again for every block read, such a map
    // took about a minute for each 4 MiB, a few KiB of a compressed layer.
    const map = Buffer.concat([Buffer.from('1\n'), Buffer.alloc(8 * 1024 * 1024, '7')]);
    const tar = tarOf([{ path: 'endless-map', content: map.toString('latin1'), pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.realsize': '10' } }]);
    const started = Date.now();
    const error = await unpack(tar, target).catch((caught: unknown) => caught);
    expect((error as TsbuildError).code).toBe('INVALID_ARCHIVE');
    expect((error as TsbuildError).message).toContain('sparse map of "endless-map": sparse map longer than the 1048576 bytes allowed');
    expect(Date.now() - started).toBeLessThan(5000);
    // A map of many regions, each line read once, still unpacks.
    const regions = 20_000;
    const lines = [String(regions), ...Array.from({ length: regions }, (_, index) => `${index * 2},1`.split(',')).flat()].join('\n') + '\n';
    const mapped = Buffer.concat([Buffer.from(lines), padding(lines.length), Buffer.alloc(regions, 'x')]);
    const sparse = tarOf([{ path: 'many-regions', content: mapped.toString('latin1'), pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.realsize': String(regions * 2) } }]);
    await unpack(sparse, target);
    const content = await readFile(join(target, 'many-regions'));
    expect(content.length).toBe(regions * 2);
    expect(content.subarray(0, 6)).toEqual(Buffer.from('x\0x\0x\0'));
  });

  it('takes a PAX sparse name like any name: one that climbs is refused, nothing is written outside', async () => {
    const named = tarOf([{ path: 'GNUSparseFile.0/real', content: 'data', pax: { 'GNU.sparse.map': '0,4', 'GNU.sparse.size': '8', 'GNU.sparse.name': '../../../escaped' } }]);
    const error = await unpack(named, target).catch((caught: unknown) => caught);
    expect((error as TsbuildError).code).toBe('UNSAFE_PATH');
    expect(await readdir(sandbox)).toEqual(['target']);
  });
});
