/**
 * A container's events come from its record's changes (created, started, died, paused, renamed,
 * its health), so that every path that changes one (run, start, the monitor, stop) tells them
 * alike; its removal from the removal of its directory. See store/events.ts for the log.
 */
import { constants as osConstants } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { recordEvent } from '../store/index.js';
import type { ContainerRecord } from './container.js';
import type { MountSpec } from './spec.js';

export { recordEvent } from '../store/index.js';

/** A container's attributes: its image as named, its name, and its labels (the image's with its own), as docker gives them. */
function containerAttributes(record: ContainerRecord): Record<string, string> {
  return {
    ...(record.config.labels ?? {}),
    image: record.config.image ?? record.image.name ?? record.image.id,
    name: record.name ?? record.id.slice(0, 12),
  };
}

/** The events a container's record changing from PREVIOUS (none: just made) to NEXT tells. */
export async function recordContainerChange(root: string, previous: ContainerRecord | undefined, next: ContainerRecord): Promise<void> {
  const attributes = containerAttributes(next);
  const emit = (action: string, more: Record<string, string> = {}): Promise<void> => recordEvent(root, 'container', action, next.id, { ...attributes, ...more });
  if (previous === undefined) {
    await emit('create');
    if (next.state.status === 'running') await emit('start');
    return;
  }
  if (previous.name !== undefined && next.name !== undefined && previous.name !== next.name) await emit('rename', { oldName: `/${previous.name}` });
  const was = previous.state;
  const now = next.state;
  const running = (state: ContainerRecord['state']): boolean => state.status === 'running' || state.status === 'paused';
  const ended = (state: ContainerRecord['state']): boolean => state.status === 'exited' || state.status === 'dead';
  // A run begun since the last record: a new start time, or one that began and ended between
  // two writes (a command that exits at once goes from created to exited).
  const ranNow = (now.startedAt !== undefined && now.startedAt !== was.startedAt) || (was.status === 'created' && ended(now));
  const die = (state: ContainerRecord['state'], from: string | undefined): Promise<void> => {
    const seconds = from === undefined ? 0 : Math.max(0, Math.floor((Date.parse(state.finishedAt ?? new Date().toISOString()) - Date.parse(from)) / 1000));
    return emit('die', { execDuration: String(seconds), exitCode: String(state.exitCode ?? 0) });
  };
  // Its volumes as docker's daemon tells them: unmounted before the end is told, mounted before a start.
  const volumes = (action: 'mount' | 'unmount'): Promise<void> => recordVolumeMounts(root, next.id, next.hostConfig?.mounts ?? [], action);
  // Restarted between two writes: its run before ended first.
  if (running(was) && ranNow) {
    await volumes('unmount');
    await die(was, was.startedAt);
  }
  if (ranNow || (!running(was) && running(now))) {
    await volumes('mount');
    await emit('start');
  }
  const paused = (state: ContainerRecord['state']): boolean => state.paused === true || state.status === 'paused';
  if (running(was) && running(now) && !ranNow && paused(was) !== paused(now)) await emit(paused(now) ? 'pause' : 'unpause');
  if ((running(was) || ranNow) && !running(now)) {
    await volumes('unmount');
    await die(now, now.startedAt ?? was.startedAt);
  }
  const health = now.health?.status;
  if (health !== undefined && health !== 'starting' && health !== was.health?.status) await emit(`health_status: ${health}`);
}

/**
 * `volume mount` or `unmount` for each volume among a container's MOUNTS (those whose source is
 * a volume's data under ROOT), with docker's attributes: where and how it is mounted, for a mount.
 */
export async function recordVolumeMounts(root: string, container: string, mounts: readonly MountSpec[], action: 'mount' | 'unmount'): Promise<void> {
  const volumes = join(root, 'volumes');
  for (const mount of mounts) {
    if (mount.source === undefined || basename(mount.source) !== '_data' || dirname(dirname(mount.source)) !== volumes) continue;
    const more: Record<string, string> = action === 'mount' ? { destination: mount.destination, propagation: '', 'read/write': String(!(mount.options ?? []).includes('ro')) } : {};
    await recordEvent(root, 'volume', action, basename(dirname(mount.source)), { container, driver: 'local', ...more });
  }
}

/** A container's removal. */
export async function recordContainerRemoved(root: string, record: ContainerRecord): Promise<void> {
  await recordContainerEvent(root, record, 'destroy');
}

/** An event of RECORD's that no change of its record tells (kill, stop), with MORE attributes. */
export async function recordContainerEvent(root: string, record: ContainerRecord, action: string, more: Readonly<Record<string, string>> = {}): Promise<void> {
  await recordEvent(root, 'container', action, record.id, { ...containerAttributes(record), ...more });
}

/** A signal as docker's kill event names it: its number. */
export function signalNumber(signal: string): string {
  const number = (osConstants.signals as Record<string, number | undefined>)[signal];
  return number === undefined ? signal : String(number);
}
