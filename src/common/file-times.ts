/**
 * Times of a file set as they are: Node's utimes calls keep microseconds at most and take a
 * negative number (a time before 1970) for the current time; tsbuild-fs's utimensat takes
 * nanoseconds, before 1970 too, as BuildKit's copy keeps them.
 */
import { fsPath } from './file-names.js';
import { fsAddon } from './native-addons.js';

/** Sets the times of PATH itself (a symlink's own, not its target's), in nanoseconds since 1970. */
export function setExactTimes(path: string, atimeNs: bigint, mtimeNs: bigint): void {
  fsAddon().lutimens(fsPath(path), atimeNs, mtimeNs);
}

/** Sets the times of the file open as FD, in nanoseconds since 1970. */
export function setExactFdTimes(fd: number, atimeNs: bigint, mtimeNs: bigint): void {
  fsAddon().futimens(fd, atimeNs, mtimeNs);
}
