import { openWalkedEntry, type TreeEntry } from '../cache/index.js';
import { TsbuildError } from '../common/index.js';

/**
 * Opens a file the walk found, for its copy, refusing anything but that very file (openWalkedEntry):
 * a directory on its path swapped for a link since the walk (a context the host changes
 * meanwhile) would otherwise hand over whatever the link reaches, a host file of the same name
 * included.
 */
export function openWalked(entry: TreeEntry): number {
  return openWalkedEntry(entry, () => changedSource(entry.path)).descriptor;
}

function changedSource(path: string): TsbuildError {
  return new TsbuildError('NOT_FOUND', `copy ${path}: not found: the file changed since the source was read`);
}

/** The open file itself by name, for the copy calls that take names (they clone or splice in the kernel). */
export function descriptorPath(descriptor: number): string {
  return `/proc/self/fd/${descriptor}`;
}
