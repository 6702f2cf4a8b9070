import { gzipSync } from 'node:zlib';
import { makeBusyboxImage, type BusyboxImage } from '../../scripts/make-busybox-image.js';
import { MediaType, formatReference, parseReference, type Descriptor, type Digest, type History, type Manifest } from '../../src/common/index.js';
import { resolveImage, type Store } from '../../src/store/index.js';
import { putBytes, tarOf } from './registry-image.js';

/** Stores the busybox base image (`docker.io/library/busybox:latest` unless NAME) in STORE. */
export async function busyboxImage(store: Store, name?: string): Promise<BusyboxImage> {
  return makeBusyboxImage({ store, ...(name === undefined ? {} : { name }) });
}

/**
 * Stores NAME: STORE's busybox image with EXTRA layers of one file each on top and HISTORY as
 * its config's whole history, as tools that write none (crane append, hand-made OCI images) or
 * too much make it. Returns the manifest's digest.
 */
export async function busyboxWithHistory(store: Store, name: string, history: readonly History[], extra: number): Promise<Digest> {
  const busybox = await store.resolveReference(formatReference(parseReference('busybox')));
  if (busybox === undefined) throw new Error('busybox is not in the store');
  const image = await resolveImage(store, busybox);
  const layers: Descriptor[] = [...image.manifest.layers];
  const diffIds: Digest[] = [...image.config.rootfs.diff_ids];
  for (let index = 0; index < extra; index++) {
    const { tar, diffId } = await tarOf(`extra-${index}.txt`, Buffer.from(`extra ${index}\n`));
    const blob = gzipSync(tar);
    layers.push({ mediaType: MediaType.ociLayerGzip, digest: await putBytes(store, blob), size: blob.length });
    diffIds.push(diffId);
  }
  const configBytes = Buffer.from(JSON.stringify({ ...image.config, rootfs: { type: 'layers', diff_ids: diffIds }, history }));
  const config: Descriptor = { mediaType: MediaType.ociConfig, digest: await putBytes(store, configBytes), size: configBytes.length };
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers } satisfies Manifest));
  const manifest: Descriptor = { mediaType: MediaType.ociManifest, digest: await putBytes(store, manifestBytes), size: manifestBytes.length };
  await store.setReference(formatReference(parseReference(name)), manifest);
  return manifest.digest;
}

export type { BusyboxImage };
