import { describe, expect, it } from 'vitest';
import { parseChmod } from '../../src/executor/copy-op.js';

describe('parseChmod (--chmod as BuildKit 0.13 reads it)', () => {
  it('takes octal digits, leading zeros included', () => {
    expect(parseChmod('0644')).toBe(0o644);
    expect(parseChmod('000000640')).toBe(0o640);
    expect(parseChmod('0')).toBe(0);
    expect(parseChmod('6755')).toBe(0o6755);
  });

  it('is no mode for what strconv.ParseUint refuses in base 8: a sign, a prefix, an underscore, a variable, symbols', () => {
    for (const value of ['', '+755', '-1', '0o755', '0x1ed', '7_55', '$MODE', 'u+x', '999', ' 755']) expect(parseChmod(value), value).toBeUndefined();
  });

  it('keeps the permission and setuid, setgid and sticky bits of a larger number; 037777777777 (int32 -1) and beyond 32 bits are none', () => {
    expect(parseChmod('17777')).toBe(0o7777);
    expect(parseChmod('100644')).toBe(0o644);
    expect(parseChmod('20000000755')).toBe(0o755);
    expect(parseChmod('37777777777')).toBeUndefined();
    expect(parseChmod('40000000000')).toBeUndefined();
  });
});
