import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashHex, nativeDigestHex, uniqueHex } from '../../src/common/index.js';

describe('hashHex', () => {
  it('agrees with node:crypto, from the native addon', () => {
    const data = Buffer.from('{"schemaVersion":2}');
    for (const algorithm of ['sha256', 'sha512']) {
      const expected = createHash(algorithm).update(data).digest('hex');
      expect(nativeDigestHex(algorithm, [data.subarray(0, 5), data.subarray(5)])).toBe(expected);
      expect(hashHex(algorithm, data)).toBe(expected);
      expect(hashHex(algorithm, data.toString())).toBe(expected);
    }
    expect(hashHex('sha256', new Uint8Array(0))).toBe(createHash('sha256').digest('hex'));
  });

  it('leaves other algorithms to node:crypto', () => {
    expect(nativeDigestHex('sha384', [Buffer.from('x')])).toBeUndefined();
    expect(hashHex('sha384', 'x')).toBe(createHash('sha384').update('x').digest('hex'));
  });
});

describe('uniqueHex', () => {
  it('gives as many hex digits as asked, different each time', () => {
    const seen = new Set<string>();
    for (let index = 0; index < 1000; index++) {
      const value = uniqueHex(6);
      expect(value).toMatch(/^[0-9a-f]{12}$/);
      seen.add(value);
    }
    expect(seen.size).toBe(1000);
    expect(uniqueHex(1)).toMatch(/^[0-9a-f]{2}$/);
  });
});
