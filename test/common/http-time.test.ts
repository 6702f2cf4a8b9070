import { describe, expect, it } from 'vitest';
import { parseHttpTime } from '../../src/common/index.js';

const iso = (text: string): string | undefined => parseHttpTime(text)?.toISOString();

describe('parseHttpTime', () => {
  it('reads the three layouts of Go\'s http.ParseTime', () => {
    expect(iso('Wed, 01 Jan 2020 00:00:00 GMT')).toBe('2020-01-01T00:00:00.000Z');
    expect(iso('Wednesday, 01-Jan-20 13:14:15 GMT')).toBe('2020-01-01T13:14:15.000Z');
    expect(iso('Wednesday, 01-Jan-69 00:00:00 GMT')).toBe('1969-01-01T00:00:00.000Z');
    expect(iso('Wed Jan  1 00:00:00 2020')).toBe('2020-01-01T00:00:00.000Z');
    expect(iso('Wed Jan 12 00:00:00 2020')).toBe('2020-01-12T00:00:00.000Z');
  });

  it('takes names in any case, runs of spaces, a one-digit hour, a fraction, any weekday', () => {
    expect(iso('wed, 01 JAN 2020 00:00:00 GMT')).toBe('2020-01-01T00:00:00.000Z');
    expect(iso('Wed,   01 Jan  2020 1:02:03 GMT')).toBe('2020-01-01T01:02:03.000Z');
    expect(iso('Wed, 01 Jan 2020 00:00:00.5 GMT')).toBe('2020-01-01T00:00:00.500Z');
    expect(iso('Fri, 01 Jan 2020 00:00:00 GMT')).toBe('2020-01-01T00:00:00.000Z');
    expect(iso('Wed, 01 Jan 0099 00:00:00 GMT')).toBe('0099-01-01T00:00:00.000Z');
  });

  it('takes a zone of RFC 850 as UTC whatever it names, as Go does for a zone it does not know', () => {
    for (const zone of ['UTC', 'PST', 'CEST', 'GMT+3', '+05', 'ChST']) expect(iso(`Monday, 06-Jan-20 10:00:00 ${zone}`)).toBe('2020-01-06T10:00:00.000Z');
    for (const zone of ['pst', 'PS', 'ABCDEF', 'ABCD', '+24']) expect(iso(`Monday, 06-Jan-20 10:00:00 ${zone}`)).toBeUndefined();
  });

  it('reads nothing else, where JavaScript would', () => {
    for (const text of [
      '2020-01-01T00:00:00Z',
      'Wed, 01 Jan 2020 00:00:00 gmt',
      'Wed, 01 Jan 2020 00:00:00 UTC',
      'Wed, 01 Jan 2020 00:00:00 +0000',
      '01 Jan 2020 00:00:00 GMT',
      'Wed, 1 Jan 2020 00:00:00 GMT',
      'Wed, 31 Feb 2020 00:00:00 GMT',
      'Wed, 01 Jan 2020 24:00:00 GMT',
      'Wed, 01 Jan 2020 00:00:00 GMT extra',
      'Wednesday, 01 Jan 2020 00:00:00 GMT',
      'not a date',
      '',
    ]) {
      expect(parseHttpTime(text), text).toBeUndefined();
    }
  });
});
