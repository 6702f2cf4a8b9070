/**
 * Writes a blob's file while hashing it. Where the native addon loads, both happen on libuv's
 * thread pool and the main thread only hands buffers over; a pull of several layers then no
 * longer spends its main thread on sha256 and write(2) while the network waits. Otherwise the
 * hash is Node's, on the main thread, and the write goes through the file handle.
 */
import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { createHasher, createNativeHashingWriter, startWriteback, type NativeHashingWriter } from '../common/index.js';
import { writeAll } from './atomic.js';

/**
 * Bytes after which writeback of a blob starts: the disk works while the rest arrives, and the
 * fsync that commits the blob has little left to do.
 */
const writebackBytes = 8 * 1024 * 1024;

export interface BlobWriter {
  /** Appends CHUNKS (one pwritev); one call at a time, and they must not change until it settles. */
  write(chunks: readonly Uint8Array[]): Promise<void>;
  /** Hashes bytes the file already holds (a resumed download), without writing them. */
  absorb(chunk: Uint8Array): void;
  /** The hash of everything written or absorbed, hex. */
  hex(): string;
}

/** A writer appending to HANDLE from POSITION (its current size). */
export function openBlobWriter(handle: FileHandle, algorithm: string, position: number): BlobWriter {
  const native = createNativeHashingWriter(handle.fd, algorithm, position, writebackBytes);
  return native === undefined ? openNodeBlobWriter(handle, algorithm, position) : new ThreadPoolBlobWriter(native);
}

/** The writer used where the native one is not available: Node's hash on the main thread. */
export function openNodeBlobWriter(handle: FileHandle, algorithm: string, position: number): BlobWriter {
  return new NodeBlobWriter(handle, createHasher(algorithm), position);
}

class ThreadPoolBlobWriter implements BlobWriter {
  constructor(private readonly native: NativeHashingWriter) {}
  write(chunks: readonly Uint8Array[]): Promise<void> {
    return this.native.write(chunks);
  }
  absorb(chunk: Uint8Array): void {
    this.native.update([chunk]);
  }
  hex(): string {
    return this.native.hex();
  }
}

class NodeBlobWriter implements BlobWriter {
  private writtenBack: number;
  constructor(
    private readonly handle: FileHandle,
    private readonly hash: Hash,
    private position: number,
  ) {
    this.writtenBack = position;
  }
  async write(chunks: readonly Uint8Array[]): Promise<void> {
    for (const chunk of chunks) {
      this.hash.update(chunk);
      await writeAll(this.handle, chunk);
      this.position += chunk.length;
    }
    if (this.position - this.writtenBack >= writebackBytes) {
      startWriteback(this.handle.fd, this.writtenBack, this.position - this.writtenBack);
      this.writtenBack = this.position;
    }
  }
  absorb(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }
  hex(): string {
    return this.hash.copy().digest('hex');
  }
}
