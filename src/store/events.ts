/**
 * docker's events, without a daemon to keep them: every process that changes a container,
 * network, volume or image appends the event to the store's `events.log` (one JSON line, one
 * write, O_APPEND, so lines from concurrent processes never interleave), and `tsbuild events`
 * reads and follows that file. Past a few megabytes the log is moved to `events.log.1` (the
 * one before it dropped) and a new one begun, as podman's file logger rotates its own.
 *
 * A container's events come from its record's changes (runtime/events.ts).
 */
import { appendFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Descriptor, Platform } from '../common/index.js';
import { resolveImage } from './image.js';
import type { LayoutStore } from './layout-store.js';

export type EventType = 'container' | 'image' | 'network' | 'volume';

/** One event, as docker's API (events.Message) and `events --format json` give it. */
export interface EventMessage {
  readonly status?: string;
  readonly id?: string;
  readonly from?: string;
  readonly Type: EventType;
  readonly Action: string;
  readonly Actor: { readonly ID: string; readonly Attributes: Readonly<Record<string, string>> };
  readonly scope: 'local';
  readonly time: number;
  readonly timeNano: bigint;
}

/** Past this the log is rotated: the events of a busy day, and still quick to read whole. */
const rotateBytes = 8 * 1024 * 1024;

export function eventsLogPath(root: string): string {
  return join(root, 'events.log');
}

/** Nanoseconds since the epoch: the clock's milliseconds, and a monotonic count below them for order. */
function nowNano(): bigint {
  return BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
}

/**
 * Appends an event to ROOT's log. Never fails what it records: an event that cannot be written
 * (a full or read-only disk) is lost, as a daemon's event that nobody listens to is.
 */
export async function recordEvent(root: string, type: EventType, action: string, id: string, attributes: Readonly<Record<string, string>>): Promise<void> {
  const nano = nowNano();
  const sorted = Object.fromEntries(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const message: EventMessage = {
    // docker's older fields, which it still fills for containers and images (a container's image as `from`).
    ...(type === 'container' ? { status: action, id, from: attributes['image'] ?? '' } : type === 'image' ? { status: action, id } : {}),
    Type: type,
    Action: action,
    Actor: { ID: id, Attributes: sorted },
    scope: 'local',
    time: Number(nano / 1_000_000_000n),
    timeNano: nano,
  };
  const path = eventsLogPath(root);
  try {
    // timeNano written exactly: nanoseconds since the epoch are past a double's integers.
    const { timeNano: _written, ...rest } = message;
    await appendFile(path, `${JSON.stringify(rest).slice(0, -1)},"timeNano":${nano}}\n`, { mode: 0o600 });
    if ((await stat(path)).size > rotateBytes) await rename(path, `${path}.1`);
  } catch {
    // Lost, as above.
  }
}


/**
 * An image's event as docker's daemon tells it: by the image's ID (its config's digest), with the
 * labels of its config and NAME (the ID itself for load, save and import).
 */
export async function recordImageEvent(root: string, action: string, image: { readonly id: string; readonly labels?: Readonly<Record<string, string>> | null }, name: string = image.id): Promise<void> {
  await recordEvent(root, 'image', action, image.id, { ...(image.labels ?? {}), name });
}

/**
 * ACTION (load, save) told once for each image among DESCRIPTORS, by its ID: its config's digest
 * (on PLATFORM), or the descriptor's own for an index without that platform. docker's daemon
 * tells an image once however many names it came or went under.
 */
export async function recordImagesOnce(store: LayoutStore, action: string, descriptors: readonly Descriptor[], platform?: Platform): Promise<void> {
  const told = new Set<string>();
  for (const descriptor of descriptors) {
    const resolved = await resolveImage(store, descriptor, platform).catch(() => undefined);
    const id = resolved?.manifest.config.digest ?? descriptor.digest;
    if (!told.has(id)) await recordImageEvent(store.root, action, { id, labels: resolved?.config.config?.Labels ?? null });
    told.add(id);
  }
}
