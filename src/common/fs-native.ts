/** The process heap's huge-page advice, from tsbuild-fs. */
import { loadFsAddon } from './native-addons.js';

/**
 * Grows malloc's heap by `reserveBytes` backed by transparent huge pages, and keeps memory that
 * is freed for reuse (see native/src/fs-native.c): for the commands that stream layers, whose
 * every read is a fresh buffer. Once per process; returns the bytes advised (0 without the
 * addon, or on a system without glibc or THP). Only a speed-up: nothing depends on it.
 */
export function adviseHeapHugePages(reserveBytes = 64 * 1024 * 1024): number {
  const { module } = loadFsAddon();
  return module === undefined ? 0 : module.adviseHeapHugePages(reserveBytes);
}
