/**
 * `RUN --mount=type=cache` directories: one per cache id under `ROOT/cache-mounts/`, kept from
 * build to build on the same root and shared by the builds that run at once on it. Their
 * contents never enter a layer or a step's key; only the id, target and options do.
 *
 *   ROOT/cache-mounts/ESCAPED-ID/meta.json   what the directory is (id, owner, mode, times)
 *   ROOT/cache-mounts/ESCAPED-ID/data/       what the step sees at its target
 *   ROOT/cache-mounts/ESCAPED-ID/lock        held by a `locked` user, or a `private` one
 *   ROOT/cache-mounts/ESCAPED-ID/private-*   a `private` user's own directory while the data is taken
 *
 * As BuildKit's cache mounts: `shared` users mount the same directory at once; `locked` users
 * take it one at a time, the others wait; a `private` user takes it when nobody holds it and
 * otherwise gets an empty directory of its own, thrown away after the step.
 */
import { chmod, lchown, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TsbuildError, errnoOf, hashHex, messageOf, uniqueHex } from '../common/index.js';
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
}

export interface CacheMountLease {
  /** The host directory to mount. */
  readonly path: string;
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

/** Makes DATA (seeded and owned as asked) unless it is there; a concurrent maker's wins. */
async function ensureData(directory: string, request: CacheMountRequest): Promise<void> {
  const data = join(directory, 'data');
  const recordPath = join(directory, 'meta.json');
  const now = new Date().toISOString();
  const known = await stat(data).then((info) => info.isDirectory(), () => false);
  const record = await readRecord(recordPath);
  if (!known) {
    const temporary = join(directory, `new-${process.pid}-${uniqueHex(6)}`);
    try {
      await mkdir(temporary, { mode: 0o755 });
      if (request.seed !== undefined) await request.seed(temporary);
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
  } else if (record !== undefined && (record.uid !== request.uid || record.gid !== request.gid || record.mode !== request.mode)) {
    // The Dockerfile asks for another owner or mode than the directory was made with: as
    // BuildKit, whose cache directory is made with them, the directory itself takes them.
    await lchown(data, request.uid, request.gid);
    await chmod(data, request.mode);
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
      return { path: own, release: () => rm(own, { recursive: true, force: true }) };
    }
    await ensureData(directory, request);
  } catch (error) {
    await lock?.release();
    throw error;
  }
  return { path: join(directory, 'data'), release: async () => lock?.release() };
}
