/**
 * A step's output with the values of its secrets masked, so that a command that prints one
 * (`cat /run/secrets/token`, `set -x`) does not put it in the progress output or in the lines an
 * error quotes. Output is passed on a line at a time (`\n` or `\r`), so that a value is never
 * split across two chunks; a line longer than 64 KiB is passed on as it stands.
 */

const mask = '****';
const longestLine = 64 * 1024;
/** Shorter values would mask ordinary words of the output, and hide nothing worth hiding. */
const shortestMasked = 4;

export class SecretRedactor {
  private readonly values: string[];
  private readonly pending = new Map<string, Buffer>();

  /** VALUES: the secrets' bytes; each whole value is masked, and each of its lines. */
  constructor(values: readonly Buffer[]) {
    const strings = new Set<string>();
    for (const value of values) {
      const text = value.toString('latin1');
      for (const part of [text, ...text.split(/[\r\n]+/)]) if (part.trim().length >= shortestMasked) strings.add(part);
    }
    // The longest first, so that a line of a value is masked after the value it belongs to.
    this.values = [...strings].sort((a, b) => b.length - a.length);
  }

  get active(): boolean {
    return this.values.length > 0;
  }

  private masked(data: Buffer): Buffer {
    let text = data.toString('latin1');
    for (const value of this.values) text = text.split(value).join(mask);
    return Buffer.from(text, 'latin1');
  }

  /** What of STREAM's output may be shown now, masked (the end of a line waits for the rest of it). */
  push(stream: string, chunk: Buffer): Buffer {
    if (!this.active) return chunk;
    const data = Buffer.concat([this.pending.get(stream) ?? Buffer.alloc(0), chunk]);
    let end = Math.max(data.lastIndexOf(0x0a), data.lastIndexOf(0x0d)) + 1;
    if (end === 0 && data.length > longestLine) end = data.length;
    this.pending.set(stream, data.subarray(end));
    return end === 0 ? Buffer.alloc(0) : this.masked(data.subarray(0, end));
  }

  /** The rest of STREAM's output, masked, once the process has ended. */
  flush(stream: string): Buffer {
    const rest = this.pending.get(stream) ?? Buffer.alloc(0);
    this.pending.delete(stream);
    return rest.length === 0 ? rest : this.masked(rest);
  }
}
