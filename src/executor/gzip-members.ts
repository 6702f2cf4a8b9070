/**
 * The members of a gzip file that ADD unpacks, decoded one after another as Go's gzip reader
 * hands them to BuildKit's unpacker. Go decodes only as far as its reader reads, and the tar
 * reader stops at its end blocks: bytes after a member that open no further member (padding, a
 * signature a release tool appended) are never looked at. Here they end the data, so a tar that
 * is whole by then unpacks, and one that is not fails as cut short; zlib's gunzip, which decodes
 * what it is given at once, would fail on them even after a whole tar.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { createInflateRaw, crc32, type InflateRaw } from 'node:zlib';
import { TsbuildError } from '../common/index.js';

/** Compressed bytes read at a time, and the size of the buffers inflate fills. */
const chunkBytes = 128 * 1024;

/** FLG bits of a gzip member header (RFC 1952). */
const headerCrc = 2;
const extraField = 4;
const fileName = 8;
const comment = 16;

/** Where the deflate data of the member at OFFSET starts; undefined when no member header is there. */
async function memberData(handle: FileHandle, offset: number, size: number): Promise<number | undefined> {
  const fixed = Buffer.alloc(10);
  if ((await handle.read(fixed, 0, 10, offset)).bytesRead < 10) return undefined;
  if (fixed[0] !== 0x1f || fixed[1] !== 0x8b || fixed[2] !== 8) return undefined;
  const flags = fixed[3] as number;
  let position = offset + 10;
  if ((flags & extraField) !== 0) {
    const length = Buffer.alloc(2);
    if ((await handle.read(length, 0, 2, position)).bytesRead < 2) return undefined;
    position += 2 + length.readUInt16LE(0);
  }
  for (const flag of [fileName, comment]) {
    if ((flags & flag) === 0) continue;
    // A zero-terminated string.
    const byte = Buffer.alloc(1);
    do {
      if ((await handle.read(byte, 0, 1, position)).bytesRead < 1) return undefined;
      position += 1;
    } while (byte[0] !== 0);
  }
  if ((flags & headerCrc) !== 0) position += 2;
  return position < size ? position : undefined;
}

/** Writes the file from POSITION into INFLATE until it has taken the whole deflate stream, or stops. */
async function feed(handle: FileHandle, position: number, size: number, inflate: InflateRaw): Promise<void> {
  const stopped = (): boolean => inflate.readableEnded || inflate.destroyed || inflate.writableEnded;
  while (position < size && !stopped()) {
    const chunk = Buffer.alloc(Math.min(chunkBytes, size - position));
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
    if (bytesRead === 0) break;
    position += bytesRead;
    if (stopped()) break;
    if (!inflate.write(chunk.subarray(0, bytesRead)) && !stopped()) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          for (const event of ['drain', 'end', 'close', 'error']) inflate.off(event, done);
          resolve();
        };
        for (const event of ['drain', 'end', 'close', 'error']) inflate.on(event, done);
      });
    }
  }
  if (!inflate.writableEnded && !inflate.destroyed) inflate.end();
}

/** The decoded bytes of the gzip file at PATH, member after member (see above). */
export async function* gzipMembers(path: string): AsyncGenerator<Buffer> {
  const what = `read archive ${basename(path)}`;
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    let offset = 0;
    while (offset < size) {
      const start = await memberData(handle, offset, size);
      if (start === undefined) {
        if (offset === 0) throw new TsbuildError('INVALID_ARCHIVE', `${what}: gzip: invalid header`);
        return;
      }
      const inflate = createInflateRaw({ chunkSize: chunkBytes });
      const feeding = feed(handle, start, size, inflate);
      let checksum = 0;
      let length = 0;
      try {
        for await (const chunk of inflate) {
          const bytes = chunk as Buffer;
          checksum = crc32(bytes, checksum);
          length += bytes.length;
          yield bytes;
        }
      } catch (error) {
        throw new TsbuildError('INVALID_ARCHIVE', `${what}: gzip: ${(error as Error).message}`, { cause: error });
      } finally {
        // A reader that stops early (it has what it needed) stops the feeding too.
        inflate.destroy();
        await feeding;
      }
      // bytesWritten is what inflate took: the deflate stream, which the member's trailer follows.
      const end = start + inflate.bytesWritten;
      const trailer = Buffer.alloc(8);
      if ((await handle.read(trailer, 0, 8, end)).bytesRead < 8) throw new TsbuildError('INVALID_ARCHIVE', `${what}: gzip: unexpected EOF`);
      if (trailer.readUInt32LE(0) !== checksum >>> 0 || trailer.readUInt32LE(4) !== length % 2 ** 32) {
        throw new TsbuildError('INVALID_ARCHIVE', `${what}: gzip: invalid checksum`);
      }
      offset = end + 8;
    }
  } finally {
    await handle.close();
  }
}
