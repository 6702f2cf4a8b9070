/**
 * A zstd writer for layers: Debian's libzstd through native/build/tsbuild-zstd.node, compressing
 * on zstd's own worker threads (one per core), driven from libuv's thread pool so the main thread
 * only hands over buffers. The frame depends on the bytes and the level alone: zstd cuts its
 * jobs at fixed sizes whatever the chunks it is given, and writes the same frame with any number
 * of workers from one up, so a layer has one digest on every machine.
 */
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import { nativeAddon, TsbuildError, type AddonStatus } from '../common/index.js';
import { PacedOutput } from './paced-output.js';

interface NativeZstdCompressor {
  /** Resolves to the compressed bytes that came out; END finishes the frame. One call at a time. */
  compress(input: Uint8Array, end: boolean): Promise<Buffer>;
}

interface ZstdAddon {
  createCompressor(level: number, workers: number): NativeZstdCompressor;
  readonly version: string;
}

const addon = nativeAddon<ZstdAddon>('tsbuild-zstd.node');

/** zstd's own default level, which BuildKit's default matches. */
export const defaultZstdLevel = 3;

export function nativeZstdStatus(): AddonStatus {
  return addon.status();
}

/** Input is handed to the compressor in runs of this size: fewer trips to the thread pool. */
const batchBytes = 1024 * 1024;

export class ZstdWriter {
  readonly output: Readable;
  private readonly compressor: NativeZstdCompressor;
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly paced: PacedOutput;
  /** The batch being compressed and pushed, if any: the next one gathers meanwhile. */
  private running: Promise<void> = Promise.resolve();

  constructor(level: number = defaultZstdLevel) {
    const { module, failure } = addon.load();
    if (module === undefined) {
      throw new TsbuildError('INTERNAL', `compress with zstd: ${addon.path} could not be loaded (${failure?.message ?? 'no module'}); build it with \`npm run build:native\` (needs libzstd-dev, gcc, libc6-dev and make)`, { cause: failure });
    }
    this.compressor = module.createCompressor(level, Math.max(1, availableParallelism()));
    this.paced = new PacedOutput(4 * batchBytes, 'zstd');
    this.output = this.paced.stream;
  }

  async write(data: Buffer): Promise<void> {
    if (data.length === 0) return;
    // A copy: the caller's buffer is theirs again once write returns, the batch is compressed later.
    this.pending.push(Buffer.from(data));
    this.pendingBytes += data.length;
    if (this.pendingBytes >= batchBytes) await this.flush(false);
  }

  async end(): Promise<void> {
    await this.flush(true);
    this.output.push(null);
  }

  /** Stops the output after the writer failed (see GzipWriter.fail). */
  fail(): void {
    this.output.destroy();
  }

  /**
   * Hands the gathered batch to the compressor once the one before it is done, and waits for
   * that one only: reading and hashing the next batch overlap the compression of this one.
   */
  private async flush(end: boolean): Promise<void> {
    const batch = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending.length = 0;
    this.pendingBytes = 0;
    const previous = this.running;
    this.running = previous.then(async () => {
      const bytes = await this.compressor.compress(batch, end);
      if (bytes.length === 0) return;
      await this.paced.push(bytes);
    });
    // Awaited below or by the next flush; never left to reject unheard.
    this.running.catch(() => undefined);
    await (end ? this.running : previous);
  }
}
