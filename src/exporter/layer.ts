import { closeSync, constants, createReadStream, fstatSync, lstatSync, openSync, readFileSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { codeUnitsOrderAsBytes, type ContextAddon, createHasher, decodeFileName, encodeFileName, fsPath, isOverlayOpaque, listDirectory, loadContextAddon, MediaType, nodeZlib, overlayUsesUserXattrs, parseDigest, readDirectoryNames, readXattr, TsbuildError, type Descriptor, type Digest, type EntryNumberStats, type EntryStats } from '../common/index.js';
import type { BlobInfo } from '../store/index.js';
import { GzipWriter } from './gzip.js';
import { PacedOutput } from './paced-output.js';
import { ZstdWriter } from './zstd.js';
import { encodeHeader, endOfArchive, padding, type TarHeader } from './tar.js';

export interface LayerEntry extends TarHeader {
  /** File content, read only when the entry is written (never held for the whole layer). */
  readonly content?: () => AsyncIterable<Uint8Array> | Uint8Array;
}

export interface LayerOptions {
  /** Clamp every mtime to this (seconds); defaults to SOURCE_DATE_EPOCH when set. */
  readonly sourceDateEpoch?: number;
  /** gzip (default), zstd or none. */
  readonly compression?: LayerCompression;
  /** The compressor's level (gzip 0-9, zstd 1-22); its default when undefined. */
  readonly compressionLevel?: number;
}

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export interface WrittenLayer {
  readonly descriptor: Descriptor;
  /** sha256 of the uncompressed tar. */
  readonly diffId: Digest;
}

/**
 * Where the compressed bytes go; a ContentStore fits, so does anything that hashes what it
 * stores. The digest it answers is the sha256 of the bytes given: an uncompressed layer's diff ID.
 */
export interface BlobSink {
  putBlob(source: Readable | AsyncIterable<Uint8Array>): Promise<BlobInfo>;
}

/** SOURCE_DATE_EPOCH as seconds, or undefined when unset or not a plain integer. */
export function sourceDateEpochFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = env.SOURCE_DATE_EPOCH;
  return value !== undefined && /^[0-9]{1,15}$/.test(value) ? Number(value) : undefined;
}

/** Tar order: parents before children, siblings by byte order of their names (the bytes on disk). */
export function comparePaths(a: string, b: string): number {
  if (codeUnitsOrderAsBytes(a) && codeUnitsOrderAsBytes(b)) {
    // Code units order as the bytes do; a component that ends (at `/` or the end) before the
    // other orders first.
    const common = Math.min(a.length, b.length);
    for (let index = 0; index < common; index++) {
      const x = a.charCodeAt(index);
      const y = b.charCodeAt(index);
      if (x === y) continue;
      if (x === 0x2f) return -1;
      if (y === 0x2f) return 1;
      return x - y;
    }
    return a.length - b.length;
  }
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const compared = Buffer.compare(encodeFileName(x[i] ?? ''), encodeFileName(y[i] ?? ''));
    if (compared !== 0) return compared;
  }
  return x.length - y.length;
}

/**
 * Bytes of small entries (headers, contents read whole, paddings) gathered before they are
 * handed on: one chunk through the hash, the compressor and the store per run rather than three
 * per file (a layer of 2,000 small files spent more time passing chunks along than reading).
 */
const runBytes = 256 * 1024;

/** The uncompressed tar of ENTRIES (in the order given), streamed entry by entry. */
export async function* tarStream(entries: Iterable<LayerEntry> | AsyncIterable<LayerEntry>, options: LayerOptions = {}): AsyncGenerator<Buffer> {
  const epoch = options.sourceDateEpoch ?? sourceDateEpochFromEnv();
  let previous: string | undefined;
  let run: Buffer[] = [];
  let runLength = 0;
  const add = (bytes: Buffer): void => {
    run.push(bytes);
    runLength += bytes.length;
  };
  const take = (): Buffer => {
    const bytes = run.length === 1 ? (run[0] as Buffer) : Buffer.concat(run, runLength);
    run = [];
    runLength = 0;
    return bytes;
  };
  for await (const entry of entries) {
    if (previous !== undefined && comparePaths(previous, entry.path) >= 0) {
      throw new TsbuildError('INVALID_ARGUMENT', `write layer: entry ${JSON.stringify(entry.path)} is out of order or repeated`);
    }
    previous = entry.path;
    const mtime = epoch === undefined ? Math.floor(entry.mtime) : Math.min(Math.floor(entry.mtime), epoch);
    add(encodeHeader({ ...entry, mtime }));
    if (entry.type !== 'file') {
      if (runLength >= runBytes) yield take();
      continue;
    }
    const expected = entry.size ?? 0;
    const content = entry.content?.();
    if (content === undefined || content instanceof Uint8Array) {
      const bytes = content ?? new Uint8Array(0);
      if (bytes.length > expected) throw new TsbuildError('SIZE_MISMATCH', `write layer: ${entry.path} grew while it was read`);
      if (bytes.length !== expected) throw new TsbuildError('SIZE_MISMATCH', `write layer: ${entry.path} has ${bytes.length} bytes, expected ${expected}`);
      add(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
      add(padding(bytes.length));
      if (runLength >= runBytes) yield take();
      continue;
    }
    yield take();
    let written = 0;
    for await (const chunk of content) {
      written += chunk.length;
      if (written > expected) throw new TsbuildError('SIZE_MISMATCH', `write layer: ${entry.path} grew while it was read`);
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    }
    if (written !== expected) throw new TsbuildError('SIZE_MISMATCH', `write layer: ${entry.path} has ${written} bytes, expected ${expected}`);
    add(padding(written));
  }
  add(endOfArchive);
  yield take();
}

/** How many directories of a walk, the innermost, keep the files they read ahead. */
const readAheadLevels = 4;

/** Files up to this size are read whole, synchronously. */
const smallFileBytes = 256 * 1024;

/** Reads of large files in 1 MiB runs: fewer, larger writes into the compressor. */
function readChunkBytes(size: number): number {
  return size >= 1024 * 1024 ? 1024 * 1024 : 64 * 1024;
}

/**
 * Writes a layer in one streaming pass: tar → sha256 (diff ID) → gzip (GzipWriter: runs
 * deflated in parallel; a large file that does not deflate stored as it is) → SINK (which
 * hashes the compressed bytes for the digest). Equal entries give equal bytes.
 */
export async function writeLayer(entries: Iterable<LayerEntry> | AsyncIterable<LayerEntry>, sink: BlobSink, options: LayerOptions = {}): Promise<WrittenLayer> {
  return packLayer(tarStream(entries, options), sink, options.compression ?? 'gzip', options.compressionLevel);
}

/** What compresses a layer: bytes in, a readable of the compressed bytes out. */
interface Compressor {
  readonly output: Readable;
  write(data: Buffer): Promise<void>;
  end(): Promise<void>;
  fail(): void;
}

/** The bytes as they are, for uncompressed layers. */
class PlainWriter implements Compressor {
  // Paced rather than a PassThrough's drain: a reader that failed (no space left for the blob)
  // destroys the stream, and a write waiting for 'drain' would then wait for ever.
  private readonly paced = new PacedOutput(1024 * 1024, 'layer');
  readonly output = this.paced.stream;
  async write(data: Buffer): Promise<void> {
    await this.paced.push(data);
  }
  async end(): Promise<void> {
    this.output.push(null);
  }
  fail(): void {
    this.output.destroy();
  }
}

const layerMediaTypes: Record<LayerCompression, string> = { gzip: MediaType.ociLayerGzip, zstd: MediaType.ociLayerZstd, none: MediaType.ociLayer };

function compressorFor(compression: LayerCompression, level: number | undefined): Compressor {
  if (compression === 'gzip') return new GzipWriter(level ?? nodeZlib().constants.Z_DEFAULT_COMPRESSION);
  if (compression === 'zstd') return new ZstdWriter(level);
  return new PlainWriter();
}

/** tar → sha256 (the diff ID) → the compressor → SINK, in one pass. */
async function packLayer(tar: AsyncIterable<Uint8Array>, sink: BlobSink, compression: LayerCompression, level: number | undefined): Promise<WrittenLayer> {
  const compressor = compressorFor(compression, level);
  const stored = sink.putBlob(compressor.output);
  stored.catch(() => undefined);
  // An uncompressed blob's sha256 is the diff ID: the sink computes it, once.
  const hash = compression === 'none' ? undefined : createHasher('sha256');
  // The sink failing (no space left for the blob…) ends the stream fed to it with an AbortError,
  // which a write or the end then meets: the sink's own error is the one to report.
  const fed = async (writing: Promise<void>): Promise<void> => {
    try {
      await writing;
    } catch (error) {
      compressor.fail();
      throw await stored.then(
        () => error,
        (sinkError: unknown) => sinkError,
      );
    }
  };
  try {
    for await (const chunk of tar) {
      const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
      hash?.update(bytes);
      await fed(compressor.write(bytes));
    }
    await fed(compressor.end());
  } catch (error) {
    compressor.fail();
    throw error;
  }
  const info = await stored;
  return {
    descriptor: { mediaType: layerMediaTypes[compression], digest: info.digest, size: info.size },
    diffId: hash === undefined ? info.digest : parseDigest(`sha256:${hash.digest('hex')}`),
  };
}

/**
 * Compresses an existing uncompressed tar as writeLayer does (gzip unless told otherwise),
 * computing its diff ID on the way: equal tars give equal blobs.
 */
export async function compressLayer(tar: AsyncIterable<Uint8Array>, sink: BlobSink, compression: LayerCompression = 'gzip', level?: number): Promise<WrittenLayer> {
  return packLayer(tar, sink, compression, level);
}

/** glibc's dev_t layout (gnu_dev_major, gnu_dev_minor): each number split across both 32-bit words. */
function deviceNumbers(rdev: number): { devmajor: number; devminor: number } {
  const high = Math.floor(rdev / 2 ** 32);
  const low = rdev % 2 ** 32;
  return { devmajor: ((low >>> 8) & 0xfff) | ((high & 0xfffff000) >>> 0), devminor: ((low & 0xff) | ((low >>> 12) & 0xfff00) | ((high & 0xfff) << 20)) >>> 0 };
}

export interface DirectoryEntriesOptions {
  /**
   * ROOT is an overlayfs upper directory: its whiteouts (0/0 character devices) become OCI
   * whiteouts (`.wh.NAME`), and its opaque directories get an opaque marker (`.wh..wh..opq`).
   */
  readonly overlayUpper?: boolean;
  /**
   * Whether that overlay was mounted with userxattr, which keeps its opaque marks in
   * user.overlay.opaque rather than trusted.overlay.opaque (the other name is a step's own
   * attribute); defaults to how this process mounts overlays.
   */
  readonly overlayUserXattrs?: boolean;
  /**
   * ROOT may change while it is read (a cache mount that a `shared` user in another build
   * writes meanwhile): every directory is listed, and every file read, through a descriptor
   * opened without following a link and checked to be the very inode lstat saw. A directory
   * swapped for a link to the host meanwhile then fails the walk (CONFLICT) instead of handing
   * over what the link reaches (docker CVE-2018-15664's symlink-exchange race).
   */
  readonly changing?: boolean;
  /** List with one lstat per entry even where tsbuild-context.node loads (its fallback, which tests hold to the same entries). */
  readonly withoutContextAddon?: boolean;
}

/** PATH opened with FLAGS (never following a last link), refused unless it is the inode SEEN. */
function openSeen(path: string, entryPath: string, seen: EntryNumberStats, flags: number): number {
  let descriptor: number;
  try {
    descriptor = openSync(fsPath(path), flags | constants.O_NOFOLLOW);
  } catch (error) {
    throw changedWhileRead(entryPath, error);
  }
  const opened = fstatSync(descriptor);
  if (opened.ino !== seen.ino || opened.dev !== seen.dev) {
    closeSync(descriptor);
    throw changedWhileRead(entryPath);
  }
  return descriptor;
}

function changedWhileRead(entryPath: string, cause?: unknown): TsbuildError {
  return new TsbuildError('CONFLICT', `read ${entryPath}: it changed while it was read`, cause === undefined ? {} : { cause });
}

/** lstat of an entry just listed, which may be gone already. */
function lstatChanging(path: string, entryPath: string): Stats {
  try {
    return lstatSync(fsPath(path));
  } catch (error) {
    throw changedWhileRead(entryPath, error);
  }
}

/** The directory a descriptor holds, as a path whose components below it are looked up there. */
const descriptorDirectory = (descriptor: number): string => `/proc/self/fd/${descriptor}`;

/**
 * An OCI whiteout entry: an empty file whose name says what it hides. As docker's overlay2 layer
 * writer makes them, which BuildKit's images in docker hold: a whiteout is 0600 with the owner
 * and time of overlayfs' mark; an opaque marker has its directory's permission bits and owner,
 * and no time.
 */
function whiteoutEntry(path: string, mark: EntryNumberStats, opaque: boolean): LayerEntry {
  const mode = opaque ? mark.mode & 0o777 : 0o600;
  const mtime = opaque ? 0 : Math.floor(mark.mtimeMs / 1000);
  return { path, type: 'file', mode, uid: mark.uid, gid: mark.gid, mtime, size: 0, content: () => new Uint8Array(0) };
}

/** A small file as readFiles read it: its bytes (one past its listed size at most), its security.capability, or why it could not be read. */
interface ReadAhead {
  readonly content: Uint8Array;
  readonly capability: Buffer | undefined;
  readonly error: Error | undefined;
}

/**
 * A directory's small files read by tsbuild-context.node's readFiles on the thread pool, in runs
 * of at most 256 files and 4 MiB, the next run started when one is taken: the main thread's
 * open, stat, read, close and lgetxattr of each were half of writing a layer of 2,000 of them.
 */
class SmallFileReader {
  private readonly runs: Array<{ readonly names: string[]; readonly sizes: number[]; read?: Promise<Map<string, ReadAhead>> }> = [];
  private readonly runOf = new Map<string, number>();
  /** Runs below this one were taken whole and let go: a directory of gigabytes of small files is never held. */
  private takenBelow = 0;

  constructor(
    private readonly addon: ContextAddon,
    private readonly directory: string,
    files: ReadonlyArray<{ readonly name: string; readonly size: number }>,
  ) {
    let bytes = 0;
    for (const { name, size } of files) {
      let run = this.runs.at(-1);
      if (run === undefined || run.names.length >= 256 || bytes + size > 4 * 1024 * 1024) {
        run = { names: [], sizes: [] };
        this.runs.push(run);
        bytes = 0;
      }
      run.names.push(name);
      run.sizes.push(size);
      bytes += size;
      this.runOf.set(name, this.runs.length - 1);
    }
  }

  /** Lets go of what was read ahead: a run asked for again is read again. */
  release(): void {
    for (const run of this.runs) delete run.read;
  }

  /** Starts reading the first run before any file is asked for. */
  readAhead(): void {
    void this.start(0);
  }

  /**
   * NAME's content and capability, or undefined when it is not one of the small files (or its
   * run was let go: the walk asks for them in the order the runs were made, and one asked for
   * out of order is read by its caller).
   */
  async read(name: string): Promise<ReadAhead | undefined> {
    const index = this.runOf.get(name);
    if (index === undefined) return undefined;
    for (; this.takenBelow < index; this.takenBelow++) delete this.runs[this.takenBelow]?.read;
    void this.start(index + 1);
    return (await this.start(index))?.get(name);
  }

  private start(index: number): Promise<Map<string, ReadAhead>> | undefined {
    const run = this.runs[index];
    if (run === undefined || index < this.takenBelow) return undefined;
    if (run.read === undefined) {
      run.read = this.addon.readFiles(run.names.map((name) => fsPath(join(this.directory, name))), Float64Array.from(run.sizes)).then(({ data, lengths, capabilities, errors }) => {
        const files = new Map<string, ReadAhead>();
        let at = 0;
        run.names.forEach((name, i) => {
          const length = lengths[i] ?? 0;
          files.set(name, { content: data.subarray(at, at + length), capability: capabilities[i], error: errors[i] });
          at += length;
        });
        return files;
      });
      // A run read ahead and then not taken (the layer failed first) fails quietly.
      run.read.catch(() => undefined);
    }
    return run.read;
  }
}

/**
 * The entries of a directory tree as a layer holds them, in tar order, read lazily. Hard links
 * inside the tree become `link` entries to the first path seen; ownership is kept numerically.
 */
export async function* directoryEntries(root: string, prefix = '', options: DirectoryEntriesOptions = {}): AsyncGenerator<LayerEntry> {
  const seen = new Map<string, string>();
  const overlay = options.overlayUpper === true;
  const userxattr = options.overlayUserXattrs ?? overlayUsesUserXattrs();
  const changing = options.changing === true;
  // A tree that does not change while it is read is listed a directory at a time by the native
  // addon, with its entries' lstat (common/directory-listing.ts); one that may change is walked
  // through descriptors, below.
  const nativeListing = changing || options.withoutContextAddon === true ? undefined : loadContextAddon().module;
  /** DIRECTORY's entries with their lstat, and the listing's stats of each (to list a directory below). */
  const entriesOf = (directory: string, relative: string, listedAs: EntryStats | undefined): Array<{ name: string; info: EntryNumberStats; listed?: EntryStats }> => {
    if (nativeListing !== undefined && listedAs !== undefined) {
      const listing = listDirectory(nativeListing, directory, listedAs);
      if ('changed' in listing) throw changedWhileRead(relative === '' ? '.' : relative);
      return listing.entries.map((entry) => ({ name: entry.name, info: entry.numbers(), listed: entry.stats }));
    }
    return readDirectoryNames(directory).map((name) => ({
      name,
      info: changing ? lstatChanging(join(directory, name), relative === '' ? name : `${relative}/${name}`) : lstatSync(fsPath(join(directory, name))),
    }));
  };
  /** A directory being walked: its children in tar order, the next one to write, and what reads them. */
  interface Frame {
    readonly directory: string;
    readonly relative: string;
    readonly children: Child[];
    next: number;
    readonly reader: SmallFileReader | undefined;
    /** The descriptor DIRECTORY names (a tree that may change), closed when the frame ends. */
    readonly descriptor: number | undefined;
  }
  // KEY: the entry name's bytes, which order siblings.
  type Child = { name: string; entryName: string; key: Buffer; info: EntryNumberStats; listed?: EntryStats; mark?: 'whiteout' | 'opaque' };
  const frameOf = (directory: string, relative: string, listedAs: EntryStats | undefined, descriptor?: number): Frame => {
    const children: Child[] = [];
    // Synchronous: a tree is many metadata calls of microseconds each, which the thread pool
    // made ten times as slow; file content is still read asynchronously. Names are the bytes on
    // disk (a RUN may leave one that is not UTF-8): see common/file-names.ts.
    for (const { name, info, listed } of entriesOf(directory, relative, listedAs)) {
      const whiteout = overlay && info.isCharacterDevice() && info.rdev === 0;
      const entryName = whiteout ? `.wh.${name}` : name;
      children.push({ name, entryName, key: encodeFileName(entryName), info, ...(listed === undefined ? {} : { listed }), ...(whiteout ? { mark: 'whiteout' as const } : {}) });
    }
    // `/.`: a directory held by a descriptor is /proc/self/fd/N, a link whose own attributes
    // lgetxattr would read instead of the directory's.
    if (overlay && relative !== '' && isOverlayOpaque(`${directory}/.`, userxattr)) children.push({ name: '', entryName: '.wh..wh..opq', key: Buffer.from('.wh..wh..opq'), info: lstatSync(fsPath(directory)), mark: 'opaque' });
    children.sort((a, b) => Buffer.compare(a.key, b.key));
    const reader =
      nativeListing === undefined || changing ? undefined : new SmallFileReader(nativeListing, directory, children.flatMap((child) => (child.mark === undefined && child.info.isFile() && child.info.size <= smallFileBytes ? [{ name: child.name, size: child.info.size }] : [])));
    return { directory, relative, children, next: 0, reader, descriptor };
  };
  /** FRAME, whose descriptor is closed should its listing fail. */
  const descriptorFrame = (descriptor: number, relative: string): Frame => {
    try {
      return frameOf(descriptorDirectory(descriptor), relative, undefined, descriptor);
    } catch (error) {
      closeSync(descriptor);
      throw error;
    }
  };
  // One generator over a stack of directories, not one per directory: an entry yielded through
  // a generator per level of depth cost a promise per level, a quarter of a layer's main-thread
  // time for 2,000 files four levels down.
  const stack: Frame[] = [];
  const ahead = new Map<Child, Frame>();
  try {
    if (changing) {
      stack.push(descriptorFrame(openSync(fsPath(root), constants.O_RDONLY | constants.O_DIRECTORY), prefix));
    } else {
      // A root reached through a link (a caller's path) is read through it, as readdir reads it: listed the old way.
      const rootStats = nativeListing === undefined ? undefined : lstatSync(fsPath(root), { bigint: true });
      stack.push(frameOf(root, prefix, rootStats?.isDirectory() === true ? rootStats : undefined));
    }
    for (let frame = stack.at(-1); frame !== undefined; frame = stack.at(-1)) {
      const child = frame.children[frame.next];
      if (child === undefined) {
        stack.pop();
        if (frame.descriptor !== undefined) closeSync(frame.descriptor);
        continue;
      }
      frame.next += 1;
      const { directory, relative, reader } = frame;
      const { name, entryName: outputName, info, listed, mark } = child;
      const path = join(directory, name);
      const entryPath = relative === '' ? outputName : `${relative}/${outputName}`;
      if (mark !== undefined) {
        yield whiteoutEntry(entryPath, info, mark === 'opaque');
        continue;
      }
      // Only security.capability among the xattrs, as BuildKit's diff does: user.* and the
      // rest are host details, not image content.
      const read = info.isFile() ? await reader?.read(name) : undefined;
      if (read?.error !== undefined) throw read.error;
      const capability = read !== undefined ? read.capability : info.isFile() ? readXattr(path, 'security.capability') : undefined;
      const common = {
        path: entryPath,
        mode: info.mode & 0o7777,
        uid: info.uid,
        gid: info.gid,
        mtime: Math.floor(info.mtimeMs / 1000),
        ...(capability === undefined || capability.length === 0 ? {} : { pax: { 'SCHILY.xattr.security.capability': capability } }),
      };
      // Another name of an inode already written is a hard link to it whatever its type (a
      // symlink's or a fifo's too), as docker's layer writer (moby's addTarFile) and
      // containerd's take every non-directory of several names; sockets are no content.
      const inode = `${info.dev}:${info.ino}`;
      const linkable = info.nlink > 1 && !info.isDirectory() && !info.isSocket();
      const firstName = linkable ? seen.get(inode) : undefined;
      if (firstName !== undefined) {
        yield { ...common, type: 'link', linkname: firstName };
        continue;
      }
      if (linkable) seen.set(inode, entryPath);
      if (info.isDirectory()) {
        yield { ...common, type: 'directory' };
        if (changing) {
          stack.push(descriptorFrame(openSeen(path, entryPath, info, constants.O_RDONLY | constants.O_DIRECTORY), entryPath));
          continue;
        }
        stack.push(ahead.get(child) ?? frameOf(path, entryPath, listed));
        ahead.delete(child);
        // What directories further out read ahead is let go (and read again when the walk comes
        // back to them): a deep tree holds the runs of a few levels, not of every level.
        stack.at(-1 - readAheadLevels)?.reader?.release();
        // The next directory beside this one is listed now and its first files read meanwhile:
        // otherwise each directory's reads start only once the one before it is written.
        let sibling: Child | undefined;
        for (let index = frame.next; sibling === undefined && index < frame.children.length; index++) {
          const next = frame.children[index] as Child;
          if (next.mark === undefined && next.info.isDirectory()) sibling = next;
        }
        // One directory ahead at a time, whatever the depth: at most one run of files held ahead.
        if (sibling !== undefined && ahead.size === 0) {
          const prepared = frameOf(join(directory, sibling.name), relative === '' ? sibling.entryName : `${relative}/${sibling.entryName}`, sibling.listed);
          prepared.reader?.readAhead();
          ahead.set(sibling, prepared);
        }
      } else if (info.isSymbolicLink()) {
        const target = await readlink(fsPath(path), { encoding: 'buffer' }).catch((error: unknown) => {
          throw changing ? changedWhileRead(entryPath, error) : error;
        });
        yield { ...common, type: 'symlink', linkname: decodeFileName(target) };
      } else if (info.isFile()) {
        // A small file in one synchronous read: three thread-pool round trips (open, read,
        // close) per file made a layer of 2,000 small files take 1.4 s instead of 0.1 s.
        const content = changing
          ? info.size <= smallFileBytes
            ? (): Uint8Array => {
                const descriptor = openSeen(path, entryPath, info, constants.O_RDONLY | constants.O_NONBLOCK);
                try {
                  return readFileSync(descriptor);
                } finally {
                  closeSync(descriptor);
                }
              }
            : (): AsyncIterable<Uint8Array> => createReadStream(fsPath(path), { fd: openSeen(path, entryPath, info, constants.O_RDONLY | constants.O_NONBLOCK), highWaterMark: readChunkBytes(info.size) })
          : read !== undefined
            ? (): Uint8Array => read.content
            : info.size <= smallFileBytes
            ? (): Uint8Array => readFileSync(fsPath(path))
            : (): AsyncIterable<Uint8Array> => createReadStream(fsPath(path), { highWaterMark: readChunkBytes(info.size) });
        yield { ...common, type: 'file', size: info.size, content };
      } else if (info.isFIFO()) {
        yield { ...common, type: 'fifo' };
      } else if (info.isCharacterDevice() || info.isBlockDevice()) {
        yield { ...common, type: info.isCharacterDevice() ? 'character-device' : 'block-device', ...deviceNumbers(info.rdev) };
      }
      // Sockets are not image content.
    }
  } finally {
    for (const frame of stack) if (frame.descriptor !== undefined) closeSync(frame.descriptor);
  }
}
