/**
 * `rmi`: removes the names of images (or an image kept without one, given by ID) and frees the
 * blobs only they used. Every image is found (and an ID with several names, or an image a
 * container uses, refused without `force`) before anything is removed, so that a bad argument
 * leaves the store as it was.
 * `image prune`: removes the images kept without a name (with `all`, every image) that no
 * container uses, and frees the blobs only they used.
 */
import { TsbuildError, familiarReference, parseReference, refNameAnnotation, type Descriptor, type Digest } from '../common/index.js';
import { findImage, noSuchImage, reachableBlobs, resolveImage } from './image.js';
import type { LayoutStore } from './layout-store.js';
import { pruneStore } from './prune.js';

export interface RemoveImagesOptions {
  /**
   * Removes every name of an image given by ID (docker's `rmi -f`), and the names of an image a
   * container uses (the image itself stays, without a name); an image not found is passed over
   * (`missing`) rather than refused.
   */
  readonly force?: boolean;
  /** The manifests containers were created from, with the container of each (for the message). */
  readonly inUse?: ReadonlyArray<{ readonly manifest: Digest; readonly container: string }>;
}

export interface RemovedImages {
  /** The names removed, in order, fully qualified. */
  readonly untagged: readonly string[];
  /** The ID of the image each of those names named, in the same order (for `events`). */
  readonly untaggedIds: readonly Digest[];
  /** The IDs of the images removed whole (their configs freed). */
  readonly deletedImages: readonly Digest[];
  /** The blobs freed: those the removed images used that no other name reaches, their IDs first. */
  readonly deleted: readonly Digest[];
  /** Their bytes, with the unpacked layers freed with them. */
  readonly bytesFreed: number;
  /** With `force`, why each image not found was passed over (`No such image: X`). */
  readonly missing: readonly string[];
}

interface FoundImage {
  /** As the user gave it. */
  readonly given: string;
  /** Whether it was given by name (else by ID or digest). */
  readonly byName: boolean;
  readonly names: readonly string[];
  readonly target: Descriptor;
}

export async function removeImages(store: LayoutStore, images: readonly string[], options: RemoveImagesOptions = {}): Promise<RemovedImages> {
  const found: FoundImage[] = [];
  const missing: string[] = [];
  for (const image of images) {
    const match = await findImage(store, image);
    if (match === undefined && options.force === true) {
      missing.push(noSuchImage(image).message);
      continue;
    }
    if (match === undefined) throw noSuchImage(image);
    const names =
      match.name !== undefined ? [match.name] : (await store.listReferences()).filter((reference) => reference.target.digest === match.descriptor.digest).map((reference) => reference.name);
    if (names.length > 1 && options.force !== true) {
      throw new TsbuildError('INVALID_ARGUMENT', `remove image ${image}: it has ${names.length} names (${names.map((name) => familiarReference(parseReference(name))).join(', ')}); use -f or name one`);
    }
    found.push({ given: image, byName: match.name !== undefined, names, target: match.descriptor });
  }
  const ids = await imageIds(store, found.map(({ target }) => target));
  const kept = await imagesContainersKeep(store, found, options);
  const used = new Set<Digest>();
  const untagged: string[] = [];
  const untaggedIds: Digest[] = [];
  for (const { names, target } of found) {
    await reachableBlobs(store, target, used);
    const id = await resolveImage(store, target).then(
      (image) => image.manifest.config.digest,
      () => target.digest,
    );
    const before = untagged.length;
    if (kept.has(target.digest)) {
      // Its names go, the image a container uses stays without one: in one hold of the lock, so
      // that no prune sees it held by nothing.
      const lock = await store.lock();
      try {
        for (const name of names) if (await store.deleteReference(name, true)) untagged.push(name);
        await store.keepUnnamed(target, true);
      } finally {
        await lock.release();
      }
      for (let index = before; index < untagged.length; index++) untaggedIds.push(id);
      continue;
    }
    for (const name of names) if (await store.deleteReference(name)) untagged.push(name);
    // Given by ID and without a name: the image itself goes.
    if (names.length === 0) await store.deleteUnnamed(target.digest);
    for (let index = before; index < untagged.length; index++) untaggedIds.push(id);
  }
  // Only what the removed images used; blobs a pull elsewhere has not yet named are not ours to judge.
  const pruned = await pruneStore(store, { gracePeriodMs: 0, only: used });
  return { untagged, untaggedIds, deleted: idsFirst(ids, pruned.blobsRemoved), deletedImages: ids.filter((id) => pruned.blobsRemoved.includes(id)), bytesFreed: pruned.bytesFreed, missing };
}

/**
 * The images of FOUND that the removal would leave held by nothing while a container uses them:
 * docker's conflict without `force`; with it they are kept, without a name.
 */
async function imagesContainersKeep(store: LayoutStore, found: readonly FoundImage[], options: RemoveImagesOptions): Promise<Set<Digest>> {
  const kept = new Set<Digest>();
  const inUse = options.inUse ?? [];
  if (inUse.length === 0) return kept;
  const removing = new Set(found.flatMap(({ names }) => names));
  const entries = (await store.readIndex()).manifests;
  for (const { given, byName, target } of found) {
    const heldElsewhere = entries.some((entry) => {
      const name = entry.annotations?.[refNameAnnotation];
      return entry.digest === target.digest && name !== undefined && !removing.has(name);
    });
    if (heldElsewhere) continue;
    const reached = new Set<Digest>();
    await reachableBlobs(store, target, reached).catch(() => undefined);
    const user = inUse.find((use) => reached.has(use.manifest));
    if (user === undefined) continue;
    if (options.force !== true) {
      const id = ((await imageIds(store, [target]))[0] ?? target.digest).slice(7, 19);
      const container = user.container.slice(0, 12);
      throw new TsbuildError(
        'CONFLICT',
        byName
          ? `conflict: unable to remove repository reference ${JSON.stringify(given)} (must force) - container ${container} is using its referenced image ${id}`
          : `conflict: unable to delete ${id} (must be forced) - image is being used by container ${container}`,
      );
    }
    kept.add(target.digest);
  }
  return kept;
}

/** What `image prune --filter` decides an image by. */
export interface PruneCandidate {
  /** The config's `created` ('' when it has none). */
  readonly created: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface PruneImagesOptions {
  /** Every image no container uses, named or not (docker's `image prune -a`); else only those without a name. */
  readonly all?: boolean;
  /** Manifests containers were created from: an image that reaches one stays. */
  readonly inUse?: readonly Digest[];
  /**
   * docker's `--filter` terms, decided by the caller: only images it accepts go (one whose config
   * cannot be read is not offered and stays).
   */
  readonly select?: (image: PruneCandidate) => boolean;
}

export interface PrunedImages {
  /** The names removed, fully qualified. */
  readonly untagged: readonly string[];
  /** The blobs freed: the removed images' IDs (config digests) first, then their other blobs. */
  readonly deleted: readonly Digest[];
  readonly bytesFreed: number;
}

/** docker's `image prune [-a]`, on the store's side; the blobs no image reaches otherwise are `pruneStore`'s. */
export async function pruneImages(store: LayoutStore, options: PruneImagesOptions = {}): Promise<PrunedImages> {
  const inUse = new Set(options.inUse ?? []);
  const candidates: Array<{ readonly name?: string; readonly target: Descriptor }> = [
    ...(options.all === true ? (await store.listReferences()).map(({ name, target }) => ({ name, target })) : []),
    ...(await store.listUnnamed()).map((target) => ({ target })),
  ];
  const used = new Set<Digest>();
  const untagged: string[] = [];
  const ids: Digest[] = [];
  for (const { name, target } of candidates) {
    const reached = new Set<Digest>();
    await reachableBlobs(store, target, reached).catch(() => undefined);
    // What a container runs stays, with every name and index that reaches it.
    if ([...inUse].some((manifest) => reached.has(manifest))) continue;
    if (options.select !== undefined) {
      const config = await resolveImage(store, target).then(
        (image) => image.config,
        () => undefined,
      );
      if (config === undefined || !options.select({ created: config.created ?? '', labels: config.config?.Labels ?? {} })) continue;
    }
    for (const digest of reached) used.add(digest);
    if (name !== undefined) {
      if (await store.deleteReference(name)) untagged.push(name);
    } else {
      await store.deleteUnnamed(target.digest);
    }
    ids.push(...(await imageIds(store, [target])).filter((id) => !ids.includes(id)));
  }
  // Only what the removed images used: blobs a pull elsewhere has not yet named are not ours to judge.
  const pruned = await pruneStore(store, { gracePeriodMs: 0, only: used });
  return { untagged, deleted: idsFirst(ids, pruned.blobsRemoved), bytesFreed: pruned.bytesFreed };
}

/** The image IDs (config digests) of TARGETS that resolve, each once: read before their blobs go. */
async function imageIds(store: LayoutStore, targets: readonly Descriptor[]): Promise<Digest[]> {
  const ids: Digest[] = [];
  for (const target of targets) {
    const id = await resolveImage(store, target).then(
      (image) => image.manifest.config.digest,
      () => undefined,
    );
    if (id !== undefined && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

/** The freed blobs with the removed images' IDs first, as docker lists what it deleted. */
function idsFirst(ids: readonly Digest[], removed: readonly Digest[]): Digest[] {
  const freedIds = ids.filter((id) => removed.includes(id));
  return [...freedIds, ...removed.filter((digest) => !freedIds.includes(digest))];
}
