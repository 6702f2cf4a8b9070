/**
 * What the `RUN --mount=type=cache` directories hold, for `system df` and `builder prune`: each
 * id's size (its files as stored), when it was made and last mounted (its meta.json). Removing
 * one is renaming it aside first (a build that mounts the id meanwhile makes it anew), then
 * removing the renamed tree.
 */
import { readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { treeSize, uniqueHex } from '../common/index.js';
import type { Store } from '../store/index.js';
import { cacheMountsDirectory, type CacheMountRecord } from './cache-mounts.js';

export interface CacheMountUsage {
  readonly id: string;
  /** Its directory name under ROOT/cache-mounts. */
  readonly name: string;
  readonly size: number;
  readonly created: string | undefined;
  /** When a step last mounted it (ms since the epoch); 0 when unknown. */
  readonly lastUsed: number;
}


export async function cacheMountUsage(store: Store): Promise<CacheMountUsage[]> {
  const root = join(store.root, cacheMountsDirectory);
  const out: CacheMountUsage[] = [];
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (name.startsWith('.removing-')) continue;
    const directory = join(root, name);
    let record: Partial<CacheMountRecord> = {};
    try {
      record = JSON.parse(await readFile(join(directory, 'meta.json'), 'utf8')) as Partial<CacheMountRecord>;
    } catch {
      // Being made, or made by a build killed before it wrote its record.
    }
    const lastUsed = Date.parse(record.lastUsed ?? '');
    out.push({ id: record.id ?? name, name, size: await treeSize(join(directory, 'data')), created: record.created, lastUsed: Number.isNaN(lastUsed) ? 0 : lastUsed });
  }
  return out;
}

/** Removes the cache mount directories named NAMES (as cacheMountUsage gives them). */
export async function removeCacheMounts(store: Store, names: readonly string[]): Promise<void> {
  const root = join(store.root, cacheMountsDirectory);
  for (const name of names) {
    const aside = join(root, `.removing-${uniqueHex(6)}`);
    try {
      await rename(join(root, name), aside);
    } catch {
      continue;
    }
    await rm(aside, { recursive: true, force: true });
  }
}
