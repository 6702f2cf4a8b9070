/**
 * `RUN --mount=type=cache` directories: one per cache id under `ROOT/cache-mounts/`, kept from
 * build to build on the same root and shared by the builds that run at once on it. Their
 * contents never enter a layer or a step's key; only the id, target and options do.
 *
 *   ROOT/cache-mounts/ESCAPED-ID/meta.json   what the directory is (id, owner, mode, times)
 *   ROOT/cache-mounts/ESCAPED-ID/data/       what the step sees at its target
 *   ROOT/cache-mounts/ESCAPED-ID/lock        held by a `locked` user, or a `private` one
 *   ROOT/cache-mounts/ESCAPED-ID/private-*   a `private` user's own directory while the data is taken
 *   ROOT/cache-mounts/ESCAPED-ID/stale-*     the data a step that ignores the cache set aside, being removed
 *
 * As BuildKit's cache mounts: `shared` users mount the same directory at once; `locked` users
 * take it one at a time, the others wait; a `private` user takes it when nobody holds it and
 * otherwise gets an empty directory of its own, thrown away after the step. A step that ignores
 * the cache (`--no-cache`) starts from an empty cache, which then replaces the old contents.
 */
import { chmod, lchown, mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TsbuildError, createHasher, errnoOf, fsPath, hashHex, messageOf, parseDigest, readDirectoryNames, uniqueHex } from '../common/index.js';
import type { CacheMountLayers } from '../cache/index.js';
import { directoryEntries, tarStream, writeLayer } from '../exporter/index.js';
import { acquireLock, tryLock, writeFileAtomic, type FileLock, type Store } from '../store/index.js';
import type { CacheSharing } from '../planner/index.js';

export const cacheMountsDirectory = 'cache-mounts';

/** What `meta.json` holds. */
export interface CacheMountRecord {
  readonly id: string;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly created: string;
  readonly lastUsed: string;
}

export interface CacheMountRequest {
  readonly id: string;
  readonly sharing: CacheSharing;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  /** Fills a directory made for the first time (a mount's `from` and `source`). */
  readonly seed?: (directory: string) => Promise<void>;
  /**
   * Fills a new, empty directory with the id's contents imported with `--cache-from`, when the
   * cache is missing or empty; whether it did (a restored cache is not seeded).
   */
  readonly restore?: (directory: string) => Promise<boolean>;
  /** The id's contents are set aside first: the mount starts as a cache made afresh (seeded, if `from` says). */
  readonly empty?: boolean;
}

export interface CacheMountLease {
  /** The host directory to mount. */
  readonly path: string;
  /** Whether it is the id's own directory (not a `private` user's throwaway one). */
  readonly shared: boolean;
  release(): Promise<void>;
}

/**
 * The id as one directory name: letters, digits, `_` and `-` as they are, `.` except first,
 * every other byte as `%XX`. A cache id is a name, never a path: `../x` is the name `..%2Fx`.
 */
export function escapeCacheId(id: string): string {
  if (id === '') throw new TsbuildError('INVALID_ARGUMENT', 'mount cache: the id is empty');
  let name = '';
  for (const byte of Buffer.from(id, 'utf8')) {
    const char = String.fromCharCode(byte);
    const plain = /[A-Za-z0-9_-]/.test(char) || (char === '.' && name !== '');
    name += plain ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  // File names are at most 255 bytes; a longer id is named by its digest.
  return name.length <= 200 ? name : `sha256-${hashHex('sha256', id)}`;
}

/** The directory of one cache id. */
export function cacheMountDirectory(store: Store, id: string): string {
  return join(store.root, cacheMountsDirectory, escapeCacheId(id));
}

const noWait = 24 * 60 * 60_000;

async function readRecord(path: string): Promise<CacheMountRecord | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as CacheMountRecord;
  } catch {
    return undefined;
  }
}

/**
 * Steps of one build that mount the same id at once make (or restore) its directory one after
 * the other: a restore is not raced by an empty directory renamed into place.
 */
const making = new Map<string, Promise<void>>();

async function ensureDataOnce(directory: string, request: CacheMountRequest): Promise<void> {
  const before = making.get(directory) ?? Promise.resolve();
  const mine = before.then(() => ensureData(directory, request));
  const settled = mine.catch(() => undefined);
  making.set(directory, settled);
  try {
    await mine;
  } finally {
    if (making.get(directory) === settled) making.delete(directory);
  }
}

/**
 * An existing but empty DATA gets the imported contents too: they are unpacked beside it and
 * moved in entry by entry (the directory itself may be mounted by a step of another build).
 */
async function restoreIntoEmpty(directory: string, data: string, restore: (directory: string) => Promise<boolean>): Promise<void> {
  if ((await readdir(data)).length > 0) return;
  const temporary = join(directory, `restore-${process.pid}-${uniqueHex(6)}`);
  try {
    await mkdir(temporary, { mode: 0o700 });
    if (!(await restore(temporary))) return;
    // By the names' bytes: one that is not UTF-8 would not be found as text.
    for (const name of readDirectoryNames(temporary)) {
      try {
        await rename(fsPath(join(temporary, name)), fsPath(join(data, name)));
      } catch (error) {
        // Something another user of the cache wrote meanwhile is kept.
        if (errnoOf(error) !== 'ENOTEMPTY' && errnoOf(error) !== 'EEXIST') throw error;
      }
    }
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
}

/** Makes DATA (restored or seeded, and owned as asked) unless it is there; a concurrent maker's wins. */
async function ensureData(directory: string, request: CacheMountRequest): Promise<void> {
  const data = join(directory, 'data');
  const recordPath = join(directory, 'meta.json');
  const now = new Date().toISOString();
  let known = await stat(data).then((info) => info.isDirectory(), () => false);
  const record = await readRecord(recordPath);
  if (known && request.empty === true) {
    // Renamed away, then removed: a step of another build that has it mounted keeps its own.
    const stale = join(directory, `stale-${process.pid}-${uniqueHex(6)}`);
    await rename(data, stale);
    // A step of another build may still write in it: what cannot be removed now is left.
    await rm(stale, { recursive: true, force: true, maxRetries: 2 }).catch(() => undefined);
    known = false;
  }
  if (!known) {
    const temporary = join(directory, `new-${process.pid}-${uniqueHex(6)}`);
    try {
      await mkdir(temporary, { mode: 0o755 });
      const restored = (await request.restore?.(temporary)) ?? false;
      if (!restored && request.seed !== undefined) await request.seed(temporary);
      await lchown(temporary, request.uid, request.gid);
      await chmod(temporary, request.mode);
      try {
        await rename(temporary, data);
      } catch (error) {
        if (errnoOf(error) !== 'ENOTEMPTY' && errnoOf(error) !== 'EEXIST') throw error;
      }
    } finally {
      await rm(temporary, { recursive: true, force: true });
    }
  } else {
    if (request.restore !== undefined) await restoreIntoEmpty(directory, data, request.restore);
    if (record !== undefined && (record.uid !== request.uid || record.gid !== request.gid || record.mode !== request.mode)) {
      // The Dockerfile asks for another owner or mode than the directory was made with: as
      // BuildKit, whose cache directory is made with them, the directory itself takes them.
      await lchown(data, request.uid, request.gid);
      await chmod(data, request.mode);
    }
  }
  const next: CacheMountRecord = { id: request.id, uid: request.uid, gid: request.gid, mode: request.mode, created: record?.created ?? now, lastUsed: now };
  await writeFileAtomic(recordPath, `${JSON.stringify(next, null, 2)}\n`);
}

/** Takes the cache directory of REQUEST.id as its sharing mode says, for one step. */
export async function leaseCacheMount(store: Store, request: CacheMountRequest): Promise<CacheMountLease> {
  const directory = cacheMountDirectory(store, request.id);
  try {
    await mkdir(directory, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new TsbuildError('INTERNAL', `mount cache ${JSON.stringify(request.id)}: make ${directory}: ${messageOf(error)}`, { cause: error });
  }
  const lockPath = join(directory, 'lock');
  let lock: FileLock | undefined;
  if (request.sharing === 'locked') lock = await acquireLock(lockPath, { timeoutMs: noWait });
  else if (request.sharing === 'private') lock = await tryLock(lockPath);
  try {
    if (request.sharing === 'private' && lock === undefined) {
      const own = join(directory, `private-${process.pid}-${uniqueHex(6)}`);
      await mkdir(own, { mode: 0o755 });
      await lchown(own, request.uid, request.gid);
      await chmod(own, request.mode);
      return { path: own, shared: false, release: () => rm(own, { recursive: true, force: true }) };
    }
    await ensureDataOnce(directory, request);
  } catch (error) {
    await lock?.release();
    throw error;
  }
  return { path: join(directory, 'data'), shared: true, release: async () => lock?.release() };
}

/** How long an export waits for a `locked` user of the cache to finish. */
const packWaitMs = 10 * 60_000;

/**
 * The contents of cache mount ID as one layer (`--cache-to …,cache-mounts=true`): its `data`
 * directory as a deterministic tar (entries sorted, numeric owners, times as they are, never
 * clamped: a package manager compares them), gzip-compressed into the store, with the owner and
 * mode of `meta.json`. When IMPORTED (what `--cache-from` gave for the id) is one layer whose tar
 * is the one the directory makes now, that layer is given back instead: nothing new is stored,
 * and a registry that holds it is sent nothing. Taken under the id's lock, so that no `locked`
 * or `private` user writes while it is read. Undefined when the id has no directory.
 */
export async function packCacheMount(store: Store, id: string, imported?: CacheMountLayers): Promise<CacheMountLayers | undefined> {
  const directory = cacheMountDirectory(store, id);
  const data = join(directory, 'data');
  const info = await stat(data).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) return undefined;
  const record = await readRecord(join(directory, 'meta.json'));
  const owner = { id, uid: record?.uid ?? info.uid, gid: record?.gid ?? info.gid, mode: record?.mode ?? info.mode & 0o7777 };
  // The tar writer clamps times to SOURCE_DATE_EPOCH when the environment sets it: a time no file has.
  const unclamped = { sourceDateEpoch: Number.MAX_SAFE_INTEGER };
  const lock = await acquireLock(join(directory, 'lock'), { timeoutMs: packWaitMs });
  try {
    const reusable = imported?.layers.length === 1 ? imported.layers[0] : undefined;
    if (reusable !== undefined) {
      const hash = createHasher('sha256');
      for await (const chunk of tarStream(directoryEntries(data, '', { changing: true }), unclamped)) hash.update(chunk);
      if (parseDigest(`sha256:${hash.digest('hex')}`) === reusable.diffId) return { ...owner, layers: [reusable] };
    }
    // A `shared` user in another build may write the directory meanwhile: it is read as changing.
    const written = await writeLayer(directoryEntries(data, '', { changing: true }), store, unclamped);
    return { ...owner, layers: [{ descriptor: written.descriptor, diffId: written.diffId }] };
  } catch (error) {
    throw new TsbuildError('INTERNAL', `pack cache mount ${JSON.stringify(id)}: ${messageOf(error)}`, { cause: error });
  } finally {
    await lock.release();
  }
}
