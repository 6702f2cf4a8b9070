import { chmodSync, lchownSync, linkSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { chmod, lchown, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf, fsPath, isOverlayOpaque, readDirectoryEntries, readDirectoryNames, setExactTimes, TsbuildError, digestHex, messageOf, type Descriptor, type Digest, type Manifest } from '../common/index.js';
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
 * diff (moved, not copied). Another process that kept the same chain first wins, and UPPER is
 * removed.
 */
export async function keepDiff(store: LayoutStore, upper: string, chain: Digest): Promise<void> {
  const final = diffPath(store, chain);
  if (await isDirectory(final)) return;
  await mkdir(join(store.root, 'layers', 'diff'), { recursive: true, mode: 0o700 });
  await renameSnapshot(upper, final);
}

/**
 * Applies a kept diff (an overlay upper directory) to TARGET, a hard-linked copy of the tree below
 * it: whiteouts remove, opaque directories are emptied first, directories get the diff's
 * metadata, and files and links are hard-linked from the diff, which stays as it is. Shared
 * inodes are never written: a changed file is the diff's own inode. Synchronous, as linkTree:
 * many small metadata calls.
 */
function applyUpper(upper: string, target: string): void {
  // Names are the bytes on disk, a RUN's that are not UTF-8 too (common/file-names.ts).
  for (const name of readDirectoryNames(upper)) {
    const sourcePath = join(upper, name);
    const targetPath = join(target, name);
    const source = fsPath(sourcePath);
    const destination = fsPath(targetPath);
    const info = lstatSync(source);
    if (info.isCharacterDevice() && info.rdev === 0) {
      rmSync(destination, { recursive: true, force: true });
      continue;
    }
    if (info.isDirectory()) {
      const existing = lstatSync(destination, { throwIfNoEntry: false });
      if (existing === undefined || !existing.isDirectory() || isOverlayOpaque(sourcePath)) {
        rmSync(destination, { recursive: true, force: true });
        mkdirSync(destination);
      }
      applyUpper(sourcePath, targetPath);
      lchownSync(destination, info.uid, info.gid);
      chmodSync(destination, info.mode & 0o7777);
      // To the nanosecond, as the diff's own directory has them (Node's utimes keeps less).
      const times = lstatSync(source, { bigint: true });
      setExactTimes(targetPath, times.atimeNs, times.mtimeNs);
      continue;
    }
    rmSync(destination, { recursive: true, force: true });
    linkSync(source, destination);
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
  const info = lstatSync(fsPath(source), { bigint: true });
  const made = fsPath(target);
  mkdirSync(made, { mode: 0o700 });
  for (const entry of readDirectoryEntries(source)) {
    const from = join(source, entry.name);
    const to = join(target, entry.name);
    if (entry.isDirectory()) linkTreeSync(from, to, privileged);
    else linkSync(fsPath(from), fsPath(to));
  }
  if (privileged) lchownSync(made, Number(info.uid), Number(info.gid));
  chmodSync(made, Number(info.mode) & 0o7777);
  setExactTimes(target, info.atimeNs, info.mtimeNs);
}

/**
 * Makes sure the root filesystem after all of MANIFEST's layers is unpacked under
 * `layers/sha256/<chain ID>` and returns its path. Each snapshot is built in a temporary
 * directory and renamed into place, so a reader never sees a half-unpacked tree and two
 * processes unpacking the same chain do not disturb each other.
 */
export async function unpackImage(store: LayoutStore, manifest: Manifest, diffIds: readonly Digest[], options: UnpackOptions = {}): Promise<string | undefined> {
  return unpackLayers(store, manifest.layers, diffIds, options);
}

/**
 * As unpackImage, for a stack of layers (LAYERS[i] has diff ID DIFFIDS[i]). The layers above the
 * nearest unpacked snapshot are unpacked in one pass, over one hard-linked copy of it, and only
 * the top is kept: a layer whose chain has a kept diff is applied from it by hard links, the
 * others from their blobs. The chains in between stay as they were (diffs, or nothing).
 */
export async function unpackLayers(store: LayoutStore, layers: readonly Descriptor[], diffIds: readonly Digest[], options: UnpackOptions = {}): Promise<string | undefined> {
  const privileged = options.root ?? process.getuid?.() === 0;
  const chains = chainIds(diffIds);
  if (layers.length < chains.length) throw new TsbuildError('INVALID_MEDIA_TYPE', `unpack image: fewer layers than diff_ids`);
  let base = chains.length - 1;
  while (base >= 0 && !(await isDirectory(snapshotPath(store, chains[base] as Digest)))) base--;
  const previous = base >= 0 ? snapshotPath(store, chains[base] as Digest) : undefined;
  if (base === chains.length - 1) return previous;
  const above: Array<{ readonly diff: string } | { readonly layer: Descriptor }> = [];
  for (let position = base + 1; position < chains.length; position++) {
    const diff = diffPath(store, chains[position] as Digest);
    above.push((await isDirectory(diff)) ? { diff } : { layer: layers[position] as Descriptor });
  }
  const final = snapshotPath(store, chains.at(-1) as Digest);
  const temporary = join(store.root, 'layers', temporaryName('unpack'));
  try {
    if (previous === undefined) await mkdir(temporary, { mode: 0o755 });
    else await linkTree(previous, temporary, privileged);
    for (const source of above) {
      if ('diff' in source) await applyDiff(source.diff, temporary, privileged);
      else await unpackBlob(store, source.layer, temporary, options);
    }
    await renameSnapshot(temporary, final);
  } catch (error) {
    await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
    if (error instanceof TsbuildError) throw error;
    throw new TsbuildError('INTERNAL', `unpack layers: ${messageOf(error)}`, { cause: error });
  }
  return final;
}

/** Applies a kept diff to TARGET by hard links; the root directory's own metadata is the diff's, as the overlay shows it. */
async function applyDiff(diff: string, target: string, privileged: boolean): Promise<void> {
  applyUpper(diff, target);
  const root = await stat(diff);
  if (privileged) await lchown(target, root.uid, root.gid);
  await chmod(target, root.mode & 0o7777);
}

/** Unpacks LAYER's blob over TARGET; what the layer holds at fault is named by its digest. */
async function unpackBlob(store: LayoutStore, layer: Descriptor, target: string, options: UnpackOptions): Promise<void> {
  try {
    const blob = await store.openBlob(layer.digest);
    await unpackLayer(decompressLayer(blob, layer.mediaType), target, options);
  } catch (error) {
    if (error instanceof TsbuildError && (error.code === 'UNSAFE_PATH' || error.code === 'INVALID_ARCHIVE') && error.digest === undefined) {
      throw new TsbuildError(error.code, `layer ${layer.digest}: ${error.message}`, { cause: error, digest: layer.digest });
    }
    if (error instanceof TsbuildError) throw error;
    throw new TsbuildError('INTERNAL', `unpack layer ${layer.digest}: ${messageOf(error)}`, { cause: error });
  }
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
