/**
 * The local step cache: a step's key → the root filesystem after it, as the stack of layers
 * that makes it. Each record is stored as an image (a manifest whose layers are that stack and
 * whose config holds their diff IDs), listed in the store's side index `step-cache` under the
 * key, so that the store's prune and verify walk records as they walk images without knowing
 * what a cache is. Concurrent builds on one root share it: records are immutable blobs, and the
 * side index is rewritten atomically under its own lock.
 */
import { createReadStream, statSync, utimesSync, type Stats } from 'node:fs';
import { rename, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { MediaType, createHasher, digestAlgorithm, digestHex, isTsbuildError, messageOf, parseDigest, type Descriptor, type Digest, type Platform } from '../common/index.js';
import { storeImage, type Store } from '../store/index.js';
import { capInputs, decodeSummary, encodeSummary, explainMiss, type StepSummary } from './explain.js';

export const stepKeyAnnotation = 'org.tsbuild.step.key';
const sideIndex = 'step-cache';

export interface LayerRef {
  /** The compressed layer as stored. */
  readonly descriptor: Descriptor;
  /** sha256 of the uncompressed tar. */
  readonly diffId: Digest;
  /**
   * The size of the uncompressed tar, where a cache document says it: a hit on the layer then
   * knows the layer as the store will keep it before its bytes arrive.
   */
  readonly tarSize?: number;
}

/** The root filesystem after a step: every layer from the base image's first to the step's own. */
export interface StepResult {
  readonly layers: readonly LayerRef[];
  /**
   * When the step ran (RFC 3339): its history entry's time, so that a build whose steps all come
   * from the cache writes the same config, and the same image ID, as BuildKit does.
   */
  readonly created?: string;
  /** What keyed the step, when known: exported with the record so that a miss elsewhere can say why. */
  readonly summary?: StepSummary;
}

/** A record as put takes it. */
export interface StepRecord {
  readonly key: Digest;
  readonly result: StepResult;
  readonly platform: Platform;
  readonly summary?: StepSummary;
}

/** What a step did on top of the layers below it: the layer it added (none when it changed nothing), and when. */
export interface StepOutcome {
  readonly layer: LayerRef | undefined;
  readonly created?: string;
}

/**
 * What the build cache does for `RUN --mount=type=cache` directories, whose layout the executor
 * owns: it says which ids the build mounted (what `--cache-to …,cache-mounts=true` exports),
 * and asks for an id's imported contents before the first step that mounts it finds it empty.
 */
export interface CacheMountSync {
  /** Fills DIRECTORY (new, empty) with ID's contents from an import, once per build; whether it did. */
  restore(id: string, directory: string): Promise<boolean>;
  /** A step of this build mounted ID's directory. */
  used(id: string): void;
}

/** A step of the build's progress, as the cache reports its own work (the executor's StepHandle is one). */
export interface ProgressStep {
  start(): unknown;
  status(id: string, text: string, done: boolean): void;
  done(): void;
  fail(message: string): void;
}

export interface StepCache {
  /** Imports and exports of cache mounts, when the cache does them. */
  readonly cacheMounts?: CacheMountSync;
  /** Where the cache reports its own steps (importing a cache), numbered among the build's. */
  attachProgress?(step: (name: string) => ProgressStep): void;
  get(key: Digest): Promise<StepResult | undefined>;
  /**
   * The step's outcome on top of BELOW (the layers its parent step left): what a build needs
   * of a hit. The key names the parent step too, so the record's lower layers are BELOW.
   */
  outcome(key: Digest, below: readonly LayerRef[]): Promise<StepOutcome | undefined>;
  /** SUMMARY, when given, is kept with the record so that a later miss can say what changed. */
  put(key: Digest, result: StepResult, platform: Platform, summary?: StepSummary): Promise<void>;
  /** put of each record, in their order (the last is the newest), in one change of the cache where it can. */
  putAll?(records: readonly StepRecord[]): Promise<void>;
  /**
   * Waits for the layers of the hits given so far; rejects with CacheImportRetry when one of them
   * turned out bad (the build then starts again without it, as ATTEMPT + 1; every later call of
   * the failed attempt rejects too). Before anything reads a layer.
   */
  settle?(attempt?: number): Promise<void>;
  /** Why a step with SUMMARY missed, against the closest record (see explain.ts). */
  explain?(summary: StepSummary): Promise<string>;
  /** The summary kept with KEY's record, if any. */
  recordedSummary?(key: Digest): Promise<StepSummary | undefined>;
}

/**
 * The annotations a record's entry carries in the side index, so that a hit costs no blob read:
 * how many layers the record holds, its top layer (descriptor and diff ID) and when it ran.
 */
const depthAnnotation = 'org.tsbuild.step.depth';
const topAnnotation = 'org.tsbuild.step.top';
const createdAnnotation = 'org.tsbuild.step.created';
/** What keyed the step (explain.ts's StepSummary, as JSON). */
const inputsAnnotation = 'org.tsbuild.step.inputs';
/**
 * The top layer blob's ctime when the record was written (ms): a blob whose ctime is another has
 * been written to (or touched) since, and is rehashed before a hit is answered with it.
 */
const topChangedAnnotation = 'org.tsbuild.step.top-ctime';

export interface LocalStepCacheOptions {
  /** A record or blob found damaged: the step runs again. */
  readonly warn?: (message: string) => void;
}

export class LocalStepCache implements StepCache {
  /** The side index read once per build: records are only ever added, and a miss is checked again. */
  private entries: Map<string, Descriptor> | undefined;
  /** Layer blobs seen in the store during this build. */
  private readonly present = new Set<string>();
  /**
   * The records' summaries by slot, then by key (newest last), decoded once per build when a
   * miss is first explained: decoding every record for every miss was quadratic in the steps.
   */
  private summaries: Map<string, Map<string, StepSummary>> | undefined;
  /** The slot each key's summary is filed under. */
  private readonly slots = new Map<string, string>();
  /** The records waiting for the next rewrite of the side index, and that rewrite. */
  private waiting: { readonly batch: (readonly [string, Descriptor])[]; readonly listed: Promise<void> } | undefined;
  /** The last rewrite of the side index begun. */
  private listing: Promise<void> = Promise.resolve();

  private readonly warn: (message: string) => void;

  constructor(
    private readonly store: Store,
    options: LocalStepCacheOptions = {},
  ) {
    this.warn = options.warn ?? (() => undefined);
  }

  private async load(): Promise<Map<string, Descriptor>> {
    let index;
    try {
      index = await this.store.readSideIndex(sideIndex);
    } catch (error) {
      if (!isTsbuildError(error)) throw error;
      // Written only by an atomic rename: unreadable means damaged from outside. Set aside, the
      // cache starts afresh and the store's prune collects what only it held.
      const path = this.store.sideIndexPath(sideIndex);
      const aside = `${path}.damaged-${Date.now()}`;
      await rename(path, aside).catch(() => undefined);
      this.warn(`step cache: ${path} is unreadable (${messageOf(error)}); moved to ${aside}, every step runs again`);
      index = { manifests: [] as Descriptor[] };
    }
    const map = new Map<string, Descriptor>();
    for (const entry of index.manifests) {
      const key = entry.annotations?.[stepKeyAnnotation];
      if (key !== undefined) map.set(key, entry);
    }
    this.entries = map;
    return map;
  }

  async outcome(key: Digest, below: readonly LayerRef[]): Promise<StepOutcome | undefined> {
    const entries = this.entries ?? (await this.load());
    const annotations = entries.get(key)?.annotations;
    const depth = Number(annotations?.[depthAnnotation]);
    const created = annotations?.[createdAnnotation];
    const when = created === undefined ? {} : { created };
    if (depth === below.length) {
      this.used(key);
      return { layer: undefined, ...when };
    }
    const top = annotations?.[topAnnotation];
    if (depth === below.length + 1 && top !== undefined) {
      const layer = parseTop(top);
      if (layer !== undefined) {
        const sound = await this.soundLayer(layer.descriptor, Number(annotations?.[topChangedAnnotation]));
        if (!sound) return undefined;
        this.used(key);
        return { layer, ...when };
      }
    }
    // A record without the annotations (or with others than expected): read it whole.
    const result = await this.get(key);
    if (result === undefined || result.layers.length < below.length) return undefined;
    return { layer: result.layers.length === below.length ? undefined : result.layers.at(-1), ...(result.created === undefined ? {} : { created: result.created }) };
  }

  /**
   * Whether a record's layer can be used: present, of its size, and, when it was changed since
   * the record was written, still of its digest. A damaged blob is removed (its name is a lie to
   * every reader; the step that runs again writes it anew) and named in a warning.
   */
  private async soundLayer(descriptor: Descriptor, recordedCtime: number): Promise<boolean> {
    const digest = descriptor.digest;
    if (this.present.has(digest)) return true;
    // Synchronous, as the mark of use below: a hit waits for this, and a trip through the
    // thread pool costs each of a rebuild's steps more than the call itself.
    const info = statIfAny(this.store.blobPath(digest));
    if (info === undefined) {
      this.warn(`step cache: layer ${digest} is missing; the step runs again`);
      return false;
    }
    let damage: string | undefined;
    if (info.size !== descriptor.size) damage = `${info.size} bytes instead of ${descriptor.size}`;
    else if (info.ctimeMs !== recordedCtime) {
      const hash = createHasher(digestAlgorithm(digest));
      for await (const chunk of createReadStream(this.store.blobPath(digest))) hash.update(chunk as Buffer);
      const actual = hash.digest('hex');
      if (actual !== digestHex(digest)) damage = `its content hashes to ${digestAlgorithm(digest)}:${actual}`;
    }
    if (damage !== undefined) {
      await this.store.deleteBlob(digest).catch(() => undefined);
      this.warn(`step cache: layer ${digest} is damaged (${damage}); removed, the step runs again`);
      return false;
    }
    this.present.add(digest);
    return true;
  }

  /** A hit marks its record used now: the automatic cap removes the least recently used first. */
  private used(key: Digest): void {
    const entry = this.entries?.get(key);
    if (entry === undefined) return;
    const now = new Date();
    try {
      utimesSync(this.store.blobPath(entry.digest), now, now);
    } catch {
      // A record removed meanwhile (a prune) is simply not marked.
    }
  }

  async get(key: Digest): Promise<StepResult | undefined> {
    const entries = this.entries ?? (await this.load());
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    try {
      const image = await storeImage(this.store, entry);
      const layers = await image.layers();
      // A record whose layers were collected is no record: the step runs again. The records of
      // one stage share most of their layers; each is looked at once per build.
      const unchecked = layers.filter((layer) => !this.present.has(layer.digest()));
      const found = await Promise.all(unchecked.map((layer) => this.store.hasBlob(layer.digest())));
      if (found.includes(false)) return undefined;
      for (const layer of unchecked) this.present.add(layer.digest());
      const created = (await image.config()).created;
      this.used(key);
      return { layers: layers.map((layer) => ({ descriptor: layer.descriptor(), diffId: layer.diffID() })), ...(created === undefined ? {} : { created }) };
    } catch (error) {
      if (!isTsbuildError(error)) throw error;
      this.warn(`step cache: record ${entry.digest} of step ${key} is unreadable (${messageOf(error)}); the step runs again`);
      return undefined;
    }
  }

  /** The summary kept with KEY's record, if any. */
  async recordedSummary(key: Digest): Promise<StepSummary | undefined> {
    const entries = this.entries ?? (await this.load());
    return decodeSummary(entries.get(key)?.annotations?.[inputsAnnotation]);
  }

  async explain(summary: StepSummary): Promise<string> {
    const entries = this.entries ?? (await this.load());
    if (this.summaries === undefined) {
      this.summaries = new Map();
      for (const [key, entry] of entries) this.addSummary(key, entry);
    }
    const siblings: StepSummary[] = [];
    const sameSlot: StepSummary[] = [];
    for (const recorded of this.summaries.get(summary.slot)?.values() ?? []) {
      if (recorded.parent === summary.parent) siblings.push(recorded);
      else sameSlot.push(recorded);
    }
    return explainMiss(summary, siblings, sameSlot);
  }

  /** Files KEY's record under its slot, as the newest; a record of KEY before it is dropped. */
  private addSummary(key: string, entry: Descriptor): void {
    if (this.summaries === undefined) return;
    const slot = this.slots.get(key);
    if (slot !== undefined) this.summaries.get(slot)?.delete(key);
    this.slots.delete(key);
    const recorded = decodeSummary(entry.annotations?.[inputsAnnotation]);
    if (recorded === undefined) return;
    this.slots.set(key, recorded.slot);
    let bySlot = this.summaries.get(recorded.slot);
    if (bySlot === undefined) this.summaries.set(recorded.slot, (bySlot = new Map()));
    bySlot.set(key, recorded);
  }

  async put(key: Digest, result: StepResult, platform: Platform, summary?: StepSummary): Promise<void> {
    await this.putAll([{ key, result, platform, ...(summary === undefined ? {} : { summary }) }]);
  }

  /**
   * Writes the records' blobs at once and lists them all in one rewrite of the side index: a
   * build whose imported hits all arrived at its end writes a dozen records, which one at a time
   * would each wait for their fsyncs and for the side index's lock, read and rewrite.
   */
  async putAll(records: readonly StepRecord[]): Promise<void> {
    if (records.length === 0) return;
    const descriptors = await Promise.all(records.map((record) => this.write(record)));
    await this.list(records.map((record, index) => [record.key, descriptors[index] as Descriptor]));
    records.forEach((record, index) => {
      // Newest last, as in the side index: the closest record of a miss is the latest.
      this.entries?.delete(record.key);
      this.entries?.set(record.key, descriptors[index] as Descriptor);
      this.addSummary(record.key, descriptors[index] as Descriptor);
    });
  }

  /**
   * Lists ENTRIES (key and record) in the side index. The records of the steps that finish while
   * a rewrite of the index is under way wait for it and are listed together by the next one:
   * the steps of a thousand stages at once each took the index's lock, read and rewrote it,
   * which made them quadratic and left the last waiting past the lock's timeout.
   */
  private list(entries: readonly (readonly [string, Descriptor])[]): Promise<void> {
    if (this.waiting === undefined) {
      const batch: (readonly [string, Descriptor])[] = [];
      const listed = this.listing
        .catch(() => undefined)
        .then(() => {
          // From here on, records wait for the next rewrite.
          if (this.waiting?.batch === batch) this.waiting = undefined;
          return this.rewrite(batch);
        });
      this.waiting = { batch, listed };
      this.listing = listed;
    }
    this.waiting.batch.push(...entries);
    return this.waiting.listed;
  }

  private async rewrite(batch: readonly (readonly [string, Descriptor])[]): Promise<void> {
    // A key given twice is listed once, as its last record.
    const last = new Map<string, number>();
    batch.forEach(([key], index) => last.set(key, index));
    const added = batch.flatMap(([key, descriptor], index) => (last.get(key) === index ? [descriptor] : []));
    await this.store.updateSideIndex(sideIndex, (entries) => {
      const kept = entries.filter((entry) => !last.has(entry.annotations?.[stepKeyAnnotation] ?? ''));
      return { entries: [...kept, ...added], result: undefined };
    });
  }

  /** RECORD's config and manifest in the store, and its entry for the side index. */
  private async write({ key, result, platform, summary }: StepRecord): Promise<Descriptor> {
    const config = {
      ...(result.created === undefined ? {} : { created: result.created }),
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant === undefined ? {} : { variant: platform.variant }),
      rootfs: { type: 'layers', diff_ids: result.layers.map((layer) => layer.diffId) },
    };
    const configInfo = await this.store.putBlob(Readable.from([Buffer.from(JSON.stringify(config))]));
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configInfo.digest, size: configInfo.size },
      layers: result.layers.map((layer) => layer.descriptor),
    };
    const manifestInfo = await this.store.putBlob(Readable.from([Buffer.from(JSON.stringify(manifest))]));
    const top = result.layers.at(-1);
    const topInfo = top === undefined ? undefined : await stat(this.store.blobPath(top.descriptor.digest)).catch(() => undefined);
    const annotations: Record<string, string> = {
      ...(topInfo === undefined ? {} : { [topChangedAnnotation]: String(topInfo.ctimeMs) }),
      [stepKeyAnnotation]: key,
      [depthAnnotation]: String(result.layers.length),
      ...(top === undefined ? {} : { [topAnnotation]: JSON.stringify({ mediaType: top.descriptor.mediaType, digest: top.descriptor.digest, size: top.descriptor.size, diffId: top.diffId }) }),
      ...(result.created === undefined ? {} : { [createdAnnotation]: result.created }),
      ...(summary === undefined ? {} : { [inputsAnnotation]: encodeSummary({ ...summary, inputs: capInputs({ ...summary.inputs }) }) }),
    };
    return { mediaType: MediaType.ociManifest, digest: manifestInfo.digest, size: manifestInfo.size, annotations };
  }
}

/** A record's top layer from its annotation; undefined when it does not read as one. */
function parseTop(text: string): LayerRef | undefined {
  try {
    const value = JSON.parse(text) as { mediaType?: unknown; digest?: unknown; size?: unknown; diffId?: unknown };
    if (typeof value.mediaType !== 'string' || typeof value.digest !== 'string' || typeof value.size !== 'number' || typeof value.diffId !== 'string') return undefined;
    return { descriptor: { mediaType: value.mediaType, digest: parseDigest(value.digest), size: value.size }, diffId: parseDigest(value.diffId) };
  } catch {
    return undefined;
  }
}

/**
 * A layer of a hit given before its bytes arrived turned out bad (see StepCache.settle): the
 * build starts again, and the records that named it are misses this time.
 */
export class CacheImportRetry extends Error {
  constructor(readonly layers: readonly string[]) {
    super(`cache layers not usable: ${layers.join(', ')}`);
  }
}

function statIfAny(path: string): Stats | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}
