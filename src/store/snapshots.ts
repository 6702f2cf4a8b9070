import { chmod, lchown, link, lstat, mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf, TsbuildError, digestHex, messageOf, type Descriptor, type Digest, type Manifest } from '../common/index.js';
import { temporaryName } from './atomic.js';
import { chainIds } from './image.js';
import type { LayoutStore } from './layout-store.js';
import { decompressLayer, unpackLayer, type UnpackOptions } from './unpack.js';

/** Where the root filesystem after the layers up to CHAIN lives, once unpacked. */
export function snapshotPath(store: LayoutStore, chain: Digest): string {
  return join(store.root, 'layers', 'sha256', digestHex(chain));
}

/**
 * Copies a tree by hard-linking every non-directory and recreating directories. The unpacker never
 * writes into an existing file (it unlinks and creates anew), so sharing inodes with the parent
 * snapshot is safe and a snapshot costs little space.
 */
export async function linkTree(source: string, target: string, privileged: boolean): Promise<void> {
  const info = await lstat(source);
  await mkdir(target, { mode: 0o700 });
  for (const name of await readdir(source)) {
    const from = join(source, name);
    const to = join(target, name);
    const child = await lstat(from);
    if (child.isDirectory()) await linkTree(from, to, privileged);
    else await link(from, to);
  }
  if (privileged) await lchown(target, info.uid, info.gid);
  await chmod(target, info.mode & 0o7777);
  await utimes(target, info.atime, info.mtime);
}

/**
 * Makes sure the root filesystem of every layer prefix of MANIFEST is unpacked under
 * `layers/sha256/<chain ID>` and returns the top one's path. Each snapshot is built in a
 * temporary directory and renamed into place, so a reader never sees a half-unpacked layer and
 * two processes unpacking the same chain do not disturb each other.
 */
export async function unpackImage(store: LayoutStore, manifest: Manifest, diffIds: readonly Digest[], options: UnpackOptions = {}): Promise<string | undefined> {
  return unpackLayers(store, manifest.layers, diffIds, options);
}

/** As unpackImage, for a stack of layers (LAYERS[i] has diff ID DIFFIDS[i]). */
export async function unpackLayers(store: LayoutStore, layers: readonly Descriptor[], diffIds: readonly Digest[], options: UnpackOptions = {}): Promise<string | undefined> {
  const privileged = options.root ?? process.getuid?.() === 0;
  const chains = chainIds(diffIds);
  let previous: string | undefined;
  for (const [position, chain] of chains.entries()) {
    const layer = layers[position];
    if (layer === undefined) throw new TsbuildError('INVALID_MEDIA_TYPE', `unpack image: fewer layers than diff_ids`);
    const final = snapshotPath(store, chain);
    if (await stat(final).then((info) => info.isDirectory(), () => false)) {
      previous = final;
      continue;
    }
    const temporary = join(store.root, 'layers', temporaryName('unpack'));
    try {
      if (previous === undefined) await mkdir(temporary, { mode: 0o755 });
      else await linkTree(previous, temporary, privileged);
      const blob = await store.openBlob(layer.digest);
      await unpackLayer(decompressLayer(blob, layer.mediaType), temporary, options);
      try {
        await rename(temporary, final);
      } catch (error) {
        const code = errnoOf(error);
        // Another process finished the same snapshot first: theirs is as good as ours.
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
        await rm(temporary, { recursive: true, force: true });
      }
    } catch (error) {
      await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
      if (error instanceof TsbuildError) throw error;
      throw new TsbuildError('INTERNAL', `unpack layer ${layer.digest}: ${messageOf(error)}`, { cause: error });
    }
    previous = final;
  }
  return previous;
}
