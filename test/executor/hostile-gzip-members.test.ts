import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TsbuildError } from '../../src/common/index.js';
import { gzipMembers } from '../../src/executor/gzip-members.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

// Gzip files an ADD source may be: members' headers and counts chosen to cost time or memory.

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await temporaryDirectory();
});
afterEach(async () => dir.cleanup());

async function decoded(name: string, bytes: Buffer): Promise<Buffer> {
  const path = join(dir.path, name);
  await writeFile(path, bytes);
  const chunks: Buffer[] = [];
  for await (const chunk of gzipMembers(path)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function failure(name: string, bytes: Buffer): Promise<TsbuildError> {
  const error = await decoded(name, bytes).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TsbuildError);
  return error as TsbuildError;
}

/** A member of DATA whose header has FLAGS and the fields after the fixed ten bytes. */
function member(data: Buffer, flags: number, fields: Buffer): Buffer {
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data), 0);
  trailer.writeUInt32LE(data.length, 4);
  return Buffer.concat([Buffer.from([0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 3]), fields, deflateRawSync(data), trailer]);
}

describe('gzipMembers on hostile archives', () => {
  it('refuses a name or comment longer than Go reads (512 bytes) without reading it a byte at a time', async () => {
    const long = member(Buffer.from('x'), 8, Buffer.concat([Buffer.alloc(600, 0x41), Buffer.alloc(1)]));
    expect((await failure('long-name.gz', long)).message).toMatch(/long-name\.gz: gzip: invalid header/);
    const comment = member(Buffer.from('x'), 16, Buffer.concat([Buffer.alloc(512, 0x41), Buffer.alloc(1)]));
    expect((await failure('long-comment.gz', comment)).message).toMatch(/invalid header/);
    // 511 bytes and the terminator: the longest Go takes.
    expect((await decoded('longest.gz', member(Buffer.from('x'), 8, Buffer.concat([Buffer.alloc(511, 0x41), Buffer.alloc(1)])))).toString()).toBe('x');
    // A name that never ends, over a file of 8 MiB: one read, not one for each byte.
    const started = Date.now();
    const endless = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 3]), Buffer.alloc(8 << 20, 0x41)]);
    expect((await failure('endless.gz', endless)).message).toMatch(/invalid header/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('checks the header CRC when FHCRC is set', async () => {
    const fields = Buffer.concat([Buffer.from([2, 0, 7, 7]), Buffer.from('n\0'), Buffer.from('c\0')]);
    const header = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 2 | 4 | 8 | 16, 0, 0, 0, 0, 0, 3]), fields]);
    const crc = Buffer.alloc(2);
    crc.writeUInt16LE(crc32(header) & 0xffff, 0);
    const good = member(Buffer.from('checked'), 2 | 4 | 8 | 16, Buffer.concat([fields, crc]));
    expect((await decoded('good-hcrc.gz', good)).toString()).toBe('checked');
    crc.writeUInt16LE((crc32(header) + 1) & 0xffff, 0);
    const bad = member(Buffer.from('checked'), 2 | 4 | 8 | 16, Buffer.concat([fields, crc]));
    expect((await failure('bad-hcrc.gz', bad)).message).toMatch(/bad-hcrc\.gz: gzip: invalid header/);
    // A second member whose header CRC is wrong opens no member: the data ends before it.
    expect((await decoded('second-bad-hcrc.gz', Buffer.concat([gzipSync(Buffer.from('first')), bad]))).toString()).toBe('first');
  });

  it(
    'decodes 100,000 empty members in time linear in their bytes, not a stream and a read buffer each',
    { timeout: 15_000 },
    async () => {
      const empty = gzipSync(Buffer.alloc(0));
      const many = Buffer.concat([...Array.from({ length: 100_000 }, () => empty), gzipSync(Buffer.from('last'))]);
      const started = Date.now();
      expect((await decoded('many.gz', many)).toString()).toBe('last');
      expect(Date.now() - started).toBeLessThan(8000);
    },
  );

  it('streams a member that decodes to 256 MiB in chunks of at most 128 KiB', async () => {
    const path = join(dir.path, 'bomb.gz');
    // 256 MiB of zeros: one deflate stream of about 250 KiB.
    await writeFile(path, gzipSync(Buffer.alloc(256 << 20), { level: 9 }));
    let total = 0;
    let largest = 0;
    for await (const chunk of gzipMembers(path)) {
      total += chunk.length;
      largest = Math.max(largest, chunk.length);
    }
    expect(total).toBe(256 << 20);
    expect(largest).toBeLessThanOrEqual(128 * 1024);
  });

  it('fails with the file named on a wrong length, a cut trailer and a member cut inside the bytes already read', async () => {
    const wrongLength = Buffer.from(gzipSync(Buffer.from('short')));
    wrongLength.writeUInt32LE(6, wrongLength.length - 4);
    expect((await failure('wrong-length.gz', wrongLength)).message).toMatch(/wrong-length\.gz: gzip: invalid checksum/);
    const small = gzipSync(Buffer.from('small member'));
    expect((await failure('cut-trailer.gz', small.subarray(0, small.length - 4))).message).toMatch(/cut-trailer\.gz: gzip: unexpected EOF/);
    expect((await failure('cut-data.gz', small.subarray(0, 14))).message).toMatch(/cut-data\.gz: gzip: unexpected end of file/);
    const corrupt = Buffer.from(small);
    corrupt[10] = 0xff;
    expect((await failure('corrupt.gz', corrupt)).message).toMatch(/corrupt\.gz: gzip: /);
  });
});
