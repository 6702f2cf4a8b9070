/**
 * Containers that outlive their run, as other tsbuild processes find them: by name or ID,
 * their record changed only under the container's lock (`<root>/containers/<id>.lock`), and
 * their state as docker reports it, a container whose monitor died included.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TsbuildError } from '../common/index.js';
import { acquireLock, tryLock, type FileLock, type Store } from '../store/index.js';
import { thawContainer } from './freezer.js';
import { containerDirectory, containersDirectory, ownerAlive, readContainerRecord, writeContainerRecord, type ContainerRecord, type ContainerStatus } from './container.js';

/** Short enough to be waited for by a person; long enough for a slow machine's start-up. */
const lockTimeoutMs = 30_000;

function lockPath(store: Store, id: string): string {
  return join(containersDirectory(store), `${id}.lock`);
}

/** Where the monitor of a --rm container that could not run leaves its error for the starter. */
export function failedStartPath(store: Store, id: string): string {
  return join(containersDirectory(store), `${id}.failed`);
}

/** Names are checked and taken under one lock for the whole store: two creates never take one name. */
export async function lockNames(store: Store): Promise<FileLock> {
  await mkdir(containersDirectory(store), { recursive: true });
  return acquireLock(join(containersDirectory(store), 'names.lock'), { timeoutMs: lockTimeoutMs, staleMs: 60_000 });
}

export async function lockContainer(store: Store, id: string): Promise<FileLock> {
  return acquireLock(lockPath(store, id), { timeoutMs: lockTimeoutMs, staleMs: 60_000 });
}

/** Removes a removed container's lock file (its holder releases it first). */
export async function removeContainerLock(store: Store, id: string): Promise<void> {
  await rm(lockPath(store, id), { force: true });
}

/**
 * Reads the record, lets CHANGE make a new one from it, and writes that, all under the
 * container's lock; CHANGE returning undefined writes nothing. Resolves to the record as left.
 */
export async function updateContainer(
  store: Store,
  id: string,
  change: (record: ContainerRecord) => ContainerRecord | undefined | Promise<ContainerRecord | undefined>,
): Promise<ContainerRecord> {
  const lock = await lockContainer(store, id);
  try {
    const record = await readContainerRecord(store, id);
    if (record === undefined) throw new TsbuildError('NOT_FOUND', `no such container: ${id}`);
    const changed = await change(record);
    if (changed === undefined) return record;
    await writeContainerRecord(store, changed);
    return changed;
  } finally {
    await lock.release();
  }
}

/** Every container with a record, the foreground `run --rm` ones included. */
export async function listContainerRecords(store: Store): Promise<ContainerRecord[]> {
  let names: string[];
  try {
    names = await readdir(containersDirectory(store));
  } catch {
    return [];
  }
  const records = await Promise.all(
    names
      .filter((name) => /^[0-9a-f]{64}$/.test(name))
      .map(async (id) => {
        const record = await readContainerRecord(store, id);
        return record?.state.pausedBy === undefined ? record : thawAbandoned(store, record);
      }),
  );
  return records.filter((record): record is ContainerRecord => record !== undefined);
}

/**
 * A container a command froze for its own ends (`commit`) and was killed before it thawed:
 * thawed, and its record says so. Under the container's lock, taken only if free (the caller
 * may hold it); a busy lock leaves the thaw to the next look.
 */
async function thawAbandoned(store: Store, record: ContainerRecord): Promise<ContainerRecord> {
  const holder = record.state.pausedBy;
  if (holder === undefined || (await ownerAlive(holder))) return record;
  const lock = await tryLock(lockPath(store, record.id), { staleMs: 60_000 });
  if (lock === undefined) return record;
  try {
    const current = await readContainerRecord(store, record.id);
    if (current?.state.pausedBy === undefined || (await ownerAlive(current.state.pausedBy))) return current ?? record;
    await thawContainer(current.id, current.hostConfig?.cgroupParent);
    const { paused: _paused, pausedBy: _pausedBy, ...state } = current.state;
    const thawed = { ...current, state };
    await writeContainerRecord(store, thawed);
    return thawed;
  } finally {
    await lock.release();
  }
}

/**
 * The container NAME_OR_ID names, as docker looks it up: an exact ID, an exact name (with or
 * without its `/`), then a unique prefix of an ID.
 */
export async function findContainer(store: Store, nameOrId: string): Promise<ContainerRecord> {
  const wanted = nameOrId.startsWith('/') ? nameOrId.slice(1) : nameOrId;
  const records = await listContainerRecords(store);
  const exact = records.find((record) => record.id === wanted) ?? records.find((record) => record.name === wanted);
  if (exact !== undefined) return exact;
  const prefixed = /^[0-9a-f]+$/.test(wanted) ? records.filter((record) => record.id.startsWith(wanted)) : [];
  if (prefixed.length > 1) throw new TsbuildError('INVALID_ARGUMENT', `multiple IDs found with provided prefix: ${wanted}`);
  const [only] = prefixed;
  if (only === undefined) throw new TsbuildError('NOT_FOUND', `No such container: ${nameOrId}`);
  return only;
}

/** What the record says, corrected by whether its monitor still lives. */
export interface ObservedState {
  readonly status: ContainerStatus;
  readonly running: boolean;
  /** The record's status was running or restarting, and its monitor is gone. */
  readonly monitorDied: boolean;
}

/**
 * The container's state as docker reports it: a container recorded as running whose monitor
 * is gone is `dead` (nothing watches it any more), never `running`.
 */
export async function observeState(record: ContainerRecord): Promise<ObservedState> {
  const { status, monitor } = record.state;
  if (status !== 'running' && status !== 'restarting') return { status, running: false, monitorDied: false };
  const watched = monitor !== undefined ? await ownerAlive(monitor) : await ownerAlive(record.owner);
  // The foreground `run --rm` is its own monitor: its owner stands for it.
  if (watched) return { status: status === 'running' && record.state.paused === true ? 'paused' : status, running: status === 'running', monitorDied: false };
  return { status: 'dead', running: false, monitorDied: true };
}

/** A container's directory (for its log and bundle). */
export function containerPath(store: Store, id: string, ...parts: string[]): string {
  return join(containerDirectory(store, id), ...parts);
}
