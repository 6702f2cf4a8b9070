import { chmodSync, createReadStream, existsSync, mkdirSync } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, stat, truncate, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { errnoOf, digestAlgorithm, digestHex, hashHex, MediaType, messageOf, parseDigest, parseIndex, refNameAnnotation, TsbuildError, type Descriptor, type Digest, type Index } from '../common/index.js';
import { fsyncDirectory, temporaryName, writeFileAtomic } from './atomic.js';
import { markTopDirectory } from './top-directory.js';
import { checkIdMapping } from './id-mapping.js';
import type { BlobInfo, ContentStore, ExpectedBlob, Ingest, OpenBlobOptions } from './content-store.js';
import { reachableBlobs } from './image.js';
import { acquireLock, tryLock, type FileLock } from './lock.js';
import { type BlobWriter, openBlobWriter } from './blob-writer.js';
import { VerifyingStream } from './verify-stream.js';

/**
 * What skopeo's and umoci's OCI transports accept as a ref.name (image-spec annotation rules):
 * components of alphanumerics joined by `-._:@+` or `--`, separated by `/`.
 */
const refNamePattern = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

export function validateReferenceName(name: string): string {
  if (name.length > 1024 || !refNamePattern.test(name)) {
    throw new TsbuildError('INVALID_REFERENCE', `name reference ${JSON.stringify(name.slice(0, 200))}: not a valid OCI ref.name`);
  }
  return name;
}

const defaultMaxRead = 4 * 1024 * 1024;

/** The error names the digest the content should have had. */
function hashMismatch(what: string, actual: Digest, expected: Digest): TsbuildError {
  return new TsbuildError('DIGEST_MISMATCH', `${what}: content hashes to ${actual}, expected ${expected}`, { digest: expected });
}

/**
 * A ContentStore kept as an OCI image layout: `oci-layout`, `index.json` (one entry per name,
 * named by the `org.opencontainers.image.ref.name` annotation, and one without the annotation
 * per image no name holds: docker's dangling images) and `blobs/<alg>/<hex>`, so that
 * skopeo (`oci:ROOT:NAME`) and umoci read it as it is. Beside the layout: `ingest/` (resumable
 * downloads), `tmp/` (files being written), `layers/` (unpacked layers by chain ID).
 */
export class LayoutStore implements ContentStore {
  /**
   * Each side index as this store last read or wrote it: its bytes and what they parse to. A
   * build rewrites the step cache's after each step that ran; parsing it again each time, when
   * its bytes are still the ones written, was most of the rewrite (13 ms of ten RUN steps).
   */
  private readonly sideIndexes = new Map<string, { readonly bytes: Buffer; readonly index: Index }>();

  private constructor(readonly root: string) {}

  static async open(root: string): Promise<LayoutStore> {
    const store = new LayoutStore(root);
    try {
      // Synchronously: in a store that exists, each is a system call or two that finds it made,
      // and a round trip through libuv's thread pool for each cost every command about 2 ms at
      // start. The root first, so that the others do not race to create it.
      // Only its owner enters a root tsbuild makes, as docker's /var/lib/docker (0710): its
      // blobs are every image pulled, private ones included, and every layer built.
      mkdirSync(root, { recursive: true, mode: 0o700 });
      for (const dir of ['blobs/sha256', 'ingest', 'tmp']) mkdirSync(join(root, dir), { recursive: true, mode: 0o755 });
      // Unpacked images hold their set-user-ID files as they are: another user of the host who
      // could reach them would run them as their owner (root). Only the store's owner enters.
      mkdirSync(join(root, 'layers', 'sha256'), { recursive: true, mode: 0o700 });
      // A store made before had them open; one opened by a user who does not own it stays as it is.
      try {
        chmodSync(join(root, 'layers'), 0o700);
      } catch (error) {
        if (errnoOf(error) !== 'EPERM' && errnoOf(error) !== 'EROFS') throw error;
      }
      // Steps, unpacks and downloads make their directories there: spread over the disk.
      for (const directory of ['tmp', 'layers']) markTopDirectory(join(root, directory));
    } catch (error) {
      throw new TsbuildError('INTERNAL', `open store ${root}: ${messageOf(error)}`, { cause: error });
    }
    // Independent files: their durable writes (a fresh root's) overlap.
    await Promise.all([
      store.createIfMissing('oci-layout', `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`),
      store.createIfMissing('index.json', `${JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] })}\n`),
      checkIdMapping(root),
    ]);
    return store;
  }

  /** Creates a file only if absent, atomically (link fails on an existing name), so a racing creator never clobbers. */
  private async createIfMissing(name: string, content: string): Promise<void> {
    const path = join(this.root, name);
    if (existsSync(path)) return;
    const temporary = join(this.root, 'tmp', temporaryName(name));
    try {
      // Only its content must be durable before the link: the temporary's own name never is.
      const handle = await open(temporary, 'wx', 0o644);
      try {
        await handle.writeFile(content);
        await handle.sync();
      } finally {
        await handle.close();
      }
      // A racing creator's file stands: link fails on an existing name.
      const linked = await link(temporary, path).then(
        () => true,
        (error: unknown) => {
          if (errnoOf(error) === 'EEXIST') return false;
          throw error;
        },
      );
      if (linked) await fsyncDirectory(this.root);
    } catch (error) {
      throw new TsbuildError('INTERNAL', `create ${path}: ${messageOf(error)}`, { cause: error });
    } finally {
      await unlink(temporary).catch(() => undefined);
    }
  }

  blobPath(digest: Digest): string {
    parseDigest(digest);
    return join(this.root, 'blobs', digestAlgorithm(digest), digestHex(digest));
  }

  get temporaryDirectory(): string {
    return join(this.root, 'tmp');
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    return (await this.blobSize(digest)) !== undefined;
  }

  async blobSize(digest: Digest): Promise<number | undefined> {
    const path = this.blobPath(digest);
    try {
      const info = await stat(path);
      return info.isFile() ? info.size : undefined;
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return undefined;
      throw new TsbuildError('INTERNAL', `stat blob ${digest}: ${messageOf(error)}`, { cause: error });
    }
  }

  /** Marks a blob as recently used, so a concurrent prune (which spares young blobs) leaves it. */
  private async touch(digest: Digest): Promise<void> {
    const now = new Date();
    await utimes(this.blobPath(digest), now, now).catch(() => undefined);
  }

  async putBlob(source: Readable | AsyncIterable<Uint8Array>, expected?: ExpectedBlob): Promise<BlobInfo> {
    if (expected !== undefined) {
      const size = await this.blobSize(expected.digest);
      if (size !== undefined && (expected.size === undefined || expected.size === size)) {
        await this.touch(expected.digest);
        const readable = source as Partial<Readable>;
        if (typeof readable.destroy === 'function') readable.destroy();
        return { digest: expected.digest, size };
      }
    }
    const algorithm = expected === undefined ? 'sha256' : digestAlgorithm(expected.digest);
    const temporary = join(this.temporaryDirectory, temporaryName('blob'));
    let size = 0;
    try {
      const handle = await open(temporary, 'wx', 0o644);
      let hex: string;
      const writer = openBlobWriter(handle, algorithm, 0);
      try {
        for await (const chunk of source) {
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          size += bytes.length;
          if (expected?.size !== undefined && size > expected.size) {
            throw new TsbuildError('SIZE_MISMATCH', `put blob ${expected.digest}: more than the expected ${expected.size} bytes`, { digest: expected.digest });
          }
          await writer.write([bytes]);
        }
        await writer.settle();
        await handle.sync();
        hex = writer.hex();
      } finally {
        await writer.settle().catch(() => undefined);
        await handle.close();
      }
      const digest = parseDigest(`${algorithm}:${hex}`);
      if (expected !== undefined) {
        if (expected.size !== undefined && size !== expected.size) {
          throw new TsbuildError('SIZE_MISMATCH', `put blob ${expected.digest}: got ${size} bytes, expected ${expected.size}`, { digest: expected.digest });
        }
        if (digest !== expected.digest) throw hashMismatch(`put blob ${expected.digest}`, digest, expected.digest);
      }
      await this.install(temporary, digest);
      return { digest, size };
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      if (error instanceof TsbuildError) throw error;
      // The file named: a full or failing disk shows where the store is.
      throw new TsbuildError('INTERNAL', `put blob ${temporary}: ${messageOf(error)}`, { cause: error });
    }
  }

  /** Renames a verified, fsynced file into blobs/. Replacing an existing blob is harmless: same bytes. */
  private async install(temporary: string, digest: Digest): Promise<void> {
    const directory = join(this.root, 'blobs', digestAlgorithm(digest));
    await mkdir(directory, { recursive: true });
    await rename(temporary, this.blobPath(digest));
    await fsyncDirectory(directory);
  }

  async beginIngest(expected: ExpectedBlob): Promise<Ingest> {
    parseDigest(expected.digest);
    const present = await this.blobSize(expected.digest);
    if (present !== undefined && (expected.size === undefined || present === expected.size)) {
      await this.touch(expected.digest);
      return new PresentIngest({ digest: expected.digest, size: present });
    }
    const base = join(this.root, 'ingest', `${digestAlgorithm(expected.digest)}-${digestHex(expected.digest)}`);
    const lock = await tryLock(`${base}.lock`, { staleMs: 24 * 3600_000 });
    // Another live process is downloading the same blob: write a private copy rather than wait.
    const dataPath = lock === undefined ? join(this.temporaryDirectory, temporaryName('ingest')) : `${base}.data`;
    try {
      let offset = 0;
      if (lock !== undefined) {
        const info = await stat(dataPath).catch(() => undefined);
        offset = info?.size ?? 0;
        if (expected.size !== undefined && offset > expected.size) {
          await truncate(dataPath, 0);
          offset = 0;
        }
      }
      const handle = await open(dataPath, lock === undefined ? 'wx' : 'a', 0o644);
      const writer = openBlobWriter(handle, digestAlgorithm(expected.digest), offset);
      if (offset > 0) {
        // Hash state cannot be saved across processes: rehash what an earlier attempt kept.
        let seen = 0;
        for await (const chunk of createReadStream(dataPath, { end: offset - 1 })) {
          writer.absorb(chunk as Buffer);
          seen += (chunk as Buffer).length;
        }
        if (seen !== offset) {
          await handle.close();
          throw new TsbuildError('INTERNAL', `begin ingest ${expected.digest}: ${dataPath} changed while it was read`);
        }
      }
      return new FileIngest(this, expected, dataPath, handle, writer, offset, lock);
    } catch (error) {
      await lock?.release();
      throw new TsbuildError('INTERNAL', `begin ingest ${expected.digest}: ${messageOf(error)}`, { cause: error });
    }
  }

  /** Used by FileIngest.commit. */
  async installIngested(path: string, digest: Digest): Promise<void> {
    await this.install(path, digest);
  }

  /** The blob's file, open for reading; a missing blob is NOT_FOUND, named with ACTION. */
  private async openBlobFile(digest: Digest, action: string): Promise<FileHandle> {
    // Outside the try: an invalid digest is reported as such, before it touches a path.
    const path = this.blobPath(digest);
    try {
      return await open(path, 'r');
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') throw new TsbuildError('NOT_FOUND', `${action} ${digest}: not in the store`);
      throw new TsbuildError('INTERNAL', `${action} ${digest}: ${messageOf(error)}`, { cause: error });
    }
  }

  async openBlob(digest: Digest, options: OpenBlobOptions = {}): Promise<Readable> {
    const handle = await this.openBlobFile(digest, 'open blob');
    const size = (await handle.stat()).size;
    const file = handle.createReadStream({ highWaterMark: 1024 * 1024 });
    if (options.verify === false) return file;
    const verifier = new VerifyingStream(digest, size, `blob ${digest}`);
    file.on('error', (error) => verifier.destroy(error));
    verifier.on('close', () => {
      if (!file.destroyed) file.destroy();
    });
    return file.pipe(verifier);
  }

  async readBlobTail(digest: Digest, length: number): Promise<Buffer> {
    const handle = await this.openBlobFile(digest, 'read blob');
    try {
      const { size } = await handle.stat();
      const want = Math.max(0, Math.min(length, size));
      const tail = Buffer.alloc(want);
      const { bytesRead } = await handle.read(tail, 0, want, size - want);
      return tail.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  async readBlob(digest: Digest, maxBytes = defaultMaxRead): Promise<Buffer> {
    const handle = await this.openBlobFile(digest, 'read blob');
    let data: Buffer;
    try {
      const info = await handle.stat();
      if (info.size > maxBytes) throw new TsbuildError('SIZE_MISMATCH', `read blob ${digest}: ${info.size} bytes, more than the ${maxBytes} allowed`, { digest });
      data = await handle.readFile();
    } catch (error) {
      if (error instanceof TsbuildError) throw error;
      throw new TsbuildError('INTERNAL', `read blob ${digest}: ${messageOf(error)}`, { cause: error });
    } finally {
      await handle.close();
    }
    const actual = parseDigest(`${digestAlgorithm(digest)}:${hashHex(digestAlgorithm(digest), data)}`);
    if (actual !== digest) throw hashMismatch(`read blob ${digest}`, actual, digest);
    return data;
  }

  /** Removes a blob; absent blobs are not an error. */
  async deleteBlob(digest: Digest): Promise<boolean> {
    try {
      await unlink(this.blobPath(digest));
      return true;
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return false;
      throw new TsbuildError('INTERNAL', `delete blob ${digest}: ${messageOf(error)}`, { cause: error });
    }
  }

  /** Every blob file under blobs/, with its size and modification time. */
  async listBlobs(): Promise<Array<{ digest: Digest; size: number; mtimeMs: number }>> {
    const result: Array<{ digest: Digest; size: number; mtimeMs: number }> = [];
    for (const algorithm of await readdir(join(this.root, 'blobs'))) {
      for (const hex of await readdir(join(this.root, 'blobs', algorithm)).catch(() => [] as string[])) {
        const digest = `${algorithm}:${hex}`;
        // Stray files (an interrupted tool's temporaries) are not blobs; prune removes them by age.
        if (!/^[a-z0-9]+:[0-9a-f]+$/.test(digest)) continue;
        let parsed: Digest;
        try {
          parsed = parseDigest(digest);
        } catch {
          continue;
        }
        const info = await stat(join(this.root, 'blobs', algorithm, hex)).catch(() => undefined);
        if (info?.isFile()) result.push({ digest: parsed, size: info.size, mtimeMs: info.mtimeMs });
      }
    }
    return result;
  }

  // --- references -----------------------------------------------------------------------------

  private get indexPath(): string {
    return join(this.root, 'index.json');
  }

  /** The layout's index.json as it is now (readers never lock: it is replaced atomically). */
  async readIndex(): Promise<Index> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.indexPath);
    } catch (error) {
      throw new TsbuildError('INTERNAL', `read ${this.indexPath}: ${messageOf(error)}`, { cause: error });
    }
    return parseIndex(bytes, MediaType.ociIndex);
  }

  /** Takes the store-wide lock for an operation that must see references stand still (tag, rmi, prune). */
  async lock(): Promise<FileLock> {
    return acquireLock(join(this.root, 'index.json.lock'));
  }

  /**
   * Read-modify-write of index.json under the lock; CHANGE returns the new entries, or undefined
   * to leave the file untouched. HELD says the caller already holds the lock.
   */
  async updateIndex<T>(change: (entries: Descriptor[]) => { entries?: Descriptor[]; result: T } | Promise<{ entries?: Descriptor[]; result: T }>, held = false): Promise<T> {
    const lock = held ? undefined : await this.lock();
    try {
      const index = await this.readIndex();
      const { entries, result } = await change([...index.manifests]);
      if (entries !== undefined) {
        const next: Index = { ...index, schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: entries };
        await writeFileAtomic(this.indexPath, `${JSON.stringify(next)}\n`);
      }
      return result;
    } finally {
      await lock?.release();
    }
  }

  // --- side indexes ----------------------------------------------------------------------------

  /**
   * Other OCI indexes kept beside index.json, at `indexes/NAME.json`, each with its own lock:
   * roots that prune and verify walk like images, for records that are not named images (the
   * step cache keeps its records in one). What their entries mean is their owner's business.
   */
  sideIndexPath(name: string): string {
    if (!/^[a-z][a-z0-9-]{0,63}$/.test(name)) throw new TsbuildError('INVALID_ARGUMENT', `side index ${JSON.stringify(name)}: not a valid name`);
    return join(this.root, 'indexes', `${name}.json`);
  }

  /** The side index NAME as it is now; empty when it was never written. */
  async readSideIndex(name: string): Promise<Index> {
    const path = this.sideIndexPath(name);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
      throw new TsbuildError('INTERNAL', `read ${path}: ${messageOf(error)}`, { cause: error });
    }
    const known = this.sideIndexes.get(name);
    if (known !== undefined && known.bytes.equals(bytes)) return known.index;
    const index = parseIndex(bytes, MediaType.ociIndex);
    this.sideIndexes.set(name, { bytes, index });
    return index;
  }

  /** Names of the side indexes present. */
  async listSideIndexes(): Promise<string[]> {
    const names = await readdir(join(this.root, 'indexes')).catch(() => [] as string[]);
    return names.filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -'.json'.length));
  }

  /** Read-modify-write of a side index under its own lock, as updateIndex does for index.json. */
  async updateSideIndex<T>(name: string, change: (entries: Descriptor[]) => { entries?: Descriptor[]; result: T } | Promise<{ entries?: Descriptor[]; result: T }>): Promise<T> {
    const path = this.sideIndexPath(name);
    await mkdir(join(this.root, 'indexes'), { recursive: true, mode: 0o755 });
    const lock = await acquireLock(`${path}.lock`);
    try {
      const index = await this.readSideIndex(name);
      const { entries, result } = await change([...index.manifests]);
      if (entries !== undefined) {
        // Nothing half-stored is ever referenced, here as in index.json. (A set: a search of the
        // old entries for each new one made every step's record quadratic in the records.)
        const listed = new Set(index.manifests.map((old) => old.digest));
        for (const entry of entries) {
          if (!listed.has(entry.digest) && !(await this.hasBlob(entry.digest))) {
            throw new TsbuildError('NOT_FOUND', `update side index ${name}: ${entry.digest} is not in the store`);
          }
        }
        const written: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: entries };
        const bytes = Buffer.from(`${JSON.stringify(written)}\n`);
        this.sideIndexes.delete(name);
        await writeFileAtomic(path, bytes);
        this.sideIndexes.set(name, { bytes, index: written });
      }
      return result;
    } finally {
      await lock.release();
    }
  }

  async resolveReference(name: string): Promise<Descriptor | undefined> {
    const index = await this.readIndex();
    const entry = index.manifests.find((descriptor) => descriptor.annotations?.[refNameAnnotation] === name);
    return entry === undefined ? undefined : stripRefName(entry);
  }

  /**
   * Fails unless TARGET and every blob it reaches are in the store (checked under the lock: a
   * prune running at the same time cannot have removed them since), then marks it recently used.
   */
  private async checkComplete(what: string, target: Descriptor, reference?: string): Promise<void> {
    const size = await this.blobSize(target.digest);
    if (size === undefined) throw new TsbuildError('NOT_FOUND', `${what}: ${target.digest} is not in the store`);
    if (size !== target.size) throw new TsbuildError('SIZE_MISMATCH', `${what}: ${target.digest} has ${size} bytes, descriptor says ${target.size}`, { ...(reference === undefined ? {} : { reference }), digest: target.digest });
    // Nothing half-stored is ever kept: every blob the target reaches must be present.
    const missing: Digest[] = [];
    await reachableBlobs(this, target, new Set(), missing);
    if (missing.length > 0) throw new TsbuildError('NOT_FOUND', `${what}: ${missing.length} blob(s) missing, first ${missing[0] ?? ''}`);
    await this.touch(target.digest);
  }

  /**
   * Names TARGET. The image the name pointed at before stays as an unnamed entry when nothing
   * else in index.json holds it (docker's `<none>:<none>`); an unnamed entry of TARGET goes,
   * since the name now holds it.
   */
  async setReference(name: string, target: Descriptor, held = false): Promise<void> {
    validateReferenceName(name);
    parseDigest(target.digest);
    await this.updateIndex(async (entries) => {
      await this.checkComplete(`set reference ${name}`, target, name);
      const { annotations, ...rest } = target;
      const entry: Descriptor = { ...rest, annotations: { ...annotations, [refNameAnnotation]: name } };
      const previous = entries.find((descriptor) => descriptor.annotations?.[refNameAnnotation] === name);
      const kept = entries.filter((descriptor) => {
        const entryName = descriptor.annotations?.[refNameAnnotation];
        return entryName === undefined ? descriptor.digest !== target.digest : entryName !== name;
      });
      if (previous !== undefined && previous.digest !== target.digest && !kept.some((descriptor) => descriptor.digest === previous.digest)) kept.push(stripRefName(previous));
      return { entries: [...kept, entry].sort(byRefName), result: undefined };
    }, held);
  }

  async deleteReference(name: string, held = false): Promise<boolean> {
    return this.updateIndex((entries) => {
      const kept = entries.filter((descriptor) => descriptor.annotations?.[refNameAnnotation] !== name);
      return kept.length === entries.length ? { result: false } : { entries: kept, result: true };
    }, held);
  }

  async listReferences(): Promise<ReadonlyArray<{ readonly name: string; readonly target: Descriptor }>> {
    const index = await this.readIndex();
    return index.manifests.flatMap((descriptor) => {
      const name = descriptor.annotations?.[refNameAnnotation];
      return name === undefined ? [] : [{ name, target: stripRefName(descriptor) }];
    });
  }

  // --- unnamed images -------------------------------------------------------------------------

  /**
   * Keeps TARGET in index.json without a name (an entry without ref.name, as the layout spec
   * allows; docker's `<none>:<none>`), unless an entry, named or not, already holds it: one entry
   * per manifest at most. Says whether it added one.
   */
  async keepUnnamed(target: Descriptor, held = false): Promise<boolean> {
    parseDigest(target.digest);
    return this.updateIndex(async (entries) => {
      if (entries.some((descriptor) => descriptor.digest === target.digest)) return { result: false };
      await this.checkComplete('keep image', target);
      return { entries: [...entries, stripRefName(target)].sort(byRefName), result: true };
    }, held);
  }

  /** The entries without a name, in index.json's order. */
  async listUnnamed(): Promise<Descriptor[]> {
    const index = await this.readIndex();
    return index.manifests.filter((descriptor) => descriptor.annotations?.[refNameAnnotation] === undefined);
  }

  /** Removes the unnamed entry of DIGEST; false when there is none (its names are not touched). */
  async deleteUnnamed(digest: Digest, held = false): Promise<boolean> {
    return this.updateIndex((entries) => {
      const kept = entries.filter((descriptor) => descriptor.digest !== digest || descriptor.annotations?.[refNameAnnotation] !== undefined);
      return kept.length === entries.length ? { result: false } : { entries: kept, result: true };
    }, held);
  }
}

/** Named entries by name; unnamed ones first, by digest, so that the file's order is stable. */
function byRefName(a: Descriptor, b: Descriptor): number {
  const x = a.annotations?.[refNameAnnotation] ?? '';
  const y = b.annotations?.[refNameAnnotation] ?? '';
  if (x !== y) return x < y ? -1 : 1;
  return a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0;
}

function stripRefName(descriptor: Descriptor): Descriptor {
  const { annotations, ...rest } = descriptor;
  if (annotations === undefined) return descriptor;
  const others = Object.fromEntries(Object.entries(annotations).filter(([key]) => key !== refNameAnnotation));
  return Object.keys(others).length === 0 ? rest : { ...rest, annotations: others };
}

/** The blob is already stored: nothing to write. */
class PresentIngest implements Ingest {
  readonly offset: number;
  constructor(private readonly info: BlobInfo) {
    this.offset = info.size;
  }
  async write(chunks: readonly Uint8Array[]): Promise<void> {
    if (chunks.some((chunk) => chunk.length > 0)) throw new TsbuildError('SIZE_MISMATCH', `write ingest ${this.info.digest}: the blob is complete`);
  }
  async commit(): Promise<BlobInfo> {
    return this.info;
  }
  async abort(): Promise<void> {}
  async suspend(): Promise<void> {}
}

class FileIngest implements Ingest {
  private done = false;
  private writing: Promise<void> | undefined;
  private written: number;

  constructor(
    private readonly store: LayoutStore,
    private readonly expected: ExpectedBlob,
    private readonly path: string,
    private readonly handle: FileHandle,
    private readonly writer: BlobWriter,
    readonly offset: number,
    private readonly lock: FileLock | undefined,
  ) {
    this.written = offset;
  }

  private get what(): string {
    return `ingest ${this.expected.digest}`;
  }

  async write(chunks: readonly Uint8Array[]): Promise<void> {
    if (this.done) throw new TsbuildError('INTERNAL', `write ${this.what}: already finished`);
    const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    if (this.expected.size !== undefined && this.written + length > this.expected.size) {
      throw new TsbuildError('SIZE_MISMATCH', `write ${this.what}: more than the expected ${this.expected.size} bytes`, { digest: this.expected.digest });
    }
    const writing = this.writer.write(chunks);
    this.writing = writing;
    await writing;
    this.written += length;
  }

  private async finish(): Promise<void> {
    this.done = true;
    // A write still running on the thread pool writes by descriptor number: closing first could
    // let it land in whatever file reuses the number.
    await this.writing?.catch(() => undefined);
    await this.writer.settle().catch(() => undefined);
    await this.handle.close().catch(() => undefined);
    await this.lock?.release();
  }

  async commit(): Promise<BlobInfo> {
    const info: BlobInfo = { digest: this.expected.digest, size: this.written };
    if (this.done) {
      if (await this.store.hasBlob(this.expected.digest)) return info;
      throw new TsbuildError('INTERNAL', `commit ${this.what}: already finished`);
    }
    try {
      await this.writing?.catch(() => undefined);
      await this.writer.settle();
      await this.handle.sync();
      if (this.expected.size !== undefined && this.written !== this.expected.size) {
        throw new TsbuildError('SIZE_MISMATCH', `commit ${this.what}: got ${this.written} bytes, expected ${this.expected.size}`, { digest: this.expected.digest });
      }
      const actual = parseDigest(`${digestAlgorithm(this.expected.digest)}:${this.writer.hex()}`);
      if (actual !== this.expected.digest) throw hashMismatch(`commit ${this.what}`, actual, this.expected.digest);
      await this.handle.close();
      await this.store.installIngested(this.path, this.expected.digest);
      this.done = true;
      await this.lock?.release();
      return info;
    } catch (error) {
      // What was written is wrong (or unreadable): it must not be resumed.
      await unlink(this.path).catch(() => undefined);
      await this.finish();
      if (error instanceof TsbuildError) throw error;
      throw new TsbuildError('INTERNAL', `commit ${this.what}: ${messageOf(error)}`, { cause: error });
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    await this.finish();
    await unlink(this.path).catch(() => undefined);
  }

  async suspend(): Promise<void> {
    if (this.done) return;
    await this.handle.sync().catch(() => undefined);
    await this.finish();
    // A private copy (another process held the shared ingest) cannot be found again: drop it.
    if (this.lock === undefined) await unlink(this.path).catch(() => undefined);
  }
}
