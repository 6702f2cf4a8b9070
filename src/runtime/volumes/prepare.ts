/**
 * A container's mounts made ready: each target resolved inside the container's root (never
 * through a symlink the image planted to lead out of it), binds' sources checked (or made, for
 * `-v`), volumes made and recorded as used by the container, new ones filled from the image's
 * content at their mount point, and the image's VOLUMEs given anonymous volumes. The result is
 * the OCI mounts for the container's config and what to give back when it ends.
 */
import { execFile } from 'node:child_process';
import { chmod, lchown, lstat, mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { basename, dirname, join, posix, relative } from 'node:path';
import { TsbuildError, isTsbuildError, messageOf, resolveInRoot } from '../../common/index.js';
import { temporaryName, temporaryOwner, temporaryOwnerAlive, type Store } from '../../store/index.js';
import type { MountSpec } from '../spec.js';
import type { MountRequest, VolumeMountRequest } from './mount-flags.js';
import { acquireVolumes, mountVolumes, releaseVolumes, volumeMountUsers, type AcquiredVolume } from './volume-store.js';

export interface PrepareMountsOptions {
  readonly store: Store;
  /** The container's ID: volumes are recorded as used by it. */
  readonly container: string;
  readonly requests: readonly MountRequest[];
  /** The image config's Volumes (their paths): an anonymous volume each, unless a request covers it. */
  readonly imageVolumes?: readonly string[];
  /**
   * The container's root filesystem as the image has it, on the host (the mounted root, or the
   * image's unpacked layers): targets are resolved in it and new volumes filled from it.
   */
  readonly root: string;
}

export interface PreparedMounts {
  /** For the container's config, parents before what is mounted under them. */
  readonly mounts: readonly MountSpec[];
  /** The volumes the container uses, by name. */
  readonly volumes: readonly string[];
  /** Whether a mount covers DESTINATION (the run's own /etc/hosts and the like then give way). */
  covers(destination: string): boolean;
  /**
   * The container's use of its volumes recorded no more; with REMOVEANONYMOUS (`--rm`,
   * `rm -v`), its anonymous volumes removed.
   */
  release(options: { readonly removeAnonymous: boolean }): Promise<void>;
}

/** A request, its target as resolved in the container's root. */
interface Placed {
  readonly request: MountRequest;
  /** Inside the container: absolute, no symlink on the way. */
  readonly destination: string;
  /** The same on the host, under the root. */
  readonly hostPath: string;
}

/** Components of a path, for docker's order: a mount is made after those above it. */
function depth(path: string): number {
  return path.split('/').filter((part) => part !== '').length;
}

async function place(root: string, request: MountRequest): Promise<Placed> {
  let hostPath: string;
  try {
    hostPath = await resolveInRoot(root, request.target, { refuseEscape: true });
  } catch (error) {
    if (isTsbuildError(error, 'UNSAFE_PATH')) {
      throw new TsbuildError('UNSAFE_PATH', `mount ${request.target}: the image's symbolic link on the way leads out of the container's root`, { cause: error });
    }
    throw new TsbuildError('RUNTIME', `mount ${request.target}: resolve it in the container's root: ${messageOf(error)}`, { cause: error });
  }
  const destination = `/${relative(root, hostPath)}`;
  if (destination === '/') throw new TsbuildError('INVALID_ARGUMENT', `mount ${request.target}: invalid specification: destination can't be '/'`);
  return { request, destination, hostPath };
}

async function checkBindSource(request: Extract<MountRequest, { kind: 'bind' }>): Promise<void> {
  const info = await stat(request.source).catch(() => undefined);
  if (info !== undefined) return;
  if (!request.createSource) throw new TsbuildError('INVALID_ARGUMENT', `invalid mount config for type "bind": bind source path does not exist: ${request.source}`);
  // As docker's daemon for `-v`: the missing source made as a directory.
  try {
    await mkdir(request.source, { recursive: true, mode: 0o755 });
  } catch (error) {
    throw new TsbuildError('INVALID_ARGUMENT', `error while creating mount source path '${request.source}': ${messageOf(error)}`, { cause: error });
  }
}

/** `cp -a SOURCE/. DIRECTORY`: content, owners, modes, times, links and extended attributes. */
function copyTree(source: string, directory: string, volume: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    execFile('cp', ['-a', '--', `${source}/.`, directory], (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(new TsbuildError('RUNTIME', `fill volume ${volume} from the image: ${stderr.trim() || error.message}`, { cause: error }));
    });
  });
}

/**
 * docker's copy-up: a volume still empty gets what the image has at its mount point, with
 * owners, modes, times, links and extended attributes, and the mount point's own owner and
 * mode. `cp -a SOURCE/. DIR` does exactly that, through no symlink of SOURCE (it is resolved).
 *
 * The copy is made in a directory of the volume's own beside its data, which no container
 * sees, and its entries are then renamed into the data: a container that already has the
 * volume (a named one) and swaps a directory being filled for a link to `/somewhere` would
 * otherwise have the copy, which runs on the host, write into the host's `/somewhere` (docker
 * CVE-2018-15664's symlink-exchange race). rename never follows a link at its target.
 *
 * A volume made with a device (DIRECT) is another filesystem, where nothing can be renamed in
 * from beside it: it is filled in place, which is safe only while it is mounted for the fill
 * alone, no container seeing it.
 */
async function fillFromImage(hostPath: string, volume: AcquiredVolume, options: { readonly direct?: boolean } = {}): Promise<void> {
  const source = await lstat(hostPath).catch(() => undefined);
  if (source?.isDirectory() !== true) return;
  if ((await readdir(volume.mountpoint)).length > 0) return;
  if (options.direct === true) {
    await copyTree(hostPath, volume.mountpoint, volume.name);
    return;
  }
  // Named for this process (`.fill.PID.…tmp`): one a killed process left is known as such.
  const staging = join(dirname(volume.mountpoint), temporaryName('.fill'));
  const ready = join(dirname(volume.mountpoint), `.filled${basename(staging).slice('.fill'.length)}`);
  try {
    await mkdir(staging, { mode: 0o700 });
    await copyTree(hostPath, staging, volume.name);
    // The copy is whole: from here on a fill cut short is finished, never redone over a
    // volume that would then look filled with half of it.
    await rename(staging, ready);
    await moveFill(ready, volume.mountpoint);
  } catch (error) {
    if (isTsbuildError(error)) throw error;
    throw new TsbuildError('RUNTIME', `fill volume ${volume.name} from the image: ${messageOf(error)}`, { cause: error });
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(ready, { recursive: true, force: true });
  }
}

/** Renames a whole copy's entries into the volume's data (those not moved yet), then gives the data the copy's owner, mode and times. */
async function moveFill(ready: string, mountpoint: string): Promise<void> {
  const copied = await lstat(ready);
  for (const name of await readdir(ready)) await rename(join(ready, name), join(mountpoint, name));
  await lchown(mountpoint, copied.uid, copied.gid);
  await chmod(mountpoint, copied.mode & 0o7777);
  await utimes(mountpoint, copied.atime, copied.mtime);
  await rm(ready, { recursive: true, force: true });
}

/**
 * What fills of VOLUME by processes since killed left: a copy cut short is removed (the data
 * is still empty), a whole one whose move into the data was cut short is finished.
 */
async function finishAbandonedFills(volume: AcquiredVolume): Promise<void> {
  const directory = dirname(volume.mountpoint);
  for (const name of await readdir(directory).catch(() => [] as string[])) {
    if (!/^\.fill(ed)?\./.test(name) || temporaryOwner(name) === undefined || temporaryOwnerAlive(name)) continue;
    if (name.startsWith('.filled.')) await moveFill(join(directory, name), volume.mountpoint);
    else await rm(join(directory, name), { recursive: true, force: true });
  }
}

function mountOptions(request: MountRequest): string[] {
  const access = request.readonly ? 'ro' : 'rw';
  switch (request.kind) {
    case 'bind':
      return [request.recursive ? 'rbind' : 'bind', access, request.propagation ?? 'rprivate'];
    case 'volume':
      return ['rbind', access, 'rprivate'];
    case 'tmpfs':
      // docker's defaults for a tmpfs, which the given options may loosen (`exec`, `dev`).
      return ['nosuid', 'nodev', 'noexec', ...request.options, access];
  }
}

/** Makes a container's mounts ready; on failure nothing is left recorded. */
export async function prepareMounts(options: PrepareMountsOptions): Promise<PreparedMounts> {
  const seen = new Set<string>();
  for (const request of options.requests) {
    if (seen.has(request.target)) throw new TsbuildError('INVALID_ARGUMENT', `Duplicate mount point: ${request.target}`);
    seen.add(request.target);
  }
  const requests: MountRequest[] = [...options.requests];
  for (const path of options.imageVolumes ?? []) {
    const target = posix.normalize(path.startsWith('/') ? path : `/${path}`).replace(/(.)\/+$/, '$1');
    if (target === '/' || seen.has(target)) continue;
    seen.add(target);
    requests.push({ kind: 'volume', target, readonly: false, noCopy: false });
  }
  const placed: Placed[] = [];
  for (const request of requests) placed.push(await place(options.root, request));
  for (const { request } of placed) if (request.kind === 'bind') await checkBindSource(request);

  const volumeMounts = placed.filter((entry): entry is Placed & { request: VolumeMountRequest } => entry.request.kind === 'volume');
  const acquired = await acquireVolumes(options.store, options.container, volumeMounts.map((entry) => entry.request.name));
  const names = acquired.map((volume) => volume.name);
  const release = async (how: { readonly removeAnonymous: boolean }): Promise<void> => {
    await releaseVolumes(options.store, options.container, names, { removeAnonymous: how.removeAnonymous });
  };
  const sources = new Map<Placed, string>();
  try {
    for (const [index, entry] of volumeMounts.entries()) {
      const volume = acquired[index];
      if (volume === undefined) continue;
      sources.set(entry, volume.mountpoint);
      if (!volume.needsMount) await finishAbandonedFills(volume);
      if (entry.request.noCopy || (await lstat(entry.hostPath).catch(() => undefined))?.isDirectory() !== true) continue;
      if (!volume.needsMount) {
        await fillFromImage(entry.hostPath, volume);
        continue;
      }
      // As docker's populateVolume: the device mounted for the copy and unmounted after (a
      // tmpfs's copy goes with it, a bind's stays on the host's directory).
      let unmountAfter: () => Promise<void>;
      try {
        unmountAfter = await mountVolumes(options.store, `populate-${options.container}`, [volume.name]);
      } catch (error) {
        throw new TsbuildError('RUNTIME', `failed to populate volume: ${messageOf(error)}`, { cause: error });
      }
      try {
        // Another container's use means it is no longer the empty volume docker would fill.
        const users = await volumeMountUsers(options.store, volume.name);
        if (users.length === 1) await fillFromImage(entry.hostPath, volume, { direct: true });
      } finally {
        await unmountAfter();
      }
    }
  } catch (error) {
    // Its anonymous volumes go with the container that failed to start; named ones stay, as docker's.
    await release({ removeAnonymous: true }).catch(() => undefined);
    throw error;
  }
  const mounts = placed
    .map((entry, order) => ({ entry, order }))
    .sort((a, b) => depth(a.entry.destination) - depth(b.entry.destination) || a.order - b.order)
    .map(({ entry }): MountSpec => {
      const { request } = entry;
      const source = request.kind === 'bind' ? request.source : request.kind === 'tmpfs' ? 'tmpfs' : (sources.get(entry) ?? '');
      return { destination: entry.destination, type: request.kind === 'tmpfs' ? 'tmpfs' : 'bind', source, options: mountOptions(request) };
    });
  const destinations = new Set(mounts.map((mount) => mount.destination));
  return {
    mounts,
    volumes: names,
    covers: (destination) => destinations.has(posix.normalize(destination).replace(/(.)\/+$/, '$1')),
    release,
  };
}
