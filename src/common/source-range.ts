/** A position a user sees: 1-based line and 1-based column (in UTF-16 code units). */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/** Start is inclusive; end is the position of the last character, inclusive. */
export interface SourceRange {
  readonly start: SourcePosition;
  readonly end: SourcePosition;
}

export function formatPosition(file: string, range: SourceRange): string {
  return `${file}:${range.start.line}:${range.start.column}`;
}

/**
 * RANGE's lines as BuildKit locates an instruction (its parser's toRanges): one range per line,
 * each a whole line, as its JSON writes them (a zero character left out).
 */
export function wholeLineRanges(range: SourceRange): { start: { line: number }; end: { line: number } }[] {
  const ranges = [];
  for (let line = range.start.line; line <= Math.max(range.start.line, range.end.line); line++) ranges.push({ start: { line }, end: { line } });
  return ranges;
}
