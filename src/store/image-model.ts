/**
 * A read-only image, after go-containerregistry's v1.Image and v1.Layer: what the archive
 * writer, push, the step cache and the build read an image through, whatever holds it. Only the
 * store backs one for now (`storeImage`); the methods are asynchronous so that an image still
 * being built, or one a registry holds, can be one as well.
 */
import type { Readable } from 'node:stream';
import { createHasher, parseDigest, TsbuildError, type Descriptor, type Digest, type ImageConfig, type Manifest, type Platform } from '../common/index.js';
import type { ContentStore, OpenBlobOptions } from './content-store.js';
import { resolveImage } from './image.js';
import { decompressLayer } from './unpack.js';

export interface ImageLayer {
  /** The layer as the manifest lists it. */
  descriptor(): Descriptor;
  /** Digest of the compressed blob. */
  digest(): Digest;
  /** Digest of the uncompressed tar, as the config's `rootfs.diff_ids` lists it. */
  diffID(): Digest;
  mediaType(): string;
  /** Size of the compressed blob. */
  size(): number;
  /** The blob as stored; verified against `digest()` at its end unless asked not to (see OpenBlobOptions). */
  compressed(options?: OpenBlobOptions): Promise<Readable>;
  /** The tar, decompressed by its magic bytes; fails with `DIGEST_MISMATCH` at its end when it does not hash to `diffID()`. */
  uncompressed(): AsyncGenerator<Buffer>;
}

export interface Image {
  /** The manifest's descriptor (inside an index, the chosen platform's entry). */
  descriptor(): Descriptor;
  manifest(): Promise<Manifest>;
  /** The manifest's bytes, as its digest was computed over them. */
  rawManifest(): Promise<Buffer>;
  config(): Promise<ImageConfig>;
  /** The config's bytes, as its digest (the image ID) was computed over them. */
  configBytes(): Promise<Buffer>;
  /** Layers from the base up, each paired with its diff ID. */
  layers(): Promise<ImageLayer[]>;
}

/**
 * The image DESCRIPTOR leads to in STORE (a platform chosen inside an index, the host's by
 * default). Manifest and config are read and checked now, so that an image that is not whole
 * fails here rather than halfway through whatever reads it; layer blobs are read when asked.
 */
export async function storeImage(store: ContentStore, descriptor: Descriptor, platform?: Platform): Promise<Image> {
  const resolved = await resolveImage(store, descriptor, platform);
  const diffIds = resolved.config.rootfs.diff_ids;
  const layers = resolved.manifest.layers.map((layer, position) => storeLayer(store, layer, diffIds[position] as Digest));
  return {
    descriptor: () => resolved.descriptor,
    manifest: () => Promise.resolve(resolved.manifest),
    rawManifest: () => Promise.resolve(resolved.manifestBytes),
    config: () => Promise.resolve(resolved.config),
    configBytes: () => Promise.resolve(resolved.configBytes),
    layers: () => Promise.resolve([...layers]),
  };
}

function storeLayer(store: ContentStore, layer: Descriptor, diffId: Digest): ImageLayer {
  const compressed = (options?: OpenBlobOptions): Promise<Readable> => store.openBlob(layer.digest, options);
  return {
    descriptor: () => layer,
    digest: () => layer.digest,
    diffID: () => diffId,
    mediaType: () => layer.mediaType,
    size: () => layer.size,
    compressed,
    async *uncompressed() {
      const algorithm = diffId.slice(0, diffId.indexOf(':'));
      const hash = createHasher(algorithm);
      for await (const chunk of decompressLayer(await compressed(), layer.mediaType)) {
        hash.update(chunk);
        yield chunk;
      }
      const actual = parseDigest(`${algorithm}:${hash.digest('hex')}`);
      if (actual !== diffId) throw new TsbuildError('DIGEST_MISMATCH', `read layer ${layer.digest}: its tar hashes to ${actual}, the config says ${diffId}`);
    },
  };
}
