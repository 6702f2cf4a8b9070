/**
 * docker's mountVolumes for `cp`: a container's binds and volumes (its /etc/hosts, hostname and
 * resolv.conf among them) are mounted in its own mount namespace only, so for the copy they are
 * bound over its root here too, and unmounted after. Each target is found inside the root and
 * opened without following a link; the mount is made on the open descriptor
 * (`/proc/self/fd/N`), never on a path the container could change meanwhile.
 */
import { constants } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { fsPath, messageOf, resolveInRoot, TsbuildError } from '../common/index.js';
import type { ContainerRecord } from './container.js';
import { below, entryStats, openExactDirectory } from './copy-entries.js';
import { runtimeAddon } from './native.js';
import type { ContainerSpec, MountSpec } from './spec.js';

const mountReadOnly = 1;
const mountRemount = 32;
const mountBind = 4096;
const mountRecursive = 16384;
const unmountDetach = 2;

/** The mounts a start gives the container that carry files: binds and volumes, parents first. */
async function bindMounts(directory: string, record: ContainerRecord): Promise<MountSpec[]> {
  let spec: ContainerSpec | undefined;
  try {
    spec = JSON.parse(await readFile(join(directory, 'spec.json'), 'utf8')) as ContainerSpec;
  } catch {
    // A foreground `run`'s container has no spec.json: its /etc files are the run's own.
  }
  const mounts = [...(spec?.mounts ?? []), ...(record.hostConfig?.mounts ?? [])];
  return mounts.filter((mount) => mount.type === 'bind' && mount.source !== undefined);
}

const restrictingFlags = 2 | 4 | 8; // MS_NOSUID | MS_NODEV | MS_NOEXEC
/** MS_NOATIME, MS_STRICTATIME, MS_NODIRATIME; none is relatime. */
const atimeFlags = [0, 1024, 1 << 24, 2048];

/**
 * Makes the bind at TARGET read-only. In a user namespace the flags the source's mount has are
 * locked: only more restrictive ones may be added, and its atime kind kept, which is not known
 * here, so each is tried.
 */
function remountReadOnly(target: string): void {
  let last: unknown;
  for (const atime of atimeFlags) {
    try {
      runtimeAddon().mount('', target, '', mountRemount | mountBind | mountReadOnly | restrictingFlags | atime, '');
      return;
    } catch (error) {
      last = error;
      if ((error as NodeJS.ErrnoException).code !== 'EPERM') break;
    }
  }
  throw last;
}

/** A bind made for the copy, held by a descriptor of its own root. */
interface HeldMount {
  readonly handle: FileHandle;
  readonly destination: string;
}

/**
 * Opens the mount point DESTINATION names in ROOT, as a directory or a file like SOURCE's;
 * undefined when there is none (a container never started has not made it yet).
 */
async function openMountPoint(root: string, destination: string, sourceIsDirectory: boolean): Promise<{ parent: FileHandle; name: string; target: FileHandle } | undefined> {
  const hostPath = await resolveInRoot(root, destination);
  if (hostPath === root) return undefined;
  let parent: FileHandle;
  try {
    parent = await openExactDirectory(dirname(hostPath), destination);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
  const name = posix.basename(hostPath);
  const info = await entryStats(parent, name);
  if (info === undefined || info.isDirectory() !== sourceIsDirectory || (!info.isDirectory() && !info.isFile())) {
    await parent.close();
    return undefined;
  }
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | (sourceIsDirectory ? constants.O_DIRECTORY : 0);
  try {
    return { parent, name, target: await open(fsPath(below(parent, name)), flags) };
  } catch (error) {
    await parent.close();
    throw new TsbuildError('UNSAFE_PATH', `copy: mount point ${destination}: ${messageOf(error)}`, { cause: error });
  }
}

/**
 * Binds the container's binds and volumes over ROOT (the container's DIRECTORY), as its start
 * does; returns what undoes it. A mount point missing from the root is left out.
 */
export async function bindContainerMounts(root: string, directory: string, record: ContainerRecord): Promise<() => Promise<void>> {
  const held: HeldMount[] = [];
  const release = async (): Promise<void> => {
    for (const mount of held.splice(0).reverse()) {
      try {
        runtimeAddon().umount(`/proc/self/fd/${mount.handle.fd}`, unmountDetach);
      } finally {
        await mount.handle.close();
      }
    }
  };
  try {
    for (const mount of await bindMounts(directory, record)) {
      const source = mount.source ?? '';
      let sourceInfo;
      try {
        sourceInfo = await stat(fsPath(source));
      } catch {
        continue;
      }
      const point = await openMountPoint(root, mount.destination, sourceInfo.isDirectory());
      if (point === undefined) continue;
      try {
        const recursive = mount.options?.includes('rbind') === true ? mountRecursive : 0;
        runtimeAddon().mount(source, `/proc/self/fd/${point.target.fd}`, '', mountBind | recursive, '');
        // The mount's own root, looked up again from the held parent: the descriptor that
        // unmounts it, and remounts it read-only when it is.
        const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | (sourceInfo.isDirectory() ? constants.O_DIRECTORY : 0);
        const mounted = await open(fsPath(below(point.parent, point.name)), flags);
        held.push({ handle: mounted, destination: mount.destination });
        if (mount.options?.includes('ro') === true) remountReadOnly(`/proc/self/fd/${mounted.fd}`);
      } catch (error) {
        throw new TsbuildError('RUNTIME', `copy: mount ${source} on ${mount.destination}: ${messageOf(error)}`, { cause: error });
      } finally {
        await point.target.close();
        await point.parent.close();
      }
    }
  } catch (error) {
    await release();
    throw error;
  }
  return release;
}
