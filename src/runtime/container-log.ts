/**
 * A container's output as docker's json-file driver keeps it: one JSON object per line,
 * `{"log":"text\n","stream":"stdout","time":"2026-01-02T03:04:05.123456789Z"}`, written by the
 * monitor and read by `logs` (following it while the container runs).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export type LogStream = 'stdout' | 'stderr';

export interface LogEntry {
  readonly log: string;
  readonly stream: LogStream;
  readonly time: string;
}

/** docker cuts a line without its end at 16 KiB. */
const maxLine = 16 * 1024;

/** Appends a container's output to its log, a line per entry, as it comes. */
export class LogWriter {
  private readonly fd: number;
  private readonly partial: Record<LogStream, string> = { stdout: '', stderr: '' };

  constructor(path: string) {
    this.fd = openSync(path, 'a', 0o600);
  }

  write(stream: LogStream, chunk: Buffer | string): void {
    let text = this.partial[stream] + chunk.toString();
    for (;;) {
      const end = text.indexOf('\n');
      if (end < 0) break;
      this.entry(stream, text.slice(0, end + 1));
      text = text.slice(end + 1);
    }
    while (text.length >= maxLine) {
      this.entry(stream, text.slice(0, maxLine));
      text = text.slice(maxLine);
    }
    this.partial[stream] = text;
  }

  /** Writes what is left of unfinished lines (the container exited in the middle of one). */
  flush(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream] !== '') this.entry(stream, this.partial[stream]);
      this.partial[stream] = '';
    }
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }

  private entry(stream: LogStream, log: string): void {
    const line: LogEntry = { log, stream, time: new Date().toISOString() };
    writeSync(this.fd, `${JSON.stringify(line)}\n`);
  }
}

export interface ReadLogOptions {
  /** Keep reading as the log grows, until `running` says the container ended and all is read. */
  readonly follow?: boolean;
  readonly running?: () => Promise<boolean>;
  /** Only the last N entries (of what is there when reading starts). */
  readonly tail?: number;
  /** Only entries at or after this time (ms since the epoch). */
  readonly since?: number;
  readonly until?: number;
  /** Start at this byte offset (what `start -a` had before starting). */
  readonly fromOffset?: number;
  readonly signal?: AbortSignal;
}

function parseLine(line: string): LogEntry | undefined {
  try {
    const entry = JSON.parse(line) as Partial<LogEntry>;
    if (typeof entry.log !== 'string' || (entry.stream !== 'stdout' && entry.stream !== 'stderr') || typeof entry.time !== 'string') return undefined;
    return entry as LogEntry;
  } catch {
    return undefined;
  }
}

/** The log's entries, in order; with `follow`, those written later too. */
export async function* readLog(path: string, options: ReadLogOptions = {}): AsyncGenerator<LogEntry> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return;
  }
  try {
    let offset = options.fromOffset ?? 0;
    let rest = '';
    const wanted = (entry: LogEntry): boolean => {
      const at = Date.parse(entry.time);
      return (options.since === undefined || at >= options.since) && (options.until === undefined || at <= options.until);
    };
    const readMore = async (): Promise<LogEntry[]> => {
      const found: LogEntry[] = [];
      const buffer = Buffer.alloc(64 * 1024);
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        rest += buffer.subarray(0, bytesRead).toString();
        const lines = rest.split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) {
          const entry = parseLine(line);
          if (entry !== undefined && wanted(entry)) found.push(entry);
        }
      }
      return found;
    };
    const first = await readMore();
    yield* options.tail === undefined || options.tail < 0 ? first : options.tail === 0 ? [] : first.slice(-options.tail);
    if (options.follow !== true) return;
    for (;;) {
      if (options.signal?.aborted === true) return;
      // Asked before reading: whatever was written before the container ended is read after.
      const stillRunning = options.running === undefined ? true : await options.running();
      yield* await readMore();
      if (!stillRunning) return;
      await sleep(50);
    }
  } finally {
    await handle.close();
  }
}
