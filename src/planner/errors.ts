/**
 * Planner errors point at the Dockerfile lines that caused them. `TsbuildError` has no place
 * for a source range, so the range travels beside the error and is read with `errorRange`.
 */
import { TsbuildError, type ErrorCode, type SourceRange } from '../common/index.js';

const ranges = new WeakMap<TsbuildError, readonly SourceRange[]>();

/** The Dockerfile ranges an error from the planner points at, outermost last. */
export function errorRanges(error: unknown): readonly SourceRange[] {
  return error instanceof TsbuildError ? (ranges.get(error) ?? []) : [];
}

export function locatedError(code: ErrorCode, message: string, at: readonly SourceRange[], cause?: unknown): TsbuildError {
  const error = new TsbuildError(code, message, cause === undefined ? {} : { cause });
  ranges.set(error, at);
  return error;
}

/** Where a range starts, for messages: `line 3`, or `lines 3-5` for a multi-line instruction. */
export function describeLines(range: SourceRange): string {
  return range.start.line === range.end.line ? `line ${range.start.line}` : `lines ${range.start.line}-${range.end.line}`;
}
