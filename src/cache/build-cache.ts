/**
 * The cache one build uses: the local step cache first, then the records imported with
 * `--cache-from` (registries, OCI layout directories, images carrying an inline cache). Only
 * records are read up front, once per source and on the first miss; a layer is fetched when a
 * step hits on it, verified (digest, size, and its tar against the diff ID the record claims),
 * and recorded in the local cache so the next build finds it there. Anything an import gets
 * wrong is a warning naming it and a miss, never a wrong image.
 *
 * It also remembers every record the build used or made, which is what `--cache-to` exports.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { MediaType, TsbuildError, uncompressedLayerMediaTypes, createHasher, fsPath, hostPlatform, digestAlgorithm, digestHex, hashHex, messageOf, openRegularFileInRoot, parseBoundedJson, parseDigest, parseIndex, parseManifest, readBytesInRoot, readDirectoryNames, refNameAnnotation, type Digest, type Platform } from '../common/index.js';
import type { RegistryClient } from '../registry/index.js';
import { decompressLayer, defaultGzipLevel, layerVariantName, rememberLayerVariant, unpackLayer, type Store } from '../store/index.js';
import type { CacheImport } from './cache-spec.js';
import { cacheConfigMediaType, maxCacheDocumentBytes, parseCacheDocument, parseInlineCache, type CacheMountLayers, type ImportedCache, type ImportedRecord } from './cache-format.js';
import { explainMiss, type StepSummary } from './explain.js';
import { CacheImportRetry, type CacheMountSync, type LayerRef, type ProgressStep, type StepCache, type StepOutcome, type StepResult } from './step-cache.js';

/** Where imported records and their layers come from. */
interface CacheSource {
  /** How warnings name it: `registry 127.0.0.1:5000/app:cache`. */
  readonly name: string;
  /** How the progress names it, as BuildKit: the reference, or `local:DIR`. */
  readonly shown: string;
  load(): Promise<ImportedCache>;
  /** A layer's compressed bytes, as the source holds them (verified by the store as they are written). */
  open(layer: LayerRef): Promise<Readable>;
}

export interface BuildCacheOptions {
  readonly imports?: readonly CacheImport[];
  /** The registry client, made on first use. */
  readonly registry?: () => Promise<RegistryClient>;
  /** A problem with an import: the build goes on as if the record were not there. */
  readonly warn?: (message: string) => void;
  /** Each layer a step of this build made, as soon as it is in the store. */
  readonly onLayer?: (layer: LayerRef) => void;
  /**
   * Whether a layer fetched for a hit keeps its compressed blob beside its tar (by default it
   * does): a build that sends layers on (a cache export, a push, an image output) then sends
   * the bytes that came, instead of compressing them again. A build that sends nothing needs
   * only the tar, which its image names: the compressed bytes are then neither hashed nor
   * written, which halves what a fresh runner writes.
   */
  readonly keepFetchedBlobs?: boolean;
}

interface Candidate {
  readonly record: ImportedRecord;
  readonly source: CacheSource;
}

interface MountCandidate {
  readonly mount: CacheMountLayers;
  readonly source: CacheSource;
}

interface Imported {
  readonly records: Map<Digest, Candidate[]>;
  readonly mounts: Map<string, MountCandidate[]>;
}

const imageConfigTypes: ReadonlySet<string> = new Set([MediaType.ociConfig, MediaType.dockerConfig]);

export class BuildCache implements StepCache {
  /** Every record this build hit or made, by key: what `--cache-to` exports. */
  readonly used = new Map<Digest, StepResult>();
  private imported: Promise<Imported> | undefined;
  private progress: ((name: string) => ProgressStep) | undefined;
  /** Cache mount ids a step of this build mounted, and those already offered a restore. */
  private readonly mountsUsed = new Set<string>();
  private readonly mountsRestored = new Set<string>();
  readonly cacheMounts: CacheMountSync = {
    restore: (id, directory) => this.restoreMount(id, directory),
    used: (id) => void this.mountsUsed.add(id),
  };
  /** Layers fetched (or found) in this build, each once, verified. */
  private readonly fetches = new Map<Digest, Promise<void>>();
  /** Step layers fetched in this build, each once, verified, as the store keeps them. */
  private readonly localizing = new Map<Digest, Promise<LayerRef>>();
  /** Layers of hits given before their bytes arrived (see settle). */
  private arriving: Promise<void>[] = [];
  /** The records of those hits, kept in the local cache once all their layers arrived. */
  private readonly unconfirmed = new Map<Digest, StepResult>();
  /** The arrival of each layer (by diff ID) a hit of this build was given before its bytes. */
  private readonly arrivals = new Map<Digest, Promise<void>>();
  /** Records whose layers all arrived, waiting for the write in progress to end. */
  private readonly confirming: (readonly [Digest, StepResult])[] = [];
  /** The writes of records confirmed before settle, one after the other; the first failure. */
  private confirmWrites: Promise<void> = Promise.resolve();
  private confirmFailure: unknown;
  private settling: Promise<void> | undefined;
  /** The attempt of the build whose early hits failed, and how. */
  private failure: { readonly attempt: number; readonly error: CacheImportRetry } | undefined;
  /** Imported layers that failed: the records naming them are misses from now on. */
  private readonly failed = new Set<string>();
  /** Fetches of layers, four at a time, the largest waiting first. */
  private readonly limit = new LargestFirst(4);
  private readonly keepFetchedBlobs: boolean;
  private readonly sources: readonly CacheSource[];
  private readonly warn: (message: string) => void;
  /** The platform of the steps this build ran, for the records a hit copies into the local cache. */
  private platform: Platform | undefined;
  private readonly onLayer: ((layer: LayerRef) => void) | undefined;

  constructor(
    private readonly store: Store,
    private readonly local: StepCache,
    options: BuildCacheOptions = {},
  ) {
    this.warn = options.warn ?? (() => undefined);
    this.onLayer = options.onLayer;
    this.keepFetchedBlobs = options.keepFetchedBlobs ?? true;
    this.sources = (options.imports ?? []).map((spec) => sourceOf(spec, options.registry));
  }

  async outcome(key: Digest, below: readonly LayerRef[]): Promise<StepOutcome | undefined> {
    const hit = await this.local.outcome(key, below);
    if (hit !== undefined) {
      const summary = await this.local.recordedSummary?.(key);
      this.used.set(key, { layers: hit.layer === undefined ? below : [...below, hit.layer], ...(hit.created === undefined ? {} : { created: hit.created }), ...(summary === undefined ? {} : { summary }) });
      return hit;
    }
    for (const { record, source } of await this.candidates(key)) {
      const extra = record.layers.length - below.length;
      if (extra !== 0 && extra !== 1) continue;
      if (!record.layers.slice(0, below.length).every((layer, index) => layer.diffId === below[index]?.diffId)) {
        this.warn(`cache ${source.name}: record ${key} is not built on the layers its parent step left; ignored`);
        continue;
      }
      const imported = extra === 1 ? record.layers.at(-1) : undefined;
      if (imported !== undefined && this.failed.has(imported.descriptor.digest)) continue;
      const created = record.created === undefined ? {} : { created: record.created };
      const summary = record.summary === undefined ? {} : { summary: record.summary };
      if (imported !== undefined && imported.tarSize !== undefined && !uncompressedLayerMediaTypes.has(imported.descriptor.mediaType)) {
        // The record says what the layer will be once kept: the hit is given now and its bytes
        // arrive meanwhile, in parallel with the next steps' (settle() waits for them).
        const top: LayerRef = { descriptor: { mediaType: MediaType.ociLayer, digest: imported.diffId, size: imported.tarSize }, diffId: imported.diffId };
        const arriving = this.localized(imported, source).then((kept) => {
          if (kept === undefined || kept.descriptor.size !== top.descriptor.size) throw new CacheImportRetry([imported.descriptor.digest]);
        });
        arriving.catch(() => this.failed.add(imported.descriptor.digest));
        this.arriving.push(arriving);
        // Recorded locally only once every layer below it arrived too: as soon as they have,
        // while other layers still arrive, or else at settle.
        const result: StepResult = { layers: [...below, top], ...created, ...summary };
        this.unconfirmed.set(key, result);
        const needed = [...below.flatMap((layer) => this.arrivals.get(layer.diffId) ?? []), arriving];
        this.arrivals.set(top.diffId, arriving);
        Promise.all(needed).then(
          () => this.confirm(key, result),
          () => undefined,
        );
        this.used.set(key, { layers: [...below, top], ...created, ...summary });
        return { layer: top, ...created };
      }
      const top = imported === undefined ? undefined : await this.localized(imported, source);
      if (imported !== undefined && top === undefined) continue;
      const result: StepResult = { layers: top === undefined ? below : [...below, top], ...created, ...summary };
      await this.remember(key, result);
      return { layer: top, ...created };
    }
    return undefined;
  }

  async settle(attempt = 1): Promise<void> {
    // One at a time: a second caller must not confirm hits whose layers the first still awaits.
    const next = (this.settling ?? Promise.resolve()).catch(() => undefined).then(() => this.settleNow(attempt));
    this.settling = next;
    return next;
  }

  private async settleNow(attempt: number): Promise<void> {
    // Once a layer failed, every reader of this attempt hears it: none may go on over it.
    if (this.failure !== undefined && this.failure.attempt === attempt) throw this.failure.error;
    while (this.arriving.length > 0) {
      const waiting = this.arriving;
      this.arriving = [];
      const results = await Promise.allSettled(waiting);
      const bad = results.flatMap((result) => (result.status === 'rejected' ? [result.reason instanceof CacheImportRetry ? result.reason.layers : [String(result.reason)]] : [])).flat();
      if (bad.length > 0) {
        // Nothing of this attempt's early hits is kept or exported: the build starts again.
        for (const key of this.unconfirmed.keys()) this.used.delete(key);
        this.unconfirmed.clear();
        const error = new CacheImportRetry(bad);
        this.failure = { attempt, error };
        throw error;
      }
    }
    const confirmed = [...this.unconfirmed];
    this.unconfirmed.clear();
    await this.confirmWrites;
    if (this.confirmFailure !== undefined) throw this.confirmFailure;
    await this.rememberAll(confirmed);
  }

  /**
   * Writes the record of KEY, a hit whose layers all arrived, to the local cache while the
   * other hits' layers still arrive: at settle only what arrived last is left to record. Records
   * confirmed meanwhile are written together, after the write in progress.
   */
  private confirm(key: Digest, result: StepResult): void {
    // Gone when settle already took it, or dropped it with its attempt.
    if (this.unconfirmed.get(key) !== result) return;
    this.unconfirmed.delete(key);
    this.confirming.push([key, result]);
    if (this.confirming.length > 1) return;
    this.confirmWrites = this.confirmWrites.then(async () => {
      const batch = this.confirming.splice(0);
      await this.rememberAll(batch).catch((error: unknown) => {
        this.confirmFailure ??= error;
      });
    });
  }

  async get(key: Digest): Promise<StepResult | undefined> {
    const found = await this.local.get(key);
    if (found !== undefined) {
      this.used.set(key, found);
      return found;
    }
    for (const { record, source } of await this.candidates(key)) {
      const layers = await Promise.all(record.layers.map((layer) => this.localized(layer, source)));
      if (layers.includes(undefined)) continue;
      const result: StepResult = {
        layers: layers as LayerRef[],
        ...(record.created === undefined ? {} : { created: record.created }),
        ...(record.summary === undefined ? {} : { summary: record.summary }),
      };
      await this.remember(key, result);
      return result;
    }
    return undefined;
  }

  async explain(summary: StepSummary): Promise<string> {
    const local = (await this.local.explain?.(summary)) ?? 'no record of this step';
    if (local !== 'no record of this step' || this.sources.length === 0) return local;
    // A fresh runner: the records came with the imports.
    const siblings: StepSummary[] = [];
    const sameSlot: StepSummary[] = [];
    for (const candidates of (await (this.imported ??= this.loadAll())).records.values()) {
      const recorded = candidates[0]?.record.summary;
      if (recorded === undefined || recorded.slot !== summary.slot) continue;
      (recorded.parent === summary.parent ? siblings : sameSlot).push(recorded);
    }
    return explainMiss(summary, siblings, sameSlot);
  }

  attachProgress(step: (name: string) => ProgressStep): void {
    this.progress = step;
  }

  async put(key: Digest, result: StepResult, platform: Platform, summary?: StepSummary): Promise<void> {
    await this.local.put(key, result, platform, summary);
    this.used.set(key, summary === undefined ? result : { ...result, summary });
    this.platform ??= platform;
    const made = result.layers.at(-1);
    if (made !== undefined) this.onLayer?.(made);
  }

  private async remember(key: Digest, result: StepResult): Promise<void> {
    await this.rememberAll([[key, result]]);
  }

  /**
   * The imports become local records: the next build finds them without the network, and the
   * store's prune keeps their layers. In one change of the local cache where it can.
   */
  private async rememberAll(records: readonly (readonly [Digest, StepResult])[]): Promise<void> {
    const platform = this.platform ?? hostPlatform();
    if (this.local.putAll !== undefined) {
      await this.local.putAll(records.map(([key, result]) => ({ key, result, platform, ...(result.summary === undefined ? {} : { summary: result.summary }) })));
    } else {
      for (const [key, result] of records) await this.local.put(key, result, platform, result.summary);
    }
    for (const [key, result] of records) this.used.set(key, result);
  }

  /**
   * What an export of an image with IMAGELAYERS holds, before its mode selects: the records this
   * build used or made, and the imported ones whose layers are all in the image (they name this
   * very result, by keys this build did not need to look up: a copy's key by content, say), so
   * that a build from a cache exports the same cache.
   */
  async exportable(imageLayers: readonly LayerRef[]): Promise<Map<Digest, StepResult>> {
    const records = new Map<Digest, StepResult>();
    // By diff ID: the image holds the layers as the store keeps them, the import as it sent them.
    const inImage = new Map(imageLayers.map((layer) => [layer.diffId, layer]));
    if (this.sources.length > 0) {
      this.imported ??= this.loadAll();
      for (const [key, candidates] of (await this.imported).records) {
        const record = candidates.find((candidate) => candidate.record.layers.every((layer) => inImage.has(layer.diffId)))?.record;
        if (record === undefined) continue;
        const layers = record.layers.map((layer) => inImage.get(layer.diffId) as LayerRef);
        records.set(key, { layers, ...(record.created === undefined ? {} : { created: record.created }), ...(record.summary === undefined ? {} : { summary: record.summary }) });
      }
    }
    for (const [key, result] of this.used) records.set(key, result);
    return records;
  }

  private async candidates(key: Digest): Promise<Candidate[]> {
    if (this.sources.length === 0) return [];
    this.imported ??= this.loadAll();
    return (await this.imported).records.get(key) ?? [];
  }

  /** Every source's records, read in parallel; a source that fails is a warning and holds nothing. */
  private async loadAll(): Promise<Imported> {
    const byKey = new Map<Digest, Candidate[]>();
    const mounts = new Map<string, MountCandidate[]>();
    const lists = await Promise.all(
      this.sources.map(async (source): Promise<ImportedCache> => {
        // BuildKit's step for each import; one that fails is an error of that step only.
        const step = this.progress?.(`importing cache manifest from ${source.shown}`);
        step?.start();
        try {
          const loaded = await source.load();
          step?.done();
          return loaded;
        } catch (error) {
          step?.fail(messageOf(error));
          this.warn(`cache ${source.name}: not imported: ${messageOf(error)}`);
          return { records: [], mounts: [] };
        }
      }),
    );
    lists.forEach((cache, index) => {
      const source = this.sources[index] as CacheSource;
      for (const record of cache.records) byKey.set(record.key, [...(byKey.get(record.key) ?? []), { record, source }]);
      for (const mount of cache.mounts) mounts.set(mount.id, [...(mounts.get(mount.id) ?? []), { mount, source }]);
    });
    return { records: byKey, mounts };
  }

  /** The cache mount ids the build's steps mounted, in the order first mounted. */
  usedCacheMounts(): string[] {
    return [...this.mountsUsed];
  }

  /** The contents of cache mount ID as the first import holding it gives them (no layer fetched). */
  async importedCacheMount(id: string): Promise<CacheMountLayers | undefined> {
    return (await this.importedCacheMounts()).get(id);
  }

  /** Every imported cache mount, by id, as the first import holding it gives it (no layer fetched). */
  async importedCacheMounts(): Promise<Map<string, CacheMountLayers>> {
    if (this.sources.length === 0) return new Map();
    const imported = await (this.imported ??= this.loadAll());
    return new Map([...imported.mounts].flatMap(([id, candidates]) => (candidates[0] === undefined ? [] : [[id, candidates[0].mount] as const])));
  }

  /**
   * Whether LAYER's blob is in the store, fetched (and verified) from an import that lists it
   * when missing: an export that carries an imported cache mount unchanged reads it from there.
   */
  async haveImportedLayer(layer: LayerRef): Promise<boolean> {
    if ((await this.store.blobSize(layer.descriptor.digest)) === layer.descriptor.size) return true;
    const imported = await (this.imported ??= this.loadAll());
    for (const candidates of imported.mounts.values()) {
      for (const { mount, source } of candidates) {
        if (mount.layers.some((held) => held.descriptor.digest === layer.descriptor.digest) && (await this.fetched(layer, source))) return true;
      }
    }
    return false;
  }

  /**
   * Fills DIRECTORY (new and empty) with cache mount ID's imported contents, once per build: the
   * first import that holds the id and whose layers fetch, verify and unpack. Its layers are
   * fetched only now, when a step is about to mount an empty cache. The store's unpacker keeps
   * every entry inside DIRECTORY, whatever the tar says; one it refuses is a warning, the
   * directory is emptied again and the next import (or none) is tried.
   */
  private async restoreMount(id: string, directory: string): Promise<boolean> {
    // Only before the first step that mounts the id: what a step left there is the build's own.
    if (this.sources.length === 0 || this.mountsRestored.has(id) || this.mountsUsed.has(id)) return false;
    this.mountsRestored.add(id);
    const candidates = (await (this.imported ??= this.loadAll())).mounts.get(id) ?? [];
    for (const { mount, source } of candidates) {
      const fetched = await Promise.all(mount.layers.map((layer) => this.fetched(layer, source)));
      if (fetched.includes(false)) continue;
      try {
        for (const layer of mount.layers) await unpackLayer(decompressLayer(await this.store.openBlob(layer.descriptor.digest), layer.descriptor.mediaType), directory);
        return true;
      } catch (error) {
        this.warn(`cache ${source.name}: cache mount ${JSON.stringify(id)} not restored: ${messageOf(error)}`);
        // By the names' bytes: one that is not UTF-8 would not be found, and stay, as text.
        for (const name of readDirectoryNames(directory)) await rm(fsPath(join(directory, name)), { recursive: true, force: true });
      }
    }
    return false;
  }

  /**
   * A step's LAYER as the store keeps the layers it builds (its tar, uncompressed), fetched from
   * SOURCE and verified when missing; undefined (and a warning) when that fails. So a hit makes
   * the same image as the build that exported the record, whatever compression the cache used.
   */
  private async localized(layer: LayerRef, source: CacheSource): Promise<LayerRef | undefined> {
    const digest = layer.descriptor.digest;
    let fetch = this.localizing.get(digest);
    if (fetch === undefined) {
      fetch = this.limit.run(layer.descriptor.size, () => localLayer(this.store, layer, () => source.open(layer), this.keepFetchedBlobs));
      this.localizing.set(digest, fetch);
    }
    try {
      return await fetch;
    } catch (error) {
      this.localizing.delete(digest);
      this.warn(`cache ${source.name}: layer ${digest} not used: ${messageOf(error)}`);
      return undefined;
    }
  }

  /** Whether LAYER is in the store, as its record says it is: fetched from SOURCE when missing. */
  private async fetched(layer: LayerRef, source: CacheSource): Promise<boolean> {
    const digest = layer.descriptor.digest;
    let fetch = this.fetches.get(digest);
    if (fetch === undefined) {
      fetch = this.limit.run(layer.descriptor.size, async () => {
        if ((await this.store.blobSize(digest)) !== layer.descriptor.size) await fetchChecked(this.store, layer, await source.open(layer));
        else await checkDiffId(this.store, layer);
      });
      this.fetches.set(digest, fetch);
    }
    try {
      await fetch;
      return true;
    } catch (error) {
      // Another source may hold the right bytes under the same digest: its next try starts afresh.
      this.fetches.delete(digest);
      this.warn(`cache ${source.name}: layer ${digest} not used: ${messageOf(error)}`);
      return false;
    }
  }
}

/**
 * Runs up to SLOTS tasks at once; when a slot frees, the largest task waiting starts. The hits of
 * a build come step after step, and a large layer found late would otherwise wait behind the
 * small ones found before it, each of which costs a request and an fsync more than its bytes:
 * started first, it is fetched while they are, and the last byte arrives sooner.
 */
export class LargestFirst {
  private running = 0;
  private readonly waiting: { readonly size: number; readonly start: () => void }[] = [];

  constructor(private readonly slots: number) {}

  run<T>(size: number, task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        this.running++;
        Promise.resolve()
          .then(task)
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            this.next();
          });
      };
      this.waiting.push({ size, start });
      this.next();
    });
  }

  private next(): void {
    while (this.running < this.slots && this.waiting.length > 0) {
      let largest = 0;
      this.waiting.forEach((task, index) => {
        if (task.size > (this.waiting[largest] as { size: number }).size) largest = index;
      });
      this.waiting.splice(largest, 1)[0]?.start();
    }
  }
}

/**
 * LAYER kept as the store keeps the layers it builds: its tar as a blob of its own (its digest
 * the diff ID, which the store checks). With KEEPFETCHED the fetched blob is written in the same
 * pass when missing, and stays, remembered as the tar's gzip variant, so that pushing or
 * exporting the layer again sends those very bytes; without it only the tar is written, and the
 * fetched bytes are checked against the record's size only (the tar's digest is what the image
 * names).
 */
async function localLayer(store: Store, layer: LayerRef, open: () => Promise<Readable>, keepFetched: boolean): Promise<LayerRef> {
  if (uncompressedLayerMediaTypes.has(layer.descriptor.mediaType)) {
    if ((await store.blobSize(layer.descriptor.digest)) !== layer.descriptor.size) await fetchChecked(store, layer, await open());
    else await checkDiffId(store, layer);
    return layer;
  }
  const local = (size: number): LayerRef => ({ descriptor: { mediaType: MediaType.ociLayer, digest: layer.diffId, size }, diffId: layer.diffId });
  // The store holds content under its digest only: a tar already there is the right one.
  const present = await store.blobSize(layer.diffId);
  if (present !== undefined) return local(present);
  const compressed = (await store.blobSize(layer.descriptor.digest)) === layer.descriptor.size ? await store.openBlob(layer.descriptor.digest) : undefined;
  if (compressed === undefined && !keepFetched) return local(await tarOnly(store, layer, await open()));
  const stream = compressed ?? (await open());
  stream.on('error', () => undefined);
  const tar = new PassThrough();
  const writingTar = store.putBlob(decompressLayer(tar, layer.descriptor.mediaType), { digest: layer.diffId }).catch((error: unknown) => {
    throw new TsbuildError('DIGEST_MISMATCH', `its tar does not match the record's diff ID: ${messageOf(error)}`, { cause: error });
  });
  // The tar's writer may end early: it failed, or another process stored the same tar first.
  const bytes = teeInto(stream, tar, writingTar);
  try {
    if (compressed === undefined) await store.putBlob(bytes, { digest: layer.descriptor.digest, size: layer.descriptor.size });
    else for await (const chunk of bytes) void chunk;
  } finally {
    stream.destroy();
    if (!tar.writableEnded) tar.destroy();
  }
  const info = await writingTar;
  const kept = local(info.size);
  if (layer.descriptor.mediaType === MediaType.ociLayerGzip || layer.descriptor.mediaType === MediaType.dockerLayerGzip) {
    await rememberLayerVariant(store, kept.descriptor, layerVariantName('gzip', defaultGzipLevel), layer.descriptor);
  }
  return kept;
}

/** Writes the tar of LAYER, fetched compressed as STREAM, into the store; its size. */
async function tarOnly(store: Store, layer: LayerRef, stream: Readable): Promise<number> {
  stream.on('error', () => undefined);
  try {
    return (await store.putBlob(decompressLayer(ofSize(stream, layer.descriptor.size), layer.descriptor.mediaType), { digest: layer.diffId })).size;
  } catch (error) {
    if (error instanceof TsbuildError && error.code === 'SIZE_MISMATCH') throw error;
    throw new TsbuildError('DIGEST_MISMATCH', `its tar does not match the record's diff ID: ${messageOf(error)}`, { cause: error });
  } finally {
    stream.destroy();
  }
}

/** STREAM's bytes, failing as soon as they exceed SIZE, and at their end when fewer. */
async function* ofSize(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const chunk of stream) {
    const bytes = chunk as Buffer;
    seen += bytes.length;
    if (seen > size) throw new TsbuildError('SIZE_MISMATCH', `it holds more than the ${size} bytes its record says`);
    yield bytes;
  }
  if (seen !== size) throw new TsbuildError('SIZE_MISMATCH', `it holds ${seen} bytes, its record says ${size}`);
}

/**
 * STREAM's bytes as they come, each also written to SIDE until its reader settles (READ: it
 * failed, or needs no more): a slow reader of SIDE holds the stream back, a finished one never.
 */
async function* teeInto(stream: Readable, side: PassThrough, read: Promise<unknown>): AsyncGenerator<Buffer> {
  let open = true;
  const settled = read.then(
    () => void (open = false),
    () => void (open = false),
  );
  for await (const chunk of stream) {
    const bytes = chunk as Buffer;
    if (open && !side.write(bytes)) await Promise.race([once(side, 'drain'), settled]);
    yield bytes;
  }
  side.end();
}

/**
 * Writes a fetched layer into the store (which checks its digest and size) while its tar is
 * hashed against the diff ID the record claims, in one pass over the bytes.
 */
async function fetchChecked(store: Store, layer: LayerRef, stream: Readable): Promise<void> {
  // The store reports what went wrong; a late error event of the stream must not go unhandled.
  stream.on('error', () => undefined);
  const tar = new PassThrough();
  const hashing = hashTar(tar, layer);
  // A tar that fails to decompress stops taking bytes: the blob is still written and checked.
  hashing.catch(() => undefined);
  try {
    await store.putBlob(teeInto(stream, tar, hashing), { digest: layer.descriptor.digest, size: layer.descriptor.size });
  } finally {
    stream.destroy();
    if (!tar.writableEnded) tar.destroy();
  }
  // Another process stored the blob meanwhile, and the store took it without reading this one.
  if (!tar.writableFinished && !tar.writableEnded) return checkDiffId(store, layer);
  const actual = await hashing;
  if (actual !== layer.diffId) throw new TsbuildError('DIGEST_MISMATCH', `its tar hashes to ${actual}, the record says ${layer.diffId}`);
}

async function hashTar(tar: AsyncIterable<Uint8Array>, layer: LayerRef): Promise<string> {
  const hash = createHasher(digestAlgorithm(layer.diffId));
  for await (const chunk of decompressLayer(tar, layer.descriptor.mediaType)) hash.update(chunk);
  return `${digestAlgorithm(layer.diffId)}:${hash.digest('hex')}`;
}

/** The layer's tar must hash to the diff ID the record claims, or the image config would lie. */
async function checkDiffId(store: Store, layer: LayerRef): Promise<void> {
  const hash = createHasher(digestAlgorithm(layer.diffId));
  for await (const chunk of decompressLayer(await store.openBlob(layer.descriptor.digest), layer.descriptor.mediaType)) hash.update(chunk);
  const actual = hash.digest('hex');
  if (actual !== digestHex(layer.diffId)) throw new TsbuildError('DIGEST_MISMATCH', `its tar hashes to ${digestAlgorithm(layer.diffId)}:${actual}, the record says ${layer.diffId}`);
}

function sourceOf(spec: CacheImport, registry: (() => Promise<RegistryClient>) | undefined): CacheSource {
  if (spec.type === 'local') return layoutSource(spec.src, spec.tag);
  if (registry === undefined) throw new TsbuildError('INTERNAL', 'build cache: a registry import needs a registry client');
  return registrySource(spec.ref, registry);
}

function registrySource(ref: string, client: () => Promise<RegistryClient>): CacheSource {
  return {
    name: `registry ${ref}`,
    shown: ref,
    async load() {
      const { fetchDocument, fetchSmallBlob } = await import('../registry/index.js');
      const registry = await client();
      const document = await fetchDocument(registry, ref);
      if (document.kind !== 'manifest') throw new TsbuildError('INVALID_MEDIA_TYPE', `${document.descriptor.mediaType} is an index, not a cache manifest`);
      const config = document.manifest.config;
      if (config.mediaType === cacheConfigMediaType) {
        return parseCacheDocument(await fetchSmallBlob(registry, ref, config, maxCacheDocumentBytes), ref);
      }
      if (imageConfigTypes.has(config.mediaType)) {
        // An image that may carry its build's records inline.
        const bytes = await fetchSmallBlob(registry, ref, config, maxCacheDocumentBytes);
        let parsed: Record<string, unknown> & { rootfs?: { diff_ids?: unknown } };
        try {
          parsed = parseBoundedJson(bytes.toString('utf8')) as typeof parsed;
        } catch (error) {
          throw new TsbuildError('INVALID_MEDIA_TYPE', `${ref}: image config: ${(error as Error).message}`, { cause: error });
        }
        if (parsed === null || typeof parsed !== 'object') throw new TsbuildError('INVALID_MEDIA_TYPE', `${ref}: image config: not a JSON object`);
        const diffIds = Array.isArray(parsed.rootfs?.diff_ids) ? (parsed.rootfs.diff_ids as unknown[]).map(String) : [];
        return { records: parseInlineCache(parsed, document.manifest.layers, diffIds, ref), mounts: [] };
      }
      throw new TsbuildError('INVALID_MEDIA_TYPE', `its config is ${config.mediaType}, neither a cache nor an image`);
    },
    async open(layer) {
      const { openRemoteBlob } = await import('../registry/index.js');
      return openRemoteBlob({ client: await client(), reference: ref, digest: layer.descriptor.digest });
    },
  };
}

/** An OCI layout directory: its index names the cache manifest by tag (`org.opencontainers.image.ref.name`). */
function layoutSource(directory: string, tag: string): CacheSource {
  const blobPath = (digest: Digest): string => join(directory, 'blobs', digestAlgorithm(digest), digestHex(digest));
  // The directory is the user's: its links are followed as on the host, but a file is checked
  // (kind and size) before it is read, never read to its end first (containerd CVE-2023-25153).
  const readBounded = async (path: string): Promise<Buffer> => {
    const bytes = await readBytesInRoot('/', path, maxCacheDocumentBytes);
    if (bytes === undefined) throw new TsbuildError('NOT_FOUND', `read ${path}: no such file`);
    return bytes;
  };
  const readVerified = async (digest: Digest, what: string): Promise<Buffer> => {
    const bytes = await readBounded(blobPath(digest)).catch((error: unknown) => {
      throw new TsbuildError('SIZE_MISMATCH', `${what} ${digest}: ${messageOf(error)}`, { cause: error });
    });
    const actual = parseDigest(`${digestAlgorithm(digest)}:${hashHex(digestAlgorithm(digest), bytes)}`);
    if (actual !== digest) throw new TsbuildError('DIGEST_MISMATCH', `${what} ${digest} hashes to ${actual}`);
    return bytes;
  };
  return {
    name: `local ${directory}`,
    shown: `local:${directory}`,
    async load() {
      // Checked as every index and manifest is, so that what the layout names is a digest and
      // never a path, whatever its writer put there.
      const manifests = parseIndex(await readBounded(join(directory, 'index.json'))).manifests;
      const entry = manifests.find((candidate) => candidate.annotations?.[refNameAnnotation] === tag) ?? (manifests.length === 1 ? manifests[0] : undefined);
      if (entry === undefined) throw new TsbuildError('NOT_FOUND', `no cache tagged ${tag}`);
      if (entry.mediaType !== MediaType.ociManifest) throw new TsbuildError('INVALID_MEDIA_TYPE', `${entry.mediaType} is not a cache manifest`);
      const manifest = parseManifest(await readVerified(entry.digest, 'manifest'), entry.mediaType);
      if (manifest.config.mediaType !== cacheConfigMediaType) throw new TsbuildError('INVALID_MEDIA_TYPE', `manifest ${entry.digest} is no cache manifest`);
      return parseCacheDocument(await readVerified(manifest.config.digest, 'cache document'), directory);
    },
    async open(layer) {
      // A fifo in its place would be waited on forever, a device read without end.
      const opened = await openRegularFileInRoot('/', blobPath(layer.descriptor.digest));
      if (opened === undefined) throw new TsbuildError('NOT_FOUND', `layer ${layer.descriptor.digest}: read ${blobPath(layer.descriptor.digest)}: no such file`);
      return opened.handle.createReadStream();
    },
  };
}
