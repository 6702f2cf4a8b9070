/**
 * docker's init layer (moby's daemon/initlayer): what every container's root holds above its
 * image, made when the container is created. docker makes it in a layer of its own between the
 * image and the container's writable one; tsbuild writes the same entries into the writable
 * layer before its overlay is first mounted, and leaves them out of the container's changes
 * (container-changes.ts), so that `diff` and `commit` see what docker's do, and `export` the
 * whole root docker's does.
 */
import { chmodSync, closeSync, lchownSync, lstatSync, mkdirSync, openSync, readlinkSync, symlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { fsPath } from '../common/index.js';

type InitEntry = { readonly path: string; readonly make: 'directory' | 'file' } | { readonly path: string; readonly make: 'link'; readonly target: string };

/** /etc/mtab, the one link of the init layer. */
const mtab = { path: '/etc/mtab', make: 'link', target: '/proc/mounts' } as const;

const initEntries: readonly InitEntry[] = [
  { path: '/dev/pts', make: 'directory' },
  { path: '/dev/shm', make: 'directory' },
  { path: '/proc', make: 'directory' },
  { path: '/sys', make: 'directory' },
  { path: '/.dockerenv', make: 'file' },
  { path: '/etc/resolv.conf', make: 'file' },
  { path: '/etc/hosts', make: 'file' },
  { path: '/etc/hostname', make: 'file' },
  { path: '/dev/console', make: 'file' },
  mtab,
];

/** The paths of the init layer, as the container sees them. */
export const initLayerPaths: readonly string[] = initEntries.map((entry) => entry.path);

function ignoreUnmapped(change: () => void): void {
  try {
    change();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EPERM') throw error;
  }
}

/** What docker's init layer is made with: 0755 for its directories and its (empty) files, whatever the umask. */
const initMode = 0o755;

/**
 * Writes the init layer into UPPER (a writable layer not mounted yet) over IMAGEROOT (the image's
 * unpacked root), as moby's initlayer.Setup makes it in the image's merged view: an entry on the
 * way to a path, or at it, that is not a directory is replaced (an image's /etc/resolv.conf link
 * to systemd's stub becomes the empty file the bind mount goes on, as in docker); a directory
 * already at the path is kept; anything missing is made, its new parents 0755, an existing
 * parent copied up with its mode and owner (as overlayfs would). The image's side is read with
 * lstat alone, through its real directories only: no link of the image is followed.
 */
export function writeInitLayer(imageRoot: string, upper: string): void {
  const privileged = process.getuid?.() === 0;
  for (const entry of initEntries) {
    const parts = entry.path.split('/').slice(1);
    // The image's entries along the path, as far as its directories lead.
    const imageEntries: Array<Stats | undefined> = [];
    for (let depth = 1; depth <= parts.length; depth++) {
      const reachable = depth === 1 || imageEntries[depth - 2]?.isDirectory() === true;
      imageEntries.push(reachable ? lstatSync(fsPath(join(imageRoot, ...parts.slice(0, depth))), { throwIfNoEntry: false }) : undefined);
    }
    const upperPath = join(upper, ...parts);
    if (lstatSync(fsPath(upperPath), { throwIfNoEntry: false }) !== undefined) continue;
    if (imageEntries.every((info) => info?.isDirectory() === true)) continue;
    for (let depth = 1; depth < parts.length; depth++) {
      const parent = join(upper, ...parts.slice(0, depth));
      if (lstatSync(fsPath(parent), { throwIfNoEntry: false }) !== undefined) continue;
      mkdirSync(fsPath(parent));
      const below = imageEntries[depth - 1];
      if (below?.isDirectory() === true) {
        // Best effort: an owner the user namespace tsbuild runs in does not map stays the caller's.
        if (privileged) ignoreUnmapped(() => lchownSync(fsPath(parent), below.uid, below.gid));
        chmodSync(fsPath(parent), below.mode & 0o7777);
      } else chmodSync(fsPath(parent), initMode);
    }
    if (entry.make === 'link') {
      symlinkSync(entry.target, fsPath(upperPath));
      continue;
    }
    if (entry.make === 'directory') mkdirSync(fsPath(upperPath));
    else closeSync(openSync(fsPath(upperPath), 'wx'));
    chmodSync(fsPath(upperPath), initMode);
  }
}

/**
 * The bytes the init layer counts in UPPER: its /etc/mtab link, while it is still the one made
 * here (its files are empty). docker's writable layer does not hold its init layer, so a
 * container's size leaves them out.
 */
export function initLayerBytes(upper: string): number {
  const path = fsPath(join(upper, mtab.path));
  try {
    return readlinkSync(path) === mtab.target ? lstatSync(path).size : 0;
  } catch {
    return 0;
  }
}
