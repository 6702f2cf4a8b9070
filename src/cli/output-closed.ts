/**
 * A command that must not stop half-way when its reader goes away (a build, whose steps hold
 * mounts and a running command) listens here; main's handler of EPIPE on the standard streams
 * then leaves the ending to it instead of exiting at once.
 */
const listeners = new Set<() => void>();

/** Calls `listener` when standard output or error is closed by its reader; returns the unsubscribe. */
export function onOutputClosed(listener: () => void): () => void {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

/** Tells the listeners; false when none is there to end the command. */
export function outputClosed(): boolean {
  if (listeners.size === 0) return false;
  for (const listener of [...listeners]) listener();
  return true;
}
