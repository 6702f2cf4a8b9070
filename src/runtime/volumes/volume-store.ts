/**
 * Volumes in the store, as docker's `local` driver keeps them: one directory each under
 * `<root>/volumes/<name>/`, holding the data (`_data/`, what containers see), the record
 * (`volume.json`) and one file per container using it (`users/<container id>`). Every change of
 * which volumes exist and who uses them is made under one lock (`<root>/volumes.lock`), so a
 * volume is never removed while a container of another tsbuild process is being given it.
 */
import { execFile } from 'node:child_process';
import { mkdir, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TsbuildError, errnoOf, messageOf, treeSize } from '../../common/index.js';
import { acquireLock, writeFileAtomic, type Store } from '../../store/index.js';
import { containerDirectory, mountsUnder, removeAbandonedContainers } from '../container.js';
import { runtimeAddon, unmount } from '../native.js';
import { rootlessUnshareOptions, userNamespaceSize } from '../spec.js';
import { errnoText, localVolumeMount, mountFailure, type LocalVolumeMount } from './local-mount.js';
import { recordEvent } from '../events.js';

/** What `volume inspect` shows, with docker's field names. */
export interface VolumeInfo {
  readonly CreatedAt: string;
  readonly Driver: 'local';
  /** null when it has none, as docker 26 shows them (20.10 showed `{}` for `volume create`'s). */
  readonly Labels: Readonly<Record<string, string>> | null;
  readonly Mountpoint: string;
  readonly Name: string;
  readonly Options: Readonly<Record<string, string>> | null;
  readonly Scope: 'local';
}

interface VolumeRecord {
  readonly name: string;
  readonly createdAt: string;
  readonly labels: Readonly<Record<string, string>> | null;
  readonly options: Readonly<Record<string, string>> | null;
  /** Made for a container's `-v /path` or its image's VOLUME: removed with it under `--rm`. */
  readonly anonymous: boolean;
}

/** docker's label for anonymous volumes (since 23.0): `volume prune` removes only those by default. */
export const anonymousVolumeLabel = 'com.docker.volume.anonymous';

/** docker's rule for local volume names: at least two characters, never a path. */
const volumeNamePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function isValidVolumeName(name: string): boolean {
  return volumeNamePattern.test(name);
}

/** Fails with docker's words when NAME cannot be a volume's name. */
export function checkVolumeName(name: string): void {
  if (!isValidVolumeName(name)) {
    throw new TsbuildError(
      'INVALID_ARGUMENT',
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
}

export function volumesDirectory(store: Store): string {
  return join(store.root, 'volumes');
}

function volumeDirectory(store: Store, name: string): string {
  return join(volumesDirectory(store), name);
}

/** Where a volume's data is, on the host. */
export function volumeMountpoint(store: Store, name: string): string {
  return join(volumeDirectory(store, name), '_data');
}

function toInfo(store: Store, record: VolumeRecord): VolumeInfo {
  return { CreatedAt: record.createdAt, Driver: 'local', Labels: record.labels, Mountpoint: volumeMountpoint(store, record.name), Name: record.name, Options: record.options, Scope: 'local' };
}

async function readRecord(store: Store, name: string): Promise<VolumeRecord | undefined> {
  if (!isValidVolumeName(name)) return undefined;
  try {
    return JSON.parse(await readFile(join(volumeDirectory(store, name), 'volume.json'), 'utf8')) as VolumeRecord;
  } catch (error) {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return undefined;
    throw new TsbuildError('INTERNAL', `read volume ${name}: ${messageOf(error)}`, { cause: error });
  }
}

/** Runs WORK holding the lock over which volumes exist and who uses them. */
async function locked<T>(store: Store, work: () => Promise<T>): Promise<T> {
  await mkdir(volumesDirectory(store), { recursive: true, mode: 0o700 });
  const lock = await acquireLock(join(store.root, 'volumes.lock'));
  try {
    return await work();
  } finally {
    await lock.release();
  }
}

/** RFC 3339 to the second, as docker shows CreatedAt. */
function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** A name as docker gives anonymous volumes: 64 hex digits of the kernel's randomness. */
async function anonymousName(): Promise<string> {
  const handle = await open('/dev/urandom', 'r');
  try {
    const bytes = Buffer.alloc(32);
    await handle.read(bytes, 0, bytes.length, null);
    return bytes.toString('hex');
  } finally {
    await handle.close();
  }
}

export interface CreateVolumeOptions {
  /** Default: an anonymous volume's 64-hex name. */
  readonly name?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** The local driver's options (`volume create -o`): `type`, `device`, `o`. */
  readonly driverOptions?: Readonly<Record<string, string>>;
}

/** The local driver's options (moby's volume/local/local_unix.go), and those each one needs. */
const driverOptionNames = new Set(['type', 'o', 'device', 'size']);
const requiredWith: readonly (readonly [string, readonly string[]])[] = [
  ['device', ['type']],
  ['type', ['device']],
  ['o', ['device', 'type']],
];

/**
 * Fails, in docker's words, on options the local driver refuses at `volume create`: unknown
 * names, `size` (a quota: docker's needs an xfs backing filesystem with project quotas, which
 * the store does not set up), and `type`, `device` and `o` without the others they need.
 * Where the mount itself fails (a missing device, options the filesystem refuses) is the
 * container's start, as with docker.
 */
export function checkDriverOptions(name: string, options: Readonly<Record<string, string>>): void {
  // moby walks a map: which of several problems it reports first is not fixed; unknown names first here.
  for (const key of Object.keys(options).sort()) {
    if (!driverOptionNames.has(key)) throw new TsbuildError('INVALID_ARGUMENT', `create ${name}: invalid option: ${JSON.stringify(key)}`);
  }
  if (options['size'] !== undefined) throw new TsbuildError('INVALID_ARGUMENT', `create ${name}: quota size requested but no quota support`);
  for (const [option, needs] of requiredWith) {
    if (options[option] === undefined) continue;
    for (const need of needs) {
      if (options[need] === undefined) throw new TsbuildError('INVALID_ARGUMENT', `create ${name}: missing required option: ${JSON.stringify(need)}`);
    }
  }
}

async function createUnlocked(store: Store, options: CreateVolumeOptions): Promise<{ record: VolumeRecord; created: boolean }> {
  const anonymous = options.name === undefined;
  const name = options.name ?? (await anonymousName());
  checkVolumeName(name);
  // As docker 26: the volume already there is the answer, whatever options were given now
  // (unknown ones included).
  const existing = await readRecord(store, name);
  if (existing !== undefined) return { record: existing, created: false };
  const driverOptions = options.driverOptions ?? {};
  checkDriverOptions(name, driverOptions);
  const directory = volumeDirectory(store, name);
  const labels = anonymous ? { ...options.labels, [anonymousVolumeLabel]: '' } : options.labels;
  const record: VolumeRecord = {
    name,
    createdAt: now(),
    // docker 26 shows null for no labels and no driver options, however the volume was made.
    labels: labels === undefined || Object.keys(labels).length === 0 ? null : labels,
    // Sorted by name, as docker's JSON writes its map.
    options: Object.keys(driverOptions).length === 0 ? null : Object.fromEntries(Object.entries(driverOptions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    anonymous,
  };
  try {
    await mkdir(join(directory, '_data'), { recursive: true, mode: 0o755 });
    await mkdir(join(directory, 'users'), { mode: 0o700 }).catch((error: unknown) => {
      if (errnoOf(error) !== 'EEXIST') throw error;
    });
    // The record last: a directory without one is not a volume yet (and is made again).
    await writeFileAtomic(join(directory, 'volume.json'), `${JSON.stringify(record, null, 2)}\n`, 0o600);
  } catch (error) {
    throw new TsbuildError('INTERNAL', `create volume ${name}: ${messageOf(error)}`, { cause: error });
  }
  await recordEvent(store.root, 'volume', 'create', name, { driver: 'local' });
  return { record, created: true };
}

/** `volume create`: a new volume, or the one of that name already there (as docker). */
export async function createVolume(store: Store, options: CreateVolumeOptions = {}): Promise<VolumeInfo> {
  if (options.name !== undefined) checkVolumeName(options.name);
  return locked(store, async () => toInfo(store, (await createUnlocked(store, options)).record));
}

export async function inspectVolume(store: Store, name: string): Promise<VolumeInfo> {
  const record = await readRecord(store, name);
  if (record === undefined) throw new TsbuildError('NOT_FOUND', `get ${name}: no such volume`);
  return toInfo(store, record);
}

export interface VolumeSummary extends VolumeInfo {
  /** The containers using it, present ones only. */
  readonly usedBy: readonly string[];
  readonly anonymous: boolean;
}

/** Containers recorded as using NAME whose container is still in the store; stale records removed. */
async function usersOf(store: Store, name: string): Promise<string[]> {
  const directory = join(volumeDirectory(store, name), 'users');
  const ids = await readdir(directory).catch(() => [] as string[]);
  const present: string[] = [];
  for (const id of ids.sort()) {
    if (await stat(containerDirectory(store, id)).then(() => true, () => false)) present.push(id);
    // Its container is gone without saying so (a run killed and cleaned up after).
    else await rm(join(directory, id), { force: true });
  }
  return present;
}

/** Every volume, by name, with who uses it. */
export async function listVolumes(store: Store): Promise<VolumeSummary[]> {
  const names = await readdir(volumesDirectory(store)).catch(() => [] as string[]);
  const result: VolumeSummary[] = [];
  for (const name of names.sort()) {
    const record = await readRecord(store, name);
    if (record === undefined) continue;
    result.push({ ...toInfo(store, record), usedBy: await usersOf(store, name), anonymous: record.anonymous });
  }
  return result;
}

/** Removes a tree that may hold files of a container's other users (rootless: subordinate ids). */
async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (error) {
    const code = errnoOf(error);
    if ((process.getuid?.() ?? 0) === 0 || (code !== 'EACCES' && code !== 'EPERM')) throw error;
    await new Promise<void>((resolve, reject) => {
      execFile('unshare', [...rootlessUnshareOptions(), 'rm', '-rf', '--', path], (failure, _stdout, stderr) => {
        if (failure === null) resolve();
        else reject(new TsbuildError('RUNTIME', `remove ${path}: ${stderr.trim() || failure.message}`, { cause: failure }));
      });
    });
  }
}

async function removeUnlocked(store: Store, name: string, force: boolean): Promise<void> {
  const record = await readRecord(store, name);
  if (record === undefined) {
    if (force) return;
    throw new TsbuildError('NOT_FOUND', `get ${name}: no such volume`);
  }
  const users = await usersOf(store, name);
  if (users.length > 0) throw new TsbuildError('CONFLICT', `remove ${name}: volume is in use - [${users.join(', ')}]`);
  const directory = volumeDirectory(store, name);
  // A device still mounted (its last container killed): never remove what is on it, a bind's
  // host directory above all.
  for (const point of await mountsUnder(directory)) {
    try {
      unmount(point);
    } catch (error) {
      throw new TsbuildError('CONFLICT', `remove ${name}: unmount ${point}: ${errnoText(error)}`, { cause: error });
    }
  }
  if ((await mountsUnder(directory)).length > 0) throw new TsbuildError('CONFLICT', `remove ${name}: its device is still mounted on ${volumeMountpoint(store, name)}`);
  try {
    // The record first: what is left of a volume half removed is no volume.
    await rm(join(directory, 'volume.json'), { force: true });
    await removeTree(directory);
  } catch (error) {
    if (error instanceof TsbuildError) throw error;
    throw new TsbuildError('INTERNAL', `remove ${name}: ${messageOf(error)}`, { cause: error });
  }
  await recordEvent(store.root, 'volume', 'destroy', name, { driver: 'local' });
}

/**
 * `volume rm`: refused while a container (of this process or another, running or not) uses it,
 * with docker's words. FORCE: a volume that does not exist is no error.
 */
export async function removeVolume(store: Store, name: string, options: { readonly force?: boolean } = {}): Promise<void> {
  // A run killed before it could clean up still names its container as a user.
  await removeAbandonedContainers(store);
  await locked(store, () => removeUnlocked(store, name, options.force === true));
}

export interface PruneVolumesOptions {
  /** Named volumes too, not only anonymous ones (`volume prune --all`). */
  readonly all?: boolean;
  /** Only volumes FILTER accepts. */
  readonly filter?: (volume: VolumeSummary) => boolean;
}

/** `volume prune`: the unused volumes removed; their names and the bytes freed. */
export async function pruneVolumes(store: Store, options: PruneVolumesOptions = {}): Promise<{ removed: string[]; bytesFreed: number }> {
  await removeAbandonedContainers(store);
  return locked(store, async () => {
    const removed: string[] = [];
    let bytesFreed = 0;
    for (const volume of await listVolumes(store)) {
      if (volume.usedBy.length > 0 || (options.all !== true && !volume.anonymous)) continue;
      if (options.filter !== undefined && !options.filter(volume)) continue;
      const size = await treeSize(volume.Mountpoint);
      await removeUnlocked(store, volume.Name, true);
      removed.push(volume.Name);
      bytesFreed += size;
    }
    return { removed, bytesFreed };
  });
}


export interface AcquiredVolume {
  readonly name: string;
  readonly mountpoint: string;
  /** Made by this call: a new volume is filled from the image (when empty). */
  readonly created: boolean;
  readonly anonymous: boolean;
  /** Made with a device (`-o type=… -o device=…`): its data is what `mountVolumes` mounts. */
  readonly needsMount: boolean;
}

/**
 * Gives CONTAINER the volumes NAMES (made when missing; undefined makes an anonymous one), all
 * recorded as used by it under the lock, so that no `volume rm` can take one away meanwhile.
 */
export async function acquireVolumes(store: Store, container: string, names: readonly (string | undefined)[]): Promise<AcquiredVolume[]> {
  for (const name of names) if (name !== undefined) checkVolumeName(name);
  if (names.length === 0) return [];
  return locked(store, async () => {
    const acquired: AcquiredVolume[] = [];
    for (const name of names) {
      const { record, created } = await createUnlocked(store, name === undefined ? {} : { name });
      const users = join(volumeDirectory(store, record.name), 'users');
      await mkdir(users, { recursive: true, mode: 0o700 });
      // What `--rm` and `rm -v` take with the container: volumes it asked for by no name, as docker.
      await writeFileAtomic(join(users, container), name === undefined ? 'anonymous\n' : '', 0o600);
      acquired.push({ name: record.name, mountpoint: volumeMountpoint(store, record.name), created, anonymous: record.anonymous, needsMount: localVolumeMount(record.options) !== undefined });
    }
    return acquired;
  });
}

/**
 * What a container's end gives back: its use of NAMES recorded no more, and, with
 * REMOVEANONYMOUS (`--rm`, `rm -v`), the volumes it was given without a name (`-v /path`, the
 * image's VOLUMEs) removed when nothing else uses them; one it named stays, as with docker, even
 * an anonymous one.
 */
export async function releaseVolumes(store: Store, container: string, names: readonly string[], options: { readonly removeAnonymous?: boolean } = {}): Promise<void> {
  if (names.length === 0) return;
  await locked(store, async () => {
    for (const name of names) {
      const use = join(volumeDirectory(store, name), 'users', container);
      const unnamed = (await readFile(use, 'utf8').catch(() => '')).startsWith('anonymous');
      await rm(use, { force: true });
      if (options.removeAnonymous !== true || !unnamed) continue;
      if ((await usersOf(store, name)).length === 0) await removeUnlocked(store, name, true);
    }
  });
}

/** The volumes CONTAINER is recorded as using (for `rm -v` of a container made earlier). */
export async function volumesUsedBy(store: Store, container: string): Promise<string[]> {
  const names = await readdir(volumesDirectory(store)).catch(() => [] as string[]);
  const used: string[] = [];
  for (const name of names.sort()) {
    if (await stat(join(volumeDirectory(store, name), 'users', container)).then(() => true, () => false)) used.push(name);
  }
  return used;
}

/**
 * `rm [-v]` of a container made by an earlier process: every volume it is recorded as using
 * released, as `PreparedMounts.release` does for the process that prepared them.
 */
export async function releaseContainerVolumes(store: Store, container: string, options: { readonly removeAnonymous?: boolean } = {}): Promise<void> {
  await releaseVolumes(store, container, await volumesUsedBy(store, container), options);
}

/** Whether PATH is a mount point in this process's mount namespace. */
async function isMountPoint(path: string): Promise<boolean> {
  return (await mountsUnder(path)).includes(path);
}

/** Mounts VOLUME's device on its data directory as docker's local driver does, or fails in its words. */
function mountLocalVolume(mountpoint: string, mount: LocalVolumeMount): void {
  const addon = runtimeAddon();
  const failed = (flags: number, error: unknown): TsbuildError => {
    let text = `error while mounting volume '${mountpoint}': failed to mount local volume: ${mountFailure(mount, mountpoint, flags, errnoText(error))}`;
    // An unprivileged user's mount namespace takes tmpfs and binds of what the user may read, no device's filesystem.
    if (errnoOf(error) === 'EPERM' && ((process.getuid?.() ?? 0) !== 0 || userNamespaceSize() !== undefined)) text += ' (rootless: only type=tmpfs and bind volumes can be mounted)';
    return new TsbuildError('RUNTIME', text, { cause: error });
  };
  try {
    addon.mount(mount.device, mountpoint, mount.type, mount.flags, mount.data);
  } catch (error) {
    throw failed(mount.flags, error);
  }
  try {
    if (mount.propagation !== 0) addon.mount('', mountpoint, '', mount.propagation, '');
    if (mount.remountReadOnly) addon.mount('', mountpoint, '', mount.flags | 0x20, '');
  } catch (error) {
    unmount(mountpoint);
    throw failed(mount.flags, error);
  }
}

/** Users of a mounted volume whose container still exists. */
export async function volumeMountUsers(store: Store, name: string): Promise<string[]> {
  return locked(store, () => mountUsers(store, name));
}

async function mountUsers(store: Store, name: string): Promise<string[]> {
  const directory = join(volumeDirectory(store, name), 'mounted');
  const users = await readdir(directory).catch(() => [] as string[]);
  const present: string[] = [];
  for (const user of users) {
    const container = user.replace(/^populate-/, '');
    if (await stat(containerDirectory(store, container)).then(() => true, () => false)) present.push(user);
    else await rm(join(directory, user), { force: true });
  }
  return present;
}

/**
 * Mounts, for USER (a container's ID, `populate-ID` while it is being filled), the volumes of
 * NAMES made with a device (`-o type=… -o device=…`), as docker's local driver does when a
 * container that uses one starts: on the volume's data directory, once however many
 * containers use it. Returns what gives them back (`unmountVolumes`). Volumes without options
 * are plain directories and need nothing. Rootless, each process has a mount namespace of its
 * own: a container's monitor mounts the volume for its container alone.
 */
export async function mountVolumes(store: Store, user: string, names: readonly string[]): Promise<() => Promise<void>> {
  const mounted: string[] = [];
  const release = (): Promise<void> => unmountVolumes(store, user, mounted);
  // Most containers have no volume: their start takes no lock for it.
  if (names.length === 0) return release;
  await locked(store, async () => {
    for (const name of names) {
      const record = await readRecord(store, name);
      const mount = localVolumeMount(record?.options ?? null);
      if (mount === undefined) continue;
      const mountpoint = volumeMountpoint(store, name);
      if (!(await isMountPoint(mountpoint))) {
        try {
          mountLocalVolume(mountpoint, mount);
        } catch (error) {
          await Promise.all(mounted.map((done) => unmountUnlocked(store, user, done)));
          throw error;
        }
      }
      const users = join(volumeDirectory(store, name), 'mounted');
      await mkdir(users, { recursive: true, mode: 0o700 });
      await writeFile(join(users, user), '', { mode: 0o600 });
      mounted.push(name);
    }
  });
  return release;
}

async function unmountUnlocked(store: Store, user: string, name: string): Promise<void> {
  await rm(join(volumeDirectory(store, name), 'mounted', user), { force: true });
  if ((await mountUsers(store, name)).length > 0) return;
  const mountpoint = volumeMountpoint(store, name);
  if (await isMountPoint(mountpoint)) unmount(mountpoint);
}

/** USER's use of the mounted volumes NAMES given back; the last user's unmounts each. */
export async function unmountVolumes(store: Store, user: string, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await locked(store, async () => {
    for (const name of names) await unmountUnlocked(store, user, name);
  });
}
