/**
 * Go's `path.Match`, byte for byte: the pattern language of docker's image filters, of
 * `.dockerignore` and of COPY sources.
 *
 *   `*`      any run of bytes but `/`
 *   `?`      one character but `/`
 *   `[...]`  one character of a class: `c`, `lo-hi`, `[^...]` negated; `\` escapes inside it
 *   `\c`     `c` itself
 *
 * Go works on UTF-8 bytes and decodes a character only for `?` and classes, so this does too
 * (a pattern and a name are UTF-8 encoded first). A malformed pattern is Go's ErrBadPattern: an
 * `INVALID_ARGUMENT` error, thrown even when the name fails to match earlier, as Go checks the
 * rest of the pattern before it answers false.
 */
import { TsbuildError } from './errors.js';

const slash = 0x2f;
const backslash = 0x5c;
const star = 0x2a;
const question = 0x3f;
const open = 0x5b;
const close = 0x5d;
const caret = 0x5e;
const dash = 0x2d;
/** Go's utf8.RuneError, what an invalid byte decodes to. */
const runeError = 0xfffd;

class BadPattern extends Error {}

/** Whether NAME matches PATTERN as Go's `path.Match(pattern, name)` decides. */
export function pathMatch(pattern: string, name: string): boolean {
  try {
    return match(Buffer.from(pattern, 'utf8'), Buffer.from(name, 'utf8'));
  } catch (error) {
    if (error instanceof BadPattern) throw new TsbuildError('INVALID_ARGUMENT', `match pattern ${JSON.stringify(pattern)}: syntax error in pattern`);
    throw error;
  }
}

function match(patternBytes: Buffer, nameBytes: Buffer): boolean {
  let pattern = patternBytes;
  let name = nameBytes;
  patterns: while (pattern.length > 0) {
    const scanned = scanChunk(pattern);
    const chunk = scanned.chunk;
    pattern = scanned.rest;
    // A trailing `*` matches the rest of the name unless it holds a `/`.
    if (scanned.star && chunk.length === 0) return !name.includes(slash);
    const here = matchChunk(chunk, name);
    // The last chunk must use up the name; otherwise a star may still do better.
    if (here !== undefined && (here.length === 0 || pattern.length > 0)) {
      name = here;
      continue;
    }
    if (scanned.star) {
      // Try the chunk after skipping 1, 2, … bytes, never a `/`.
      for (let skip = 0; skip < name.length && name[skip] !== slash; skip++) {
        const later = matchChunk(chunk, name.subarray(skip + 1));
        if (later !== undefined) {
          if (pattern.length === 0 && later.length > 0) continue;
          name = later;
          continue patterns;
        }
      }
    }
    // No match: the rest of the pattern must still be well formed.
    while (pattern.length > 0) {
      const next = scanChunk(pattern);
      pattern = next.rest;
      matchChunk(next.chunk, Buffer.alloc(0));
    }
    return false;
  }
  return name.length === 0;
}

/** Leading stars, then the chunk up to the next `*` outside a class. */
function scanChunk(pattern: Buffer): { star: boolean; chunk: Buffer; rest: Buffer } {
  let start = 0;
  while (start < pattern.length && pattern[start] === star) start++;
  let inRange = false;
  let end = start;
  scan: for (; end < pattern.length; end++) {
    switch (pattern[end]) {
      case backslash:
        // A trailing `\` is reported by matchChunk.
        if (end + 1 < pattern.length) end++;
        break;
      case open:
        inRange = true;
        break;
      case close:
        inRange = false;
        break;
      case star:
        if (!inRange) break scan;
        break;
    }
  }
  return { star: start > 0, chunk: pattern.subarray(start, end), rest: pattern.subarray(end) };
}

/**
 * What is left of S after CHUNK matched its start, or undefined when it does not. Once the
 * match has failed the chunk is still read to the end, to find a malformed one.
 */
function matchChunk(chunkBytes: Buffer, sBytes: Buffer): Buffer | undefined {
  let chunk = chunkBytes;
  let s = sBytes;
  let failed = false;
  while (chunk.length > 0) {
    if (!failed && s.length === 0) failed = true;
    switch (chunk[0]) {
      case open: {
        let rune = 0;
        if (!failed) {
          const decoded = decodeRune(s);
          rune = decoded.rune;
          s = s.subarray(decoded.size);
        }
        chunk = chunk.subarray(1);
        let negated = false;
        if (chunk.length > 0 && chunk[0] === caret) {
          negated = true;
          chunk = chunk.subarray(1);
        }
        let matched = false;
        let ranges = 0;
        for (;;) {
          if (chunk.length > 0 && chunk[0] === close && ranges > 0) {
            chunk = chunk.subarray(1);
            break;
          }
          const low = classCharacter(chunk);
          let high = low.rune;
          chunk = low.rest;
          if (chunk[0] === dash) {
            const upper = classCharacter(chunk.subarray(1));
            high = upper.rune;
            chunk = upper.rest;
          }
          if (low.rune <= rune && rune <= high) matched = true;
          ranges++;
        }
        if (matched === negated) failed = true;
        break;
      }
      case question:
        if (!failed) {
          if (s[0] === slash) failed = true;
          s = s.subarray(decodeRune(s).size);
        }
        chunk = chunk.subarray(1);
        break;
      case backslash:
        chunk = chunk.subarray(1);
        if (chunk.length === 0) throw new BadPattern();
        failed = literal(chunk, s, failed);
        if (!failed) s = s.subarray(1);
        chunk = chunk.subarray(1);
        break;
      default:
        failed = literal(chunk, s, failed);
        if (!failed) s = s.subarray(1);
        chunk = chunk.subarray(1);
    }
  }
  return failed ? undefined : s;
}

/** One literal byte of the chunk against the name: whether the match has failed now. */
function literal(chunk: Buffer, s: Buffer, failed: boolean): boolean {
  return failed || chunk[0] !== s[0];
}

/** One character of a class (`\` escapes it), and what follows; a class must go on after it. */
function classCharacter(chunkBytes: Buffer): { rune: number; rest: Buffer } {
  let chunk = chunkBytes;
  if (chunk.length === 0 || chunk[0] === dash || chunk[0] === close) throw new BadPattern();
  if (chunk[0] === backslash) {
    chunk = chunk.subarray(1);
    if (chunk.length === 0) throw new BadPattern();
  }
  const { rune, size } = decodeRune(chunk);
  if (rune === runeError && size === 1) throw new BadPattern();
  const rest = chunk.subarray(size);
  if (rest.length === 0) throw new BadPattern();
  return { rune, rest };
}

/** Go's utf8.DecodeRune: the character at the start, or RuneError and 1 for an invalid byte. */
function decodeRune(bytes: Buffer): { rune: number; size: number } {
  const first = bytes[0];
  if (first === undefined) return { rune: runeError, size: 0 };
  if (first < 0x80) return { rune: first, size: 1 };
  const continuation = (index: number): number | undefined => {
    const byte = bytes[index];
    return byte !== undefined && (byte & 0xc0) === 0x80 ? byte & 0x3f : undefined;
  };
  const invalid = { rune: runeError, size: 1 };
  if (first >= 0xc2 && first <= 0xdf) {
    const b1 = continuation(1);
    return b1 === undefined ? invalid : { rune: ((first & 0x1f) << 6) | b1, size: 2 };
  }
  if (first >= 0xe0 && first <= 0xef) {
    const b1 = continuation(1);
    const b2 = continuation(2);
    if (b1 === undefined || b2 === undefined) return invalid;
    const rune = ((first & 0x0f) << 12) | (b1 << 6) | b2;
    // Overlong forms and UTF-16 surrogates are not characters.
    return rune < 0x800 || (rune >= 0xd800 && rune <= 0xdfff) ? invalid : { rune, size: 3 };
  }
  if (first >= 0xf0 && first <= 0xf4) {
    const b1 = continuation(1);
    const b2 = continuation(2);
    const b3 = continuation(3);
    if (b1 === undefined || b2 === undefined || b3 === undefined) return invalid;
    const rune = ((first & 0x07) << 18) | (b1 << 12) | (b2 << 6) | b3;
    return rune < 0x10000 || rune > 0x10ffff ? invalid : { rune, size: 4 };
  }
  return invalid;
}
