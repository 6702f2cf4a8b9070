import { constants as osConstants } from 'node:os';
import { TsbuildError } from '../common/index.js';

const interruptSignals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface InterruptWatch {
  /** 128 + the number of the first signal received (the status docker's CLI ends with); undefined when none came. */
  interrupted(): number | undefined;
  /** Aborts as a signal would, with SIGNAL's status: a reader of the progress that went away is SIGPIPE. */
  interruptAs(signal: NodeJS.Signals): void;
  /** Gives the signals back: one from now on ends the process at once, as it would untouched. */
  stop(): void;
}

/**
 * SIGINT, SIGTERM and SIGHUP abort ABORT (with a CANCELED error naming the signal), as the first
 * Ctrl-C cancels docker's CLI's request: the work stops at its next check, and the command ends
 * with the status interrupted() gives. A second signal ends the process at once, by that signal;
 * the store is safe from that as from a kill.
 */
export function watchInterrupts(abort: AbortController): InterruptWatch {
  let received: NodeJS.Signals | undefined;
  const stop = (): void => {
    for (const signal of interruptSignals) process.off(signal, onSignal);
  };
  const interruptAs = (signal: NodeJS.Signals): void => {
    if (received !== undefined) return;
    received = signal;
    abort.abort(new TsbuildError('CANCELED', `interrupted by ${signal}`));
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received === undefined) {
      interruptAs(signal);
      return;
    }
    stop();
    process.kill(process.pid, signal);
  };
  for (const signal of interruptSignals) process.on(signal, onSignal);
  return { interrupted: () => (received === undefined ? undefined : 128 + osConstants.signals[received]), interruptAs, stop };
}
