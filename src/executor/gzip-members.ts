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
import type { InflateRaw } from 'node:zlib';
import { nodeZlib, TsbuildError } from '../common/index.js';

/** Compressed bytes read at a time, and the size of the buffers inflate fills. */
const chunkBytes = 128 * 1024;

/** The longest FNAME or FCOMMENT, terminator included, that Go's gzip reader takes (its header buffer). */
const headerStringBytes = 512;

/** FLG bits of a gzip member header (RFC 1952). */
const headerCrc = 2;
const extraField = 4;
const fileName = 8;
const comment = 16;

/**
 * The file read through one buffer that members' headers and deflate data share: an archive of
 * many small members (or a long header string) costs one read per chunk, not reads and buffers
 * of a chunk for each member or a read for each byte.
 */
class FileWindow {
  private bytes = Buffer.alloc(0);
  private start = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  /** LENGTH bytes at POSITION, fewer only where the file ends. */
  async at(position: number, length: number): Promise<Buffer> {
    const end = Math.min(position + length, this.size);
    if (position < this.start || end > this.start + this.bytes.length) await this.fill(position, length);
    return this.bytes.subarray(position - this.start, Math.max(position, end) - this.start);
  }

  /** The bytes from POSITION to the end of the buffer (a new buffer's when POSITION is outside it); empty at the file's end. */
  async chunk(position: number): Promise<Buffer> {
    if (position < this.start || position >= this.start + this.bytes.length) await this.fill(position, chunkBytes);
    return this.bytes.subarray(position - this.start);
  }

  private async fill(position: number, length: number): Promise<void> {
    // A new buffer each time: slices handed out before (to inflate) stay as they were.
    const buffer = Buffer.allocUnsafe(Math.max(0, Math.min(Math.max(length, chunkBytes), this.size - position)));
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await this.handle.read(buffer, filled, buffer.length - filled, position + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    this.bytes = buffer.subarray(0, filled);
    this.start = position;
  }
}

/**
 * Where the deflate data of the member at OFFSET starts; undefined when no member header is
 * there, as Go's reader finds none: wrong magic, a field cut by the file's end, a name or
 * comment longer than Go's 512 bytes, a header checksum that does not match.
 */
async function memberData(file: FileWindow, offset: number): Promise<number | undefined> {
  const fixed = await file.at(offset, 10);
  if (fixed.length < 10 || fixed[0] !== 0x1f || fixed[1] !== 0x8b || fixed[2] !== 8) return undefined;
  const flags = fixed[3] as number;
  let position = offset + 10;
  if ((flags & extraField) !== 0) {
    const length = await file.at(position, 2);
    if (length.length < 2) return undefined;
    position += 2 + length.readUInt16LE(0);
  }
  for (const flag of [fileName, comment]) {
    if ((flags & flag) === 0) continue;
    const text = await file.at(position, headerStringBytes);
    const terminator = text.indexOf(0);
    if (terminator < 0) return undefined;
    position += terminator + 1;
  }
  if ((flags & headerCrc) !== 0) {
    // The low 16 bits of the CRC-32 of the header before it; every field together is at most
    // 10 + 2 + 65535 + 2 * 512 bytes, one read.
    const header = await file.at(offset, position + 2 - offset);
    if (header.length < position + 2 - offset) return undefined;
    if (header.readUInt16LE(position - offset) !== (nodeZlib().crc32(header.subarray(0, position - offset)) & 0xffff)) return undefined;
    position += 2;
  }
  return position < file.size ? position : undefined;
}

/** Writes the file from POSITION into INFLATE until it has taken the whole deflate stream, or stops. */
async function feed(file: FileWindow, position: number, inflate: InflateRaw): Promise<void> {
  const stopped = (): boolean => inflate.readableEnded || inflate.destroyed || inflate.writableEnded;
  while (position < file.size && !stopped()) {
    const chunk = await file.chunk(position);
    if (chunk.length === 0) break;
    position += chunk.length;
    if (stopped()) break;
    if (!inflate.write(chunk) && !stopped()) {
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

/** Where a member's deflate data ended, and the CRC-32 and length of what it decoded to. */
interface MemberEnd {
  end: number;
  checksum: number;
  length: number;
}

/**
 * The member whose deflate data INPUT starts with, decoded in one call when that data lies
 * within INPUT and decodes to at most chunkBytes: an archive of many small members then costs no
 * stream for each. Undefined otherwise, and on bad data, which the stream reports.
 */
function decodedAtOnce(input: Buffer): { bytes: Buffer; taken: number } | undefined {
  try {
    // With info, the sync call hands back its engine too; its bytesWritten is the input the
    // deflate stream took, bytes after its end left untaken.
    const { buffer, engine } = nodeZlib().inflateRawSync(input, { info: true, maxOutputLength: chunkBytes }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    return { bytes: buffer, taken: engine.bytesWritten };
  } catch {
    return undefined;
  }
}

/** The member whose deflate data starts at START, decoded as it is read. */
async function* streamed(file: FileWindow, start: number, what: string): AsyncGenerator<Buffer, MemberEnd> {
  const inflate = nodeZlib().createInflateRaw({ chunkSize: chunkBytes });
  const feeding = feed(file, start, inflate);
  let checksum = 0;
  let length = 0;
  try {
    for await (const chunk of inflate) {
      const bytes = chunk as Buffer;
      checksum = nodeZlib().crc32(bytes, checksum);
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
  return { end: start + inflate.bytesWritten, checksum, length };
}

/** The decoded bytes of the gzip file at PATH, member after member (see above). */
export async function* gzipMembers(path: string, name = basename(path)): AsyncGenerator<Buffer> {
  const what = `read archive ${name}`;
  const handle = await open(path, 'r');
  try {
    const file = new FileWindow(handle, (await handle.stat()).size);
    let offset = 0;
    while (offset < file.size) {
      const start = await memberData(file, offset);
      if (start === undefined) {
        if (offset === 0) throw new TsbuildError('INVALID_ARCHIVE', `${what}: gzip: invalid header`);
        return;
      }
      let member: MemberEnd;
      const whole = decodedAtOnce(await file.chunk(start));
      if (whole === undefined) {
        member = yield* streamed(file, start, what);
      } else {
        if (whole.bytes.length > 0) yield whole.bytes;
        member = { end: start + whole.taken, checksum: nodeZlib().crc32(whole.bytes), length: whole.bytes.length };
      }
      const trailer = await file.at(member.end, 8);
      if (trailer.length < 8) throw new TsbuildError('INVALID_ARCHIVE', `${what}: gzip: unexpected EOF`);
      if (trailer.readUInt32LE(0) !== member.checksum >>> 0 || trailer.readUInt32LE(4) !== member.length % 2 ** 32) {
        throw new TsbuildError('INVALID_ARCHIVE', `${what}: gzip: invalid checksum`);
      }
      offset = member.end + 8;
    }
  } finally {
    await handle.close();
  }
}
