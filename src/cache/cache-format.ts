/**
 * The build cache as an OCI artifact (see README.md, "The remote cache"): an image manifest whose
 * config is a cache document (the step records) and whose layers are the layers they name. The
 * same records, by layer position, ride in an image's own config for the inline cache.
 */
import { MediaType, TsbuildError, isDigest, parseBoundedJson, layerMediaTypes, type Descriptor, type Digest, type Platform } from '../common/index.js';
import { decodeSummary, type StepSummary } from './explain.js';
import type { LayerRef, StepResult } from './step-cache.js';

export const cacheConfigMediaType = 'application/vnd.tsbuild.cache.config.v1+json';
export const cacheArtifactType = 'application/vnd.tsbuild.cache.v1';
/** The image config field that holds the inline cache. */
export const inlineCacheField = 'org.tsbuild.cache.v1';
/** A cache document bigger than this is refused rather than read. */
export const maxCacheDocumentBytes = 16 * 1024 * 1024;

export interface CacheRecord {
  readonly key: Digest;
  /** The root filesystem after the step: positions in the document's `layers`, bottom first. */
  readonly layers: readonly number[];
  readonly created?: string;
  /** What keyed the step (explain.ts), so that a miss on another machine can say why. */
  readonly summary?: StepSummary;
}

/** The contents of one `RUN --mount=type=cache` id (`cache-mounts=true`). */
export interface CacheMountEntry {
  readonly id: string;
  /** Owner and mode of the directory where it was exported (informational: a step's own ask wins). */
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  /** Positions in the document's `layers`, applied bottom first onto an empty directory. */
  readonly layers: readonly number[];
}

export interface CacheDocument {
  readonly version: 1;
  readonly platform?: Platform;
  readonly layers: readonly { readonly mediaType: string; readonly digest: Digest; readonly size: number; readonly diffId: Digest; readonly tarSize?: number }[];
  readonly records: readonly CacheRecord[];
  /** Absent when the export had no cache mounts to carry. */
  readonly cacheMounts?: readonly CacheMountEntry[];
}

/** The inline form: the image's own layers, so only the records travel. */
export interface InlineCache {
  readonly version: 1;
  readonly records: readonly CacheRecord[];
}

/** A cache mount's contents as an export gives them and an import reads them back. */
export interface CacheMountLayers {
  readonly id: string;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly layers: readonly LayerRef[];
}

/** Everything a cache document holds, read back. */
export interface ImportedCache {
  readonly records: readonly ImportedRecord[];
  readonly mounts: readonly CacheMountLayers[];
}

/** A record read back: the stack of layers it names. */
export interface ImportedRecord {
  readonly key: Digest;
  readonly layers: readonly LayerRef[];
  readonly created?: string;
  readonly summary?: StepSummary;
}

function isLayerMediaType(value: string): boolean {
  return layerMediaTypes.has(value) || value.startsWith('application/vnd.oci.image.layer.');
}

/**
 * The document for RECORDS (and MOUNTS, the cache mounts' contents): each layer once, records in
 * key order and mounts in id order, so that equal caches are equal bytes.
 */
export function cacheDocument(records: ReadonlyMap<Digest, StepResult>, platform: Platform | undefined, mounts: readonly CacheMountLayers[] = []): CacheDocument {
  const layers: CacheDocument['layers'][number][] = [];
  const position = new Map<string, number>();
  const indexOf = (layer: LayerRef): number => {
    const known = position.get(layer.descriptor.digest);
    if (known !== undefined) return known;
    layers.push({ mediaType: layer.descriptor.mediaType, digest: layer.descriptor.digest, size: layer.descriptor.size, diffId: layer.diffId, ...(layer.tarSize === undefined ? {} : { tarSize: layer.tarSize }) });
    position.set(layer.descriptor.digest, layers.length - 1);
    return layers.length - 1;
  };
  const out: CacheRecord[] = [];
  for (const key of [...records.keys()].sort()) {
    const result = records.get(key);
    if (result === undefined) continue;
    const indexes = result.layers.map(indexOf);
    out.push({ key, layers: indexes, ...(result.created === undefined ? {} : { created: result.created }), ...(result.summary === undefined ? {} : { summary: result.summary }) });
  }
  const cacheMounts = [...mounts]
    .sort((a, b) => Buffer.compare(Buffer.from(a.id), Buffer.from(b.id)))
    .map((mount) => ({ id: mount.id, uid: mount.uid, gid: mount.gid, mode: mount.mode, layers: mount.layers.map(indexOf) }));
  return { version: 1, ...(platform === undefined ? {} : { platform }), layers, records: out, ...(cacheMounts.length === 0 ? {} : { cacheMounts }) };
}

export function manifestFor(document: CacheDocument, config: { digest: Digest; size: number }): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: cacheArtifactType,
    config: { mediaType: cacheConfigMediaType, digest: config.digest, size: config.size },
    layers: document.layers.map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size })),
  };
}

/** Records whose layers are a prefix of LAYERS (the image's), by position: what an image carries inline. */
export function inlineCache(records: ReadonlyMap<Digest, StepResult>, layers: readonly LayerRef[]): InlineCache {
  const out: CacheRecord[] = [];
  for (const key of [...records.keys()].sort()) {
    const result = records.get(key);
    if (result === undefined || !isPrefix(result.layers, layers)) continue;
    out.push({ key, layers: result.layers.map((_, index) => index), ...(result.created === undefined ? {} : { created: result.created }) });
  }
  return { version: 1, records: out };
}

export function isPrefix(stack: readonly LayerRef[], of: readonly LayerRef[]): boolean {
  return stack.length <= of.length && stack.every((layer, index) => layer.descriptor.digest === of[index]?.descriptor.digest);
}

function invalid(what: string, detail: string): TsbuildError {
  return new TsbuildError('INVALID_MEDIA_TYPE', `read cache ${what}: ${detail}`);
}

function records(value: unknown, layerCount: number, what: string): CacheRecord[] {
  if (!Array.isArray(value)) throw invalid(what, 'no records');
  return value.map((entry: unknown, index) => {
    const record = entry as Partial<Record<keyof CacheRecord, unknown>> | null;
    if (record === null || typeof record !== 'object' || typeof record.key !== 'string' || !isDigest(record.key)) throw invalid(what, `record ${index} has no key`);
    const layers = record.layers;
    if (!Array.isArray(layers) || !layers.every((n): n is number => Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) < layerCount)) {
      throw invalid(what, `record ${record.key} names layers the cache does not hold`);
    }
    if (record.created !== undefined && typeof record.created !== 'string') throw invalid(what, `record ${record.key} has a malformed time`);
    // A summary that does not read as one only loses the record its explanation.
    const summary = record.summary === undefined ? undefined : decodeSummary(JSON.stringify(record.summary));
    return { key: record.key, layers, ...(record.created === undefined ? {} : { created: record.created }), ...(summary === undefined ? {} : { summary }) };
  });
}

function cacheMountEntries(value: unknown, layerCount: number, what: string): CacheMountEntry[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(what, 'cacheMounts is not a list');
  const seen = new Set<string>();
  return value.map((entry: unknown, index) => {
    const mount = entry as Partial<Record<keyof CacheMountEntry, unknown>> | null;
    if (mount === null || typeof mount !== 'object' || typeof mount.id !== 'string' || mount.id === '' || mount.id.length > 4096) throw invalid(what, `cache mount ${index} has no id`);
    if (seen.has(mount.id)) throw invalid(what, `cache mount ${JSON.stringify(mount.id)} is listed twice`);
    seen.add(mount.id);
    const ids = [mount.uid, mount.gid];
    if (!ids.every((id): id is number => Number.isSafeInteger(id) && (id as number) >= 0 && (id as number) < 2 ** 32)) throw invalid(what, `cache mount ${JSON.stringify(mount.id)} has a malformed owner`);
    if (!Number.isSafeInteger(mount.mode) || (mount.mode as number) < 0 || (mount.mode as number) > 0o7777) throw invalid(what, `cache mount ${JSON.stringify(mount.id)} has a malformed mode`);
    const layers = mount.layers;
    if (!Array.isArray(layers) || layers.length === 0 || !layers.every((n): n is number => Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) < layerCount)) {
      throw invalid(what, `cache mount ${JSON.stringify(mount.id)} names layers the cache does not hold`);
    }
    return { id: mount.id, uid: mount.uid as number, gid: mount.gid as number, mode: mount.mode as number, layers };
  });
}

/** A cache document's records, checked for shape: anything malformed fails the whole document. */
export function parseCacheDocument(bytes: Buffer, what: string): ImportedCache {
  let value: Partial<Record<keyof CacheDocument, unknown>>;
  try {
    value = parseBoundedJson(bytes.toString('utf8')) as typeof value;
  } catch (error) {
    throw invalid(what, `not JSON (${(error as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || value.version !== 1) throw invalid(what, 'unknown version');
  if (!Array.isArray(value.layers)) throw invalid(what, 'no layers');
  const layers: LayerRef[] = value.layers.map((entry: unknown, index) => {
    const layer = entry as Partial<Record<'mediaType' | 'digest' | 'size' | 'diffId' | 'tarSize', unknown>> | null;
    if (layer === null || typeof layer !== 'object' || typeof layer.mediaType !== 'string' || typeof layer.digest !== 'string' || typeof layer.diffId !== 'string' || typeof layer.size !== 'number') {
      throw invalid(what, `layer ${index} is malformed`);
    }
    if (!isDigest(layer.digest) || !isDigest(layer.diffId) || !Number.isSafeInteger(layer.size) || layer.size < 0) throw invalid(what, `layer ${index} is malformed`);
    if (!isLayerMediaType(layer.mediaType)) throw invalid(what, `layer ${layer.digest} has media type ${layer.mediaType}, not a layer's`);
    // Only a hint (the store checks the tar's digest, and its size with it): a bad one is dropped.
    const tarSize = typeof layer.tarSize === 'number' && Number.isSafeInteger(layer.tarSize) && layer.tarSize >= 0 ? layer.tarSize : undefined;
    return { descriptor: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, diffId: layer.diffId, ...(tarSize === undefined ? {} : { tarSize }) };
  });
  const mounts = cacheMountEntries(value.cacheMounts, layers.length, what).map((mount) => ({ ...mount, layers: mount.layers.map((index) => layers[index] as LayerRef) }));
  return { records: resolveRecords(records(value.records, layers.length, what), layers), mounts };
}

/** The inline records of an image config, against the image's layers; none when it carries none. */
export function parseInlineCache(config: Record<string, unknown>, manifestLayers: readonly Descriptor[], diffIds: readonly string[], what: string): ImportedRecord[] {
  const inline = config[inlineCacheField] as Partial<Record<keyof InlineCache, unknown>> | undefined;
  if (inline === undefined) return [];
  if (inline === null || typeof inline !== 'object' || inline.version !== 1) throw invalid(what, 'unknown inline cache version');
  if (manifestLayers.length !== diffIds.length) throw invalid(what, 'the image has as many layers as diff IDs');
  const layers: LayerRef[] = manifestLayers.map((descriptor, index) => {
    const diffId = diffIds[index] ?? '';
    if (!isDigest(diffId) || !isLayerMediaType(descriptor.mediaType)) throw invalid(what, `layer ${descriptor.digest} is malformed`);
    return { descriptor: { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size }, diffId };
  });
  return resolveRecords(records(inline.records, layers.length, what), layers);
}

function resolveRecords(list: readonly CacheRecord[], layers: readonly LayerRef[]): ImportedRecord[] {
  return list.map((record) => ({
    key: record.key,
    layers: record.layers.map((index) => layers[index] as LayerRef),
    ...(record.created === undefined ? {} : { created: record.created }),
    ...(record.summary === undefined ? {} : { summary: record.summary }),
  }));
}
