import type { BuildEvent } from '../../executor/index.js';

export type { BuildEvent, StepRef } from '../../executor/index.js';

/** What the build command holds while a build runs. */
export interface Progress {
  /** Renders one event; never throws and never blocks the build. */
  onEvent(event: BuildEvent): void;
  /** Prints what is still held back, stops every timer, and resolves once stderr took it all. */
  finish(): Promise<void>;
}

export interface ProgressIo {
  readonly stderr: NodeJS.WritableStream;
  readonly isTTY: boolean;
}

export interface ProgressOptions {
  /** Wall clock in milliseconds (tests pass their own). Default Date.now. */
  readonly now?: () => number;
  /** Environment for NO_COLOR. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The build's clock as seen from here. Event times come from the executor's clock, whatever
 * it is; durations that grow while nothing happens (the tty view's timers) are event time of
 * the first event plus wall time since, as BuildKit's display does with its localTimeDiff.
 */
export class EventClock {
  private offset: number | undefined;
  constructor(private readonly wall: () => number) {}

  see(time: number): void {
    this.offset ??= time - this.wall();
  }

  /** Now, in event time; undefined before the first event. */
  now(): number | undefined {
    return this.offset === undefined ? undefined : this.wall() + this.offset;
  }
}

/** Resolves once STREAM has handed everything written so far to its destination. */
export function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    try {
      stream.write('', () => resolve());
    } catch {
      // A destroyed stream throws or reports through the callback; either way nothing is left to wait for.
      resolve();
    }
  });
}
