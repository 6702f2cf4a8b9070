/**
 * The system calls `tsbuild run` needs and Node lacks, from native/src/runtime-native.c (built
 * by `npm ci` with the other addons): mount and unmount, a console socket that receives the pty
 * an OCI runtime sends, and a terminal's window size. Loaded on first use.
 */
import { nativeAddon, TsbuildError, type AddonStatus } from '../common/index.js';

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

/** mount's MS_RDONLY. */
const mountReadOnly = 1;

/** umount2's flag: detach now, finish when the mount is no longer busy. */
const unmountDetach = 2;

/**
 * Overlayfs's mount options for LOWER (one directory, or several topmost first) under UPPER's
 * changes (with WORK; none: a read-only overlay), then EXTRA. Paths are separated by `,` and `:`
 * there, so a path holding one cannot be given.
 */
export function overlayOptions(lower: string | readonly string[], upper: string | undefined, work: string | undefined, extra: readonly string[]): string {
  const lowers = typeof lower === 'string' ? [lower] : lower;
  const writable = upper === undefined || work === undefined ? [] : [upper, work];
  for (const path of [...lowers, ...writable]) {
    if (/[,:\n]/.test(path)) throw new TsbuildError('INVALID_ARGUMENT', `mount overlay: ${path} must not contain ',' or ':' (overlayfs options)`);
  }
  const writableOptions = writable.length === 0 ? [] : [`upperdir=${upper}`, `workdir=${work}`];
  return [`lowerdir=${lowers.join(':')}`, ...writableOptions, ...extra].join(',');
}

/**
 * Mounts an overlay of LOWER (read-only; several directories topmost first) under UPPER's changes
 * at TARGET, without a mount(8) process per step. In a user namespace overlay keeps its
 * attributes as user.overlay.* and never redirects directories (the option conflicts with an
 * explicit redirect_dir); elsewhere every change is whole in the upper directory, as a layer
 * needs it: no redirects, no metacopy. `volatile`: without it, unmounting syncs the whole file
 * system under the upper directory (42 against 7 ms after a step that wrote 2,000 small files on
 * a quiet machine, far more while other work writes to the disk); a step's upper directory is
 * read into its layer and thrown away, or kept as a diff, so nothing relies on that sync.
 */
export function mountOverlay(target: string, lower: string | readonly string[], upper: string, work: string, inUserNamespace: boolean): void {
  const common = ['metacopy=off', 'index=off', 'volatile'];
  const features = inUserNamespace ? ['userxattr', ...common] : ['redirect_dir=off', ...common];
  runtimeAddon().mount('overlay', target, 'overlay', 0, overlayOptions(lower, upper, work, features));
}

/** Mounts the read-only overlay of LOWERS (at least two, topmost first) at TARGET. */
export function mountReadOnlyOverlay(target: string, lowers: readonly string[], inUserNamespace: boolean): void {
  const features = inUserNamespace ? ['userxattr', 'metacopy=off', 'index=off'] : ['redirect_dir=off', 'metacopy=off', 'index=off'];
  runtimeAddon().mount('overlay', target, 'overlay', mountReadOnly, overlayOptions(lowers, undefined, undefined, features));
}

/** Unmounts TARGET; when busy (a process the sandbox left), detaches it to go when it is free. */
export function unmount(target: string): void {
  const addon = runtimeAddon();
  try {
    addon.umount(target, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EBUSY') addon.umount(target, unmountDetach);
    else throw error;
  }
}
