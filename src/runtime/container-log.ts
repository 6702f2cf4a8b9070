/**
 * A container's output as docker's json-file driver keeps it: one JSON object per line,
 * `{"log":"text\n","stream":"stdout","time":"2026-01-02T03:04:05.123456789Z"}`, written by the
 * monitor and read by `logs` (following it while the container runs). With `--log-opt
 * max-size=` the file is rotated when it reaches that size, as docker's: to `container.log.1`,
 * `.2`… keeping `max-file` files in all (with one, it starts again empty); `logs` reads the
 * rotated files, oldest first, and follows the log across a rotation.
 */
import { closeSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { TsbuildError, parseByteSize } from '../common/index.js';

export type LogStream = 'stdout' | 'stderr';

export interface LogEntry {
  readonly log: string;
  readonly stream: LogStream;
  readonly time: string;
}

/** docker cuts a line without its end at 16 KiB. */
const maxLine = 16 * 1024;

/** `--log-driver` and `--log-opt` as kept in a container's record (docker's HostConfig.LogConfig). */
export interface LogConfig {
  /** `json-file` (and `local`, kept the same way here), or `none`: nothing kept, `logs` refused. */
  readonly type: 'json-file' | 'local' | 'none';
  readonly config: Readonly<Record<string, string>>;
}

const logOptions: ReadonlySet<string> = new Set(['max-size', 'max-file']);

/**
 * `--log-driver` and `--log-opt K=V`, checked as docker's daemon checks them: the drivers that
 * keep the log on the machine, and the options of rotation (`max-size`, `max-file`).
 */
export function parseLogConfig(driver: string | undefined, options: readonly string[]): LogConfig | undefined {
  if (driver === undefined && options.length === 0) return undefined;
  const type = driver ?? 'json-file';
  if (type !== 'json-file' && type !== 'local' && type !== 'none') {
    throw new TsbuildError('INVALID_ARGUMENT', `logger: no log driver named '${type}' is registered (json-file, local and none are)`);
  }
  const config: Record<string, string> = {};
  for (const option of options) {
    const at = option.indexOf('=');
    if (at <= 0) throw new TsbuildError('INVALID_ARGUMENT', `invalid key value pair format in driver options: ${option}`);
    const key = option.slice(0, at);
    if (type === 'none' || !logOptions.has(key)) throw new TsbuildError('INVALID_ARGUMENT', `unknown log opt '${key}' for ${type} log driver`);
    config[key] = option.slice(at + 1);
  }
  rotationOf({ type, config });
  return { type, config };
}

/** The rotation a config asks for; undefined without `max-size`. */
export function rotationOf(config: LogConfig | undefined): LogRotation | undefined {
  const size = config?.config['max-size'];
  const files = config?.config['max-file'];
  const maxFiles = files === undefined ? 1 : Number(files);
  if (files !== undefined && (!/^\d+$/.test(files) || maxFiles < 1)) throw new TsbuildError('INVALID_ARGUMENT', `max-file cannot be less than 1: ${files}`);
  if (size === undefined) {
    if (maxFiles > 1) throw new TsbuildError('INVALID_ARGUMENT', 'max-file cannot be set when max-size is not set');
    return undefined;
  }
  const maxSize = parseByteSize(size);
  if (maxSize <= 0) throw new TsbuildError('INVALID_ARGUMENT', `invalid max-size: ${size}`);
  return { maxSize, maxFiles };
}

/** docker's json-file options (`--log-opt`): rotation at a size, and how many files to keep. */
export interface LogRotation {
  /** Bytes; the file is rotated once it reaches them. */
  readonly maxSize: number;
  /** Files kept, the one written included (at least 1). */
  readonly maxFiles: number;
}

/** Appends a container's output to its log, a line per entry, as it comes. */
export class LogWriter {
  private fd: number;
  private size: number;
  private readonly partial: Record<LogStream, string> = { stdout: '', stderr: '' };

  constructor(
    private readonly path: string,
    private readonly rotation?: LogRotation,
  ) {
    this.fd = openSync(path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
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
    const bytes = Buffer.from(`${JSON.stringify(line)}\n`);
    writeSync(this.fd, bytes);
    this.size += bytes.length;
    if (this.rotation !== undefined && this.size >= this.rotation.maxSize) this.rotate(this.rotation.maxFiles);
  }

  /** The written file becomes `.1` (the older ones move up, the oldest beyond MAXFILES goes), and a new one starts. */
  private rotate(maxFiles: number): void {
    closeSync(this.fd);
    if (maxFiles <= 1) rmSync(this.path, { force: true });
    else {
      rmSync(`${this.path}.${maxFiles - 1}`, { force: true });
      for (let index = maxFiles - 2; index >= 1; index--) {
        try {
          renameSync(`${this.path}.${index}`, `${this.path}.${index + 1}`);
        } catch {
          // Not there yet: fewer rotations so far.
        }
      }
      renameSync(this.path, `${this.path}.1`);
    }
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = 0;
  }
}

/** The log's files as they are named now: `.N`…`.1` (oldest first), then PATH itself; each by inode, -1 when missing. */
async function logFileInodes(path: string): Promise<Array<{ name: string; ino: number }>> {
  const prefix = `${basename(path)}.`;
  const indices = (await readdir(dirname(path)).catch(() => [] as string[]))
    .filter((name) => name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length)))
    .map((name) => Number(name.slice(prefix.length)))
    .sort((a, b) => b - a);
  const names = [...indices.map((index) => `${path}.${index}`), path];
  return Promise.all(names.map(async (name) => ({ name, ino: await stat(name).then((info) => info.ino, () => -1) })));
}

interface LogFiles {
  /** The rotated files, oldest first, open. */
  readonly rotated: Array<{ readonly handle: FileHandle; readonly ino: number }>;
  /** The file being written, open; undefined when there is none. */
  readonly current: FileHandle | undefined;
}

/**
 * The log's files, opened as one consistent state: the writer renames them one by one as it
 * rotates, so names are read, the files opened and the names read again until both readings
 * agree with what was opened (a rotation in between is seen, and the files taken again).
 */
async function openLogFiles(path: string): Promise<LogFiles> {
  for (let attempt = 0; ; attempt++) {
    const before = await logFileInodes(path);
    const handles = await Promise.all(before.map(({ name, ino }) => (ino < 0 ? undefined : open(name, 'r').catch(() => undefined))));
    const opened = await Promise.all(handles.map((handle) => handle?.stat().then((info) => info.ino, () => -1) ?? -1));
    const after = await logFileInodes(path);
    const settled = before.length === after.length && before.every((file, index) => file.ino === after[index]?.ino && file.ino === opened[index]);
    // Between two renames of a rotation (or, at the first write, before there is a file): taken again.
    if ((settled && (before.at(-1)?.ino ?? -1) >= 0) || attempt >= 200) {
      const current = handles.at(-1);
      const rotated = handles.slice(0, -1).flatMap((handle, index) => (handle === undefined ? [] : [{ handle, ino: opened[index] ?? -1 }]));
      return { rotated, current };
    }
    await Promise.all(handles.map((handle) => handle?.close()));
    await sleep(5);
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

/** Reads a log file's lines from an offset, a chunk at a time; an unfinished last line waits for the rest. */
class LogFileReader {
  private rest = '';
  private readonly decoder = new StringDecoder('utf8');
  private readonly buffer = Buffer.alloc(64 * 1024);

  constructor(
    readonly handle: FileHandle,
    public offset: number,
  ) {}

  /**
   * The entries of whole lines from the offset on, one chunk's at a time as each is read (never
   * the whole file at once: a container that wrote gigabytes would otherwise be held in
   * memory), up to the byte END when given, else to the end of the file.
   */
  async *batches(end?: number): AsyncGenerator<LogEntry[]> {
    for (;;) {
      const length = end === undefined ? this.buffer.length : Math.min(this.buffer.length, end - this.offset);
      if (length <= 0) return;
      const { bytesRead } = await this.handle.read(this.buffer, 0, length, this.offset);
      if (bytesRead === 0) return;
      this.offset += bytesRead;
      const lines = (this.rest + this.decoder.write(this.buffer.subarray(0, bytesRead))).split('\n');
      this.rest = lines.pop() ?? '';
      const batch: LogEntry[] = [];
      for (const line of lines) {
        const entry = parseLine(line);
        if (entry !== undefined) batch.push(entry);
      }
      yield batch;
    }
  }
}

/** The last COUNT entries of BATCHES, holding no more than COUNT at a time. */
async function lastOf(batches: AsyncIterable<readonly LogEntry[]>, count: number): Promise<LogEntry[]> {
  const ring: LogEntry[] = [];
  let seen = 0;
  for await (const batch of batches) {
    if (count === 0) continue;
    for (const entry of batch) ring[seen++ % count] = entry;
  }
  const kept = Math.min(seen, count);
  return Array.from({ length: kept }, (_, index) => ring[(seen - kept + index) % count] as LogEntry);
}

/**
 * The log's entries, in order (the rotated files' first), as they are read; with `follow`, those
 * written later too. Without `follow`, the log is read as it was when reading started: a
 * container still writing never keeps `logs` reading.
 */
export async function* readLog(path: string, options: ReadLogOptions = {}): AsyncGenerator<LogEntry> {
  const wanted = (entry: LogEntry): boolean => {
    const at = Date.parse(entry.time);
    return (options.since === undefined || at >= options.since) && (options.until === undefined || at <= options.until);
  };
  const filtered = async function* (batches: AsyncIterable<LogEntry[]>): AsyncGenerator<LogEntry[]> {
    for await (const batch of batches) yield options.since === undefined && options.until === undefined ? batch : batch.filter(wanted);
  };
  /** The files HANDLES read whole, which are closed after (all of them, when reading stops early). */
  const readWhole = async function* (handles: readonly FileHandle[]): AsyncGenerator<LogEntry[]> {
    try {
      for (const file of handles) {
        yield* new LogFileReader(file, 0).batches();
        await file.close();
      }
    } finally {
      await Promise.all(handles.map((file) => file.close()));
    }
  };
  const files = options.fromOffset === undefined ? await openLogFiles(path) : { rotated: [], current: await open(path, 'r').catch(() => undefined) };
  let reader = files.current === undefined ? undefined : new LogFileReader(files.current, options.fromOffset ?? 0);
  try {
    const startSize = files.current === undefined ? 0 : (await files.current.stat()).size;
    const atStart = async function* (): AsyncGenerator<LogEntry[]> {
      yield* readWhole(files.rotated.map((file) => file.handle));
      if (reader !== undefined) yield* reader.batches(startSize);
    };
    if (options.tail === undefined || options.tail < 0) {
      for await (const batch of filtered(atStart())) yield* batch;
    } else {
      yield* await lastOf(filtered(atStart()), options.tail);
    }
    if (reader === undefined || options.follow !== true) return;
    /**
     * Rotated meanwhile: what is left of the file read, then the files rotated after it (several
     * rotations may come between two reads; when it is gone, every file there is newer), then
     * the new one from its start.
     */
    const followRotation = async function* (current: LogFileReader): AsyncGenerator<LogEntry[]> {
      const named = await stat(path).catch(() => undefined);
      const mine = await current.handle.stat();
      if (named === undefined || (named.ino === mine.ino && named.dev === mine.dev)) return;
      yield* current.batches();
      const now = await openLogFiles(path);
      const at = now.rotated.findIndex((file) => file.ino === mine.ino);
      await Promise.all(now.rotated.slice(0, at + 1).map((file) => file.handle.close()));
      yield* readWhole(now.rotated.slice(at + 1).map((file) => file.handle));
      if (now.current === undefined) return;
      await current.handle.close();
      reader = new LogFileReader(now.current, 0);
      yield* reader.batches();
    };
    for (;;) {
      if (options.signal?.aborted === true) return;
      // Asked before reading: whatever was written before the container ended is read after.
      const stillRunning = options.running === undefined ? true : await options.running();
      for await (const batch of filtered(reader.batches())) yield* batch;
      for await (const batch of filtered(followRotation(reader))) yield* batch;
      if (!stillRunning) return;
      await sleep(50);
    }
  } finally {
    await reader?.handle.close();
  }
}
