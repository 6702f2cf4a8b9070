/**
 * `tsbuild cp`: docker's copy between a container's root filesystem and the host, running or
 * stopped, with moby's path rules (pkg/archive's CopyInfo and PrepareArchiveCopy) and words.
 *
 * Every path inside the container is resolved inside its root (`resolveInRoot`: links followed
 * as if the root were `/`, `..` stopping there), and the directory found is opened and checked
 * to be that very one; below it, copy-entries.ts reaches names only from open directories and
 * never follows a link. So a link the container planted, or swaps in during the copy, leads
 * nowhere outside its root. Nothing from the container is loaded or run.
 */
import { constants } from 'node:fs';
import { lstat, open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, posix, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errnoOf, fsPath, readTar, resolveInRoot, TsbuildError } from '../common/index.js';
import type { Store } from '../store/index.js';
import { containerDirectory, mountsUnder, readContainerRecord, type ContainerRecord } from './container.js';
import { findContainer, lockContainer, observeState } from './container-store.js';
import { bindContainerMounts } from './copy-mounts.js';
import { directoryTreeEntries, entriesOfTar, entryStats, extractEntries, openExactDirectory, tarOf, treeEntries, type CopyEntry, type ExtractOptions } from './copy-entries.js';
import { userNamespaceSize } from './spec.js';
import { mountRoot } from './monitor.js';
import { unmount } from './native.js';

export interface ContainerCopyOptions {
  /**
   * `-a`: what is copied into the container keeps its owner. As root that is the default too
   * (see `copyInOwner`); as an ordinary user the container's root owns it without -a.
   */
  readonly archive?: boolean;
  /** `-L`: a symbolic link as the source is followed. */
  readonly followLink?: boolean;
}

/** Where a copy out of a container goes: a host path, or a tar stream (`-`). */
export type CopyTarget = { readonly hostPath: string } | { readonly stream: NodeJS.WritableStream };
/** Where a copy into a container comes from: a host path, or a tar stream (`-`). */
export type CopySource = { readonly hostPath: string } | { readonly stream: AsyncIterable<Uint8Array> };

export interface CopyResult {
  /** Bytes of file content copied. */
  readonly bytes: number;
}

/** Whether PATH names a directory by its form: a trailing `/` or `/.` (moby's assertsDirectory). */
function assertsDirectory(path: string): boolean {
  return path.endsWith('/') || path.endsWith('/.') || path === '.';
}

/** moby's SplitPathDirEntry's base: `.` for a path ending in `/.`, else the cleaned base name. */
function entryBase(path: string): string {
  if (path.endsWith('/.') || path === '.') return '.';
  const base = posix.basename(posix.normalize(path));
  return base === '/' || base === '' ? '.' : base;
}

interface DestinationInfo {
  readonly path: string;
  readonly exists: boolean;
  readonly isDirectory: boolean;
}

/**
 * moby's PrepareArchiveCopy: the directory the source is extracted into and the name its top
 * entry takes there.
 */
export function copyPlacement(source: { readonly base: string; readonly isDirectory: boolean }, destination: DestinationInfo): { readonly directory: string; readonly topName: string } {
  const destinationBase = entryBase(destination.path);
  const parent = destination.path.endsWith('/.') ? posix.dirname(destination.path.slice(0, -2)) : posix.dirname(posix.normalize(destination.path));
  if (destination.exists && destination.isDirectory) return { directory: destination.path, topName: source.base };
  // moby's ErrCannotCopyDir.
  if (destination.exists && source.isDirectory) throw new TsbuildError('INVALID_ARGUMENT', 'cannot copy directory');
  if (destination.exists || source.isDirectory) return { directory: parent, topName: destinationBase };
  if (assertsDirectory(destination.path)) throw new TsbuildError('NOT_FOUND', 'no such directory');
  return { directory: parent, topName: destinationBase };
}

/**
 * Runs USE with the container's root filesystem (its canonical host path): the mount a running
 * container's monitor made, or, for a stopped container, the same overlay mounted for the copy
 * under the container's lock (a `start` meanwhile waits) and unmounted after it.
 */
async function withContainerRoot<T>(store: Store, nameOrId: string, use: (root: string, record: ContainerRecord) => Promise<T>): Promise<T> {
  const found = await findContainer(store, nameOrId);
  const directory = containerDirectory(store, found.id);
  const rootfs = join(directory, 'rootfs');
  if ((await mountsUnder(rootfs)).includes(rootfs)) return withBinds(await realpath(rootfs), directory, found, use);
  if ((await observeState(found)).running) {
    // An ordinary user's tsbuild enters the monitor's namespaces first (cli/rootless.ts).
    throw new TsbuildError('RUNTIME', `copy: the root filesystem of running container ${nameOrId} is not mounted in this process's mount namespace`);
  }
  const lock = await lockContainer(store, found.id);
  try {
    const record = await readContainerRecord(store, found.id);
    if (record === undefined) throw new TsbuildError('NOT_FOUND', `No such container: ${nameOrId}`);
    const mountedBefore = (await mountsUnder(rootfs)).includes(rootfs);
    if (!mountedBefore) await mountRoot(directory, record);
    try {
      return await withBinds(await realpath(rootfs), directory, record, use);
    } finally {
      if (!mountedBefore) unmount(rootfs);
    }
  } finally {
    await lock.release();
  }
}

/** USE run with the container's binds and volumes bound over ROOT, as its start binds them. */
async function withBinds<T>(root: string, directory: string, record: ContainerRecord, use: (root: string, record: ContainerRecord) => Promise<T>): Promise<T> {
  const release = await bindContainerMounts(root, directory, record);
  try {
    return await use(root, record);
  } finally {
    await release();
  }
}

/** The host path PATH names inside ROOT, and that path relative to ROOT ('' for the root). */
async function inRoot(root: string, path: string, followFinal: boolean): Promise<{ hostPath: string; relative: string }> {
  const hostPath = await resolveInRoot(root, path, { followFinal });
  return { hostPath, relative: hostPath.slice(root.length).replace(/^\//, '') };
}


/** Opens the directory at HOSTPATH in ROOT (found by resolveInRoot), checked to be that very one. */
async function openInRoot(hostPath: string, what: string): Promise<FileHandle | undefined> {
  try {
    return await openExactDirectory(hostPath, what);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return undefined;
    throw error;
  }
}

/** `docker cp CONTAINER:SOURCE TARGET`: SOURCE from the container's root to a host path or a tar stream. */
export async function copyFromContainer(store: Store, nameOrId: string, source: string, target: CopyTarget, options: ContainerCopyOptions = {}): Promise<CopyResult> {
  const containerPath = source === '' ? '/' : source;
  const notFound = (): TsbuildError => new TsbuildError('NOT_FOUND', `Could not find the file ${containerPath} in container ${nameOrId}`);
  // The host side first, as docker's client checks it before asking for the archive.
  const destination = 'hostPath' in target ? await hostDestination(target.hostPath) : undefined;
  return withContainerRoot(store, nameOrId, async (root) => {
    const { hostPath, relative } = await inRoot(root, containerPath, options.followLink === true || assertsDirectory(containerPath));
    const base = entryBase(containerPath);
    let held: FileHandle | undefined;
    let entries: (topName: string) => AsyncGenerator<CopyEntry>;
    let isDirectory: boolean;
    if (relative === '') {
      const rootHandle = await openExactDirectory(root, `${nameOrId}:${containerPath}`);
      held = rootHandle;
      isDirectory = true;
      entries = (topName) => directoryTreeEntries(rootHandle, topName);
    } else {
      const parent = await openInRoot(dirname(hostPath), `${nameOrId}:${containerPath}`);
      if (parent === undefined) throw notFound();
      held = parent;
      const name = posix.basename(hostPath);
      const info = await entryStats(parent, name);
      if (info === undefined || (assertsDirectory(containerPath) && !info.isDirectory())) {
        await parent.close();
        throw notFound();
      }
      isDirectory = info.isDirectory();
      entries = (topName) => treeEntries(parent, name, info, topName);
    }
    try {
      if ('stream' in target) {
        let bytes = 0;
        const counted = async function* (): AsyncGenerator<Buffer> {
          for await (const chunk of tarOf(entries(base))) {
            bytes += chunk.length;
            yield chunk;
          }
        };
        await pipeline(Readable.from(counted()), target.stream, { end: false });
        return { bytes };
      }
      const placement = copyPlacement({ base, isDirectory }, destination ?? { path: '', exists: false, isDirectory: false });
      const directory = await open(fsPath(placement.directory), constants.O_RDONLY | constants.O_DIRECTORY);
      try {
        return await extractEntries(directory, entries(placement.topName), { owner: undefined, what: placement.directory });
      } finally {
        await directory.close();
      }
    } finally {
      await held.close();
    }
  });
}

/**
 * moby's CopyInfoDestinationPath on the host: the user's own links followed, a missing path's
 * parent required to be a directory.
 */
async function hostDestination(path: string): Promise<DestinationInfo> {
  const absolute = resolve(path);
  const asserted = assertsDirectory(path);
  try {
    const info = await stat(fsPath(asserted ? `${absolute}/` : absolute));
    return { path: await realpath(absolute), exists: true, isDirectory: info.isDirectory() };
  } catch (error) {
    if (errnoOf(error) === 'ENOTDIR') throw new TsbuildError('INVALID_ARGUMENT', 'not a directory');
    if (errnoOf(error) !== 'ENOENT') throw error;
  }
  const parent = dirname(absolute);
  let parentInfo;
  try {
    parentInfo = await stat(fsPath(parent));
  } catch (error) {
    // docker's client (ValidateOutputPath) names the directory as the path given has it.
    if (errnoOf(error) === 'ENOENT') throw new TsbuildError('NOT_FOUND', `invalid output path: directory ${JSON.stringify(posix.dirname(posix.normalize(path)))} does not exist`);
    throw error;
  }
  if (!parentInfo.isDirectory()) throw new TsbuildError('INVALID_ARGUMENT', 'not a directory');
  return { path: join(await realpath(parent), posix.basename(absolute)) + (asserted ? '/' : ''), exists: false, isDirectory: false };
}

/** `docker cp SOURCE CONTAINER:DESTINATION`: a host path or a tar stream into the container's root. */
export async function copyToContainer(store: Store, nameOrId: string, source: CopySource, destination: string, options: ContainerCopyOptions = {}): Promise<CopyResult> {
  const containerPath = destination === '' ? '/' : destination;
  // The host side first, as docker's client reads it before it sends anything.
  const hostSource = 'hostPath' in source ? await openHostSource(source.hostPath, options.followLink === true) : undefined;
  try {
    return await withContainerRoot(store, nameOrId, async (root, record) => {
      // docker's client follows a link at the destination (its target read inside the root).
      const { hostPath, relative } = await inRoot(root, containerPath, true);
      let exists = relative === '';
      let isDirectory = relative === '';
      if (relative !== '') {
        const parent = await openInRoot(dirname(hostPath), `${nameOrId}:${containerPath}`);
        const info = parent === undefined ? undefined : await entryStats(parent, posix.basename(hostPath));
        await parent?.close();
        // `file/` names no directory: docker's stat of it fails, as if nothing were there.
        exists = info !== undefined && (info.isDirectory() || !assertsDirectory(containerPath));
        isDirectory = info?.isDirectory() === true;
      }
      let extractInto: string;
      let entries: AsyncIterable<CopyEntry>;
      if (hostSource === undefined) {
        if (!isDirectory) throw new TsbuildError('INVALID_ARGUMENT', `destination "${nameOrId}:${destination}" must be a directory`);
        extractInto = hostPath;
        entries = entriesOfTar(readTar((source as { stream: AsyncIterable<Uint8Array> }).stream, { what: 'standard input' }));
      } else {
        const placement = copyPlacement({ base: hostSource.base, isDirectory: hostSource.isDirectory }, { path: assertsDirectory(containerPath) && !exists ? `${hostPath}/` : hostPath, exists, isDirectory });
        extractInto = placement.directory;
        entries = hostSource.entries(placement.topName);
      }
      const shownDirectory = posix.join('/', extractInto.slice(root.length)) || '/';
      const directory = await openInRoot(extractInto, `${nameOrId}:${shownDirectory}`);
      if (directory === undefined) {
        throw new TsbuildError('NOT_FOUND', `Could not find the file ${hostSource === undefined ? containerPath : posix.dirname(posix.normalize(`/${containerPath}`))} in container ${nameOrId}`);
      }
      try {
        // docker's rule: a read-only root refuses the copy unless it goes into a volume (a file system of its own).
        if (record.hostConfig?.readonlyRootfs === true && (await directory.stat()).dev === (await stat(root)).dev) {
          throw new TsbuildError('INVALID_ARGUMENT', 'container rootfs is marked read-only');
        }
        return await extractEntries(directory, entries, { owner: copyInOwner(options.archive === true), what: `${nameOrId}:${containerPath}` });
      } catch (error) {
        // The root's own read-only mount is refused above: this is a read-only bind or volume.
        if (errnoOf(error) === 'EROFS') throw new TsbuildError('INVALID_ARGUMENT', 'mounted volume is marked read-only', { cause: error });
        throw error;
      } finally {
        await directory.close();
      }
    });
  } finally {
    await hostSource?.close();
  }
}

/**
 * The owner of what is copied into a container. docker's daemon keeps the owners its archive
 * records — the host files' own, or a tar's — with or without -a (its -a changes them only for
 * a container with a User, to that user as the host's passwd names it, which tsbuild does not
 * follow). An ordinary user's tsbuild reads the host's files through its user namespace, where
 * the ids of other users are unmapped: there the container's root owns what is copied without
 * -a, as rootless docker gives the user's own files.
 */
function copyInOwner(archive: boolean): ExtractOptions['owner'] {
  return archive || ((process.getuid?.() ?? 0) === 0 && userNamespaceSize() === undefined) ? 'entry' : { uid: 0, gid: 0 };
}

interface HostSource {
  readonly base: string;
  readonly isDirectory: boolean;
  entries(topName: string): AsyncGenerator<CopyEntry>;
  close(): Promise<void>;
}

/**
 * The host file or tree PATH names (moby's CopyInfoSourcePath): the user's own links on the way
 * followed, a link as the last component copied as a link unless FOLLOW (`-L`) or PATH ends in
 * `/` or `/.`.
 */
async function openHostSource(path: string, follow: boolean): Promise<HostSource> {
  const absolute = resolve(path);
  const base = entryBase(path);
  const followFinal = follow || assertsDirectory(path);
  let location: string;
  try {
    location = followFinal ? await realpath(absolute) : join(await realpath(dirname(absolute)), posix.basename(absolute));
    await lstat(fsPath(location));
  } catch (error) {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') throw new TsbuildError('NOT_FOUND', `lstat ${absolute}: no such file or directory`);
    throw error;
  }
  if (location === '/') {
    const handle = await open('/', constants.O_RDONLY | constants.O_DIRECTORY);
    return { base, isDirectory: true, entries: (topName) => directoryTreeEntries(handle, topName), close: () => handle.close() };
  }
  const parent = await open(fsPath(dirname(location)), constants.O_RDONLY | constants.O_DIRECTORY);
  const name = posix.basename(location);
  const info = await entryStats(parent, name);
  if (info === undefined) {
    await parent.close();
    throw new TsbuildError('NOT_FOUND', `lstat ${absolute}: no such file or directory`);
  }
  return { base, isDirectory: info.isDirectory(), entries: (topName) => treeEntries(parent, name, info, topName), close: () => parent.close() };
}
