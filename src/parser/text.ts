/**
 * Character classes and small string rules of the reference implementation, which is written
 * in Go: its notion of white space differs from JavaScript's `\s`, and several of its splits
 * use an ASCII-only class. Keeping them here makes every split agree on what a space is.
 */

/** Go's `unicode.IsSpace` on a UTF-16 code unit: JavaScript's `\s` without U+FEFF, plus U+0085. */
export function isGoSpaceCode(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0x85) return false;
  return (
    code === 0x85 || code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000
  );
}

export function isGoSpace(ch: string): boolean {
  return ch.length === 1 && isGoSpaceCode(ch.charCodeAt(0));
}

/** Go's `strings.TrimSpace` (by hand: regular expressions anchored at the end scan the whole line). */
export function trimGoSpace(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isGoSpaceCode(text.charCodeAt(start))) start++;
  while (end > start && isGoSpaceCode(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

export function trimLeadingGoSpace(text: string): string {
  let start = 0;
  while (start < text.length && isGoSpaceCode(text.charCodeAt(start))) start++;
  return start === 0 ? text : text.slice(start);
}

/** Go's `bytes.TrimRight(line, "\r\n")`. */
export function trimNewline(text: string): string {
  let end = text.length;
  while (end > 0 && (text.charCodeAt(end - 1) === 0x0a || text.charCodeAt(end - 1) === 0x0d)) end--;
  return end === text.length ? text : text.slice(0, end);
}

/** The class the reference splits FROM, EXPOSE and the command word on: ASCII blanks but not `\n`. */
export const blankRun = /[\t\v\f\r ]+/;

export interface Piece {
  readonly text: string;
  /** Offset of the piece in the string it was split from. */
  readonly start: number;
}

/** Go's `regexp.Split(text, -1)` on `blankRun`, with offsets: empty pieces at either end are kept. */
export function splitOnBlanks(text: string, limit = Infinity): Piece[] {
  const pieces: Piece[] = [];
  let start = 0;
  let at = 0;
  // By hand rather than with a global regular expression: one made per call cost more than the
  // split, and the words are short.
  while (pieces.length < limit - 1) {
    while (at < text.length && !isAsciiBlankCode(text.charCodeAt(at))) at++;
    if (at === text.length) break;
    let end = at + 1;
    while (end < text.length && isAsciiBlankCode(text.charCodeAt(end))) end++;
    pieces.push({ text: text.slice(start, at), start });
    start = end;
    at = end;
  }
  pieces.push({ text: text.slice(start), start });
  return pieces;
}

/** A character of `blankRun`. */
function isAsciiBlankCode(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0b || code === 0x0c || code === 0x0d;
}
