/**
 * The pieces of BuildKit's history text that are Go's fmt: %q of an int (HEALTHCHECK's Retries).
 */
import { describe, expect, it } from 'vitest';
import { goQuotedRune } from '../../src/executor/image-config.js';

describe('goQuotedRune', () => {
  it('quotes as strconv.QuoteRune does', () => {
    const cases: Array<[number, string]> = [
      [0, "'\\x00'"],
      [4, "'\\x04'"],
      [10, "'\\n'"],
      [9, "'\\t'"],
      [65, "'A'"],
      [39, "'\\''"],
      [92, "'\\\\'"],
      [127, "'\\x7f'"],
      [0x80, "'\\u0080'"],
      [233, "'é'"],
      [0x2028, "'\\u2028'"],
      [-1, "'\u{fffd}'"],
    ];
    for (const [code, quoted] of cases) expect([code, goQuotedRune(code)]).toEqual([code, quoted]);
  });
});
