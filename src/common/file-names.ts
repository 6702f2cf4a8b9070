/**
 * File names are bytes; JavaScript strings are UTF-16. A name that is valid UTF-8 is its decoded
 * text, as everywhere in Node. A name that is not (a Latin-1 `caf\xe9` a RUN left, as BuildKit
 * keeps it) holds each byte that is not part of a valid UTF-8 sequence as a lone low surrogate,
 * U+DC80 to U+DCFF, as Python's surrogateescape does: no valid UTF-8 decodes to a lone
 * surrogate, so such a string stands for exactly one byte string, and `encodeFileName` gives the
 * bytes back. Node's own decoding would make each of those bytes U+FFFD, and the name could
 * then neither be opened nor written to a layer as it was.
 *
 * The common case stays on Node's string paths: only a name with a lone surrogate takes a Buffer.
 */
import { readdirSync, type Dirent } from 'node:fs';
import { isUtf8 } from 'node:buffer';

const escapeBase = 0xdc00;
/** A lone surrogate: with the u flag a valid pair is one code point and does not match. */
const loneSurrogate = /\p{Cs}/u;

/** A surrogate (a pair, or an escaped byte) or a character from U+E000 up. */
const beyondByteOrder = /[\uD800-\uFFFF]/;

/**
 * Whether TEXT's UTF-16 code units order as its bytes on disk do (UTF-8, escaped bytes as
 * themselves): true unless it holds a surrogate or a character from U+E000 up, where the two
 * orders part. Comparing such names as strings spares encoding them.
 */
export function codeUnitsOrderAsBytes(text: string): boolean {
  return !beyondByteOrder.test(text);
}

/** Whether NAME is plain text (no byte of it escaped), the common case. */
export function isTextName(name: string): boolean {
  return !loneSurrogate.test(name);
}

/** Length of the valid UTF-8 sequence at BYTES[INDEX], or 0 when none starts there (Unicode's table 3-7). */
function sequenceLength(bytes: Uint8Array, index: number): number {
  const lead = bytes[index] ?? 0;
  const at = (offset: number, low = 0x80, high = 0xbf): boolean => {
    const byte = bytes[index + offset];
    return byte !== undefined && byte >= low && byte <= high;
  };
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return at(1) ? 2 : 0;
  if (lead === 0xe0) return at(1, 0xa0) && at(2) ? 3 : 0;
  if (lead === 0xed) return at(1, 0x80, 0x9f) && at(2) ? 3 : 0;
  if (lead >= 0xe1 && lead <= 0xef) return at(1) && at(2) ? 3 : 0;
  if (lead === 0xf0) return at(1, 0x90) && at(2) && at(3) ? 4 : 0;
  if (lead >= 0xf1 && lead <= 0xf3) return at(1) && at(2) && at(3) ? 4 : 0;
  if (lead === 0xf4) return at(1, 0x80, 0x8f) && at(2) && at(3) ? 4 : 0;
  return 0;
}

/** The name BYTES hold: its text when valid UTF-8, else with each stray byte escaped (see above). */
export function decodeFileName(bytes: Uint8Array): string {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buffer)) return buffer.toString('utf8');
  let text = '';
  let runStart = 0;
  let index = 0;
  while (index < buffer.length) {
    const length = sequenceLength(buffer, index);
    if (length > 0) {
      index += length;
      continue;
    }
    text += buffer.toString('utf8', runStart, index) + String.fromCharCode(escapeBase + (buffer[index] ?? 0));
    index += 1;
    runStart = index;
  }
  return text + buffer.toString('utf8', runStart);
}

/** The bytes of NAME: UTF-8, with each escaped byte (see above) as the byte it stands for. */
export function encodeFileName(name: string): Buffer {
  if (isTextName(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  let run = '';
  // By code points: a valid pair comes as one, a lone surrogate alone.
  for (const char of name) {
    const code = char.charCodeAt(0);
    if (char.length === 1 && code >= escapeBase + 0x80 && code <= escapeBase + 0xff) {
      if (run !== '') parts.push(Buffer.from(run, 'utf8'));
      run = '';
      parts.push(Buffer.of(code - escapeBase));
    } else {
      run += char;
    }
  }
  if (run !== '') parts.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(parts);
}

/** PATH as Node's fs takes it: the string itself, or its bytes when a name in it is not UTF-8. */
export function fsPath(path: string): string | Buffer {
  return isTextName(path) ? path : encodeFileName(path);
}

/** Whether Node's decoding of a listing may have lost bytes: a name that was not UTF-8 holds U+FFFD. */
function maybeLossy(names: readonly string[]): boolean {
  return names.some((name) => name.includes('\ufffd'));
}

/**
 * The names in DIRECTORY, each byte-exact (see above). Read as strings, as Node does fastest;
 * read again as bytes only when a name came back holding U+FFFD.
 */
export function readDirectoryNames(directory: string): string[] {
  const path = fsPath(directory);
  const names = readdirSync(path);
  if (!maybeLossy(names)) return names;
  return readdirSync(path, { encoding: 'buffer' }).map((name) => decodeFileName(name));
}

/** A directory entry with its name byte-exact and its type as the listing gave it. */
export interface NamedDirent {
  readonly name: string;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFile(): boolean;
}

/** As readDirectoryNames, with the entries' types (readdir's withFileTypes). */
export function readDirectoryEntries(directory: string): NamedDirent[] {
  const path = fsPath(directory);
  const entries: Dirent[] = readdirSync(path, { withFileTypes: true });
  if (!entries.some((entry) => entry.name.includes('\ufffd'))) return entries;
  return readdirSync(path, { withFileTypes: true, encoding: 'buffer' }).map((entry) => {
    const name = decodeFileName(entry.name);
    return { name, isDirectory: () => entry.isDirectory(), isSymbolicLink: () => entry.isSymbolicLink(), isFile: () => entry.isFile() };
  });
}
