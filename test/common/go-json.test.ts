import { describe, expect, it } from 'vitest';
import { goCompact, goIndent, goJson, goStruct } from '../../src/common/index.js';

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

describe('goIndent, goCompact and goStruct', () => {
  it('indents as json.Indent: tokens kept byte for byte, empty containers compact, space before dropped and after kept', () => {
    const raw = ' {"a":[1,2.50,{}],"b":{"c":"x\\u003c \\" ,:{}[]","d":[]},"e":true}\n';
    expect(goIndent(raw, '', '\t')).toBe('{\n\t"a": [\n\t\t1,\n\t\t2.50,\n\t\t{}\n\t],\n\t"b": {\n\t\t"c": "x\\u003c \\" ,:{}[]",\n\t\t"d": []\n\t},\n\t"e": true\n}\n');
    expect(goIndent('{"a":1}', '>', '   ')).toBe('{\n>   "a": 1\n>}');
  });

  it('compacts as encoding/json does a MarshalJSON result: space out, HTML characters escaped in strings only', () => {
    expect(goCompact('{ "a&b" : [ 1 , "<x> & y" ] ,\n "c":"\\"<"}')).toBe('{"a\\u0026b":[1,"\\u003cx\\u003e \\u0026 y"],"c":"\\"\\u003c"}');
  });

  it('writes a struct under its json tags, its Go field names left for templates', () => {
    const value = goStruct({ MediaType: 'm', Size: 3, Platform: goStruct({ OSVersion: '10', Variant: undefined }, { OSVersion: 'os.version', Variant: 'variant' }) }, { MediaType: 'mediaType', Size: 'size', Platform: 'platform' });
    expect(value.MediaType).toBe('m');
    expect(goJson(value)).toBe('{"mediaType":"m","size":3,"platform":{"os.version":"10"}}');
    // A copy of its members is a plain object again.
    expect(goJson({ ...value })).toBe('{"MediaType":"m","Size":3,"Platform":{"os.version":"10"}}');
  });
});
