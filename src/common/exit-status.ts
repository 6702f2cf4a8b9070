import { constants as osConstants } from 'node:os';

/**
 * A child's end as a shell reports it: its exit code, or 128 + N when signal N ended it (what
 * Node's `exit` and `close` events give as CODE and SIGNAL).
 */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal === null ? 0 : ((osConstants.signals as Readonly<Record<string, number>>)[signal] ?? 0));
}
