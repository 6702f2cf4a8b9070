import { chmodSync, lchownSync, linkSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, utimesSync } from 'node:fs';
import { chmod, lchown, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf, isOverlayOpaque, TsbuildError, digestHex, messageOf, type Descriptor, type Digest, type Manifest } from '../common/index.js';
import { temporaryName } from './atomic.js';
import { chainIds } from './image.js';
import type { LayoutStore } from './layout-store.js';
import { decompressLayer, unpackLayer, type UnpackOptions } from './unpack.js';

/** Where the root filesystem after the layers up to CHAIN lives, once unpacked. */
export function snapshotPath(store: LayoutStore, chain: Digest): string {
  return join(store.root, 'layers', 'sha256', digestHex(chain));
}

/**
 * Where the changes of the layer that ends CHAIN live when a step made them: the overlay upper
 * directory of that step, kept as it was (whiteouts as 0/0 character devices, opaque directories
 * by their xattr), which an overlay mount takes as a lower directory over the chain below it.
 * A step's next step mounts these stacked instead of a copy of the whole tree per step.
 */
export function diffPath(store: LayoutStore, chain: Digest): string {
  return join(store.root, 'layers', 'diff', digestHex(chain));
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (info) => info.isDirectory(),
    () => false,
  );
}

/**
 * The lower directories, topmost first, whose overlay is the root filesystem after the layers of
 * DIFFIDS: the kept diffs of the top layers down to the nearest unpacked snapshot, or down to
 * EMPTY (scratch). Undefined when a layer has neither, or when the paths would not fit in
 * BUDGET bytes of mount options (the kernel takes one page of them): the caller then unpacks.
 */
export async function snapshotStack(store: LayoutStore, diffIds: readonly Digest[], empty: string, budget: number): Promise<string[] | undefined> {
  const chains = chainIds(diffIds);
  const stack: string[] = [];
  let bytes = empty.length;
  for (let position = chains.length - 1; position >= 0; position--) {
    const chain = chains[position] as Digest;
    const unpacked = snapshotPath(store, chain);
    if (await isDirectory(unpacked)) return [...stack, unpacked];
    const diff = diffPath(store, chain);
    bytes += diff.length + 1;
    if (bytes > budget || !(await isDirectory(diff))) return undefined;
    stack.push(diff);
  }
  return [...stack, empty];
}

/**
 * Keeps UPPER, the upper directory of the step that made the layer ending CHAIN, as that chain's
 * diff (moved, not copied). Another process that kept the same chain first wins; UPPER is then
 * left to its owner to remove.
 */
export async function keepDiff(store: LayoutStore, upper: string, chain: Digest): Promise<void> {
  const final = diffPath(store, chain);
  if (await isDirectory(final)) return;
  await mkdir(join(store.root, 'layers', 'diff'), { recursive: true, mode: 0o700 });
  try {
    await rename(upper, final);
  } catch (error) {
    if (errnoOf(error) !== 'ENOTEMPTY' && errnoOf(error) !== 'EEXIST') throw error;
  }
}

/**
 * Applies an overlay upper directory's changes to TARGET, a hard-linked copy of the tree below
 * them: whiteouts remove, opaque directories are emptied first, directories get the upper's
 * metadata, and files and links are moved in (MOVE: the upper directory is thrown away after) or
 * hard-linked (a kept diff, which stays as it is). Shared inodes are never written: a changed
 * file is the upper's own inode. Synchronous, as linkTree: many small metadata calls.
 */
export function applyUpper(upper: string, target: string, move: boolean): void {
  for (const name of readdirSync(upper)) {
    const source = join(upper, name);
    const destination = join(target, name);
    const info = lstatSync(source);
    if (info.isCharacterDevice() && info.rdev === 0) {
      rmSync(destination, { recursive: true, force: true });
      continue;
    }
    if (info.isDirectory()) {
      const existing = lstatSync(destination, { throwIfNoEntry: false });
      if (existing === undefined || !existing.isDirectory() || isOverlayOpaque(source)) {
        rmSync(destination, { recursive: true, force: true });
        mkdirSync(destination);
      }
      applyUpper(source, destination, move);
      lchownSync(destination, info.uid, info.gid);
      chmodSync(destination, info.mode & 0o7777);
      utimesSync(destination, info.atime, info.mtime);
      continue;
    }
    rmSync(destination, { recursive: true, force: true });
    if (move) renameSync(source, destination);
    else linkSync(source, destination);
  }
}

/**
 * Copies a tree by hard-linking every non-directory and recreating directories. The unpacker never
 * writes into an existing file (it unlinks and creates anew), so sharing inodes with the parent
 * snapshot is safe and a snapshot costs little space. The calls are synchronous: a tree is
 * thousands of metadata calls, each a few microseconds, which through the thread pool took ten
 * times as long (2,500 entries: 305 ms against 30 ms).
 */
export async function linkTree(source: string, target: string, privileged: boolean): Promise<void> {
  linkTreeSync(source, target, privileged);
  return Promise.resolve();
}

function linkTreeSync(source: string, target: string, privileged: boolean): void {
  const info = lstatSync(source);
  mkdirSync(target, { mode: 0o700 });
  for (const entry of readdirSync(source, { withFileTypes: true })) {
    const from = join(source, entry.name);
    const to = join(target, entry.name);
    if (entry.isDirectory()) linkTreeSync(from, to, privileged);
    else linkSync(from, to);
  }
  if (privileged) lchownSync(target, info.uid, info.gid);
  chmodSync(target, info.mode & 0o7777);
  utimesSync(target, info.atime, info.mtime);
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

/**
 * As unpackImage, for a stack of layers (LAYERS[i] has diff ID DIFFIDS[i]). A layer whose chain
 * has a kept diff is applied from it by hard links rather than unpacked from its blob; only the
 * top of a run of such layers is kept unpacked, since the ones below it are reached as diffs.
 */
export async function unpackLayers(store: LayoutStore, layers: readonly Descriptor[], diffIds: readonly Digest[], options: UnpackOptions = {}): Promise<string | undefined> {
  const privileged = options.root ?? process.getuid?.() === 0;
  const chains = chainIds(diffIds);
  if (layers.length < chains.length) throw new TsbuildError('INVALID_MEDIA_TYPE', `unpack image: fewer layers than diff_ids`);
  let base = chains.length - 1;
  while (base >= 0 && !(await isDirectory(snapshotPath(store, chains[base] as Digest)))) base--;
  let previous = base >= 0 ? snapshotPath(store, chains[base] as Digest) : undefined;
  let diffs: string[] = [];
  for (let position = base + 1; position < chains.length; position++) {
    const chain = chains[position] as Digest;
    const diff = diffPath(store, chain);
    if (await isDirectory(diff)) {
      diffs.push(diff);
      continue;
    }
    if (diffs.length > 0) previous = await applyDiffs(store, previous, diffs, chains[position - 1] as Digest, privileged);
    diffs = [];
    previous = await unpackOne(store, previous, layers[position] as Descriptor, chain, privileged, options);
  }
  if (diffs.length > 0) previous = await applyDiffs(store, previous, diffs, chains.at(-1) as Digest, privileged);
  return previous;
}

/** Moves TEMPORARY to FINAL; another process that finished the same snapshot first wins. */
async function renameSnapshot(temporary: string, final: string): Promise<void> {
  try {
    await rename(temporary, final);
  } catch (error) {
    const code = errnoOf(error);
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    await rm(temporary, { recursive: true, force: true });
  }
}

/** The snapshot of CHAIN made from PREVIOUS (or nothing) and the kept DIFFS above it, bottom first. */
async function applyDiffs(store: LayoutStore, previous: string | undefined, diffs: readonly string[], chain: Digest, privileged: boolean): Promise<string> {
  const final = snapshotPath(store, chain);
  const temporary = join(store.root, 'layers', temporaryName('unpack'));
  try {
    if (previous === undefined) await mkdir(temporary, { mode: 0o755 });
    else await linkTree(previous, temporary, privileged);
    for (const diff of diffs) applyUpper(diff, temporary, false);
    // The root directory's own metadata is the top diff's, as the overlay shows it.
    const top = await stat(diffs.at(-1) as string);
    if (privileged) await lchown(temporary, top.uid, top.gid);
    await chmod(temporary, top.mode & 0o7777);
    await renameSnapshot(temporary, final);
  } catch (error) {
    await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
    throw new TsbuildError('INTERNAL', `unpack layers from their kept changes: ${messageOf(error)}`, { cause: error });
  }
  return final;
}

/** The snapshot of CHAIN: PREVIOUS (or nothing) with LAYER unpacked over it. */
async function unpackOne(store: LayoutStore, previous: string | undefined, layer: Descriptor, chain: Digest, privileged: boolean, options: UnpackOptions): Promise<string> {
  const final = snapshotPath(store, chain);
  const temporary = join(store.root, 'layers', temporaryName('unpack'));
  try {
    if (previous === undefined) await mkdir(temporary, { mode: 0o755 });
    else await linkTree(previous, temporary, privileged);
    const blob = await store.openBlob(layer.digest);
    await unpackLayer(decompressLayer(blob, layer.mediaType), temporary, options);
    await renameSnapshot(temporary, final);
  } catch (error) {
    await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
    // What the layer holds is at fault: its digest says which blob to look at.
    if (error instanceof TsbuildError && (error.code === 'UNSAFE_PATH' || error.code === 'INVALID_ARCHIVE') && error.digest === undefined) {
      throw new TsbuildError(error.code, `layer ${layer.digest}: ${error.message}`, { cause: error, digest: layer.digest });
    }
    if (error instanceof TsbuildError) throw error;
    throw new TsbuildError('INTERNAL', `unpack layer ${layer.digest}: ${messageOf(error)}`, { cause: error });
  }
  return final;
}
