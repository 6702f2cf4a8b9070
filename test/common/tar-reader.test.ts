import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryMtimeNs, makeSpecialFile, readTar, setXattr, type TarEntryHeader } from '../../src/common/index.js';
import { encodeHeader, endOfArchive, padding, type TarHeader } from '../../src/exporter/tar.js';
import { codeOf } from '../helpers/error-code.js';

interface ReadEntry {
  readonly header: TarEntryHeader;
  readonly content: Buffer;
}

async function readAll(archive: Buffer | Buffer[], chunkSize = 700): Promise<ReadEntry[]> {
  const whole = Buffer.isBuffer(archive) ? archive : Buffer.concat(archive);
  // Odd chunk sizes: headers and bodies straddle chunk boundaries.
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < whole.length; offset += chunkSize) chunks.push(whole.subarray(offset, offset + chunkSize));
  const entries: ReadEntry[] = [];
  for await (const entry of readTar(Readable.from(chunks))) {
    const parts: Buffer[] = [];
    for await (const chunk of entry.body) parts.push(chunk);
    entries.push({ header: entry.header, content: Buffer.concat(parts) });
  }
  return entries;
}


function entry(header: TarHeader, content = ''): Buffer {
  const bytes = Buffer.from(content);
  return Buffer.concat([encodeHeader({ ...header, ...(header.type === 'file' ? { size: bytes.length } : {}) }), bytes, padding(bytes.length)]);
}

const base = { mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000 } as const;
/** Every byte value, NUL and invalid UTF-8 included: what security.capability looks like. */
const binary = Buffer.from(Array.from({ length: 256 }, (_, index) => index));

/** Sets the header checksum of the block at OFFSET after an edit. */
function fixChecksum(archive: Buffer, offset: number): void {
  archive.fill(0x20, offset + 148, offset + 156);
  let sum = 0;
  for (let index = offset; index < offset + 512; index++) sum += archive[index] ?? 0;
  archive.write(`${sum.toString(8).padStart(6, '0')}\0 `, offset + 148, 8, 'ascii');
}

describe('readTar', () => {
  it('reads every entry type the writer makes, PAX names, ids and binary xattrs included', async () => {
    const longName = `${'deep/'.repeat(30)}naïve-名前.txt`;
    const archive = Buffer.concat([
      entry({ ...base, path: 'dir', type: 'directory', mode: 0o755 }),
      entry({ ...base, path: 'dir/file', type: 'file', pax: { 'SCHILY.xattr.security.capability': binary, 'SCHILY.xattr.user.note': 'text' } }, 'hello'),
      entry({ ...base, path: longName, type: 'file', uid: 3_000_000_000, gid: 70_000_000 }, 'x'.repeat(1500)),
      entry({ ...base, path: 'link', type: 'symlink', linkname: `/${'target/'.repeat(20)}end` }),
      entry({ ...base, path: 'hard', type: 'link', linkname: 'dir/file' }),
      entry({ ...base, path: 'fifo', type: 'fifo', mode: 0o600 }),
      entry({ ...base, path: 'null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 }),
      entry({ ...base, path: 'sda', type: 'block-device', devmajor: 8, devminor: 0 }),
      endOfArchive,
    ]);
    const entries = await readAll(archive);
    expect(entries.map(({ header }) => [header.name, header.type])).toEqual([
      ['dir/', 'directory'],
      ['dir/file', 'file'],
      [longName, 'file'],
      ['link', 'symlink'],
      ['hard', 'link'],
      ['fifo', 'fifo'],
      ['null', 'character-device'],
      ['sda', 'block-device'],
    ]);
    const [dir, file, long, link, hard, fifo, devnull, sda] = entries as [ReadEntry, ReadEntry, ReadEntry, ReadEntry, ReadEntry, ReadEntry, ReadEntry, ReadEntry];
    expect(dir.header.mode).toBe(0o755);
    expect(file.content.toString()).toBe('hello');
    expect(file.header.mtime).toBe(1_700_000_000);
    expect(file.header.xattrs.get('security.capability')).toEqual(binary);
    expect(file.header.xattrs.get('user.note')?.toString()).toBe('text');
    expect(long.content.length).toBe(1500);
    expect([long.header.uid, long.header.gid]).toEqual([3_000_000_000, 70_000_000]);
    expect(link.header.linkname).toBe(`/${'target/'.repeat(20)}end`);
    expect(hard.header.linkname).toBe('dir/file');
    expect(fifo.header.mode).toBe(0o600);
    expect([devnull.header.devmajor, devnull.header.devminor, devnull.header.mode]).toEqual([1, 3, 0o666]);
    expect([sda.header.devmajor, sda.header.devminor]).toEqual([8, 0]);
  });

  it('skips what the consumer leaves unread, whole or in part', async () => {
    const archive = Buffer.concat([entry({ ...base, path: 'a', type: 'file' }, 'A'.repeat(5000)), entry({ ...base, path: 'b', type: 'file' }, 'B'.repeat(3000)), entry({ ...base, path: 'c', type: 'file' }, 'C'), endOfArchive]);
    const seen: string[] = [];
    for await (const { header, body } of readTar(Readable.from([archive.subarray(0, 1000), archive.subarray(1000)]))) {
      if (header.name === 'b') {
        for await (const chunk of body) {
          seen.push(`b:${chunk.toString().slice(0, 1)}`);
          break;
        }
      } else if (header.name === 'c') {
        for await (const chunk of body) seen.push(`c:${chunk.toString()}`);
      } else seen.push(header.name);
    }
    expect(seen).toEqual(['a', 'b:B', 'c:C']);
  });

  it('ignores the size field of header-only types, as Go does', async () => {
    // A symlink header claiming 1024 bytes of content: none follow, the next header comes at once.
    const archive = Buffer.concat([entry({ ...base, path: 'link', type: 'symlink', linkname: 'x' }), entry({ ...base, path: 'after', type: 'file' }, 'ok'), endOfArchive]);
    archive.write('00000002000\0', 124, 12, 'ascii');
    fixChecksum(archive, 0);
    const entries = await readAll(archive);
    expect(entries.map(({ header }) => [header.name, header.size])).toEqual([
      ['link', 0],
      ['after', 2],
    ]);
  });

  it('reads GNU base-256 numbers, fractional PAX times and old-style directories, and checks a global PAX header but applies it to nothing (as Go)', async () => {
    const file = entry({ ...base, path: 'big', type: 'file' }, 'data');
    // uid 2^40 in base-256: high bit set, value big-endian in the remaining bytes.
    const uidField = Buffer.alloc(8);
    uidField[0] = 0x80;
    uidField.writeUIntBE(2 ** 40, 2, 6);
    uidField.copy(file, 108);
    fixChecksum(file, 0);
    const globalRecords = Buffer.from('21 mtime=1.250000000\n17 uname=someone\n');
    const fraction = entry({ ...base, path: 'fraction', type: 'file', pax: { mtime: '1.250000000' } }, 'f');
    const global = Buffer.concat([encodeHeader({ ...base, path: 'global', type: 'file', size: globalRecords.length }), globalRecords, padding(globalRecords.length)]);
    global[156] = 'g'.charCodeAt(0);
    fixChecksum(global, 0);
    const old = entry({ ...base, path: 'olddir/', type: 'file' });
    old[156] = 0;
    fixChecksum(old, 0);
    const entries = await readAll(Buffer.concat([global, file, fraction, old, endOfArchive]));
    expect(entries.map(({ header }) => header.name)).toEqual(['big', 'fraction', 'olddir/']);
    expect(entries[0]?.header.uid).toBe(2 ** 40);
    expect(entries[0]?.header.mtime).toBe(1_700_000_000);
    expect(entries[0]?.header.uname).toBe('');
    expect(entries[0]?.header.pax.size).toBe(0);
    expect(entries[1]?.header.mtime).toBe(1.25);
    expect(entries[2]?.header.type).toBe('directory');
    // A malformed global header is still an error.
    const broken = Buffer.concat([encodeHeader({ ...base, path: 'global', type: 'file', size: 12 }), Buffer.from('99 mtime=1\n\n'), padding(12)]);
    broken[156] = 'g'.charCodeAt(0);
    fixChecksum(broken, 0);
    expect(await codeOf(readAll(Buffer.concat([broken, file, endOfArchive])))).toBe('INVALID_ARCHIVE');
  });

  it('ends at two zero blocks or at the end of input after one, and ignores what follows the end', async () => {
    const one = entry({ ...base, path: 'one', type: 'file' }, '1');
    expect((await readAll(Buffer.concat([one, endOfArchive, Buffer.from('trailing garbage')]))).length).toBe(1);
    expect((await readAll(Buffer.concat([one, Buffer.alloc(512)]))).length).toBe(1);
    expect((await readAll(one)).length).toBe(1);
  });

  describe('refuses', () => {
    const one = (): Buffer => entry({ ...base, path: 'one', type: 'file' }, 'content');
    it('a header whose checksum is wrong', async () => {
      const archive = Buffer.concat([one(), endOfArchive]);
      archive[0] = 'X'.charCodeAt(0);
      expect(await codeOf(readAll(archive))).toBe('INVALID_ARCHIVE');
    });
    it('an archive cut inside a header, a body or an extended header', async () => {
      const archive = Buffer.concat([one(), entry({ ...base, path: 'n'.repeat(150), type: 'file' }, 'more')]);
      expect(await codeOf(readAll(archive.subarray(0, 300)))).toBe('INVALID_ARCHIVE');
      expect(await codeOf(readAll(archive.subarray(0, 515)))).toBe('INVALID_ARCHIVE');
      expect(await codeOf(readAll(archive.subarray(0, 1024 + 600)))).toBe('INVALID_ARCHIVE');
    });
    it('a zero block followed by more entries: nothing hides behind an end marker', async () => {
      expect(await codeOf(readAll(Buffer.concat([one(), Buffer.alloc(512), one(), endOfArchive])))).toBe('INVALID_ARCHIVE');
    });
    it('an extended header larger than the cap, before reading it', async () => {
      const header = encodeHeader({ ...base, path: 'huge', type: 'file', size: 64 * 1024 * 1024 });
      header[156] = 'x'.charCodeAt(0);
      fixChecksum(header, 0);
      let pulled = 0;
      const source = (async function* () {
        yield header;
        for (;;) {
          pulled += 1;
          if (pulled > 100) throw new Error('the reader kept reading');
          yield Buffer.alloc(64 * 1024);
        }
      })();
      const consume = async (): Promise<void> => {
        for await (const item of readTar(source)) void item;
      };
      expect(await codeOf(consume())).toBe('INVALID_ARCHIVE');
      expect(pulled).toBeLessThan(3);
    });
    it('malformed PAX records and numbers', async () => {
      for (const records of ['5 a=b\n', '99 path=x\n', 'x path=y\n', '8 =abc\n', '13 uid=-5000\n']) {
        const body = Buffer.from(records);
        const pax = Buffer.concat([encodeHeader({ ...base, path: 'p', type: 'file', size: body.length }), body, padding(body.length)]);
        pax[156] = 'x'.charCodeAt(0);
        fixChecksum(pax, 0);
        expect(await codeOf(readAll(Buffer.concat([pax, one(), endOfArchive]))), records).toBe('INVALID_ARCHIVE');
      }
      const archive = Buffer.concat([one(), endOfArchive]);
      archive.write('12x4567\0', 100, 8, 'ascii');
      fixChecksum(archive, 0);
      expect(await codeOf(readAll(archive))).toBe('INVALID_ARCHIVE');
      const negative = Buffer.concat([one(), endOfArchive]);
      negative[124] = 0xff;
      fixChecksum(negative, 0);
      expect(await codeOf(readAll(negative))).toBe('INVALID_ARCHIVE');
    });
  });
});

describe('readTar on archives made by GNU tar', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'tsbuild-tar-reader-'));
    const tree = join(scratch, 'tree');
    const long = join(tree, 'l'.repeat(120), 'm'.repeat(120));
    await mkdir(long, { recursive: true });
    await writeFile(join(long, 'file.txt'), 'deep');
    await writeFile(join(tree, 'caps'), 'binary');
    setXattr(join(tree, 'caps'), 'user.binary', binary);
    await symlink('l'.repeat(120), join(tree, 's'.repeat(110)));
    makeSpecialFile(join(tree, 'fifo'), 'fifo', 0o640);
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  for (const format of ['gnu', 'posix', 'ustar'] as const) {
    it(`reads --format=${format}`, async () => {
      const args = ['-C', join(scratch, 'tree'), '--sort=name', `--format=${format}`, ...(format === 'posix' ? ['--xattrs', '--xattrs-include=user.*'] : []), '-cf', '-', '.'];
      let archive: Buffer;
      try {
        archive = execFileSync('tar', args, { maxBuffer: 16 << 20 });
      } catch (error) {
        // ustar cannot hold the 241-byte path: GNU tar refuses it, and so the case is only that.
        expect(format).toBe('ustar');
        expect(String((error as { stderr?: Buffer }).stderr)).toMatch(/too long/);
        return;
      }
      const entries = await readAll(archive, 333);
      const byName = new Map(entries.map((item) => [item.header.name.replace(/^\.\//, '').replace(/\/$/, ''), item]));
      expect(byName.get(`${'l'.repeat(120)}/${'m'.repeat(120)}/file.txt`)?.content.toString()).toBe('deep');
      expect(byName.get('s'.repeat(110))?.header.linkname).toBe('l'.repeat(120));
      expect(byName.get('fifo')?.header.type).toBe('fifo');
      expect(byName.get('fifo')?.header.mode).toBe(0o640);
      if (format === 'posix') expect(byName.get('caps')?.header.xattrs.get('user.binary')).toEqual(binary);
    });
  }
});

describe('readTar on damaged archives (property)', () => {
  const valid = Buffer.concat([
    entry({ ...base, path: 'dir', type: 'directory' }),
    entry({ ...base, path: `dir/${'long'.repeat(40)}`, type: 'file', pax: { 'SCHILY.xattr.user.a': binary } }, 'content '.repeat(100)),
    entry({ ...base, path: 'link', type: 'symlink', linkname: 'dir' }),
    entry({ ...base, path: 'fifo', type: 'fifo' }),
    endOfArchive,
  ]);

  it('either reads entries or fails with INVALID_ARCHIVE, whatever bytes are changed, cut or added', async () => {
    const damage = fc.oneof(
      fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((edits) => {
        const copy = Buffer.from(valid);
        for (const [offset, value] of edits) copy[offset] = value;
        return copy;
      }),
      fc.nat({ max: valid.length }).map((length) => valid.subarray(0, length)),
      fc.uint8Array({ maxLength: 2048 }).map((junk) => Buffer.concat([valid.subarray(0, 1024), Buffer.from(junk)])),
    );
    await fc.assert(
      fc.asyncProperty(damage, fc.integer({ min: 1, max: 1500 }), async (archive, chunkSize) => {
        try {
          const entries = await readAll(archive, chunkSize);
          // Whatever was read is consistent: every body as long as its header says.
          for (const { header, content } of entries) expect(content.length).toBe(header.size);
        } catch (error) {
          expect(error).toMatchObject({ code: 'INVALID_ARCHIVE' });
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('entryMtimeNs', () => {
  it('reads a PAX time to the nanosecond as Go does (nine digits, the sign on the whole), else whole seconds', async () => {
    const times = ['1577836800.123456789', '1577836800.5', '-1.5', '-0.25', '1.1234567891234', '1700000000'];
    const archive = Buffer.concat([...times.map((mtime, index) => entry({ ...base, path: `f${index}`, type: 'file', pax: { mtime } })), entry({ ...base, path: 'plain', type: 'file' }), endOfArchive]);
    const read = (await readAll(archive)).map((item) => entryMtimeNs(item.header));
    expect(read).toEqual([1_577_836_800_123_456_789n, 1_577_836_800_500_000_000n, -1_500_000_000n, -250_000_000n, 1_123_456_789n, 1_700_000_000_000_000_000n, 1_700_000_000_000_000_000n]);
  });
});
