/**
 * Writes a blob's file while hashing it. Where the native addon loads, both happen on libuv's
 * thread pool and the main thread only hands buffers over; a pull of several layers then no
 * longer spends its main thread on sha256 and write(2) while the network waits. Otherwise the
 * hash is Node's, on the main thread, and the write goes through the file handle.
 */
import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { createHasher, createNativeHashingWriter, type NativeHashingWriter } from '../common/index.js';
import { startWriteback } from './writeback.js';
import { writeAll } from './atomic.js';

/**
 * Bytes after which writeback of a blob starts: the disk works while the rest arrives, and the
 * fsync that commits the blob has little left to do.
 */
const writebackBytes = 8 * 1024 * 1024;

/**
 * Bytes after which a blob's data is made durable (fdatasync, on the thread pool) while the
 * rest still arrives. A virtual disk may hold writes in its host's cache until the guest asks
 * for a flush, and then the flush takes as long as all that data needs: the fsync that
 * committed a 300 MB pull of three layers waited some 140 ms; flushing as it goes leaves it
 * about 10 ms. One flush at a time in the process: a device flush covers every file at once.
 */
const flushBytes = 32 * 1024 * 1024;
let flushing = false;

/** Starts, after each write, a flush of the file when enough is unflushed and none is running. */
class PeriodicFlush {
  private running: Promise<void> | undefined;
  private failure: unknown;
  /** Bytes written since the last flush started. */
  private unflushed = 0;

  constructor(private readonly handle: FileHandle) {}

  wrote(bytes: number): void {
    this.unflushed += bytes;
    if (flushing || this.running !== undefined || this.unflushed < flushBytes) return;
    flushing = true;
    this.unflushed = 0;
    this.running = this.handle
      .datasync()
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        flushing = false;
        this.running = undefined;
      });
  }

  /** Waits for the flush in progress; a flush that failed fails this (the data may be lost). */
  async settle(): Promise<void> {
    await this.running;
    if (this.failure !== undefined) throw this.failure;
  }
}

export interface BlobWriter {
  /** Appends CHUNKS (one pwritev); one call at a time, and they must not change until it settles. */
  write(chunks: readonly Uint8Array[]): Promise<void>;
  /** Hashes bytes the file already holds (a resumed download), without writing them. */
  absorb(chunk: Uint8Array): void;
  /** The hash of everything written or absorbed, hex. */
  hex(): string;
  /**
   * Waits for the flush started while writing, if one runs; fails when one failed. Before the
   * fsync that commits the file (a failed flush is reported once, to one caller), and before
   * the file is closed.
   */
  settle(): Promise<void>;
}

/** A writer appending to HANDLE from POSITION (its current size). */
export function openBlobWriter(handle: FileHandle, algorithm: string, position: number): BlobWriter {
  const native = createNativeHashingWriter(handle.fd, algorithm, position, writebackBytes);
  return native === undefined ? openNodeBlobWriter(handle, algorithm, position) : new ThreadPoolBlobWriter(native, new PeriodicFlush(handle));
}

/** The writer used where the native one is not available: Node's hash on the main thread. */
export function openNodeBlobWriter(handle: FileHandle, algorithm: string, position: number): BlobWriter {
  return new NodeBlobWriter(handle, createHasher(algorithm), position, new PeriodicFlush(handle));
}

class ThreadPoolBlobWriter implements BlobWriter {
  constructor(
    private readonly native: NativeHashingWriter,
    private readonly flush: PeriodicFlush,
  ) {}
  async write(chunks: readonly Uint8Array[]): Promise<void> {
    await this.native.write(chunks);
    this.flush.wrote(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  }
  absorb(chunk: Uint8Array): void {
    this.native.update([chunk]);
  }
  hex(): string {
    return this.native.hex();
  }
  settle(): Promise<void> {
    return this.flush.settle();
  }
}

class NodeBlobWriter implements BlobWriter {
  private writtenBack: number;
  constructor(
    private readonly handle: FileHandle,
    private readonly hash: Hash,
    private position: number,
    private readonly flush: PeriodicFlush,
  ) {
    this.writtenBack = position;
  }
  async write(chunks: readonly Uint8Array[]): Promise<void> {
    const start = this.position;
    for (const chunk of chunks) {
      this.hash.update(chunk);
      await writeAll(this.handle, chunk);
      this.position += chunk.length;
    }
    if (this.position - this.writtenBack >= writebackBytes) {
      startWriteback(this.handle.fd, this.writtenBack, this.position - this.writtenBack);
      this.writtenBack = this.position;
    }
    this.flush.wrote(this.position - start);
  }
  absorb(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }
  hex(): string {
    return this.hash.copy().digest('hex');
  }
  settle(): Promise<void> {
    return this.flush.settle();
  }
}
