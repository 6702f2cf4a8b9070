/**
 * A container's terminal (`run -t`): a console socket the OCI runtime sends the pty master to,
 * and the copy between that master and the caller's streams.
 */
import { closeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { WriteStream } from 'node:tty';
import { TsbuildError, messageOf } from '../common/index.js';
import { runtimeAddon } from './native.js';

export interface TerminalSize {
  readonly rows: number;
  readonly columns: number;
}

/** How long each wait for the runtime's connection blocks before the event loop runs again. */
const acceptSliceMs = 20;

export class ConsoleSocket {
  private listenFd: number;

  private constructor(
    private readonly directory: string,
    readonly path: string,
  ) {
    this.listenFd = runtimeAddon().listenUnix(path);
  }

  /** A socket in a fresh directory under the system's temporary one: a unix socket path must stay under 108 bytes. */
  static open(): ConsoleSocket {
    const directory = mkdtempSync(join(tmpdir(), 'tsbuild-console-'));
    try {
      return new ConsoleSocket(directory, join(directory, 'console.sock'));
    } catch (error) {
      rmSync(directory, { recursive: true, force: true });
      throw new TsbuildError('RUNTIME', `create console socket: ${messageOf(error)}`, { cause: error });
    }
  }

  /**
   * The pty master the runtime sends, or undefined when `gaveUp()` turns true first (the runtime
   * exited without sending one).
   */
  async receive(gaveUp: () => boolean): Promise<number | undefined> {
    const addon = runtimeAddon();
    while (!gaveUp()) {
      const fd = addon.acceptFd(this.listenFd, acceptSliceMs);
      if (fd >= 0) return fd;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return undefined;
  }

  close(): void {
    if (this.listenFd >= 0) closeSync(this.listenFd);
    this.listenFd = -1;
    rmSync(this.directory, { recursive: true, force: true });
  }
}

/** A pty master being copied to and from the caller's streams. */
export class TerminalCopy {
  private readonly master: WriteStream;
  /** Settles when the container side of the terminal is closed and its output written. */
  readonly done: Promise<void>;

  constructor(
    private readonly fd: number,
    input: NodeJS.ReadableStream | undefined,
    output: NodeJS.WritableStream,
    size?: TerminalSize,
  ) {
    if (size !== undefined) this.resize(size);
    // One tty handle reads and writes the master (a net.Socket underneath); libuv does not
    // reopen a master, as it would a slave, so this descriptor is the one used.
    this.master = new WriteStream(fd);
    this.master.pipe(output as NodeJS.WritableStream & Writable, { end: false });
    if (input !== undefined) input.pipe(this.master);
    this.done = new Promise((resolve) => {
      // Once every descriptor of the slave is closed, reading the master fails with EIO: that is its end.
      this.master.on('error', () => undefined);
      this.master.on('close', () => {
        if (input !== undefined) input.unpipe(this.master);
        resolve();
      });
    });
  }

  resize(size: TerminalSize): void {
    try {
      runtimeAddon().setWindowSize(this.fd, size.rows, size.columns);
    } catch {
      // The terminal is gone (the container ended): nothing to resize.
    }
  }

  close(): void {
    this.master.destroy();
  }
}

/**
 * Completes Node's raw mode on the caller's terminal FD (`setRawMode(true)` first) as docker's
 * is: without output processing, so that the container's "\r\n" is not written "\r\r\n".
 * Node's `setRawMode(false)`, and its reset at exit, restore the terminal as it was.
 */
export function rawTerminalOutput(fd: number): void {
  try {
    runtimeAddon().clearOutputProcessing(fd);
  } catch {
    // Not a terminal after all, or the addon is missing: only the line endings differ.
  }
}
