/**
 * One error base for every stage. Tests assert on `code`, never on message text.
 * Messages follow the form "verb noun: cause", lowercase, no trailing period.
 *
 * An error also says what it concerns, for a caller to show it: the Dockerfile ranges
 * (`ranges`), or the image reference and digest. Each stage attaches a Dockerfile location at
 * one point (`withLocation` around one instruction), as BuildKit's `parser.WithLocation` does,
 * rather than at every `throw`.
 */
import type { SourceRange } from './source-range.js';

export type ErrorCode =
  // user input
  | 'INVALID_ARGUMENT'
  | 'DOCKERFILE_PARSE'
  | 'EXPANSION'
  // store
  | 'NOT_FOUND'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'CLOBBER'
  | 'INVALID_DIGEST'
  | 'INVALID_MEDIA_TYPE'
  | 'UNSAFE_PATH'
  | 'INVALID_ARCHIVE'
  | 'LOCKED'
  // something in use (a volume a container has)
  | 'CONFLICT'
  // registry
  | 'REGISTRY'
  | 'UNAUTHORIZED'
  | 'INVALID_REFERENCE'
  // sandbox
  | 'RUNTIME'
  | 'NO_COMPILER'
  // the user interrupted the work (SIGINT, SIGTERM)
  | 'CANCELED'
  // anything the code did not expect
  | 'INTERNAL';

export interface TsbuildErrorOptions {
  readonly cause?: unknown;
  /** Retrying the same operation may succeed (network faults, 5xx, 429). */
  readonly temporary?: boolean;
  /** The Dockerfile ranges the error concerns, innermost first. */
  readonly ranges?: readonly SourceRange[];
  /** The image reference the error concerns, as the user gave it. */
  readonly reference?: string;
  /** The content digest the error concerns. */
  readonly digest?: string;
}

/** Set by the class below: only `withLocation` adds a location to an error already made. */
let addRanges: (error: TsbuildError, ranges: readonly SourceRange[]) => void;

export class TsbuildError extends Error {
  readonly code: ErrorCode;
  readonly temporary: boolean;
  readonly reference: string | undefined;
  readonly digest: string | undefined;
  #ranges: readonly SourceRange[];

  constructor(code: ErrorCode, message: string, options: TsbuildErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TsbuildError';
    this.code = code;
    this.temporary = options.temporary ?? false;
    this.reference = options.reference;
    this.digest = options.digest;
    this.#ranges = options.ranges ?? [];
  }

  /** The Dockerfile ranges the error concerns, innermost first; empty when it concerns none. */
  get ranges(): readonly SourceRange[] {
    return this.#ranges;
  }

  static {
    addRanges = (error, ranges) => {
      error.#ranges = [...error.#ranges, ...ranges];
    };
  }
}

/**
 * The error, located at `range` (an instruction, a FROM line) as well as wherever it already
 * was. A value that is no `TsbuildError` was not expected: it becomes an `INTERNAL` error with
 * the value as its cause. Used once per stage, around the unit a user can find in the source.
 */
export function withLocation(error: unknown, range: SourceRange | readonly SourceRange[]): TsbuildError {
  const ranges = isRangeList(range) ? range : [range];
  if (error instanceof TsbuildError) {
    addRanges(error, ranges);
    return error;
  }
  return new TsbuildError('INTERNAL', messageOf(error), { cause: error, ranges });
}

function isRangeList(value: SourceRange | readonly SourceRange[]): value is readonly SourceRange[] {
  return Array.isArray(value);
}

export function isTsbuildError(value: unknown, code?: ErrorCode): value is TsbuildError {
  return value instanceof TsbuildError && (code === undefined || value.code === code);
}

/** Message of an unknown thrown value, for wrapping as a cause. */
export function messageOf(value: unknown): string {
  if (value instanceof Error) return value.message;
  return String(value);
}

/**
 * The system error code of a failed call (`ENOENT`, `EPERM`), or undefined for anything else,
 * a `TsbuildError` included (its `code` is no errno).
 */
export function errnoOf(error: unknown): string | undefined {
  if (error instanceof TsbuildError || typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}
