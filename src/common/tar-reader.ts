/**
 * A streaming tar reader: ustar, GNU (long names, base-256 numbers) and PAX (per entry; a
 * global header is checked and applies to nothing), read the way Go's archive/tar reads them,
 * since that is what wrote most layers and what docker and BuildKit unpack them with.
 *
 * Written here rather than taken from tar-stream because layers carry binary PAX values:
 * `SCHILY.xattr.security.capability` is raw bytes, which a reader decoding every PAX value as
 * UTF-8 corrupts. Values stay bytes here; only names are decoded.
 *
 * Nothing in the input is trusted: checksums are verified, sizes and numbers are bounded,
 * extended headers are capped in size (each, and all those of one entry together), and a
 * truncated archive is an error, not a short entry.
 *
 * Sparse files (GNU tar's `--sparse`: the old GNU `S` entries, PAX formats 0.1 and 1.0) are read
 * as Go reads them: a regular file of its real size, the holes as zeros. Their maps are checked
 * (in order, not overlapping, inside the file, accounting for exactly the stored bytes).
 */
import { TsbuildError } from './errors.js';
import { decodeFileName } from './file-names.js';
import { tarBlockSize as blockSize, tarPadding as padding, tarTypeFlags, type TarEntryType } from './tar-format.js';

/** What a header says it is: one of the types tsbuild knows, or another. */
export type TarReadType = TarEntryType | 'unsupported';

export interface TarEntryHeader {
  /**
   * As written (PAX `path` and GNU long names applied), decoded as UTF-8; a name that is not
   * UTF-8 keeps its stray bytes escaped (file-names.ts), so it is created as the bytes it was.
   */
  readonly name: string;
  readonly type: TarReadType;
  /** The raw type flag, for errors about unsupported entries. */
  readonly typeflag: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Bytes of content that follow the header (zero for header-only types, as in Go). */
  readonly size: number;
  /** Seconds since the epoch, with a fraction when PAX gives one. */
  readonly mtime: number;
  readonly linkname: string;
  readonly uname: string;
  readonly gname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** Extended attributes from `SCHILY.xattr.NAME` records, values as bytes. */
  readonly xattrs: ReadonlyMap<string, Buffer>;
  /** Every PAX record of the entry's own headers (a global header applies to none, as in Go), values as bytes. */
  readonly pax: ReadonlyMap<string, Buffer>;
}

export interface TarEntry {
  readonly header: TarEntryHeader;
  /**
   * The content, in chunks as they arrive. Read it (or not) before asking for the next entry:
   * what is left unread is skipped then.
   */
  readonly body: AsyncIterable<Buffer>;
}

export interface TarReadOptions {
  /** Largest PAX or GNU long-name header accepted; default 1 MiB. */
  readonly maxExtendedHeaderBytes?: number;
  /** Names the archive in errors. */
  readonly what?: string;
}

const paxXattrPrefix = 'SCHILY.xattr.';
/** Types whose size field says nothing about what follows: no content (Go's isHeaderOnlyType). */
const headerOnly = new Set<TarReadType>(['link', 'symlink', 'character-device', 'block-device', 'directory', 'fifo']);

const typeByFlag: Readonly<Record<string, TarEntryType>> = {
  ...Object.fromEntries(Object.entries(tarTypeFlags).map(([type, flag]) => [flag, type as TarEntryType])),
  // Go reads both as a regular file: a NUL flag (old archives) and `7` (contiguous file).
  '\0': 'file',
  '7': 'file',
};

/** Bytes of an async iterable, taken as exact slices or streamed, never more than asked for. */
class ByteSource {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  /** Bytes consumed so far: positions in errors. */
  offset = 0;

  constructor(private readonly iterator: AsyncIterator<Uint8Array>) {}

  private async more(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.iterator.next();
    if (next.done === true) {
      this.ended = true;
      return false;
    }
    const value = next.value;
    const chunk = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    return true;
  }

  /** Exactly LENGTH bytes, or undefined when the input ends first (having consumed what there was). */
  async take(length: number): Promise<Buffer | undefined> {
    while (this.buffered < length) if (!(await this.more())) break;
    if (this.buffered < length) {
      this.offset += this.buffered;
      this.chunks.length = 0;
      this.buffered = 0;
      return undefined;
    }
    const first = this.chunks[0] as Buffer;
    let result: Buffer;
    if (first.length >= length) {
      result = first.subarray(0, length);
      this.drop(length);
    } else {
      result = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const chunk = this.chunks[0] as Buffer;
        const part = Math.min(chunk.length, length - filled);
        chunk.copy(result, filled, 0, part);
        filled += part;
        this.drop(part);
      }
    }
    return result;
  }

  private drop(length: number): void {
    const first = this.chunks[0] as Buffer;
    if (length === first.length) this.chunks.shift();
    else this.chunks[0] = first.subarray(length);
    this.buffered -= length;
    this.offset += length;
  }

  /** The next chunk of at most LENGTH bytes, or undefined at the end of the input. */
  async next(length: number): Promise<Buffer | undefined> {
    if (this.buffered === 0 && !(await this.more())) return undefined;
    if (this.buffered === 0) return this.next(length);
    const first = this.chunks[0] as Buffer;
    const part = first.length <= length ? first : first.subarray(0, length);
    this.drop(part.length);
    return part;
  }

  async skip(length: number): Promise<boolean> {
    let left = length;
    while (left > 0) {
      const chunk = await this.next(left);
      if (chunk === undefined) return false;
      left -= chunk.length;
    }
    return true;
  }
}


function cString(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return decodeFileName(field.subarray(0, end === -1 ? field.length : end));
}

/**
 * An octal field (NUL or space padded), or GNU's base-256 form (high bit of the first byte set)
 * for values octal cannot hold. Anything else is an error, as is a value past 2^53.
 */
function numeric(block: Buffer, offset: number, length: number, field: string, fail: (message: string) => TsbuildError): number {
  const bytes = block.subarray(offset, offset + length);
  if (((bytes[0] ?? 0) & 0x80) !== 0) {
    if (((bytes[0] ?? 0) & 0x40) !== 0) throw fail(`${field} is negative`);
    let value = (bytes[0] ?? 0) & 0x3f;
    for (let index = 1; index < bytes.length; index++) {
      value = value * 256 + (bytes[index] ?? 0);
      if (!Number.isSafeInteger(value)) throw fail(`${field} is too large`);
    }
    return value;
  }
  const text = bytes.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw fail(`${field} is not an octal number: ${JSON.stringify(text)}`);
  const value = parseInt(text, 8);
  if (!Number.isSafeInteger(value)) throw fail(`${field} is too large`);
  return value;
}

/** Go accepts both the unsigned and the signed sum of the header with the checksum field as spaces. */
function checksumMatches(block: Buffer, fail: (message: string) => TsbuildError): boolean {
  const stored = numeric(block, 148, 8, 'checksum', fail);
  let unsigned = 0;
  let signed = 0;
  for (let index = 0; index < blockSize; index++) {
    const byte = index >= 148 && index < 156 ? 0x20 : (block[index] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

/** PAX records: `LENGTH KEY=VALUE\n`, LENGTH counting the whole record. Values stay bytes. */
function parsePax(data: Buffer, fail: (message: string) => TsbuildError): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let offset = 0;
  while (offset < data.length) {
    // Padding NULs after the last record are allowed.
    if (data[offset] === 0 && data.subarray(offset).every((byte) => byte === 0)) break;
    const space = data.indexOf(0x20, offset);
    if (space === -1 || space - offset > 20) throw fail('malformed PAX record length');
    const lengthText = data.toString('latin1', offset, space);
    if (!/^[1-9][0-9]*$/.test(lengthText)) throw fail('malformed PAX record length');
    const length = Number(lengthText);
    const end = offset + length;
    if (end > data.length || data[end - 1] !== 0x0a) throw fail('PAX record runs past its header');
    const record = data.subarray(space + 1, end - 1);
    const equals = record.indexOf(0x3d);
    if (equals <= 0) throw fail('PAX record without a key');
    const key = record.toString('utf8', 0, equals);
    records.set(key, Buffer.from(record.subarray(equals + 1)));
    offset = end;
  }
  return records;
}

function paxNumber(value: Buffer | undefined, key: string, fail: (message: string) => TsbuildError): number | undefined {
  if (value === undefined) return undefined;
  const text = value.toString('latin1');
  if (!/^[0-9]{1,16}$/.test(text)) throw fail(`PAX ${key} is not a number: ${JSON.stringify(text.slice(0, 40))}`);
  const number = Number(text);
  // Past 2^53 a double rounds: a size would no longer say where the next header starts.
  if (!Number.isSafeInteger(number)) throw fail(`PAX ${key} is too large`);
  return number;
}

function paxTime(value: Buffer | undefined, fail: (message: string) => TsbuildError): number | undefined {
  if (value === undefined) return undefined;
  const text = value.toString('latin1');
  if (!/^-?[0-9]{1,16}(\.[0-9]{0,19})?$/.test(text)) throw fail(`PAX mtime is not a time: ${JSON.stringify(text.slice(0, 40))}`);
  return Number(text);
}

/**
 * HEADER's mtime in nanoseconds, exactly: a PAX time as Go's parsePAXTime reads it (nine digits of
 * fraction at most, the rest dropped; `-1.5` is a second and a half before 1970), which a double
 * cannot hold to the nanosecond; else the header's whole seconds.
 */
export function entryMtimeNs(header: TarEntryHeader): bigint {
  const text = header.pax.get('mtime')?.toString('latin1');
  if (text === undefined) return BigInt(Math.floor(header.mtime)) * 1_000_000_000n;
  const [whole = '', fraction = ''] = text.split('.');
  const nanoseconds = BigInt(fraction.slice(0, 9).padEnd(9, '0'));
  // The reader took the text for a time (paxTime): digits, a sign, at most one point.
  const seconds = BigInt(whole) * 1_000_000_000n;
  return whole.startsWith('-') ? seconds - nanoseconds : seconds + nanoseconds;
}

/** One stretch of a sparse file's content that is stored; what lies between is a hole. */
interface SparseRegion {
  readonly offset: number;
  readonly length: number;
}

/** Largest sparse map read: regions of a few bytes each, as many as an extended header may hold. */
const maxSparseRegions = 64 * 1024;

/** Regions of an old GNU sparse map in BLOCK from OFFSET: COUNT entries of offset and length. */
function oldGnuRegions(block: Buffer, offset: number, count: number, fail: (message: string) => TsbuildError): SparseRegion[] {
  const regions: SparseRegion[] = [];
  for (let index = 0; index < count; index++) {
    const at = offset + index * 24;
    // An entry starting with NUL ends the map (as GNU, BSD and Go tar read it).
    if (block[at] === 0) break;
    regions.push({ offset: numeric(block, at, 12, 'sparse offset', fail), length: numeric(block, at + 12, 12, 'sparse length', fail) });
  }
  return regions;
}

/** `GNU.sparse.map` of PAX 0.1: `offset,length,offset,length…`. */
function paxSparseMap(text: string, fail: (message: string) => TsbuildError): SparseRegion[] {
  const numbers = text === '' ? [] : text.split(',');
  if (numbers.length % 2 !== 0 || numbers.length / 2 > maxSparseRegions) throw fail('malformed GNU.sparse.map');
  const regions: SparseRegion[] = [];
  for (let index = 0; index < numbers.length; index += 2) {
    const [offset, length] = [numbers[index] ?? '', numbers[index + 1] ?? ''].map((value) => (/^[0-9]{1,16}$/.test(value) ? Number(value) : Number.NaN));
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length)) throw fail('malformed GNU.sparse.map');
    regions.push({ offset: offset as number, length: length as number });
  }
  return regions;
}

/** Go's validateSparseEntries: regions in order, none overlapping, all inside SIZE, their lengths STORED. */
function checkSparse(regions: readonly SparseRegion[], size: number, stored: number, fail: (message: string) => TsbuildError): void {
  let end = 0;
  let total = 0;
  for (const region of regions) {
    if (region.offset < end || region.offset + region.length > size) throw fail("regions out of order or past the file's size");
    end = region.offset + region.length;
    total += region.length;
  }
  if (total !== stored) throw fail(`${total} bytes mapped, ${stored} stored`);
}

/** What a sparse file's holes are read as; a writer may seek over it instead (see `isSparseHole`). */
const zeros = Buffer.alloc(1024 * 1024);

/**
 * Whether CHUNK of an entry's body is (part of) a hole of a sparse file: zeros that a writer may
 * skip with a seek, as Go's tar reader does for a file it can seek in, so a hole takes no disk.
 */
export function isSparseHole(chunk: Buffer): boolean {
  return chunk.buffer === zeros.buffer;
}

/** Reads a tar stream entry by entry. See TarEntry for how bodies are consumed. */
export async function* readTar(source: AsyncIterable<Uint8Array>, options: TarReadOptions = {}): AsyncGenerator<TarEntry> {
  const maxExtended = options.maxExtendedHeaderBytes ?? 1024 * 1024;
  const what = options.what ?? 'tar archive';
  const iterator = source[Symbol.asyncIterator]();
  const bytes = new ByteSource(iterator);
  const fail = (message: string): TsbuildError => new TsbuildError('INVALID_ARCHIVE', `${what}: at byte ${bytes.offset}: ${message}`);
  try {
    for (;;) {
      let pax: Map<string, Buffer> | undefined;
      /** Bytes of the PAX headers read for this entry: each is bounded, and so are all of them together. */
      let paxBytes = 0;
      let longName: string | undefined;
      let longLink: string | undefined;
      let block: Buffer | undefined;
      for (;;) {
        const start = bytes.offset;
        block = await bytes.take(blockSize);
        if (block === undefined) {
          // The end of the input at an entry boundary ends the archive (Go reads it so too).
          if (bytes.offset === start && pax === undefined && longName === undefined && longLink === undefined) return;
          throw fail('unexpected end of archive in a header');
        }
        if (block.every((byte) => byte === 0)) {
          if (pax !== undefined || longName !== undefined || longLink !== undefined) throw fail('extended header without an entry');
          // Two zero blocks end the archive, and so does the input ending after one; a zero block
          // followed by anything else is refused, as Go does, rather than hiding what follows.
          const second = await bytes.take(blockSize);
          if (second === undefined || second.every((byte) => byte === 0)) return;
          throw fail('a zero block inside the archive');
        }
        if (!checksumMatches(block, fail)) throw fail('header checksum mismatch');
        const flag = String.fromCharCode(block[156] ?? 0);
        if (flag !== 'x' && flag !== 'g' && flag !== 'L' && flag !== 'K') break;
        const size = numeric(block, 124, 12, 'size', fail);
        if (size > maxExtended) throw fail(`extended header of ${size} bytes, more than the ${maxExtended} allowed`);
        const data = await bytes.take(size);
        if (data === undefined || !(await bytes.skip(padding(size)))) throw fail('unexpected end of archive in an extended header');
        if (flag === 'x') {
          // Several PAX headers for one entry are merged, in place: a chain of them costs what
          // it holds, and holds at most what one may.
          paxBytes += size;
          if (paxBytes > maxExtended) throw fail(`extended headers of ${paxBytes} bytes for one entry, more than the ${maxExtended} allowed`);
          pax ??= new Map();
          for (const [key, value] of parsePax(data, fail)) pax.set(key, value);
        } else if (flag === 'g') {
          // Checked, then left out, as Go's reader does (and so docker, containerd and BuildKit,
          // which never apply a global header): applied to every later entry, 1 MiB of records
          // (xattrs among them) would be copied and set for each of a million tiny entries.
          parsePax(data, fail);
        } else {
          const end = data.indexOf(0);
          const text = decodeFileName(data.subarray(0, end === -1 ? data.length : end));
          if (flag === 'L') longName = text;
          else longLink = text;
        }
      }

      const records: ReadonlyMap<string, Buffer> = pax ?? new Map();
      const magic = block.toString('latin1', 257, 263);
      const version = block.toString('latin1', 263, 265);
      const ustar = magic === 'ustar\0' && version === '00';
      let name = cString(block, 0, 100);
      // Only POSIX ustar has the prefix field; GNU keeps other things there.
      if (ustar) {
        const prefix = cString(block, 345, 155);
        if (prefix !== '') name = `${prefix}/${name}`;
      }
      const flag = String.fromCharCode(block[156] ?? 0);
      let type: TarReadType = typeByFlag[flag] ?? 'unsupported';
      const paxPath = records.get('path');
      name = paxPath === undefined ? (longName ?? name) : decodeFileName(paxPath);
      // Old archives mark directories by a trailing slash on a regular file.
      if (flag === '\0' && name.endsWith('/')) type = 'directory';
      const paxLinkpath = records.get('linkpath');
      const linkname = paxLinkpath === undefined ? (longLink ?? cString(block, 157, 100)) : decodeFileName(paxLinkpath);
      const declaredSize = paxNumber(records.get('size'), 'size', fail) ?? numeric(block, 124, 12, 'size', fail);
      /** Bytes that follow the header in the archive (a sparse file's stored regions, and its map for PAX 1.0). */
      const size = headerOnly.has(type) ? 0 : declaredSize;
      let sparse: { regions: SparseRegion[]; realSize: number; mapBytes: number } | undefined;
      const sparseFail = (message: string): TsbuildError => fail(`sparse map of ${JSON.stringify(name.slice(0, 200))}: ${message}`);
      if (flag === 'S') {
        // Old GNU: four regions in the header, more in extension blocks, the real size at 483.
        const regions = oldGnuRegions(block, 386, 4, sparseFail);
        let extended = block[482] !== 0;
        while (extended) {
          const extension = await bytes.take(blockSize);
          if (extension === undefined) throw sparseFail('unexpected end of archive in a sparse header');
          if (regions.length > maxSparseRegions) throw sparseFail('sparse map too large');
          regions.push(...oldGnuRegions(extension, 0, 21, sparseFail));
          extended = extension[504] !== 0;
        }
        type = 'file';
        sparse = { regions, realSize: numeric(block, 483, 12, 'real size', sparseFail), mapBytes: 0 };
      } else if (records.has('GNU.sparse.major') || records.has('GNU.sparse.map') || records.has('GNU.sparse.offset')) {
        const major = records.get('GNU.sparse.major')?.toString('latin1');
        const minor = records.get('GNU.sparse.minor')?.toString('latin1');
        if (major === '1' && minor === '0') {
          // PAX 1.0: the map leads the content as lines (a count, then offset and length pairs), padded to a block.
          const realSize = paxNumber(records.get('GNU.sparse.realsize'), 'GNU.sparse.realsize', fail) ?? 0;
          // Read block by block until it holds LINES lines, counting them as they come: the map
          // is split once, not again for every block (which took minutes for a map of a few MiB
          // with no line end), and no larger than an extended header, as Go's reader caps it
          // (errSparseTooLong).
          let text = '';
          let mapBytes = 0;
          let lineEnds = 0;
          const readLines = async (lines: number): Promise<void> => {
            while (lineEnds < lines) {
              if (mapBytes + blockSize > size) throw sparseFail('malformed PAX 1.0 sparse map');
              if (mapBytes + blockSize > maxExtended) throw sparseFail(`sparse map longer than the ${maxExtended} bytes allowed`);
              const mapBlock = await bytes.take(blockSize);
              if (mapBlock === undefined) throw sparseFail('unexpected end of archive in a sparse map');
              mapBytes += blockSize;
              for (const byte of mapBlock) if (byte === 0x0a) lineEnds++;
              text += mapBlock.toString('latin1');
            }
          };
          const number = (line: string | undefined): number => {
            const value = line !== undefined && /^[0-9]{1,16}$/.test(line) ? Number(line) : Number.NaN;
            if (!Number.isSafeInteger(value)) throw sparseFail('malformed PAX 1.0 sparse map');
            return value;
          };
          await readLines(1);
          const count = number(text.slice(0, text.indexOf('\n')));
          if (count > maxSparseRegions) throw sparseFail('malformed PAX 1.0 sparse map');
          await readLines(1 + 2 * count);
          const numbers = text.split('\n', 1 + 2 * count).slice(1).map(number);
          const regions: SparseRegion[] = [];
          for (let index = 0; index < numbers.length; index += 2) regions.push({ offset: numbers[index] as number, length: numbers[index + 1] as number });
          sparse = { regions, realSize, mapBytes };
        } else if (records.has('GNU.sparse.map')) {
          const realSize = paxNumber(records.get('GNU.sparse.size'), 'GNU.sparse.size', fail) ?? 0;
          sparse = { regions: paxSparseMap(records.get('GNU.sparse.map')?.toString('latin1') ?? '', sparseFail), realSize, mapBytes: 0 };
        } else {
          throw fail(`sparse file ${JSON.stringify(name.slice(0, 200))} in PAX format ${major ?? '0'}.${minor ?? '0'}, which is not read`);
        }
        const sparseName = records.get('GNU.sparse.name');
        if (sparseName !== undefined) name = decodeFileName(sparseName);
      }
      if (sparse !== undefined) checkSparse(sparse.regions, sparse.realSize, size - sparse.mapBytes, sparseFail);
      const xattrs = new Map<string, Buffer>();
      for (const [key, value] of records) if (key.startsWith(paxXattrPrefix) && key.length > paxXattrPrefix.length) xattrs.set(key.slice(paxXattrPrefix.length), value);
      const header: TarEntryHeader = {
        name,
        type,
        typeflag: flag,
        mode: numeric(block, 100, 8, 'mode', fail),
        uid: paxNumber(records.get('uid'), 'uid', fail) ?? numeric(block, 108, 8, 'uid', fail),
        gid: paxNumber(records.get('gid'), 'gid', fail) ?? numeric(block, 116, 8, 'gid', fail),
        size: sparse === undefined ? size : sparse.realSize,
        mtime: paxTime(records.get('mtime'), fail) ?? numeric(block, 136, 12, 'mtime', fail),
        linkname,
        uname: records.get('uname')?.toString('utf8') ?? cString(block, 265, 32),
        gname: records.get('gname')?.toString('utf8') ?? cString(block, 297, 32),
        // Device numbers are in ustar and GNU headers (both magics start with "ustar"), not in
        // v7 ones.
        devmajor: magic.startsWith('ustar') ? numeric(block, 329, 8, 'devmajor', fail) : 0,
        devminor: magic.startsWith('ustar') ? numeric(block, 337, 8, 'devminor', fail) : 0,
        xattrs,
        pax: records,
      };

      let remaining = size - (sparse?.mapBytes ?? 0);
      const stored = async function* (length: number): AsyncGenerator<Buffer> {
        let left = length;
        while (left > 0) {
          const chunk = await bytes.next(left);
          if (chunk === undefined) throw fail(`unexpected end of archive in the content of ${JSON.stringify(name.slice(0, 200))}`);
          remaining -= chunk.length;
          left -= chunk.length;
          yield chunk;
        }
      };
      const holes = function* (length: number): Generator<Buffer> {
        for (let left = length; left > 0; left -= zeros.length) yield zeros.subarray(0, Math.min(left, zeros.length));
      };
      const body = (async function* (): AsyncGenerator<Buffer> {
        if (sparse === undefined) {
          yield* stored(remaining);
          return;
        }
        // The regions were checked: in order, inside the real size.
        let position = 0;
        for (const region of sparse.regions) {
          yield* holes(region.offset - position);
          yield* stored(region.length);
          position = region.offset + region.length;
        }
        yield* holes(sparse.realSize - position);
      })();
      yield { header, body };
      if (remaining > 0 && !(await bytes.skip(remaining))) throw fail(`unexpected end of archive in the content of ${JSON.stringify(name.slice(0, 200))}`);
      remaining = 0;
      if (!(await bytes.skip(padding(size)))) throw fail('unexpected end of archive in padding');
    }
  } finally {
    await iterator.return?.();
  }
}
