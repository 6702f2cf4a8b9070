/**
 * Device nodes, fifos and extended attributes: the file system calls Node lacks, from the
 * Node-API addon under native/ (built by `npm ci` with the runtime shim). Loaded on first use,
 * so that commands which never meet such a file neither need nor load it.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { TsbuildError } from './errors.js';

interface NativeFs {
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Uint8Array): void;
  llistxattr(path: string): string[];
  lgetxattr(path: string, name: string): Buffer;
}

/** The same from src/, from tsc's dist/ and from the bundle in dist/cli-bundle/. */
const addonPath = fileURLToPath(new URL('../../native/build/tsbuild-fs.node', import.meta.url));

let loaded: NativeFs | undefined;

function nativeFs(): NativeFs {
  if (loaded !== undefined) return loaded;
  try {
    loaded = createRequire(import.meta.url)(addonPath) as NativeFs;
  } catch (error) {
    throw new TsbuildError('INTERNAL', `${addonPath} could not be loaded (${(error as Error).message}); build it with \`npm run build:native\` (needs gcc, libc6-dev and make)`, {
      cause: error,
    });
  }
  return loaded;
}

/** Whether the addon loads, for `tsbuild doctor`: its path, and the reason when it does not. */
export function nativeFsStatus(): { readonly path: string; readonly error?: string } {
  try {
    nativeFs();
    return { path: addonPath };
  } catch (error) {
    return { path: addonPath, error: (error as Error).message };
  }
}

export type SpecialFileType = 'character-device' | 'block-device' | 'fifo';

const typeBits: Record<SpecialFileType, number> = { 'character-device': 0o020000, 'block-device': 0o060000, fifo: 0o010000 };

/** Makes a device node or fifo at PATH (not following a symlink there: mknod never does). */
export function makeSpecialFile(path: string, type: SpecialFileType, mode: number, major = 0, minor = 0): void {
  nativeFs().mknod(path, typeBits[type] | (mode & 0o7777), major, minor);
}

/** Sets an extended attribute on PATH itself, a symlink included. */
export function setXattr(path: string, name: string, value: Uint8Array): void {
  nativeFs().lsetxattr(path, name, value);
}

/** One extended attribute of PATH itself, or undefined when it has none of that name. */
export function readXattr(path: string, name: string): Buffer | undefined {
  try {
    return nativeFs().lgetxattr(path, name);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENODATA' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') return undefined;
    throw error;
  }
}

/** The extended attributes of PATH itself (not a symlink's target), by name. */
export function readXattrs(path: string): Map<string, Buffer> {
  const result = new Map<string, Buffer>();
  const native = nativeFs();
  for (const name of native.llistxattr(path)) {
    try {
      result.set(name, native.lgetxattr(path, name));
    } catch (error) {
      // Removed between the listing and the read.
      if ((error as NodeJS.ErrnoException).code !== 'ENODATA') throw error;
    }
  }
  return result;
}
