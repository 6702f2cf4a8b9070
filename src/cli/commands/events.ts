/**
 * `tsbuild events` (and `system events`): the store's event log (store/events.ts) read and
 * followed, with docker's filters, times and formats.
 */
import { open, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { TsbuildError, goJson, goStruct, parseGoDuration } from '../../common/index.js';
import { eventsLogPath, type EventMessage } from '../../store/index.js';
import { parseGoTemplate } from '../go-template.js';
import type { CliIo } from '../io.js';
import { collect } from '../common-options.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

interface EventsOptions extends RootOption {
  since?: string;
  until?: string;
  filter: string[];
  format?: string;
}

/** docker's --since/--until: a Unix time (with a fraction), RFC 3339, or a Go duration before now. In ns. */
function eventTime(text: string, flag: string): bigint {
  if (/^\d+(\.\d+)?$/.test(text)) {
    const [seconds, fraction = ''] = text.split('.');
    return BigInt(seconds ?? '0') * 1_000_000_000n + BigInt(fraction.padEnd(9, '0').slice(0, 9));
  }
  const duration = parseGoDuration(text);
  if (typeof duration === 'number') return BigInt(Date.now()) * 1_000_000n - BigInt(Math.round(duration));
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed)) throw new TsbuildError('INVALID_ARGUMENT', `events --${flag} ${JSON.stringify(text)}: expected a Unix time, an RFC 3339 time or a duration such as 10m`);
  return BigInt(parsed) * 1_000_000n;
}

/** docker's filters: every key given must match (any of its values). */
function eventFilter(terms: readonly string[]): (event: EventMessage) => boolean {
  const byKey = new Map<string, string[]>();
  for (const term of terms) {
    const eq = term.indexOf('=');
    if (eq <= 0) throw new TsbuildError('INVALID_ARGUMENT', `bad format of filter (expected name=value)`);
    const key = term.slice(0, eq);
    if (!['container', 'event', 'image', 'label', 'network', 'type', 'volume', 'scope'].includes(key)) throw new TsbuildError('INVALID_ARGUMENT', `invalid filter '${key}'`);
    byKey.set(key, [...(byKey.get(key) ?? []), term.slice(eq + 1)]);
  }
  const actor = (event: EventMessage, type: string, values: readonly string[]): boolean =>
    event.Type === type && values.some((value) => event.Actor.ID === value || event.Actor.ID.startsWith(value) || event.Actor.Attributes['name'] === value);
  return (event) =>
    [...byKey].every(([key, values]) => {
      switch (key) {
        case 'container':
          return actor(event, 'container', values);
        case 'network':
          return actor(event, 'network', values);
        case 'volume':
          return actor(event, 'volume', values);
        case 'image':
          return values.some((value) => event.Actor.Attributes['image'] === value || (event.Type === 'image' && (event.Actor.ID === value || event.Actor.Attributes['name'] === value)));
        case 'event':
          return values.includes(event.Action) || values.some((value) => event.Action.startsWith(`${value}:`));
        case 'type':
          return values.includes(event.Type);
        case 'scope':
          return values.includes(event.scope);
        default: {
          // label=KEY or label=KEY=VALUE, over the attributes (a container's labels are among them).
          return values.some((value) => {
            const at = value.indexOf('=');
            return at < 0 ? Object.hasOwn(event.Actor.Attributes, value) : event.Actor.Attributes[value.slice(0, at)] === value.slice(at + 1);
          });
        }
      }
    });
}

/** RFC 3339 with nine digits of fraction, in the machine's time zone, as docker prints an event's time. */
function eventTimeText(nano: bigint): string {
  const ms = Number(nano / 1_000_000n);
  const offsetMinutes = -new Date(ms).getTimezoneOffset();
  const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 19);
  const fraction = (nano % 1_000_000_000n).toString().padStart(9, '0');
  const zone = offsetMinutes === 0 ? 'Z' : `${offsetMinutes < 0 ? '-' : '+'}${String(Math.floor(Math.abs(offsetMinutes) / 60)).padStart(2, '0')}:${String(Math.abs(offsetMinutes) % 60).padStart(2, '0')}`;
  return `${local}.${fraction}${zone}`;
}

/** An event as a template sees it: docker's Go field names, its JSON's names when marshalled. */
function templateValue(event: EventMessage): unknown {
  return goStruct(
    {
      Status: event.status,
      ID: event.id,
      From: event.from,
      Type: event.Type,
      Action: event.Action,
      // Sorted when recorded: as a Go map marshals.
      Actor: goStruct({ ID: event.Actor.ID, Attributes: event.Actor.Attributes }, {}),
      Scope: event.scope,
      Time: event.time,
      TimeNano: event.timeNano,
    },
    { Status: 'status', ID: 'id', From: 'from', Scope: 'scope', Time: 'time', TimeNano: 'timeNano' },
  );
}

function formatter(format: string | undefined): (event: EventMessage) => string {
  if (format === undefined || format === '') {
    return (event) => {
      // In the order recorded: sorted by key, as docker prints them.
      const attributes = Object.entries(event.Actor.Attributes);
      return `${eventTimeText(event.timeNano)} ${event.Type} ${event.Action} ${event.Actor.ID}${attributes.length === 0 ? '' : ` (${attributes.map(([key, value]) => `${key}=${value}`).join(', ')})`}\n`;
    };
  }
  // Its json is docker's: Go's encoder, field names from the json tags, no HTML escaping.
  const template = parseGoTemplate(format === 'json' ? '{{json .}}' : format, { json: (value) => goJson(value ?? null, false) });
  return (event) => `${template.execute(templateValue(event))}\n`;
}

/** The whole lines of the log from OFFSET on, and where the next read starts. */
async function readFrom(path: string, offset: number): Promise<{ lines: string[]; next: number }> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { lines: [], next: 0 };
    throw error;
  }
  try {
    const size = (await handle.stat()).size;
    // Rotated meanwhile: the new log is read from its start.
    const start = size < offset ? 0 : offset;
    if (size === start) return { lines: [], next: start };
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    const end = buffer.lastIndexOf(0x0a) + 1;
    return { lines: buffer.subarray(0, end).toString('utf8').split('\n').filter((line) => line !== ''), next: start + end };
  } finally {
    await handle.close();
  }
}

function parseLine(line: string): EventMessage | undefined {
  try {
    const value = JSON.parse(line) as Omit<EventMessage, 'timeNano'>;
    // Read from the text: a double would round the nanoseconds.
    const nano = /,"timeNano":(\d+)\}$/.exec(line)?.[1];
    return typeof value.Type === 'string' && nano !== undefined && typeof value.Actor?.ID === 'string' ? { ...value, timeNano: BigInt(nano) } : undefined;
  } catch {
    // A line cut by a full disk: skipped.
    return undefined;
  }
}

export const registerEvents = (program: Command, io: CliIo): void => defineEvents(program, io);

export function defineEvents(parent: Command, io: CliIo): void {
  addRootOption(
    parent
      .command('events')
      .description("real time events of containers, images, networks and volumes (docker's events)")
      .option('--since <time>', 'show events since this time (Unix time, RFC 3339, or a duration such as 10m), then the new ones')
      .option('--until <time>', 'stream events until this time')
      .option('-f, --filter <filter>', 'container=, event=, image=, label=, network=, type=, volume= (repeatable)', collect, [])
      .option('--format <format>', "'json', or a Go template such as {{.Type}} {{.Action}}"),
  ).action(async (options: EventsOptions) => {
    const since = options.since === undefined ? undefined : eventTime(options.since, 'since');
    const until = options.until === undefined ? undefined : eventTime(options.until, 'until');
    const accept = eventFilter(options.filter);
    const print = formatter(options.format);
    const store = await storeFromOptions(options);
    const path = eventsLogPath(store.root);
    const show = (lines: readonly string[]): void => {
      for (const line of lines) {
        const event = parseLine(line);
        if (event === undefined) continue;
        const at = event.timeNano;
        if ((since !== undefined && at < since) || (until !== undefined && at > until)) continue;
        if (accept(event)) io.stdout.write(print(event));
      }
    };
    let offset: number;
    if (since !== undefined || until !== undefined) {
      // The past asked for: the rotated log first, then the current one.
      show((await readFrom(`${path}.1`, 0)).lines);
      const read = await readFrom(path, 0);
      show(read.lines);
      offset = read.next;
    } else {
      offset = await stat(path).then(
        (info) => info.size,
        () => 0,
      );
    }
    const untilMs = until === undefined ? undefined : Number(until / 1_000_000n);
    // Followed until --until (or for ever): the log is small to poll, and no daemon pushes.
    while (untilMs === undefined || Date.now() <= untilMs) {
      await new Promise((resolve) => setTimeout(resolve, untilMs === undefined ? 200 : Math.max(0, Math.min(200, untilMs - Date.now() + 1))));
      const read = await readFrom(path, offset);
      show(read.lines);
      offset = read.next;
    }
  });
}
