import type { SourcePosition, SourceRange } from '../common/index.js';

interface Segment {
  /** Offset in the logical line where this piece starts. */
  readonly offset: number;
  readonly line: number;
  /** Column (1-based) of the piece's first character in its physical line. */
  readonly column: number;
}

/**
 * Maps offsets in a logical line — physical lines joined at their continuations — back to the
 * line and column each character came from.
 */
export class PositionMap {
  private readonly segments: Segment[] = [];

  constructor(line: number, column: number) {
    this.segments.push({ offset: 0, line, column });
  }

  /** A physical line's piece appended at `offset` of the logical line. */
  addSegment(offset: number, line: number, column: number): void {
    this.segments.push({ offset, line, column });
  }

  /** A map for a substring starting at `offset` (ONBUILD's trigger). */
  shifted(offset: number): PositionMap {
    const first = this.at(offset);
    const map = new PositionMap(first.line, first.column);
    for (const segment of this.segments) if (segment.offset > offset) map.addSegment(segment.offset - offset, segment.line, segment.column);
    return map;
  }

  at(offset: number): SourcePosition {
    // Binary search: a logical line can join thousands of continuation lines.
    let low = 0;
    let high = this.segments.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.segments[middle] as Segment).offset <= offset) low = middle;
      else high = middle - 1;
    }
    const chosen = this.segments[low] as Segment;
    return { line: chosen.line, column: chosen.column + (offset - chosen.offset) };
  }

  /** The range of `[start, end)`; an empty span is the position of `start`. */
  range(start: number, end: number): SourceRange {
    return { start: this.at(start), end: this.at(Math.max(start, end - 1)) };
  }
}

export function lineRange(line: number, startColumn: number, endLine: number, endColumn: number): SourceRange {
  return { start: { line, column: startColumn }, end: { line: endLine, column: Math.max(1, endColumn) } };
}
