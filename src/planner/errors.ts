/**
 * Planner errors point at the Dockerfile lines that caused them: each unit of resolution (a
 * global ARG, a FROM line, an instruction) runs inside `locatedAt`, which attaches its range.
 */
import { TsbuildError, withLocation, type SourceRange } from '../common/index.js';

/** The Dockerfile ranges an error points at, innermost first (`TsbuildError.ranges`). */
export function errorRanges(error: unknown): readonly SourceRange[] {
  return error instanceof TsbuildError ? error.ranges : [];
}

/** Runs one unit of resolution; what it throws is located at `range`. */
export function locatedAt<T>(range: SourceRange, step: () => T): T {
  try {
    return step();
  } catch (error) {
    throw withLocation(error, range);
  }
}

/** Where a range starts, for messages: `line 3`, or `lines 3-5` for a multi-line instruction. */
export function describeLines(range: SourceRange): string {
  return range.start.line === range.end.line ? `line ${range.start.line}` : `lines ${range.start.line}-${range.end.line}`;
}

/**
 * MESSAGE without the planner's own `resolve INSTRUCTION (line N): ` at its start, nor the mount
 * parser's `parse mount: `: where an excerpt of the Dockerfile shows the place, what is left is
 * BuildKit's wording (`unsupported mount type "x"`, `failed to process "${B": …`).
 */
export function withoutPlannerLocation(message: string): string {
  return message.replace(/^resolve [A-Z]+ \((?:line \d+|lines \d+-\d+)\): /, '').replace(/^parse mount: /, '');
}
