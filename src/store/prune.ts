import { readdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MediaType, digestHex, type Digest } from '../common/index.js';
import { chainIds, reachableBlobs, resolveImage } from './image.js';
import type { LayoutStore } from './layout-store.js';
import { removeAbandonedLock, tryLock } from './lock.js';
import { temporaryOwner, temporaryOwnerAlive } from './atomic.js';

export interface PruneOptions {
  /**
   * Blobs, snapshots and temporaries younger than this are kept: a pull or build running in
   * another process may have written them and not yet named them. Default 10 minutes.
   */
  readonly gracePeriodMs?: number;
  /**
   * Consider only these blobs (those of images just removed, for `rmi`); other unreferenced
   * blobs, which a pull in another process may be about to name, are left alone.
   */
  readonly only?: ReadonlySet<Digest>;
}

export interface PruneResult {
  readonly blobsRemoved: readonly Digest[];
  readonly bytesFreed: number;
  readonly snapshotsRemoved: number;
}

/**
 * Garbage collection: removes blobs no entry of index.json (named or not) nor of a side index
 * reaches, unpacked layers whose chain ID no such image uses, and abandoned temporaries and ingests. Runs under the store lock, so
 * no reference changes while the reachable set is computed; `setReference` checks its target
 * under the same lock, so a reference never points at a blob removed here.
 */
export async function pruneStore(store: LayoutStore, options: PruneOptions = {}): Promise<PruneResult> {
  const grace = options.gracePeriodMs ?? 10 * 60_000;
  const cutoff = Date.now() - grace;
  const lock = await store.lock();
  try {
    const reachable = new Set<Digest>();
    const chains = new Set<string>();
    const index = await store.readIndex();
    const sideEntries = (await Promise.all((await store.listSideIndexes()).map(async (name) => (await store.readSideIndex(name)).manifests))).flat();
    for (const entry of [...index.manifests, ...sideEntries]) {
      await reachableBlobs(store, entry, reachable);
      try {
        const image = await resolveImage(store, entry);
        for (const chain of chainIds(image.config.rootfs.diff_ids)) chains.add(digestHex(chain));
      } catch {
        // Not an image of this platform (or incomplete): its blobs are kept, it has no snapshot.
      }
    }
    const onlyChains = new Set<string>();
    for (const digest of options.only ?? []) {
      try {
        const image = await resolveImage(store, { mediaType: MediaType.ociManifest, digest, size: (await store.blobSize(digest)) ?? 0 });
        for (const chain of chainIds(image.config.rootfs.diff_ids)) onlyChains.add(digestHex(chain));
      } catch {
        // Not a manifest (a layer or config): no chain to collect.
      }
    }
    const removed: Digest[] = [];
    let bytesFreed = 0;
    for (const blob of await store.listBlobs()) {
      if (reachable.has(blob.digest) || blob.mtimeMs > cutoff) continue;
      if (options.only !== undefined && !options.only.has(blob.digest)) continue;
      if (await store.deleteBlob(blob.digest)) {
        removed.push(blob.digest);
        bytesFreed += blob.size;
        // What was remembered of it (a layer's content size) goes with it.
        await rm(join(store.root, 'layer-sizes', digestHex(blob.digest)), { force: true });
      }
    }
    let snapshotsRemoved = 0;
    // Unpacked trees and the kept diffs of steps alike, by chain ID.
    for (const layers of [join(store.root, 'layers', 'sha256'), join(store.root, 'layers', 'diff')]) {
      for (const name of await readdir(layers).catch(() => [] as string[])) {
        if (chains.has(name) || (options.only !== undefined && !onlyChains.has(name))) continue;
        const info = await stat(join(layers, name)).catch(() => undefined);
        if (info === undefined || info.mtimeMs > cutoff) continue;
        await rm(join(layers, name), { recursive: true, force: true });
        snapshotsRemoved += 1;
      }
    }
    if (options.only !== undefined) return { blobsRemoved: removed, bytesFreed, snapshotsRemoved };
    for (const directory of [join(store.root, 'tmp'), join(store.root, 'layers'), join(store.root, 'layer-sizes')]) {
      for (const name of await readdir(directory).catch(() => [] as string[])) {
        if (!name.endsWith('.tmp') || temporaryOwnerAlive(name)) continue;
        // One whose writer is gone (killed mid-write) is abandoned whatever its age; one that
        // names no writer is judged by its age alone.
        const abandoned = temporaryOwner(name) !== undefined || ((await stat(join(directory, name)).catch(() => undefined))?.mtimeMs ?? Infinity) <= cutoff;
        if (abandoned) await rm(join(directory, name), { recursive: true, force: true });
      }
    }
    const ingest = join(store.root, 'ingest');
    const ingestNames = await readdir(ingest).catch(() => [] as string[]);
    for (const name of ingestNames) {
      if (name.endsWith('.lock') || name.endsWith('.lock.break')) {
        // A writer killed after installing its blob, or before writing a byte, leaves a lock with
        // no data.
        const lock = name.endsWith('.break') ? name.slice(0, -'.break'.length) : name;
        if (!ingestNames.includes(`${lock.slice(0, -'.lock'.length)}.data`)) await removeAbandonedLock(join(ingest, lock));
        continue;
      }
      if (!name.endsWith('.data')) continue;
      const path = join(ingest, name);
      const info = await stat(path).catch(() => undefined);
      if (info === undefined || info.mtimeMs > cutoff) continue;
      const held = await tryLock(`${path.slice(0, -'.data'.length)}.lock`, { staleMs: 24 * 3600_000 });
      if (held === undefined) continue;
      try {
        await unlink(path).catch(() => undefined);
      } finally {
        await held.release();
      }
    }
    return { blobsRemoved: removed, bytesFreed, snapshotsRemoved };
  } finally {
    await lock.release();
  }
}
