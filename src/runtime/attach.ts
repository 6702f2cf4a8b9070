/**
 * `attach`: a detached container's monitor listens on a unix socket in the container's directory
 * (`attach.sock`, 0600: only the store's owner reaches it). Whoever connects gets the
 * container's output from then on and may send it input (its stdin pipe, or its terminal with
 * `-t`, which it may also resize). Frames both ways are a kind byte, a 32-bit big-endian length
 * and the payload:
 *   client → monitor: 0 input, 2 resize (rows and columns, 16 bits each), 3 its input ended;
 *   monitor → client: 1 stdout, 2 stderr (docker's stream numbers), 3 the process ended (its
 *   exit status, 32 bits, when known).
 * Input from several clients is interleaved, as docker's; a client leaving closes nothing. A
 * client's input ending closes the container's stdin only when it was made so (docker's
 * StdinOnce, `run -i` in the foreground), and never a terminal's.
 */
import { closeSync, openSync } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { TsbuildError, messageOf } from '../common/index.js';
import type { TerminalSize } from './terminal.js';

export const attachSocketName = 'attach.sock';

const frameKind = { input: 0, stdout: 1, stderr: 2, resize: 2, ended: 3, inputEnded: 3 } as const;

function frame(kind: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(kind, 0);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** Splits a byte stream into frames; a frame larger than LIMIT ends the connection. */
function frameReader(onFrame: (kind: number, payload: Buffer) => void, onBad: () => void, limit = 1 << 20): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const length = pending.readUInt32BE(1);
      if (length > limit) {
        onBad();
        return;
      }
      if (pending.length < 5 + length) break;
      onFrame(pending.readUInt8(0), pending.subarray(5, 5 + length));
      pending = pending.subarray(5 + length);
    }
  };
}

/**
 * A unix socket path the kernel takes (at most 107 bytes): long ones are reached through a
 * descriptor of their directory (`/proc/self/fd/N/NAME`), which CLOSE releases once bound or connected.
 */
function reachable(path: string, directory: string): { path: string; close(): void } {
  if (Buffer.byteLength(path) <= 100) return { path, close: () => undefined };
  const fd = openSync(directory, 'r');
  return { path: `/proc/self/fd/${fd}/${attachSocketName}`, close: () => closeSync(fd) };
}

export class AttachServer {
  /** What clients send, for the container's stdin or terminal; never ends. */
  readonly input = new PassThrough();
  private readonly clients = new Set<Socket>();
  private connected: () => void = () => undefined;
  /** Settles once a client connected. */
  private readonly firstConnection = new Promise<void>((resolve) => {
    this.connected = resolve;
  });

  private constructor(
    private readonly server: Server,
    private readonly path: string,
    private resizer: ((size: TerminalSize) => void) | undefined,
    private readonly stdinOnce: boolean,
  ) {}

  /**
   * Listens in DIRECTORY (the container's); a stale socket of an earlier monitor is replaced.
   * STDIN_ONCE: a client's end of input ends `input` (docker's StdinOnce; never for a terminal,
   * whose input a pty's master takes, and ending it would close the terminal).
   */
  static async open(directory: string, options: { readonly stdinOnce?: boolean } = {}): Promise<AttachServer> {
    const path = join(directory, attachSocketName);
    await rm(path, { force: true });
    const server = createServer();
    const attach = new AttachServer(server, path, undefined, options.stdinOnce === true);
    server.on('connection', (socket) => attach.accept(socket));
    const target = reachable(path, directory);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(target.path, () => resolve());
      });
    } finally {
      target.close();
    }
    await chmod(path, 0o600);
    server.on('error', () => undefined);
    return attach;
  }

  /** Where resize frames go: the container's terminal while it runs. */
  onResize(resizer: ((size: TerminalSize) => void) | undefined): void {
    this.resizer = resizer;
  }

  /** Once a client connected, or after TIMEOUT_MS: `run` in the foreground attaches before the container starts, so none of its output is missed. */
  async firstClient(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.firstConnection, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  private accept(socket: Socket): void {
    this.clients.add(socket);
    this.connected();
    const read = frameReader(
      (kind, payload) => {
        if (kind === frameKind.input) {
          if (this.input.writableEnded) return;
          // The container reads slower than the client sends: the client waits (no unbounded queue here).
          if (!this.input.write(payload)) {
            socket.pause();
            this.input.once('drain', () => socket.resume());
          }
        } else if (kind === frameKind.resize && payload.length === 4) this.resizer?.({ rows: payload.readUInt16BE(0), columns: payload.readUInt16BE(2) });
        else if (kind === frameKind.inputEnded && this.stdinOnce && !this.input.writableEnded) this.input.end();
      },
      () => socket.destroy(),
    );
    socket.on('data', read);
    socket.on('error', () => undefined);
    socket.on('close', () => this.clients.delete(socket));
  }

  /**
   * Output of the container to every client attached. Undefined when every client has taken
   * what it was sent but the last chunks; else a promise of the moment it has: the caller waits
   * before it reads more of the container's output, so a client that stops reading (a paused
   * terminal, a pipe nobody reads) holds the container's output back, as with docker, instead
   * of the monitor keeping all of it in memory.
   */
  broadcast(stream: 'stdout' | 'stderr', chunk: Buffer): Promise<void> | undefined {
    if (this.clients.size === 0) return undefined;
    const bytes = frame(stream === 'stdout' ? frameKind.stdout : frameKind.stderr, chunk);
    for (const client of this.clients) client.write(bytes);
    const behind = [...this.clients].filter((client) => client.writableLength > maxQueuedOutput);
    if (behind.length === 0) return undefined;
    return Promise.all(behind.map((client) => caughtUp(client))).then(() => undefined);
  }

  /** The container's process ended (with STATUS when known): each client is told, then let go. */
  ended(status?: number): void {
    const payload = Buffer.alloc(status === undefined ? 0 : 4);
    if (status !== undefined) payload.writeInt32BE(status, 0);
    for (const client of this.clients) client.end(frame(frameKind.ended, payload));
  }

  async close(): Promise<void> {
    this.ended();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.path, { force: true });
  }
}

/** Bytes of output a client may have not yet taken before the container's output waits for it. */
export const maxQueuedOutput = 1024 * 1024;

/** Once SOCKET has sent all it holds, or is gone. */
function caughtUp(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
    if (socket.destroyed) done();
  });
}

export interface AttachStreams {
  /** Sent to the container; undefined: nothing is (`--no-stdin`, or a container without -i). */
  readonly stdin?: NodeJS.ReadableStream;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  /** Bytes that detach when typed in a row on stdin (docker's ctrl-p,ctrl-q). */
  readonly detachKeys?: Buffer;
}

export interface AttachedClient {
  /** `ended`: the container's process ended; `detached`: the detach keys were typed, or stdin closed the connection. */
  readonly done: Promise<'ended' | 'detached'>;
  /** The process's exit status, once `done` said `ended` and the monitor sent it. */
  exitStatus(): number | undefined;
  resize(size: TerminalSize): void;
  close(): void;
}

/** Connects to the monitor of the container in DIRECTORY; fails when none listens (the container does not run). */
export async function connectAttach(directory: string, streams: AttachStreams): Promise<AttachedClient> {
  const target = reachable(join(directory, attachSocketName), directory);
  let socket: Socket;
  try {
    socket = await new Promise<Socket>((resolve, reject) => {
      const connection = createConnection(target.path);
      connection.once('connect', () => resolve(connection));
      connection.once('error', reject);
    });
  } catch (error) {
    throw new TsbuildError('INVALID_ARGUMENT', `attach: the container's monitor does not answer (${messageOf(error)})`, { cause: error });
  } finally {
    target.close();
  }
  let finish: (how: 'ended' | 'detached') => void = () => undefined;
  let status: number | undefined;
  const done = new Promise<'ended' | 'detached'>((resolve) => {
    finish = (how) => {
      resolve(how);
      streams.stdin?.removeListener('data', onInput);
      streams.stdin?.removeListener('end', onInputEnd);
      socket.destroy();
    };
  });
  /**
   * A stream that takes no more for now (a pipe nobody reads) stops the reading of the socket
   * until it drains: the monitor then holds the container's output back, instead of this
   * process keeping all of it.
   */
  const deliver = (stream: NodeJS.WritableStream, payload: Buffer): void => {
    if (stream.write(payload)) return;
    socket.pause();
    stream.once('drain', () => socket.resume());
  };
  const read = frameReader(
    (kind, payload) => {
      if (kind === frameKind.stdout) deliver(streams.stdout, payload);
      else if (kind === frameKind.stderr) deliver(streams.stderr, payload);
      else if (kind === frameKind.ended) {
        if (payload.length === 4) status = payload.readInt32BE(0);
        finish('ended');
      }
    },
    () => finish('ended'),
  );
  socket.on('data', read);
  socket.on('error', () => undefined);
  socket.on('close', () => finish('ended'));
  const keys = new DetachKeyMatcher(streams.detachKeys ?? Buffer.alloc(0));
  const onInput = (chunk: Buffer | string): void => {
    const { input, detached } = keys.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (input.length > 0) socket.write(frame(frameKind.input, input));
    if (detached) finish('detached');
  };
  const onInputEnd = (): void => {
    const held = keys.flush();
    if (held.length > 0) socket.write(frame(frameKind.input, held));
    socket.write(frame(frameKind.inputEnded, Buffer.alloc(0)));
  };
  streams.stdin?.on('data', onInput);
  streams.stdin?.on('end', onInputEnd);
  return {
    done,
    exitStatus: () => status,
    resize: (size) => {
      const payload = Buffer.alloc(4);
      payload.writeUInt16BE(Math.min(size.rows, 0xffff), 0);
      payload.writeUInt16BE(Math.min(size.columns, 0xffff), 2);
      socket.write(frame(frameKind.resize, payload));
    },
    close: () => finish('detached'),
  };
}

/**
 * docker's detach keys, matched across chunks of input: the bytes that matched so far are held
 * back until it is known whether they are the keys or input.
 */
export class DetachKeyMatcher {
  private matched = 0;

  constructor(private readonly keys: Buffer) {}

  /** CHUNK's bytes to pass on, and whether the keys were typed (what follows them is dropped). */
  push(chunk: Buffer): { readonly input: Buffer; readonly detached: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (this.keys.length > 0 && byte === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { input: Buffer.from(out), detached: true };
        continue;
      }
      if (this.matched > 0) out.push(...this.keys.subarray(0, this.matched));
      this.matched = byte === this.keys[0] ? 1 : 0;
      if (this.matched === 0) out.push(byte);
    }
    return { input: Buffer.from(out), detached: false };
  }

  /** What is held when the input ends: input after all. */
  flush(): Buffer {
    const held = this.keys.subarray(0, this.matched);
    this.matched = 0;
    return Buffer.from(held);
  }
}

/** docker's detach keys when none are given (an empty `--detach-keys` too). */
export const defaultDetachKeys = 'ctrl-p,ctrl-q';

/**
 * docker's `--detach-keys`: comma-separated keys, each a single character or `ctrl-X` (X a
 * letter, or one of @ [ \ ] ^ _), as its term.ToBytes reads them; empty, the default. A key it
 * cannot read is its daemon's refusal: `Invalid detach keys (…) provided` (`Invalid escape
 * keys` for exec, WHAT `escape`).
 */
export function parseDetachKeys(text: string, what: 'detach' | 'escape' = 'detach'): Buffer {
  const bytes: number[] = [];
  for (const key of (text === '' ? defaultDetachKeys : text).split(',')) {
    const lower = key.toLowerCase();
    if (key.length === 1) bytes.push(key.charCodeAt(0));
    else if (lower.startsWith('ctrl-') && key.length === 6 && key.toUpperCase().charCodeAt(5) >= 0x40 && key.toUpperCase().charCodeAt(5) <= 0x5f) bytes.push(key.toUpperCase().charCodeAt(5) - 0x40);
    else throw new TsbuildError('INVALID_ARGUMENT', `Invalid ${what} keys (${text}) provided`);
  }
  return Buffer.from(bytes);
}
