/**
 * The local store: content-addressed blobs and named references kept as an OCI image layout,
 * unpacked layers by chain ID, locks and garbage collection. See content-store.ts for the
 * contract every operation keeps.
 */
import { resolve } from 'node:path';
import { LayoutStore } from './layout-store.js';
import { defaultRoot } from './root.js';

export type { BlobInfo, ContentStore, ExpectedBlob, Ingest, OpenBlobOptions } from './content-store.js';
export { LayoutStore, validateReferenceName } from './layout-store.js';
export { defaultRoot } from './root.js';
export { acquireLock, tryLock, type FileLock, type LockOptions } from './lock.js';
export { makeTemporaryDirectory, writeAll, writeFileAtomic, temporaryName, temporaryOwner, temporaryOwnerAlive } from './atomic.js';
export { VerifyingStream } from './verify-stream.js';
export { unpackLayer, decompressLayer, decompressStream, type UnpackOptions, type UnpackResult } from './unpack.js';
export { chainIds, findImage, noSuchImage, imageContentSize, layerContentSize, layerContentSizes, rememberLayerContentSize, reachableBlobs, readIndex, readManifest, resolveImage, selectPlatform, storeName, type ResolvedImage } from './image.js';
export { storeImage, type Image, type ImageLayer } from './image-model.js';
export { diffPath, keepDiff, linkTree, snapshotStack, unpackImage, unpackLayers, snapshotPath } from './snapshots.js';
export { defaultGzipLevel, knownLayerVariant, layerVariantName, rememberLayerVariant } from './layer-variants.js';
export { pruneStore, type PruneOptions, type PruneResult } from './prune.js';
export { verifyStore, type VerifyProblem, type VerifyResult } from './verify.js';
export { pruneImages, removeImages, type PruneCandidate, type PruneImagesOptions, type PrunedImages, type RemoveImagesOptions, type RemovedImages } from './remove-images.js';
export { imageFilter, isDangling, listImages, matchesImagePattern, type ImageSummary, type ListImagesOptions } from './list-images.js';

/** The store as the rest of tsbuild uses it. */
export type Store = LayoutStore;

export interface OpenStoreOptions {
  /** Defaults to `defaultRoot()`: TSBUILD_ROOT, /var/lib/tsbuild for root, XDG data home otherwise. */
  readonly root?: string;
}

export async function openStore(options: OpenStoreOptions = {}): Promise<Store> {
  // Absolute, since paths under the root are handed to the runtime and to processes that run
  // in other directories (a relative `--root r` once made RUN look for its root filesystem
  // relative to the bundle).
  return LayoutStore.open(resolve(options.root ?? defaultRoot()));
}
export { eventsLogPath, recordEvent, recordImageEvent, recordImagesOnce, type EventMessage, type EventType } from './events.js';
