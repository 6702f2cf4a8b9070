import { TsbuildError } from '../common/index.js';

/** Where a command writes. Injected so that commands can be run and checked in process. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  /** Whether stderr is a terminal (colour, progress bars). */
  readonly isTty: boolean;
}

/**
 * An error docker's CLI finds by itself, without its daemon: said alone, or after the `Error: `
 * its CLI puts before some (`port`).
 */
export class ClientError extends TsbuildError {
  constructor(
    message: string,
    readonly prefix: '' | 'Error: ' = '',
    cause?: TsbuildError,
  ) {
    super(cause?.code ?? 'INVALID_ARGUMENT', message, cause === undefined ? {} : { cause, ranges: cause.ranges });
  }
}

/** A check the CLI makes where docker's daemon makes it: said after the daemon's prefix, even from `clientSide`. */
export class DaemonError extends TsbuildError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/**
 * Runs WORK, docker's CLI's part of a command (reading its flags and files): a TsbuildError of it
 * is the CLI's own, said without a daemon's prefix.
 */
export async function clientSide<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof TsbuildError && !(error instanceof ClientError) && !(error instanceof DaemonError)) throw new ClientError(error.message, '', error);
    throw error;
  }
}

/**
 * The line for ERROR in docker's words: its CLI's own (a reference too, which its CLI parses
 * before it asks), or what its daemon would have answered.
 */
export function errorLine(error: TsbuildError): string {
  if (error instanceof ClientError) return `${error.prefix}${error.message}\n`;
  return error.code === 'INVALID_REFERENCE' ? `${error.message}\n` : daemonError(error.message);
}

/**
 * docker's CLI's line for an error its daemon returned (`Error response from daemon: No such
 * container: x`); tsbuild is its own daemon and says it in the same words, which scripts match.
 */
export function daemonError(message: string): string {
  return `Error response from daemon: ${message}\n`;
}

/**
 * docker run's report of an error: its program's name first, a period last, and for 125 where to
 * read the help. A flag's value it could not read is its flag library's line (`invalid argument
 * "x" for "-m, --memory" flag: …`), as `create` says it too.
 */
export function runError(error: TsbuildError, status: number, command = 'run'): string {
  const { message } = error;
  if (message.startsWith('invalid argument "')) return `${message}\nSee 'tsbuild ${command} --help'.\n`;
  const line = `tsbuild: ${errorLine(error).trimEnd()}${message.endsWith('.') ? '' : '.'}\n`;
  return status === 125 ? `${line}See 'tsbuild ${command} --help'.\n` : line;
}

/** Thrown by a command to end with a given exit status after it has reported the problem. */
export class ExitError extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'ExitError';
  }
}
