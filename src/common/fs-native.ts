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
  startWriteback(fd: number, offset: number, length: number): void;
}

/** The same from src/, from tsc's dist/ and from the bundle in dist/cli-bundle/. */
const addonPath = fileURLToPath(new URL('../../native/build/tsbuild-fs.node', import.meta.url));
const hashAddonPath = fileURLToPath(new URL('../../native/build/tsbuild-hash.node', import.meta.url));

interface LoadedAddon<T> {
  readonly module?: T;
  /** Why it did not load. */
  readonly failure?: Error;
}

/** Loads an addon on first call and keeps the outcome: a missing addon stays missing for the life of the process. */
function addonLoader<T>(path: string): () => LoadedAddon<T> {
  let loaded: LoadedAddon<T> | undefined;
  return () => {
    if (loaded === undefined) {
      try {
        loaded = { module: createRequire(import.meta.url)(path) as T };
      } catch (error) {
        loaded = { failure: error as Error };
      }
    }
    return loaded;
  };
}

const loadFsAddon = addonLoader<NativeFs>(addonPath);

function nativeFs(): NativeFs {
  const { module, failure } = loadFsAddon();
  if (module === undefined) {
    throw new TsbuildError('INTERNAL', `${addonPath} could not be loaded (${failure?.message ?? 'no module'}); build it with \`npm run build:native\` (needs gcc, libc6-dev and make)`, {
      cause: failure,
    });
  }
  return module;
}

/** Whether an addon loads, for `tsbuild doctor`: its path, and the reason when it does not. */
function status(path: string, loaded: LoadedAddon<unknown>): { readonly path: string; readonly error?: string } {
  return loaded.failure === undefined ? { path } : { path, error: loaded.failure.message };
}

export function nativeFsStatus(): { readonly path: string; readonly error?: string } {
  return status(addonPath, loadFsAddon());
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

/**
 * Starts writing a range of an open file back to disk without waiting for it, so that the
 * fsync that makes a large blob durable does not then write it all at once. An optimization
 * only: without the addon, or where the file system refuses, nothing happens.
 */
export function startWriteback(fd: number, offset: number, length: number): void {
  try {
    nativeFs().startWriteback(fd, offset, length);
  } catch {
    // The fsync later still writes everything.
  }
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

/** A file writer that hashes and writes on libuv's thread pool (native/src/hashing-writer.c). */
export interface NativeHashingWriter {
  /** Appends the buffers at the writer's position; one call at a time. The buffers must not change until it settles. */
  write(buffers: readonly Uint8Array[]): Promise<void>;
  /** Hashes bytes already in the file, without writing them. */
  update(buffers: readonly Uint8Array[]): void;
  /** The hash so far, hex. */
  hex(): string;
}

const loadHashAddon = addonLoader<{
  createHashingWriter(fd: number, algorithm: string, position: number, writebackBytes: number): NativeHashingWriter;
  digest(algorithm: string, buffers: readonly Uint8Array[]): string;
}>(hashAddonPath);

/** The hashing addon where it loads and knows the algorithm (sha256, sha512). */
function hashAddonFor(algorithm: string): ReturnType<typeof loadHashAddon>['module'] {
  return algorithm === 'sha256' || algorithm === 'sha512' ? loadHashAddon().module : undefined;
}

export function nativeHashingStatus(): { readonly path: string; readonly error?: string } {
  return status(hashAddonPath, loadHashAddon());
}

/**
 * A hashing writer on FD starting at POSITION, or undefined when the addon is not built or does
 * not load (Node without OpenSSL's symbols): the caller then hashes and writes itself. With
 * WRITEBACK_BYTES > 0 it starts writeback (startWriteback) each time that many are written.
 */
export function createNativeHashingWriter(fd: number, algorithm: string, position: number, writebackBytes: number): NativeHashingWriter | undefined {
  const addon = hashAddonFor(algorithm);
  return addon?.createHashingWriter(fd, algorithm, position, writebackBytes);
}

/** The hex hash of small data, from the addon; undefined when it is not there. */
export function nativeDigestHex(algorithm: string, buffers: readonly Uint8Array[]): string | undefined {
  return hashAddonFor(algorithm)?.digest(algorithm, buffers);
}
