/**
 * The two Node-API addons under native/ (built by `npm ci` with the runtime shim): tsbuild-fs
 * (the file system calls Node lacks) and tsbuild-hash (hashing writes off the main thread).
 * Each is loaded on first use, so that commands which never need one neither need nor load it.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { TsbuildError } from './errors.js';

/** The functions of tsbuild-fs.node (native/src/fs-native.c). */
export interface FsAddon {
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Uint8Array): void;
  llistxattr(path: string): string[];
  lgetxattr(path: string, name: string): Buffer;
  startWriteback(fd: number, offset: number, length: number): void;
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

/** The functions of tsbuild-hash.node. */
export interface HashAddon {
  createHashingWriter(fd: number, algorithm: string, position: number, writebackBytes: number): NativeHashingWriter;
  digest(algorithm: string, buffers: readonly Uint8Array[]): string;
}

/** The same from src/, from tsc's dist/ and from the bundle in dist/cli-bundle/. */
const fsAddonPath = fileURLToPath(new URL('../../native/build/tsbuild-fs.node', import.meta.url));
const hashAddonPath = fileURLToPath(new URL('../../native/build/tsbuild-hash.node', import.meta.url));

export interface LoadedAddon<T> {
  readonly module?: T;
  /** Why it did not load. */
  readonly failure?: Error;
}

/** Whether an addon loads, for `tsbuild doctor`: its path, and the reason when it does not. */
export interface AddonStatus {
  readonly path: string;
  readonly error?: string;
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

function status(path: string, loaded: LoadedAddon<unknown>): AddonStatus {
  return loaded.failure === undefined ? { path } : { path, error: loaded.failure.message };
}

export const loadFsAddon = addonLoader<FsAddon>(fsAddonPath);
export const loadHashAddon = addonLoader<HashAddon>(hashAddonPath);

/** tsbuild-fs, or an `INTERNAL` error saying how to build it. */
export function fsAddon(): FsAddon {
  const { module, failure } = loadFsAddon();
  if (module === undefined) {
    throw new TsbuildError('INTERNAL', `${fsAddonPath} could not be loaded (${failure?.message ?? 'no module'}); build it with \`npm run build:native\` (needs gcc, libc6-dev and make)`, {
      cause: failure,
    });
  }
  return module;
}

export function nativeFsStatus(): AddonStatus {
  return status(fsAddonPath, loadFsAddon());
}

export function nativeHashingStatus(): AddonStatus {
  return status(hashAddonPath, loadHashAddon());
}
