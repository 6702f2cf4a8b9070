/**
 * Garbage collection of the build cache: what the records hold (`system df`), and removing
 * records by age, by use, or least recently used first down to a size (`builder prune`, and the
 * automatic cap after each build). A record's size is what removing it alone would free: its
 * manifest and config and the layers no image and no other record holds; the build cache's size
 * is every blob the records hold that no image holds. Nothing an image uses is removed (its blobs
 * are reachable from a name), nor anything a running build may use (see activity.ts).
 */
import { mkdir, readFile, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { TsbuildError, isTsbuildError, messageOf, parseByteSize, type Descriptor, type Digest } from '../common/index.js';
import { pruneStore, reachableBlobs, readManifest, writeFileAtomic, type Store } from '../store/index.js';
import { otherBuildsRunning } from './activity.js';
import { stepKeyAnnotation } from './step-cache.js';

const sideIndex = 'step-cache';

export interface CacheRecordUsage {
  /** The record's manifest digest. */
  readonly id: Digest;
  readonly key: string;
  readonly created: string | undefined;
  /** When a build last hit or wrote it (ms since the epoch). */
  readonly lastUsed: number;
  /** Bytes only this record holds (freed by removing it alone). */
  readonly size: number;
  /** Whether some of its layers are held by an image or another record too. */
  readonly shared: boolean;
  /** Whether its top layer is in no image: a step of a stage no image is made of, or of an old version. */
  readonly dangling: boolean;
  /** Its blobs are missing: no build can use it. */
  readonly broken: boolean;
  readonly blobs: readonly Digest[];
}

export interface CacheUsage {
  readonly records: readonly CacheRecordUsage[];
  /** Bytes the build cache holds that no image holds: what removing every record frees. */
  readonly size: number;
  /** Images: how many, and the bytes of their blobs. */
  readonly images: { readonly count: number; readonly size: number };
  /** Builds running on this root now (this process excepted). */
  readonly activeBuilds: number;
  /** The size of every blob a record holds, and those an image holds. */
  readonly blobSizes: ReadonlyMap<Digest, number>;
  readonly imageBlobs: ReadonlySet<Digest>;
}

/** The build cache's records and sizes, against the images of the store. */
export async function cacheUsage(store: Store): Promise<CacheUsage> {
  const imageBlobs = new Set<Digest>();
  const index = await store.readIndex();
  const imageManifests = new Set<string>();
  for (const entry of index.manifests) {
    imageManifests.add(entry.digest);
    await reachableBlobs(store, entry, imageBlobs).catch(() => undefined);
  }
  const entries = (await store.readSideIndex(sideIndex)).manifests;
  const limit = pLimit(16);
  const sizes = new Map<Digest, number>();
  const sizeOf = async (digest: Digest): Promise<number | undefined> => {
    const known = sizes.get(digest);
    if (known !== undefined) return known;
    const size = await store.blobSize(digest);
    if (size !== undefined) sizes.set(digest, size);
    return size;
  };
  const read = await Promise.all(
    entries.map((entry) =>
      limit(async () => {
        let blobs: Digest[] = [entry.digest];
        let top: Digest | undefined;
        let broken = false;
        try {
          const manifest = await readManifest(store, entry);
          blobs = [entry.digest, manifest.config.digest, ...manifest.layers.map((layer: Descriptor) => layer.digest)];
          top = manifest.layers.at(-1)?.digest;
          for (const digest of blobs) if ((await sizeOf(digest)) === undefined) broken = true;
        } catch (error) {
          if (!isTsbuildError(error)) throw error;
          broken = true;
        }
        const info = await stat(store.blobPath(entry.digest)).catch(() => undefined);
        return { entry, blobs, top, broken, lastUsed: info?.mtimeMs ?? 0 };
      }),
    ),
  );
  const holders = new Map<Digest, number>();
  for (const record of read) for (const digest of new Set(record.blobs)) holders.set(digest, (holders.get(digest) ?? 0) + 1);
  const cacheBlobs = new Set<Digest>();
  for (const record of read) for (const digest of record.blobs) if (!imageBlobs.has(digest)) cacheBlobs.add(digest);
  let size = 0;
  for (const digest of cacheBlobs) size += sizes.get(digest) ?? 0;
  let imageSize = 0;
  for (const digest of imageBlobs) imageSize += (await sizeOf(digest)) ?? 0;
  const records: CacheRecordUsage[] = read.map((record) => {
    let own = 0;
    let shared = false;
    for (const digest of new Set(record.blobs)) {
      if (imageBlobs.has(digest) || (holders.get(digest) ?? 0) > 1) shared = true;
      else own += sizes.get(digest) ?? 0;
    }
    return {
      id: record.entry.digest,
      key: record.entry.annotations?.[stepKeyAnnotation] ?? '',
      created: record.entry.annotations?.['org.tsbuild.step.created'],
      lastUsed: record.lastUsed,
      size: own,
      shared,
      // A record with no layer of its own (FROM scratch, say) dangles when nothing else is left of it.
      dangling: record.top === undefined ? false : !imageBlobs.has(record.top),
      broken: record.broken,
      blobs: record.blobs,
    };
  });
  return { records, size, images: { count: imageManifests.size, size: imageSize }, activeBuilds: await otherBuildsRunning(store), blobSizes: sizes, imageBlobs };
}

export interface PruneCacheOptions {
  /** Every record, not only dangling and broken ones. */
  readonly all?: boolean;
  /** Only records unused for longer than this (ms). */
  readonly olderThanMs?: number;
  /** Then remove least recently used records until the build cache holds at most this many bytes. */
  readonly keepBytes?: number;
  /**
   * Image manifests something else uses (containers' images): when one of them has no name in
   * the store, its blobs and unpacked layers may be held by records alone, so the records go and
   * their blobs are left for a later prune, as while a build runs.
   */
  readonly inUse?: readonly Digest[];
}

export interface PruneCacheResult {
  readonly removed: readonly CacheRecordUsage[];
  /** Bytes the store freed (blobs; unpacked layers are not counted). */
  readonly bytesFreed: number;
  /** Whether the blobs were left for later because another build is running. */
  readonly deferred: boolean;
}

/**
 * Removes records. Without options: the dangling and broken ones. With `keepBytes` alone: least
 * recently used first until the cache fits. With `all` or `olderThanMs`: those, then the cap.
 */
export async function pruneBuildCache(store: Store, options: PruneCacheOptions = {}): Promise<PruneCacheResult> {
  const usage = await cacheUsage(store);
  const now = Date.now();
  const chosen = new Set<Digest>();
  const byAge = options.olderThanMs === undefined ? undefined : (record: CacheRecordUsage): boolean => now - record.lastUsed > (options.olderThanMs ?? 0);
  for (const record of usage.records) {
    if (record.broken) chosen.add(record.id);
    else if (byAge !== undefined) {
      if (byAge(record) && (options.all === true || record.dangling)) chosen.add(record.id);
    } else if (options.all === true || (options.keepBytes === undefined && record.dangling)) chosen.add(record.id);
  }
  if (options.keepBytes !== undefined) {
    // Blobs counted by the records holding them: removing a record frees those it held last.
    const holders = new Map<Digest, number>();
    for (const record of usage.records) for (const digest of new Set(record.blobs)) holders.set(digest, (holders.get(digest) ?? 0) + 1);
    let size = usage.size;
    const release = (record: CacheRecordUsage): void => {
      for (const digest of new Set(record.blobs)) {
        const left = (holders.get(digest) ?? 1) - 1;
        holders.set(digest, left);
        if (left === 0 && !usage.imageBlobs.has(digest)) size -= usage.blobSizes.get(digest) ?? 0;
      }
    };
    for (const record of usage.records) if (chosen.has(record.id)) release(record);
    for (const record of [...usage.records].sort((a, b) => a.lastUsed - b.lastUsed)) {
      if (size <= options.keepBytes) break;
      if (chosen.has(record.id)) continue;
      chosen.add(record.id);
      release(record);
    }
  }
  const removed = usage.records.filter((record) => chosen.has(record.id));
  if (removed.length === 0) return { removed, bytesFreed: 0, deferred: false };
  await store.updateSideIndex(sideIndex, (entries) => ({ entries: entries.filter((entry) => !chosen.has(entry.digest)), result: undefined }));
  if ((await otherBuildsRunning(store)) > 0) return { removed, bytesFreed: 0, deferred: true };
  const named = new Set((await store.readIndex()).manifests.map((entry) => entry.digest));
  if ((options.inUse ?? []).some((digest) => !named.has(digest))) return { removed, bytesFreed: 0, deferred: true };
  const only = new Set(removed.flatMap((record) => record.blobs));
  const result = await pruneStore(store, { gracePeriodMs: 0, only });
  return { removed, bytesFreed: result.bytesFreed, deferred: false };
}

/** The automatic cap's default: this share of what the file system has free, the cache itself counted as free. */
export const defaultCacheShare = 0.2;

export interface CacheCapSetting {
  /** A size in bytes, or a share of the free disk (0 < share ≤ 1). */
  readonly maxBytes?: number;
  readonly share?: number;
}

/**
 * The cap of ROOT's build cache: the flag's, else `config.json` in the root (`{"buildCache":
 * {"maxSize": "10GB"}}` or `{"buildCache": {"maxShare": 0.1}}`), else a share of the free disk.
 * `maxSize: "0"` or a flag of 0 turns the cap off.
 */
export async function cacheCapSetting(store: Store, flag: string | undefined): Promise<CacheCapSetting> {
  if (flag !== undefined) return { maxBytes: parseByteSize(flag) };
  const text = await readFile(join(store.root, 'config.json'), 'utf8').catch(() => undefined);
  if (text !== undefined) {
    let config: { buildCache?: { maxSize?: unknown; maxShare?: unknown } };
    try {
      config = JSON.parse(text) as typeof config;
    } catch (error) {
      throw new TsbuildError('INVALID_ARGUMENT', `read ${join(store.root, 'config.json')}: ${messageOf(error)}`);
    }
    const { maxSize, maxShare } = config.buildCache ?? {};
    if (typeof maxSize === 'string' || typeof maxSize === 'number') return { maxBytes: parseByteSize(String(maxSize)) };
    if (typeof maxShare === 'number' && maxShare > 0 && maxShare <= 1) return { share: maxShare };
  }
  return { share: defaultCacheShare };
}

/** Where the last measure of the cache is kept, so that a build far below its cap skips measuring. */
const lastMeasure = 'cache-usage.json';
/** A cache under this share of its cap is measured again only after `remeasureMs`. */
const headroom = 0.5;
const remeasureMs = 10 * 60_000;

/**
 * After a build: when the build cache holds more than its cap, least recently used records go
 * until it fits. Measuring walks every record (about 0.2 ms each), so a cache found well under
 * its cap (half of it) is measured again only ten minutes later; a cap given as a size on the
 * command line is checked every time. Returns what was removed (nothing when the cap is off or
 * not reached).
 */
export async function applyCacheCap(store: Store, setting: CacheCapSetting, options: { readonly always?: boolean; readonly inUse?: readonly Digest[] } = {}): Promise<PruneCacheResult | undefined> {
  if (setting.maxBytes === 0) return undefined;
  // Beside the running builds' marks (activity.ts), never in indexes/, where every file is a side index.
  const statePath = join(store.root, 'builds', lastMeasure);
  if (options.always !== true) {
    const state = await readFile(statePath, 'utf8').then((text) => JSON.parse(text) as { size?: unknown; cap?: unknown; at?: unknown }, () => undefined);
    if (state !== undefined && typeof state.size === 'number' && typeof state.cap === 'number' && typeof state.at === 'number') {
      if (state.size < state.cap * headroom && Date.now() - state.at < remeasureMs && Date.now() >= state.at) return undefined;
    }
  }
  const usage = await cacheUsage(store);
  let cap = setting.maxBytes;
  if (cap === undefined) {
    const info = await statfs(store.root);
    cap = Math.floor((info.bavail * info.bsize + usage.size) * (setting.share ?? defaultCacheShare));
  }
  const result = usage.size <= cap ? undefined : await pruneBuildCache(store, { keepBytes: cap, ...(options.inUse === undefined ? {} : { inUse: options.inUse }) });
  const size = result === undefined ? usage.size : (await cacheUsage(store)).size;
  await mkdir(join(store.root, 'builds'), { recursive: true });
  await writeFileAtomic(statePath, JSON.stringify({ size, cap, at: Date.now() })).catch(() => undefined);
  return result;
}
