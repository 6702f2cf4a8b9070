/**
 * One error base for every stage. Tests assert on `code`, never on message text.
 * Messages follow the form "verb noun: cause", lowercase, no trailing period.
 */
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
  // registry
  | 'REGISTRY'
  | 'UNAUTHORIZED'
  | 'INVALID_REFERENCE'
  // sandbox
  | 'RUNTIME'
  | 'NO_COMPILER'
  // anything the code did not expect
  | 'INTERNAL';

export interface TsbuildErrorOptions {
  readonly cause?: unknown;
  /** Retrying the same operation may succeed (network faults, 5xx, 429). */
  readonly temporary?: boolean;
}

export class TsbuildError extends Error {
  readonly code: ErrorCode;
  readonly temporary: boolean;

  constructor(code: ErrorCode, message: string, options: TsbuildErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TsbuildError';
    this.code = code;
    this.temporary = options.temporary ?? false;
  }
}

export function isTsbuildError(value: unknown, code?: ErrorCode): value is TsbuildError {
  return value instanceof TsbuildError && (code === undefined || value.code === code);
}

/** Message of an unknown thrown value, for wrapping as a cause. */
export function messageOf(value: unknown): string {
  if (value instanceof Error) return value.message;
  return String(value);
}
