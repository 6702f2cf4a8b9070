/**
 * What a build killed with SIGKILL leaves: a step's overlay still mounted over its temporary
 * directory (`tmp/step.PID.….tmp/merged`, and `lower` below it when the step stacked its layers),
 * which no one can remove while it is mounted, so the store's prune would fail on it; the build's
 * scratch directories (ADD's downloads, git checkouts, a context read from standard input); and
 * the in-memory directories of its secrets and SSH sockets in /dev/shm, which must not outlive
 * the build that needed them. A build unmounts (detached) and removes those of processes that are
 * gone before it starts; anything of a live process is left alone.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { removeTree } from '../common/index.js';
import { temporaryOwner, temporaryOwnerAlive, type Store } from '../store/index.js';
import { unmount } from '../runtime/index.js';

/** Where a step's secrets and SSH sockets are kept in memory (see run-mounts.ts). */
export const inMemoryScratch = '/dev/shm';
/** The prefix of the names tsbuild gives its directories there. */
export const inMemoryScratchPrefix = 'tsbuild-';

export async function reclaimAbandonedTemporaries(store: Store): Promise<number> {
  const [reclaimed, inMemory] = await Promise.all([reclaimIn(store.temporaryDirectory, ''), reclaimIn(inMemoryScratch, inMemoryScratchPrefix)]);
  return reclaimed + inMemory;
}

async function reclaimIn(directory: string, prefix: string): Promise<number> {
  let reclaimed = 0;
  for (const name of await readdir(directory).catch(() => [] as string[])) {
    // A name without a writer's pid is another program's, or judged by its age at a prune.
    if (!name.startsWith(prefix) || temporaryOwner(name) === undefined || temporaryOwnerAlive(name)) continue;
    const path = join(directory, name);
    if (name.startsWith('step.')) {
      for (const mountPoint of ['merged', 'lower']) {
        try {
          unmount(join(path, mountPoint));
        } catch {
          // Not mounted (the kill came before the mount, or after the unmount).
        }
      }
    }
    await removeTree(path).then(
      () => reclaimed++,
      () => undefined,
    );
  }
  return reclaimed;
}
