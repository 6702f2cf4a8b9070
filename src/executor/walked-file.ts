import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { openedAsWalked, type TreeEntry } from '../cache/index.js';
import { fsPath, TsbuildError } from '../common/index.js';

/**
 * Opens a file the walk found, refusing anything but that very file: a directory on its path
 * swapped for a link since the walk (a context the host changes meanwhile) would otherwise
 * hand over whatever the link reaches, a host file of the same name included.
 */
export function openWalked(entry: TreeEntry): number {
  let descriptor: number;
  try {
    descriptor = openSync(fsPath(entry.hostPath), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ELOOP') throw changedSource(entry.path);
    throw error;
  }
  const opened = fstatSync(descriptor, { bigint: true });
  if (opened.ino !== entry.stats.ino || opened.dev !== entry.stats.dev || !opened.isFile() || !openedAsWalked(descriptor, entry.hostPath)) {
    closeSync(descriptor);
    throw changedSource(entry.path);
  }
  return descriptor;
}

function changedSource(path: string): TsbuildError {
  return new TsbuildError('NOT_FOUND', `copy ${path}: not found: the file changed since the source was read`);
}

/** The open file itself by name, for the copy calls that take names (they clone or splice in the kernel). */
export function descriptorPath(descriptor: number): string {
  return `/proc/self/fd/${descriptor}`;
}
