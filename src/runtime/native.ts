/**
 * The system calls `tsbuild run` needs and Node lacks, from native/src/runtime-native.c (built
 * by `npm ci` with the other addons): mount and unmount, a console socket that receives the pty
 * an OCI runtime sends, and a terminal's window size. Loaded on first use.
 */
import { nativeAddon, type AddonStatus } from '../common/index.js';

interface RuntimeAddon {
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount(target: string, flags: number): void;
  listenUnix(path: string): number;
  acceptFd(listenFd: number, timeoutMs: number): number;
  setWindowSize(fd: number, rows: number, columns: number): void;
  clearOutputProcessing(fd: number): void;
}

const addon = nativeAddon<RuntimeAddon>('tsbuild-runtime.node');

/** Whether the addon loads, for `tsbuild doctor`: its path, and the reason when it does not. */
export function runtimeAddonStatus(): AddonStatus {
  return addon.status();
}

export function runtimeAddon(): RuntimeAddon {
  return addon.require();
}

/** umount2's flag: detach now, finish when the mount is no longer busy. */
export const unmountDetach = 2;
