/**
 * A small, deterministic tar encoder: POSIX ustar headers with PAX extended headers where ustar
 * cannot hold a value (long or non-ASCII names, large sizes or ids, times before 1970). Numeric uid/gid only,
 * empty uname/gname, whole-second mtimes; the bytes depend on nothing but the entries given.
 */
import { encodeFileName, TsbuildError, tarBlockSize as blockSize, tarPadding, tarTypeFlags, type TarEntryType } from '../common/index.js';

export type { TarEntryType } from '../common/index.js';

export interface TarHeader {
  /**
   * Relative path, `/`-separated, no leading `/` or `./`; directories without trailing `/`. A
   * name that is not UTF-8 holds its stray bytes escaped (common/file-names.ts) and is written
   * as those bytes.
   */
  readonly path: string;
  readonly type: TarEntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
  /** Bytes of content; files only. */
  readonly size?: number;
  /** Target of a symlink (as written) or hard link (a path in the same archive); bytes escaped as in `path`. */
  readonly linkname?: string;
  /** Device numbers; character and block devices only. */
  readonly devmajor?: number;
  readonly devminor?: number;
  /** Extra PAX records (`SCHILY.xattr.*`); values are bytes where they are not text. */
  readonly pax?: Readonly<Record<string, string | Uint8Array>>;
}


function isPlainAscii(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}

function writeString(block: Buffer, offset: number, length: number, value: string): void {
  block.write(value, offset, length, 'utf8');
}

/** Octal field with trailing NUL; false when the value does not fit (it then goes to PAX). */
function fitsOctal(value: number, length: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value < 8 ** (length - 1);
}

/** LENGTH - 1 octal digits, zero-padded, then NUL (the block is zeroed); zeros when VALUE does not fit. Digit by digit: a layer writes thousands of headers, and the strings made on the way cost more than the writing. */
function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  let rest = fitsOctal(value, length) ? value : 0;
  for (let position = offset + length - 2; position >= offset; position--) {
    block[position] = 0x30 + (rest % 8);
    rest = Math.floor(rest / 8);
  }
}

function paxRecord(key: string, value: string | Uint8Array): Buffer {
  // The length prefix counts its own digits.
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), typeof value === 'string' ? Buffer.from(value, 'utf8') : value, Buffer.from('\n')]);
  let digits = String(body.length).length;
  if (String(body.length + digits).length > digits) digits += 1;
  return Buffer.concat([Buffer.from(String(body.length + digits), 'ascii'), body]);
}

function ustarBlock(header: TarHeader, name: string, typeflag: string, size: number, linkname: string): Buffer {
  const block = Buffer.alloc(blockSize);
  writeString(block, 0, 100, name);
  writeOctal(block, 100, 8, header.mode & 0o7777);
  writeOctal(block, 108, 8, header.uid);
  writeOctal(block, 116, 8, header.gid);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, Math.floor(header.mtime));
  block.fill(0x20, 148, 156);
  block.write(typeflag, 156, 1, 'ascii');
  writeString(block, 157, 100, linkname);
  block.write('ustar\0', 257, 6, 'ascii');
  block.write('00', 263, 2, 'ascii');
  // uname/gname (265, 297) stay empty.
  writeOctal(block, 329, 8, header.devmajor ?? 0);
  writeOctal(block, 337, 8, header.devminor ?? 0);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return block;
}

export function padding(size: number): Buffer {
  return Buffer.alloc(tarPadding(size));
}

/** Header blocks for one entry (a PAX extended header first when needed). Content and padding follow. */
export function encodeHeader(header: TarHeader): Buffer {
  if (header.path === '' || header.path.startsWith('/') || header.path.split('/').includes('..')) {
    throw new TsbuildError('UNSAFE_PATH', `write tar entry ${JSON.stringify(header.path)}: not a clean relative path`);
  }
  const size = header.type === 'file' ? (header.size ?? 0) : 0;
  const name = header.type === 'directory' ? `${header.path}/` : header.path;
  const linkname = header.linkname ?? '';
  const records: Array<[string, string | Uint8Array]> = [];
  // The name's own bytes, as Go's archive/tar writes a name (a Go string is bytes): one that is
  // not UTF-8 stays as it was on disk.
  if (Buffer.byteLength(name) > 100 || !isPlainAscii(name)) records.push(['path', encodeFileName(name)]);
  if (Buffer.byteLength(linkname) > 100 || !isPlainAscii(linkname)) records.push(['linkpath', encodeFileName(linkname)]);
  if (!fitsOctal(size, 12)) records.push(['size', String(size)]);
  if (!fitsOctal(header.uid, 8)) records.push(['uid', String(header.uid)]);
  if (!fitsOctal(header.gid, 8)) records.push(['gid', String(header.gid)]);
  // A time before 1970 (or past 2242) in a PAX record, as Go's archive/tar writes it for moby.
  if (!fitsOctal(Math.floor(header.mtime), 12)) records.push(['mtime', String(Math.floor(header.mtime))]);
  for (const key of Object.keys(header.pax ?? {}).sort()) records.push([key, header.pax?.[key] ?? '']);
  const main = ustarBlock(header, records.some(([key]) => key === 'path') ? asciiPrefix(name) : name, tarTypeFlags[header.type], size, records.some(([key]) => key === 'linkpath') ? asciiPrefix(linkname) : linkname);
  if (records.length === 0) return main;
  records.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const body = Buffer.concat(records.map(([key, value]) => paxRecord(key, value)));
  const paxName = asciiPrefix(`PaxHeaders.0/${name.replace(/\/$/, '').split('/').at(-1) ?? ''}`);
  const paxHeader = ustarBlock({ path: paxName, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0 }, paxName, 'x', body.length, '');
  return Buffer.concat([paxHeader, body, padding(body.length), main]);
}

/** A stand-in for the ustar field when the real value is in a PAX record (readers without PAX see this). */
function asciiPrefix(text: string): string {
  let result = '';
  for (const char of text) {
    const next = result + (isPlainAscii(char) ? char : '_');
    if (Buffer.byteLength(next) > 99) break;
    result = next;
  }
  return result;
}

/** Two zero blocks end an archive. */
export const endOfArchive = Buffer.alloc(blockSize * 2);
