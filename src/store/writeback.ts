/** Early writeback of a file being written, through tsbuild-fs's sync_file_range. */
import { fsAddon } from '../common/index.js';

/**
 * Starts writing a range of an open file back to disk without waiting for it, so that the
 * fsync that makes a large blob durable does not then write it all at once. An optimization
 * only: without the addon, or where the file system refuses, nothing happens.
 */
export function startWriteback(fd: number, offset: number, length: number): void {
  try {
    fsAddon().startWriteback(fd, offset, length);
  } catch {
    // The fsync later still writes everything.
  }
}
