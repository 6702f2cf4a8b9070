/** Where a command writes. Injected so that commands can be run and checked in process. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  /** Whether stderr is a terminal (colour, progress bars). */
  readonly isTty: boolean;
}

/** Thrown by a command to end with a given exit status after it has reported the problem. */
export class ExitError extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'ExitError';
  }
}
