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
