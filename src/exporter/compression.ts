/**
 * The compression of an exported image's layers, with BuildKit's exporter options:
 * `compression=gzip|zstd|uncompressed`, `compression-level=N` and `force-compression=true`.
 *
 * As BuildKit: the layers the build made get the compression asked for; the base image's layers
 * keep theirs unless `force-compression=true` (a layer already in the type asked for is kept
 * even then: the level alone does not make BuildKit recompress it). The store keeps the layers
 * it builds uncompressed, as docker's and podman's do, so what leaves the machine (a push, an
 * OCI archive, a cache export) gets gzip by default (`exportCompression`), made once per layer
 * and remembered; an uncompressed layer is "not compressed yet", so it gets the compression
 * asked for wherever it sits in the image, unless that is `uncompressed`. The config does not
 * change (diff IDs are of the uncompressed tars), so the image ID stays the same; the manifest
 * names the new blobs.
 */
import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import pLimit from 'p-limit';
import { MediaType, isIndexMediaType, maxManifestBytes, parseDigest, parseIndex, TsbuildError, type Descriptor, type Manifest } from '../common/index.js';
import { decompressLayer, defaultGzipLevel, knownLayerVariant, layerVariantName, rememberLayerVariant, storeImage, type LayoutStore } from '../store/index.js';
import { compressLayer, type LayerCompression } from './layer.js';
import { defaultZstdLevel } from './zstd.js';

export type CompressionType = 'gzip' | 'zstd' | 'uncompressed';

export interface CompressionOptions {
  readonly type: CompressionType;
  /** gzip 0-9, zstd 1-22; the compressor's default when undefined. */
  readonly level?: number;
  /** Recompress the base image's layers too. */
  readonly force: boolean;
}

const compressionTypes: readonly CompressionType[] = ['gzip', 'zstd', 'uncompressed'];
const levelRanges: Record<CompressionType, readonly [number, number]> = { gzip: [0, 9], zstd: [1, 22], uncompressed: [0, 0] };


/** What leaves the machine when nothing else is asked for: gzip, as docker push and BuildKit give. */
export const exportCompression: CompressionOptions = { type: 'gzip', force: false };

function invalid(what: string, cause: string): TsbuildError {
  return new TsbuildError('INVALID_ARGUMENT', `parse ${what}: ${cause}`);
}

/**
 * The compression OPTIONS (an output's keys) ask for, or undefined when they name none. WHAT
 * says where they came from, for errors.
 */
export function compressionFromOptions(options: Readonly<Record<string, string>>, what: string): CompressionOptions | undefined {
  const type = options.compression;
  const levelText = options['compression-level'];
  const forceText = options['force-compression'];
  if (type === undefined && levelText === undefined && forceText === undefined) return undefined;
  const chosen = (type ?? 'gzip').toLowerCase();
  if (!(compressionTypes as readonly string[]).includes(chosen)) {
    throw invalid(what, `unsupported compression type ${JSON.stringify(type)} (expected ${compressionTypes.join(', ')})`);
  }
  const compression = chosen as CompressionType;
  let level: number | undefined;
  if (levelText !== undefined && compression !== 'uncompressed') {
    if (!/^-?[0-9]+$/.test(levelText.trim())) throw invalid(what, `non-integer value ${JSON.stringify(levelText)} specified for compression-level`);
    level = Number(levelText.trim());
    const [low, high] = levelRanges[compression];
    if (level < low || level > high) throw invalid(what, `compression-level ${level} is out of range for ${compression} (${low}-${high})`);
  }
  let force = false;
  if (forceText !== undefined) {
    if (!['true', 'false', '1', '0'].includes(forceText.toLowerCase())) throw invalid(what, `force-compression=${JSON.stringify(forceText)} is not a boolean`);
    force = forceText.toLowerCase() === 'true' || forceText === '1';
  }
  return { type: compression, ...(level === undefined ? {} : { level }), force };
}

const kinds: Readonly<Record<string, CompressionType>> = {
  [MediaType.ociLayerGzip]: 'gzip',
  [MediaType.dockerLayerGzip]: 'gzip',
  [MediaType.ociLayerZstd]: 'zstd',
  [MediaType.ociLayer]: 'uncompressed',
  [MediaType.dockerLayer]: 'uncompressed',
};

const layerCompression: Record<CompressionType, LayerCompression> = { gzip: 'gzip', zstd: 'zstd', uncompressed: 'none' };

/** Whether LAYER (the INDEXth; the build's own from FIRSTBUILT on) is rewritten for COMPRESSION. */
function needsRewrite(layer: Descriptor, index: number, firstBuilt: number, compression: CompressionOptions): boolean {
  const kind = kinds[layer.mediaType];
  // Foreign and unknown layers are passed on as they are.
  if (kind === undefined) return false;
  if (kind === 'uncompressed' && compression.type !== 'uncompressed') return true;
  if (kind !== compression.type) return index >= firstBuilt || compression.force;
  // The build's gzip layers are at gzip's default level: another level rewrites them.
  return index >= firstBuilt && kind === 'gzip' && compression.level !== undefined && compression.level !== defaultGzipLevel;
}

/** The level the variant is made at, as recorded in its memo's name. */
function effectiveLevel(compression: CompressionOptions): number {
  if (compression.type === 'gzip') return compression.level ?? defaultGzipLevel;
  if (compression.type === 'zstd') return compression.level ?? defaultZstdLevel;
  return 0;
}

/**
 * The image at DESCRIPTOR (a manifest in STORE) with its layers in COMPRESSION (when given) and
 * ANNOTATIONS added to its manifest's: the same descriptor when nothing changes, else a new
 * manifest (stored, not named). Layers are rewritten in parallel with each other. A layer
 * rewritten once is remembered in the store (`layer-variants/`), so another export of it costs
 * nothing.
 */
export async function recompressImage(
  store: LayoutStore,
  descriptor: Descriptor,
  compression: CompressionOptions | undefined,
  firstBuilt: number,
  annotations: Readonly<Record<string, string>> = {},
): Promise<Descriptor> {
  const manifestBytes = await store.readBlob(descriptor.digest, maxManifestBytes);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as Manifest;
  const rewrite = manifest.layers.map((layer, index) => compression !== undefined && needsRewrite(layer, index, firstBuilt, compression));
  const annotate = Object.entries(annotations).some(([key, value]) => manifest.annotations?.[key] !== value);
  if (!rewrite.includes(true) && !annotate) return descriptor;
  const sources = rewrite.includes(true) ? await (await storeImage(store, descriptor)).layers() : [];
  const limit = pLimit(Math.max(1, availableParallelism()));
  const layers = await Promise.all(
    manifest.layers.map((layer, index) => {
      const source = sources[index];
      if (rewrite[index] !== true || source === undefined || compression === undefined) return layer;
      return limit(() => layerVariant(store, layer, () => tarOf(store, layer), source.diffID(), compression));
    }),
  );
  const merged = Object.keys(annotations).length === 0 ? {} : { annotations: { ...manifest.annotations, ...annotations } };
  const bytes = Buffer.from(JSON.stringify({ ...manifest, layers, ...merged }), 'utf8');
  const info = await store.putBlob(Readable.from([bytes]));
  return { mediaType: descriptor.mediaType, digest: info.digest, size: info.size };
}

/**
 * The image at DESCRIPTOR as it leaves the machine when nothing else is asked for: a manifest
 * whose uncompressed layers (the ones builds keep) are replaced by their gzip variants; an
 * index, or a manifest with no uncompressed layer, as it is.
 */
export async function pushableImage(store: LayoutStore, descriptor: Descriptor): Promise<Descriptor> {
  if (isIndexMediaType(descriptor.mediaType)) return mapIndexManifests(store, descriptor, (manifest) => pushableImage(store, manifest));
  if (descriptor.mediaType !== MediaType.ociManifest && descriptor.mediaType !== MediaType.dockerManifest) return descriptor;
  return recompressImage(store, descriptor, exportCompression, 0);
}

/**
 * LAYER (a blob in STORE with its diff ID) in COMPRESSION: itself when it already is (gzip at the
 * asked level), else its variant, made once and remembered as `recompressImage`'s are. What a
 * build cache export gives its records when `--cache-to …,compression=` asks for another.
 */
export async function layerInCompression(store: LayoutStore, layer: Descriptor, diffId: string, compression: CompressionOptions): Promise<Descriptor> {
  const kind = kinds[layer.mediaType];
  if (kind === undefined) return layer;
  const atLevel = kind !== 'gzip' || compression.level === undefined || compression.level === defaultGzipLevel;
  if (kind === compression.type && atLevel) return layer;
  return layerVariant(store, layer, () => tarOf(store, layer), diffId, compression);
}

/**
 * LAYER's tar, read from STORE without checking the blob's digest: the variant made of it is
 * checked against the diff ID (compressLayer hashes the tar it compresses), which for the store's
 * uncompressed layers is that very digest. Each further hash of a 50 MiB layer cost some 50 ms
 * of the main thread (an image's layer was hashed three times: the blob, its reader's diff ID
 * check, then compressLayer's).
 */
async function* tarOf(store: LayoutStore, layer: Descriptor): AsyncGenerator<Uint8Array> {
  yield* decompressLayer(await store.openBlob(parseDigest(layer.digest), { verify: false }), layer.mediaType);
}

/** Variants being made in this process, by store, layer and variant: one compression each. */
const making = new Map<string, Promise<Descriptor>>();

async function layerVariant(store: LayoutStore, layer: Descriptor, uncompressed: () => AsyncIterable<Uint8Array>, diffId: string, compression: CompressionOptions): Promise<Descriptor> {
  const variant = layerVariantName(compression.type, effectiveLevel(compression));
  const key = `${store.root}\0${layer.digest}\0${variant}`;
  let made = making.get(key);
  if (made === undefined) {
    made = (async () => {
      const known = await knownLayerVariant(store, layer, variant);
      if (known !== undefined) return known;
      const written = await compressLayer(uncompressed(), store, layerCompression[compression.type], compression.level);
      if (written.diffId !== diffId) throw new TsbuildError('INTERNAL', `compress layer ${layer.digest}: its tar has diff ID ${written.diffId}, the image says ${diffId}`);
      await rememberLayerVariant(store, layer, variant, written.descriptor);
      return written.descriptor;
    })();
    making.set(key, made);
    // Settled, the store's memo answers; a failure is tried afresh by the next caller.
    made.then(
      () => making.delete(key),
      () => making.delete(key),
    );
  }
  return made;
}

/**
 * The index DESCRIPTOR with each of its manifests replaced by what CHANGE makes of it (a
 * recompressed image, other media types), its platforms and every other field kept; itself
 * when nothing changed. What a multi-platform build's outputs do to each of its images.
 */
export async function mapIndexManifests(store: LayoutStore, descriptor: Descriptor, change: (manifest: Descriptor) => Promise<Descriptor>): Promise<Descriptor> {
  const bytes = await store.readBlob(descriptor.digest, maxManifestBytes);
  // Parsed for its checks; the JSON itself is rewritten so that fields tsbuild does not model stay.
  parseIndex(bytes, descriptor.mediaType);
  const document = JSON.parse(bytes.toString('utf8')) as { manifests: Descriptor[] };
  let changed = false;
  const manifests: Descriptor[] = [];
  for (const manifest of document.manifests) {
    const replaced = await change(manifest);
    changed ||= replaced.digest !== manifest.digest || replaced.mediaType !== manifest.mediaType;
    manifests.push({ ...manifest, mediaType: replaced.mediaType, digest: replaced.digest, size: replaced.size });
  }
  if (!changed) return descriptor;
  const rewritten = Buffer.from(JSON.stringify({ ...document, manifests }));
  const info = await store.putBlob(Readable.from([rewritten]));
  return { ...descriptor, digest: info.digest, size: info.size };
}
