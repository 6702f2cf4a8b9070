import { readFileSync } from 'node:fs';

/**
 * The ids of this process's user namespace, when it is not the host's: tsbuild run by an
 * ordinary user re-executes itself inside one (see src/cli/rootless.ts), where it is root over
 * the user's own id and subordinate range. undefined in the host's namespace.
 */
export function userNamespaceSize(): number | undefined {
  // Read once: a process never changes user namespace, and every step's mount and config asks.
  if (namespaceSize === unread) namespaceSize = readUserNamespaceSize();
  return namespaceSize;
}

const unread = Symbol('unread');
let namespaceSize: number | undefined | typeof unread = unread;

function readUserNamespaceSize(): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/uid_map', 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.trim().split('\n').map((line) => line.trim().split(/\s+/).map(Number));
  if (lines.length === 1 && lines[0]?.[0] === 0 && lines[0]?.[1] === 0 && lines[0]?.[2] === 4294967295) return undefined;
  return lines.reduce((total, line) => total + (line[2] ?? 0), 0);
}

/**
 * Whether the overlays this process mounts keep overlayfs's marks in user.overlay.* (mounted
 * with userxattr: in a user namespace, where trusted.* cannot be written) rather than in
 * trusted.overlay.*: outside the host's user namespace, or as an ordinary user (whose
 * container roots the runtime-shim mounts inside the container's namespace).
 */
export function overlayUsesUserXattrs(): boolean {
  return (process.getuid?.() ?? 0) !== 0 || userNamespaceSize() !== undefined;
}
