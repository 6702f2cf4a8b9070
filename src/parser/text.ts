/**
 * Character classes and small string rules of the reference implementation, which is written
 * in Go: its notion of white space differs from JavaScript's `\s`, and several of its splits
 * use an ASCII-only class. Keeping them here makes every split agree on what a space is.
 */

/** Go's `unicode.IsSpace`: JavaScript's `\s` without U+FEFF, plus U+0085. */
const goSpaceClass = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const goSpace = new RegExp(`[${goSpaceClass}]`);
const leadingGoSpace = new RegExp(`^[${goSpaceClass}]+`);
const trailingGoSpace = new RegExp(`[${goSpaceClass}]+$`);

export function isGoSpace(ch: string): boolean {
  return goSpace.test(ch);
}

/** Go's `strings.TrimSpace`. */
export function trimGoSpace(text: string): string {
  return text.replace(leadingGoSpace, '').replace(trailingGoSpace, '');
}

export function trimLeadingGoSpace(text: string): string {
  return text.replace(leadingGoSpace, '');
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
  const pattern = new RegExp(blankRun.source, 'g');
  let start = 0;
  for (let match = pattern.exec(text); match !== null && pieces.length < limit - 1; match = pattern.exec(text)) {
    pieces.push({ text: text.slice(start, match.index), start });
    start = match.index + match[0].length;
  }
  pieces.push({ text: text.slice(start), start });
  return pieces;
}
