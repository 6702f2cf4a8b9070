/**
 * What a build killed with SIGKILL leaves: a step's overlay still mounted over its temporary
 * directory (`tmp/step.PID.….tmp/merged`, and `lower` below it when the step stacked its layers), which no one can remove while it is mounted, so the
 * store's prune would fail on it. A build unmounts (detached) and removes those of processes that
 * are gone before it starts; anything of a live process is left alone.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { removeTree } from '../common/index.js';
import { temporaryOwnerAlive, type Store } from '../store/index.js';
import { unmount } from '../runtime/index.js';

export async function reclaimAbandonedSteps(store: Store): Promise<number> {
  let reclaimed = 0;
  for (const name of await readdir(store.temporaryDirectory).catch(() => [] as string[])) {
    if (!name.startsWith('step.') || !name.endsWith('.tmp') || temporaryOwnerAlive(name)) continue;
    const directory = join(store.temporaryDirectory, name);
    for (const mountPoint of ['merged', 'lower']) {
      try {
        unmount(join(directory, mountPoint));
      } catch {
        // Not mounted (the kill came before the mount, or after the unmount).
      }
    }
    await removeTree(directory).then(
      () => reclaimed++,
      () => undefined,
    );
  }
  return reclaimed;
}
