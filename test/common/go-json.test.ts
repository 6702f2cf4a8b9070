import { describe, expect, it } from 'vitest';
import { goJson } from '../../src/common/index.js';

describe('goJson', () => {
  it('escapes what Go escapes in strings beyond JSON.stringify', () => {
    expect(goJson('<a href> & \u2028 \u2029')).toBe('"\\u003ca href\\u003e \\u0026 \\u2028 \\u2029"');
    expect(goJson('tab\there bs\b ff\f esc\u001b quote" back\\ del\u007f')).toBe('"tab\\there bs\\b ff\\f esc\\u001b quote\\" back\\\\ del\u007f"');
  });

  it('sorts a map by the UTF-8 bytes of its keys, integer-like ones as text', () => {
    const labels = new Map([
      ['😀', 'h'],
      ['Ａ', 'g'],
      ['a', 'c'],
      ['9', 'b'],
      ['10', 'a'],
      ['B', 'd'],
    ]);
    // U+FF21 is EF BC A1 and U+1F600 F0 9F 98 80 in UTF-8; in UTF-16 the emoji's D83D sorts first.
    expect(goJson(labels)).toBe('{"10":"a","9":"b","B":"d","a":"c","Ａ":"g","😀":"h"}');
  });

  it('keeps a plain object’s keys in order and leaves out undefined members', () => {
    expect(goJson({ b: 1, a: [true, null, undefined], c: undefined, d: { z: '&', y: new Map([['k', {}]]) } })).toBe('{"b":1,"a":[true,null,null],"d":{"z":"\\u0026","y":{"k":{}}}}');
  });
});
