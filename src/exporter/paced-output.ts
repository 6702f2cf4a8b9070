import { Readable } from 'node:stream';

/**
 * The output side of a compressor: a Readable the compressor pushes to, waiting while the reader
 * has enough unread, and no longer once the reader has gone away.
 */
export class PacedOutput {
  readonly stream: Readable;
  private waitingForRead: (() => void) | undefined;

  constructor(highWaterMark: number, private readonly what: string) {
    const resume = (): void => {
      const waiting = this.waitingForRead;
      this.waitingForRead = undefined;
      waiting?.();
    };
    this.stream = new Readable({ highWaterMark, read: resume });
    // A reader that goes away must not leave a writer waiting for it.
    this.stream.on('close', resume);
  }

  /** Pushes BYTES, waiting while the reader has enough unread; fails once the stream was destroyed. */
  async push(bytes: Buffer): Promise<void> {
    if (this.stream.destroyed) throw new Error(`${this.what} output closed`);
    if (!this.stream.push(bytes)) await new Promise<void>((resolve) => (this.waitingForRead = resolve));
  }
}
