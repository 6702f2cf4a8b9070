/**
 * Root filesystems for steps. A step that changes files works on an overlayfs mount whose lower
 * directories are the root filesystem of the layers below it (never written) and whose upper
 * directory collects exactly what the step changed: the layer is read from the upper directory,
 * never by walking the whole root filesystem. The upper directory is then kept as the chain's
 * diff, and the next step's overlay stacks it over those below, as docker's overlay2 driver
 * stacks its layers: no step copies the tree before it. A whole tree (a stage read by COPY
 * --from, a mount's source, an output) is unpacked from the diffs, by hard links, when asked.
 */
import { chmod, lchown, lstat, mkdir, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BackgroundWork, TsbuildError, messageOf, removeTree, setExactTimes, type Digest } from '../common/index.js';
import type { LayerRef } from '../cache/index.js';
import { directoryEntries, writeLayer, type LayerEntry } from '../exporter/index.js';
import { chainIds, keepDiff, rememberLayerContentSize, snapshotStack, temporaryName, unpackLayers, type Store } from '../store/index.js';
import { mountOverlay, mountReadOnlyOverlay, unmount as unmountOverlay, userNamespaceSize } from '../runtime/index.js';

export interface ActiveSnapshot {
  /** The writable root filesystem (the overlay mount). */
  readonly path: string;
  /** The read-only root filesystem below it. */
  readonly lower: string;
  /**
   * Ends the step: unmounts, drops the mount points the sandbox created (CREATED: paths that did
   * not exist below and may now exist as empty files or directories), writes the layer of what
   * changed and keeps the new snapshot. No layer when nothing changed only with `dropEmpty`.
   */
  commit(options: CommitOptions): Promise<LayerRef | undefined>;
  /** Unmounts and throws the changes away. Safe to call after commit, and more than once. */
  discard(): Promise<void>;
}

export interface CommitOptions {
  readonly created?: readonly string[];
  /** Clamp file times in the layer to this (seconds). */
  readonly sourceDateEpoch?: number;
  /**
   * No layer when nothing changed. Steps keep theirs even then, as BuildKit's images do (an
   * empty tar: a RUN in an image with its own /etc/hosts that changes nothing, a WORKDIR that
   * was there): only a source that is not a step (a named context's directory) drops it.
   */
  readonly dropEmpty?: boolean;
}

/**
 * Bytes of lower directory paths a step's overlay may name: the kernel reads one page (4,096) of
 * mount options, which also hold the upper and work directories. A deeper stack is unpacked.
 */
const lowerPathBudget = 3_000;

export class Snapshotter {
  private emptyDirectory: Promise<string> | undefined;
  /** Root filesystems being unpacked, or unpacked, by this snapshotter, by chain ID. */
  private readonly unpacking = new Map<Digest, Promise<string>>();
  /** The working directories of committed steps, being removed while the build goes on. */
  private readonly removals = new BackgroundWork();

  /**
   * BEFOREREAD runs before any layer is read (a view or a step's root): the build cache's settle,
   * which waits for the layers of hits given before their bytes arrived.
   */
  constructor(
    private readonly store: Store,
    private readonly beforeRead: () => Promise<void> = () => Promise.resolve(),
  ) {}

  /** The store's directory of temporaries: a step's scratch there is swept if the build is killed. */
  get temporaryDirectory(): string {
    return this.store.temporaryDirectory;
  }

  /** An empty directory: the root filesystem of `scratch`. */
  private empty(): Promise<string> {
    this.emptyDirectory ??= (async () => {
      const path = join(this.store.root, 'layers', 'empty');
      await mkdir(path, { recursive: true, mode: 0o755 });
      return path;
    })();
    return this.emptyDirectory;
  }

  /**
   * The unpacked root filesystem of LAYERS (unpacked now where missing). Read-only by convention.
   * SIGNAL (the build's cancel) stops an unpack under way.
   */
  async view(layers: readonly LayerRef[], signal?: AbortSignal): Promise<string> {
    if (layers.length === 0) return this.empty();
    await this.beforeRead();
    // Two stages on one base ask at once: one unpacks, the other waits for it.
    const chain = chainIds(layers.map((layer) => layer.diffId)).at(-1) as Digest;
    let unpacking = this.unpacking.get(chain);
    if (unpacking === undefined) {
      unpacking = unpackLayers(
        this.store,
        layers.map((layer) => layer.descriptor),
        layers.map((layer) => layer.diffId),
        signal === undefined ? {} : { signal },
      ).then((path) => path ?? this.empty());
      this.unpacking.set(chain, unpacking);
      // A failure is not remembered: the next asker tries again.
      unpacking.catch(() => this.unpacking.delete(chain));
    }
    return unpacking;
  }

  /**
   * Resolves once the working directories of committed steps are removed; the first failure to
   * remove one, if any, is thrown. A build waits for this before it ends.
   */
  idle(): Promise<void> {
    return this.removals.settle();
  }

  /** A writable root filesystem over LAYERS for one step; SIGNAL as for view. */
  async prepare(layers: readonly LayerRef[], signal?: AbortSignal): Promise<ActiveSnapshot> {
    await this.beforeRead();
    const empty = await this.empty();
    const stack =
      (await snapshotStack(
        this.store,
        layers.map((layer) => layer.diffId),
        empty,
        lowerPathBudget,
      )) ?? [await this.view(layers, signal)];
    const directory = join(this.store.temporaryDirectory, temporaryName('step'));
    const upper = join(directory, 'upper');
    const work = join(directory, 'work');
    const merged = join(directory, 'merged');
    await mkdir(directory, { mode: 0o700 });
    await Promise.all([upper, work, merged].map((path) => mkdir(path, { mode: 0o755 })));
    const inUserNamespace = userNamespaceSize() !== undefined;
    // The tree before the step, read to tell what the step made: one directory, or the
    // read-only overlay of the stack.
    let lower = stack[0] as string;
    let lowerMounted = false;
    if (stack.length > 1) {
      lower = join(directory, 'lower');
      await mkdir(lower, { mode: 0o755 });
      try {
        mountReadOnlyOverlay(lower, stack, inUserNamespace);
        lowerMounted = true;
      } catch (error) {
        await removeTree(directory);
        throw new TsbuildError('RUNTIME', `mount overlay for a step: ${messageOf(error)}`, { cause: error });
      }
    }
    let mounted = false;
    try {
      // Metadata of the root directory comes from the upper directory's own.
      const rootInfo = await stat(lower);
      await chmod(upper, rootInfo.mode & 0o7777);
      await lchown(upper, rootInfo.uid, rootInfo.gid);
      mountOverlay(merged, stack, upper, work, inUserNamespace);
      mounted = true;
    } catch (error) {
      if (lowerMounted) unmountOverlay(lower);
      await removeTree(directory);
      throw new TsbuildError('RUNTIME', `prepare the root filesystem of a step: ${messageOf(error)}`, { cause: error });
    }
    const unmount = (): void => {
      if (!mounted) return;
      unmountOverlay(merged);
      mounted = false;
    };
    const unmountAll = (): void => {
      unmount();
      if (lowerMounted) {
        unmountOverlay(lower);
        lowerMounted = false;
      }
    };
    const discard = async (): Promise<void> => {
      unmountAll();
      await removeTree(directory);
    };
    const removals = this.removals;
    const store = this.store;
    return {
      path: merged,
      lower,
      discard,
      async commit(options: CommitOptions): Promise<LayerRef | undefined> {
        try {
          unmount();
          await dropCreated(upper, lower, options.created ?? []);
          if (options.dropEmpty === true && (await readdir(upper)).length === 0 && (await sameRoot(upper, lower))) return undefined;
          // Kept uncompressed, as docker's and podman's stores keep what they build: compressing is
          // for what leaves the machine (push, archives, cache exports), once, when it leaves.
          // Sized as BuildKit's steps are in docker's store: the files' bytes, a hard link's once, no symlink.
          let contentSize = 0;
          const entries = directoryEntries(upper, '', { overlayUpper: true, overlayUserXattrs: inUserNamespace });
          const counted = async function* (): AsyncGenerator<LayerEntry> {
            for await (const entry of entries) {
              if (entry.type === 'file') contentSize += entry.size ?? 0;
              yield entry;
            }
          };
          const written = await writeLayer(counted(), store, {
            compression: 'none',
            ...(options.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: options.sourceDateEpoch }),
          });
          // Only a memo: without it (a full disk) the size is measured when asked for.
          await rememberLayerContentSize(store, written.descriptor, contentSize).catch(() => undefined);
          const layer: LayerRef = { descriptor: written.descriptor, diffId: written.diffId };
          await keepDiff(store, upper, chainIds([...layers.map((ref) => ref.diffId), written.diffId]).at(-1) as Digest);
          return layer;
        } finally {
          // What is left once the upper directory is kept (overlay's work directory, the mount
          // points) is removed while the next step runs; idle() waits for it.
          unmountAll();
          removals.add(removeTree(directory));
        }
      },
    };
  }
}

/** Whether the upper root directory's own metadata equals the lower's (a step that chmods / changes it). */
async function sameRoot(upper: string, lower: string): Promise<boolean> {
  const [a, b] = await Promise.all([stat(upper), stat(lower)]);
  return (a.mode & 0o7777) === (b.mode & 0o7777) && a.uid === b.uid && a.gid === b.gid;
}

/**
 * Removes what the sandbox made to mount over (/etc/hosts, a RUN mount's target… in an image
 * that lacks them), as BuildKit's mount stub cleaner does: each such path and each of its parents that was not
 * there below, in that order, is removed when it is an empty directory or an empty file (a
 * command that wrote there keeps its change), and the directory it was in gets back the times it
 * had just before the removal. So a directory that was there below (/etc for /etc/hosts) stays
 * in the layer with the time the stub was made in it, as in BuildKit's images.
 */
async function dropCreated(upper: string, lower: string, created: readonly string[]): Promise<void> {
  const stubs: string[] = [];
  for (const path of created) {
    let relative = path.replace(/^\/+/, '').replace(/\/+$/, '');
    while (relative !== '' && relative !== '.') {
      // Through a link in the image, lower's path would be read on the host: taken as absent.
      const below = (await directoriesAlong(lower, dirname(relative))) ? await lstat(join(lower, relative)).catch(() => undefined) : undefined;
      if (below !== undefined) break;
      stubs.push(relative);
      relative = dirname(relative);
    }
  }
  for (const relative of stubs) {
    // The command may have replaced a parent with a symbolic link (to / on the host, say): the
    // path is then not the stub, and nothing is removed through the link.
    if (!(await directoriesAlong(upper, dirname(relative)))) continue;
    const inUpper = join(upper, relative);
    const info = await lstat(inUpper).catch(() => undefined);
    if (info === undefined) continue;
    if (info.isDirectory() ? (await readdir(inUpper)).length > 0 : info.size !== 0) continue;
    const parent = dirname(inUpper);
    const times = await stat(parent, { bigint: true }).catch(() => undefined);
    if (info.isDirectory()) await rmdir(inUpper);
    else await rm(inUpper, { force: true });
    if (times !== undefined) setExactTimes(parent, times.atimeNs, times.mtimeNs);
  }
}

/** Whether every component of RELATIVE below ROOT is a real directory (none a symbolic link). */
async function directoriesAlong(root: string, relative: string): Promise<boolean> {
  let path = root;
  for (const name of relative.split('/')) {
    if (name === '' || name === '.') continue;
    path = join(path, name);
    const info = await lstat(path).catch(() => undefined);
    if (info === undefined || !info.isDirectory()) return false;
  }
  return true;
}
