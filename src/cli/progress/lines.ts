/**
 * A step's output cut into lines. Output arrives in chunks that split lines (and UTF-8
 * characters) anywhere; a line is decoded once it is complete, and keeps the time its first
 * byte arrived, which is the time BuildKit prints before it.
 */
export interface LogLine {
  readonly text: string;
  /** Event time of the chunk that held the line's first byte. */
  readonly time: number;
}

/** An unfinished line longer than this is shown as it is (output that never ends its line). */
const maxLineBytes = 64 * 1024;

export class LineSplitter {
  private partial: Uint8Array[] = [];
  private partialBytes = 0;
  private partialTime = 0;
  private readonly decoder = new TextDecoder('utf-8');

  /** The lines DATA completes; the rest waits for the next chunk. */
  push(data: Uint8Array, time: number): LogLine[] {
    const lines: LogLine[] = [];
    let start = 0;
    for (let newline = data.indexOf(0x0a); newline >= 0; newline = data.indexOf(0x0a, start)) {
      lines.push(this.take(data.subarray(start, newline), time));
      start = newline + 1;
    }
    if (start < data.length) {
      if (this.partial.length === 0) this.partialTime = time;
      // Copied: the producer may reuse its buffer.
      this.partial.push(data.slice(start));
      this.partialBytes += data.length - start;
      if (this.partialBytes > maxLineBytes) lines.push(this.take(new Uint8Array(0), this.partialTime));
    }
    return lines;
  }

  /** The unfinished last line, if any, as a line (at the end of a step). */
  flush(): LogLine | undefined {
    return this.partial.length === 0 ? undefined : this.take(new Uint8Array(0), this.partialTime);
  }

  get hasPartial(): boolean {
    return this.partial.length > 0;
  }

  private take(end: Uint8Array, time: number): LogLine {
    const startedAt = this.partial.length === 0 ? time : this.partialTime;
    const bytes = this.partial.length === 0 ? end : Buffer.concat([...this.partial, end]);
    this.partial = [];
    this.partialBytes = 0;
    return { text: this.decoder.decode(bytes), time: startedAt };
  }
}
