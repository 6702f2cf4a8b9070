/**
 * Extended attributes of a file itself, never of a symlink's target: written when a layer is
 * unpacked (`SCHILY.xattr.*`), read back when a directory becomes a layer. Through tsbuild-fs.
 */
import { errnoOf } from './errors.js';
import { fsPath } from './file-names.js';
import { fsAddon } from './native-addons.js';
import { overlayUsesUserXattrs } from './user-namespace.js';

/** Sets an extended attribute on PATH itself, a symlink included. */
export function setXattr(path: string, name: string, value: Uint8Array): void {
  fsAddon().lsetxattr(fsPath(path), name, value);
}

/** One extended attribute of PATH itself, or undefined when it has none of that name. */
export function readXattr(path: string, name: string): Buffer | undefined {
  try {
    return fsAddon().lgetxattr(fsPath(path), name);
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENODATA' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') return undefined;
    throw error;
  }
}

/** The extended attributes of PATH itself (not a symlink's target), by name. */
export function readXattrs(path: string): Map<string, Buffer> {
  const result = new Map<string, Buffer>();
  const native = fsAddon();
  const target = fsPath(path);
  for (const name of native.llistxattr(target)) {
    try {
      const value = native.lgetxattr(target, name);
      // Removed between the listing and the read.
      if (value !== undefined) result.set(name, value);
    } catch (error) {
      // Removed between the listing and the read.
      if (errnoOf(error) !== 'ENODATA') throw error;
    }
  }
  return result;
}

/**
 * Whether PATH, in the upper directory of an overlay mounted with USERXATTR or without, hides
 * everything below it: overlayfs marks an opaque directory "y" in trusted.overlay.opaque,
 * or in user.overlay.opaque with userxattr (its other mark, a whiteout, is a 0/0 character
 * device). Only the mount's own namespace holds its marks: the other name is an
 * attribute like any other to that mount, which a step may set itself (`setfattr -n
 * user.overlay.opaque` as root) on a directory it did not replace, while the mount refuses a
 * step its own names (or keeps them escaped, `trusted.overlay.overlay.*`). Docker's overlay2
 * layer writer and BuildKit's overlay snapshotter read the one name alike.
 */
export function isOverlayOpaque(path: string, userxattr: boolean = overlayUsesUserXattrs()): boolean {
  return readXattr(path, userxattr ? 'user.overlay.opaque' : 'trusted.overlay.opaque')?.toString() === 'y';
}
