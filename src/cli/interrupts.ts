import { constants as osConstants } from 'node:os';
import { TsbuildError } from '../common/index.js';
import { onOutputClosed } from './output-closed.js';

const interruptSignals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface InterruptWatch {
  /** 128 + the number of the first signal received (the status docker's CLI ends with); undefined when none came. */
  interrupted(): number | undefined;
  /** Gives the signals back (and stops watching the output): one from now on ends the process at once, as it would untouched. */
  stop(): void;
}

/**
 * SIGINT, SIGTERM and SIGHUP abort ABORT (with a CANCELED error naming the signal), as the first
 * Ctrl-C cancels docker's CLI's request: the work stops at its next check, and the command ends
 * with the status interrupted() gives. A second signal ends the process at once, by that signal;
 * the store is safe from that as from a kill. With OUTPUT_CLOSED, a reader of the standard
 * streams that goes away (EPIPE) aborts too, with the status SIGPIPE gives a Go client.
 */
export function watchInterrupts(abort: AbortController, options: { readonly outputClosed?: boolean } = {}): InterruptWatch {
  let received: NodeJS.Signals | undefined;
  const stopWatchingOutput = options.outputClosed === true ? onOutputClosed(() => interruptAs('SIGPIPE')) : undefined;
  const stop = (): void => {
    stopWatchingOutput?.();
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
  return { interrupted: () => (received === undefined ? undefined : 128 + osConstants.signals[received]), stop };
}
