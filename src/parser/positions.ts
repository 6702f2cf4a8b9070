import type { SourcePosition, SourceRange } from '../common/index.js';

/**
 * Maps offsets in a logical line — physical lines joined at their continuations — back to the
 * line and column each character came from.
 *
 * Each physical line's piece is three numbers in one flat list: the offset in the logical line
 * where it starts, its line, and the column (1-based) of its first character. A map is made for
 * every instruction, and an object per piece was a good part of what parsing allocated.
 */
export class PositionMap {
  private readonly segments: number[];

  constructor(line: number, column: number) {
    this.segments = [0, line, column];
  }

  /** A physical line's piece appended at `offset` of the logical line. */
  addSegment(offset: number, line: number, column: number): void {
    this.segments.push(offset, line, column);
  }

  /** A map for a substring starting at `offset` (ONBUILD's trigger). */
  shifted(offset: number): PositionMap {
    const first = this.at(offset);
    const map = new PositionMap(first.line, first.column);
    const segments = this.segments;
    for (let i = 0; i < segments.length; i += 3) {
      const start = segments[i] as number;
      if (start > offset) map.addSegment(start - offset, segments[i + 1] as number, segments[i + 2] as number);
    }
    return map;
  }

  at(offset: number): SourcePosition {
    const segments = this.segments;
    // Binary search: a logical line can join thousands of continuation lines.
    let low = 0;
    let high = segments.length / 3 - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((segments[middle * 3] as number) <= offset) low = middle;
      else high = middle - 1;
    }
    const start = segments[low * 3] as number;
    return { line: segments[low * 3 + 1] as number, column: (segments[low * 3 + 2] as number) + (offset - start) };
  }

  /** The range of `[start, end)`; an empty span is the position of `start`. */
  range(start: number, end: number): SourceRange {
    return { start: this.at(start), end: this.at(Math.max(start, end - 1)) };
  }
}

export function lineRange(line: number, startColumn: number, endLine: number, endColumn: number): SourceRange {
  return { start: { line, column: startColumn }, end: { line: endLine, column: Math.max(1, endColumn) } };
}
