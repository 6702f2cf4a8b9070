/**
 * The Node-API addons under native/ (built by `npm ci` with the runtime shim): tsbuild-fs (the
 * file system calls Node lacks), tsbuild-hash (hashing writes off the main thread) and
 * tsbuild-context (a build context's content hashes, off the main thread) here;
 * tsbuild-runtime (mounts, terminals) is the runtime's, loaded the same way.
 * Each is loaded on first use, so that commands which never need one neither need nor load it.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { TsbuildError } from './errors.js';

/** The functions of tsbuild-fs.node (native/src/fs-native.c). */
export interface FsAddon {
  // A path is a string, or its bytes when a file name in it is not UTF-8 (see file-names.ts).
  mknod(path: string | Buffer, mode: number, major: number, minor: number): void;
  lsetxattr(path: string | Buffer, name: string, value: Uint8Array): void;
  llistxattr(path: string | Buffer): string[];
  /** Undefined when PATH has no attribute NAME. */
  lgetxattr(path: string | Buffer, name: string): Buffer | undefined;
  startWriteback(fd: number, offset: number, length: number): void;
  /** Whether PATH, a directory, now has ext4's top-of-hierarchy flag (false where there is none). */
  markTopDirectory(path: string): boolean;
  /** Sets the times of PATH itself (a symlink's own), to the nanosecond. */
  lutimens(path: string | Buffer, atimeNs: bigint, mtimeNs: bigint): void;
  /** lutimens for the file open as FD. */
  futimens(fd: number, atimeNs: bigint, mtimeNs: bigint): void;
  /** A new pipe's [read, write] descriptors, close-on-exec (Node's child pipes are socket pairs). */
  pipe(): [number, number];
  /**
   * A descriptor (close-on-exec) of PATH opened with FLAGS as if ROOT were `/`: openat2 with
   * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS. Errors carry the errno's code (ENOSYS before Linux 5.6).
   */
  openInRoot(root: string | Buffer, path: string | Buffer, flags: number): number;
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

/** What tsbuild-context.node's hashFiles resolves to: one element per path (native/src/context-hasher.c). */
export interface ContextFileHashes {
  readonly hashes: readonly string[];
  readonly statKeys: readonly string[];
  readonly stable: Uint8Array;
  /** 0, -1 (the path no longer leads to the walked file) or an errno of calls[i]. */
  readonly errors: Int32Array;
  readonly calls: readonly string[];
}

/** What tsbuild-context.node's copyFiles resolves to: one element per file (native/src/context-hasher.c). */
export interface CopiedFiles {
  /** 0, -1 (the source no longer is the walked file), -2 (it ended before its walked size) or an errno of errors[i]. */
  readonly codes: Int32Array;
  /** The bytes copied before a -2. */
  readonly copied: Float64Array;
  /** For an errno, an Error shaped like Node's own. */
  readonly errors: ReadonlyArray<Error | undefined>;
}

/** The functions of tsbuild-context.node: a context's content hashes on libuv's thread pool. */
export interface ContextAddon {
  hashFiles(paths: ReadonlyArray<string | Buffer>, inodes: BigUint64Array, devices: BigUint64Array): Promise<ContextFileHashes>;
  /**
   * The entries of the directory at PATH that has INODE and DEVICE: each name followed by NUL,
   * and 11 lstat fields per name (mode, nlink, uid, gid, rdev, size, ino, dev, atime, mtime,
   * ctime in ns); or an error: -1 (PATH is no longer that directory) or an errno of CALL.
   */
  listDirectory(path: string | Buffer, inode: bigint, device: bigint): { readonly names: Buffer; readonly stats: BigInt64Array } | { readonly error: number; readonly call: string };
  /**
   * COPY's small files, each with its metadata, on the thread pool: FIELDS holds 10 values per
   * file (walked inode, device, size and mode; uid and gid to give, uid -1 for none; the mode to
   * set after them, -1 for none; atime and mtime in ns; flags: 1 copy xattrs, 2 without
   * security.capability).
   */
  copyFiles(sources: ReadonlyArray<string | Buffer>, destinations: ReadonlyArray<string | Buffer>, fields: BigInt64Array): Promise<CopiedFiles>;
  /** Up to LENGTH bytes at OFFSET of the open file FROMFD into TOFD at the same offset, in the kernel, on the thread pool; resolves to the bytes copied (0 at the source's end). */
  copyRange(fromFd: number, toFd: number, offset: number, length: number): Promise<number>;
  /**
   * Small files read whole (up to one byte past each SIZES[i]) with their security.capability, on the thread pool: DATA holds
   * each file's bytes in turn, LENGTHS how many of each.
   */
  readFiles(paths: ReadonlyArray<string | Buffer>, sizes: Float64Array): Promise<{ readonly data: Buffer; readonly lengths: Float64Array; readonly capabilities: ReadonlyArray<Buffer | undefined>; readonly errors: ReadonlyArray<Error | undefined> }>;
}

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

/**
 * An addon under native/build by file name, loaded on first use: its module, or an `INTERNAL`
 * error saying how to build it; and whether it loads, for `tsbuild doctor`. A missing addon
 * stays missing for the life of the process.
 */
export interface NativeAddon<T> {
  readonly path: string;
  load(): LoadedAddon<T>;
  require(): T;
  status(): AddonStatus;
}

export function nativeAddon<T>(file: string): NativeAddon<T> {
  // The same from src/, from tsc's dist/ and from the bundle in dist/cli-bundle/.
  const path = fileURLToPath(new URL(`../../native/build/${file}`, import.meta.url));
  let loaded: LoadedAddon<T> | undefined;
  const load = (): LoadedAddon<T> => {
    if (loaded === undefined) {
      try {
        loaded = { module: createRequire(import.meta.url)(path) as T };
      } catch (error) {
        loaded = { failure: error as Error };
      }
    }
    return loaded;
  };
  return {
    path,
    load,
    require(): T {
      const { module, failure } = load();
      if (module === undefined) {
        throw new TsbuildError('INTERNAL', `${path} could not be loaded (${failure?.message ?? 'no module'}); build it with \`npm run build:native\` (needs gcc, libc6-dev and make)`, { cause: failure });
      }
      return module;
    },
    status(): AddonStatus {
      const { failure } = load();
      return failure === undefined ? { path } : { path, error: failure.message };
    },
  };
}

const fs = nativeAddon<FsAddon>('tsbuild-fs.node');
const hash = nativeAddon<HashAddon>('tsbuild-hash.node');

const context = nativeAddon<ContextAddon>('tsbuild-context.node');

export const loadFsAddon = fs.load;
export const loadHashAddon = hash.load;
export const loadContextAddon = context.load;

/** tsbuild-fs, or an `INTERNAL` error saying how to build it. */
export function fsAddon(): FsAddon {
  return fs.require();
}

export function nativeFsStatus(): AddonStatus {
  return fs.status();
}

export function nativeHashingStatus(): AddonStatus {
  return hash.status();
}

export function nativeContextStatus(): AddonStatus {
  return context.status();
}
