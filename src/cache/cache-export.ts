/**
 * `--cache-to`: the records a build used, written as a cache artifact to a registry or an OCI
 * layout directory, or as the inline field of the image's config. mode=min keeps the records
 * of the exported image's own steps (those whose layers are a prefix of the image's: its stage
 * and the stages it is built FROM); mode=max keeps every stage's.
 */
import { copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MediaType, TsbuildError, digestAlgorithm, digestHex, hashHex, messageOf, parseDigest, readFileInRoot, type Descriptor, type Digest, type Platform } from '../common/index.js';
import type { RegistryClient } from '../registry/index.js';
import type { Store } from '../store/index.js';
import { cacheDocument, inlineCache, isPrefix, manifestFor, maxCacheDocumentBytes, type CacheMountLayers, type InlineCache } from './cache-format.js';
import type { CacheExport, CacheMode } from './cache-spec.js';
import type { LayerRef, StepResult } from './step-cache.js';

/** The records an export sends: every one the build used (mode=max), or those of the images' own steps (mode=min), of each platform's image in a build of several. */
export function selectRecords(used: ReadonlyMap<Digest, StepResult>, mode: CacheMode, images: readonly (readonly LayerRef[])[]): Map<Digest, StepResult> {
  if (mode === 'max') return new Map(used);
  return new Map([...used].filter(([, result]) => images.some((imageLayers) => isPrefix(result.layers, imageLayers))));
}

/** The inline cache of an image: its own steps' records, by layer position. */
export function inlineCacheOf(used: ReadonlyMap<Digest, StepResult>, imageLayers: readonly LayerRef[]): InlineCache {
  return inlineCache(used, imageLayers);
}

export interface ExportCacheOptions {
  readonly store: Store;
  readonly used: ReadonlyMap<Digest, StepResult>;
  /** The layers of each image the build made (one, or one per platform). */
  readonly images: readonly (readonly LayerRef[])[];
  readonly platform?: Platform;
  readonly registry?: () => Promise<RegistryClient>;
  /**
   * The contents of the cache mounts the build used, for `cache-mounts=true`: made on first
   * need (once for every export of the build), each layer's blob in the store.
   */
  readonly cacheMounts?: () => Promise<readonly CacheMountLayers[]>;
  /**
   * Called before a layer's blob is read from the store: an imported cache mount carried
   * unchanged may have its blob only in the import (fetched then, when the destination lacks it).
   */
  readonly ensureBlob?: (layer: LayerRef) => Promise<unknown>;
  /**
   * The layer as TARGET's `compression=` asks (its blob in the store); without it, as it leaves
   * the machine by default (the store's uncompressed layers in gzip, others as they are).
   */
  readonly layerAs?: (layer: LayerRef, compression: CacheExport['compression']) => Promise<LayerRef>;
}

/** RECORDS with each layer given as LAYERAS makes it (each distinct layer once). */
async function recompressed(records: ReadonlyMap<Digest, StepResult>, as: (layer: LayerRef) => Promise<LayerRef>): Promise<Map<Digest, StepResult>> {
  const made = new Map<string, Promise<LayerRef>>();
  const of = (layer: LayerRef): Promise<LayerRef> => {
    let found = made.get(layer.descriptor.digest);
    // The store keeps a layer as its tar: its size is what an importer will keep.
    const tarSize = layer.descriptor.mediaType === MediaType.ociLayer ? layer.descriptor.size : layer.tarSize;
    if (found === undefined) made.set(layer.descriptor.digest, (found = as(layer).then((converted) => (tarSize === undefined ? converted : { ...converted, tarSize }))));
    return found;
  };
  const out = new Map<Digest, StepResult>();
  for (const [key, result] of records) out.set(key, { ...result, layers: await Promise.all(result.layers.map(of)) });
  return out;
}

interface Artifact {
  readonly manifest: { readonly descriptor: Descriptor; readonly bytes: Buffer };
  readonly config: { readonly descriptor: Descriptor; readonly bytes: Buffer };
  readonly layers: readonly LayerRef[];
}

function artifactOf(records: ReadonlyMap<Digest, StepResult>, platform: Platform | undefined, mounts: readonly CacheMountLayers[]): Artifact {
  const document = cacheDocument(records, platform, mounts);
  const configBytes = Buffer.from(JSON.stringify(document));
  const configDigest = parseDigest(`sha256:${hashHex('sha256', configBytes)}`);
  const manifest = manifestFor(document, { digest: configDigest, size: configBytes.length });
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = parseDigest(`sha256:${hashHex('sha256', manifestBytes)}`);
  return {
    manifest: { descriptor: { mediaType: MediaType.ociManifest, digest: manifestDigest, size: manifestBytes.length }, bytes: manifestBytes },
    config: { descriptor: { mediaType: (manifest.config as Descriptor).mediaType, digest: configDigest, size: configBytes.length }, bytes: configBytes },
    layers: document.layers.map((layer) => ({ descriptor: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, diffId: layer.diffId })),
  };
}

/** Writes the cache where TARGET says; the inline cache is not written here (it is part of the image). */
export async function exportCache(target: CacheExport, options: ExportCacheOptions): Promise<{ digest: Digest; records: number; cacheMounts: number } | undefined> {
  if (target.type === 'inline') return undefined;
  const selected = selectRecords(options.used, target.mode, options.images);
  const compression = target.compression;
  const layerAs = options.layerAs;
  const records = layerAs === undefined ? selected : await recompressed(selected, (layer) => layerAs(layer, compression));
  const mounts = target.cacheMounts && options.cacheMounts !== undefined ? await options.cacheMounts() : [];
  const artifact = artifactOf(records, options.platform, mounts);
  if (target.type === 'registry') {
    if (options.registry === undefined) throw new TsbuildError('INTERNAL', 'export cache: a registry export needs a registry client');
    const { pushArtifact } = await import('../registry/index.js');
    await pushArtifact({
      client: await options.registry(),
      destination: target.ref,
      manifest: artifact.manifest,
      blobs: [
        { descriptor: artifact.config.descriptor, open: () => Promise.resolve(Readable.from([artifact.config.bytes])) },
        ...artifact.layers.map((layer) => ({
          descriptor: layer.descriptor,
          open: async () => {
            await options.ensureBlob?.(layer);
            // Not hashed on the way out: the registry hashes what it receives, and refuses a mismatch.
            return options.store.openBlob(layer.descriptor.digest, { verify: false });
          },
        })),
      ],
    });
  } else {
    await writeLayout(target.dest, target.tag, artifact, options.store, options.ensureBlob).catch((error: unknown) => {
      // The directory is the user's: a full disk or a denied write there is theirs to see, named.
      if (error instanceof TsbuildError) throw error;
      throw new TsbuildError('INVALID_ARGUMENT', `export cache to ${target.dest}: ${messageOf(error)}`, { cause: error });
    });
  }
  return { digest: artifact.manifest.descriptor.digest, records: records.size, cacheMounts: mounts.length };
}

/**
 * An OCI layout directory holding the cache under TAG, beside whatever it held: blobs are added
 * (each written to a temporary name and renamed), and index.json replaced last, so a reader sees
 * the old cache or the new one.
 */
async function writeLayout(directory: string, tag: string, artifact: Artifact, store: Store, ensureBlob: ExportCacheOptions['ensureBlob']): Promise<void> {
  const blobs = join(directory, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const path = (digest: Digest): string => join(directory, 'blobs', digestAlgorithm(digest), digestHex(digest));
  const has = async (descriptor: Descriptor): Promise<boolean> => (await stat(path(descriptor.digest)).catch(() => undefined))?.size === descriptor.size;
  /** TARGET written whole under a temporary name, then renamed; nothing of it left when that fails. */
  const replace = async (target: string, write: (to: string) => Promise<void>): Promise<void> => {
    const to = `${target}.${process.pid}.${Math.random().toString(16).slice(2)}.tmp`;
    try {
      await write(to);
      await rename(to, target);
    } catch (error) {
      await rm(to, { force: true });
      throw error;
    }
  };
  const put = async (descriptor: Descriptor, write: (to: string) => Promise<void>): Promise<void> => {
    if (!(await has(descriptor))) await replace(path(descriptor.digest), write);
  };
  await Promise.all(
    artifact.layers.map((layer) =>
      put(layer.descriptor, async (to) => {
        await ensureBlob?.(layer);
        // A hard link would share the store's inode with a directory others may change; a copy is safe.
        await copyFile(store.blobPath(layer.descriptor.digest), to);
      }),
    ),
  );
  await put(artifact.config.descriptor, (to) => writeFile(to, artifact.config.bytes));
  await put(artifact.manifest.descriptor, (to) => writeFile(to, artifact.manifest.bytes));
  await writeFile(join(directory, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  let manifests: Descriptor[] = [];
  try {
    // Bounded, and no fifo or device is read: the directory is the user's, its index anything.
    manifests = (JSON.parse((await readFileInRoot('/', join(directory, 'index.json'), maxCacheDocumentBytes)) ?? '{}') as { manifests?: Descriptor[] }).manifests ?? [];
  } catch {
    // No index yet (or an unreadable or oversized one, replaced).
  }
  const kept = manifests.filter((entry) => entry.annotations?.['org.opencontainers.image.ref.name'] !== tag);
  const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [...kept, { ...artifact.manifest.descriptor, annotations: { 'org.opencontainers.image.ref.name': tag } }] };
  await replace(join(directory, 'index.json'), (to) => writeFile(to, JSON.stringify(index)));
}
