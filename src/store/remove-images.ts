/**
 * `rmi`: removes the names of images and frees the blobs only they used. Every image is found
 * (and an ID with several names refused without `force`) before anything is removed, so that a
 * bad argument leaves the store as it was.
 */
import { TsbuildError, familiarReference, parseReference, type Descriptor, type Digest } from '../common/index.js';
import { findImage, reachableBlobs } from './image.js';
import type { LayoutStore } from './layout-store.js';
import { pruneStore } from './prune.js';

export interface RemoveImagesOptions {
  /** Removes every name of an image given by ID (docker's `rmi -f`). */
  readonly force?: boolean;
}

export interface RemovedImages {
  /** The names removed, in order, fully qualified. */
  readonly untagged: readonly string[];
  /** The blobs freed: those the removed images used that no other name reaches. */
  readonly deleted: readonly Digest[];
  /** Their bytes, with the unpacked layers freed with them. */
  readonly bytesFreed: number;
}

export async function removeImages(store: LayoutStore, images: readonly string[], options: RemoveImagesOptions = {}): Promise<RemovedImages> {
  const found: { readonly names: readonly string[]; readonly target: Descriptor }[] = [];
  for (const image of images) {
    const match = await findImage(store, image);
    if (match === undefined) throw new TsbuildError('NOT_FOUND', `remove image: no such image ${image}`);
    const names =
      match.name !== undefined ? [match.name] : (await store.listReferences()).filter((reference) => reference.target.digest === match.descriptor.digest).map((reference) => reference.name);
    if (names.length > 1 && options.force !== true) {
      throw new TsbuildError('INVALID_ARGUMENT', `remove image ${image}: it has ${names.length} names (${names.map((name) => familiarReference(parseReference(name))).join(', ')}); use -f or name one`);
    }
    found.push({ names, target: match.descriptor });
  }
  const used = new Set<Digest>();
  const untagged: string[] = [];
  for (const { names, target } of found) {
    await reachableBlobs(store, target, used);
    for (const name of names) if (await store.deleteReference(name)) untagged.push(name);
  }
  // Only what the removed images used; blobs a pull elsewhere has not yet named are not ours to judge.
  const pruned = await pruneStore(store, { gracePeriodMs: 0, only: used });
  return { untagged, deleted: pruned.blobsRemoved, bytesFreed: pruned.bytesFreed };
}
