/** The masking of secrets in a step's output, whatever chunks the output comes in. */
import { describe, expect, it } from 'vitest';
import { SecretRedactor } from '../../src/executor/redact.js';

function through(redactor: SecretRedactor, chunks: readonly string[]): string {
  const out = chunks.map((chunk) => redactor.push('stdout', Buffer.from(chunk)).toString());
  return out.join('') + redactor.flush('stdout').toString();
}

describe('SecretRedactor', () => {
  it('masks a value split across chunks, and each line of a value of several lines', () => {
    const redactor = new SecretRedactor([Buffer.from('hunter2-secret'), Buffer.from('first-line\nsecond-line')]);
    expect(through(redactor, ['token: hun', 'ter2-se', 'cret\nnext ', 'line\n'])).toBe('token: ****\nnext line\n');
    expect(through(redactor, ['a second-line here, then first-line\n'])).toBe('a **** here, then ****\n');
    // The end of the output without a newline is masked when the process ends.
    expect(through(redactor, ['ends with hunter2-', 'secret'])).toBe('ends with ****');
  });

  it('passes output through untouched when there is no secret, and leaves values too short to mask', () => {
    const none = new SecretRedactor([]);
    expect(none.push('stdout', Buffer.from('partial')).toString()).toBe('partial');
    const short = new SecretRedactor([Buffer.from('abc')]);
    expect(short.active).toBe(false);
    expect(through(short, ['abc abc\n'])).toBe('abc abc\n');
  });

  it('keeps the streams apart and passes a very long line on without waiting for its end', () => {
    const redactor = new SecretRedactor([Buffer.from('s3cr3t-value')]);
    expect(redactor.push('stdout', Buffer.from('s3cr3t')).length).toBe(0);
    expect(redactor.push('stderr', Buffer.from('-value\n')).toString()).toBe('-value\n');
    expect(redactor.push('stdout', Buffer.from('-value\n')).toString()).toBe('****\n');
    expect(redactor.push('stdout', Buffer.alloc(70 * 1024, 0x61)).length).toBe(70 * 1024);
  });
});
