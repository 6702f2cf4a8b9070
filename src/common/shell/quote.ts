/**
 * Quoting of a string the way Go's `strconv.Quote` does it, so that messages naming a word
 * read like the reference implementation's (`failed to process "he'llo": …`).
 */
// Made when a character beyond ASCII first needs it: V8 builds the Unicode classes of this
// expression when it is created, about half a millisecond of every start otherwise.
let printable: RegExp | undefined;
const printableBeyondAscii = (ch: string): boolean => (printable ??= /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u).test(ch);

const shortEscapes: Readonly<Record<string, string>> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '"': '\\"',
  '\\': '\\\\',
};

export function goQuote(value: string): string {
  let out = '"';
  for (const ch of value) {
    const short = shortEscapes[ch];
    if (short !== undefined) {
      out += short;
      continue;
    }
    const code = ch.codePointAt(0) ?? 0;
    if (code >= 0xd800 && code <= 0xdfff) {
      // A lone surrogate has no UTF-8 form; Go would see the replacement character.
      out += '\\ufffd';
    } else if (code < 0x80 ? code >= 0x20 && code < 0x7f : printableBeyondAscii(ch)) {
      out += ch;
    } else if (code < 0x20 || code === 0x7f) {
      out += `\\x${code.toString(16).padStart(2, '0')}`;
    } else if (code < 0x10000) {
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    } else {
      out += `\\U${code.toString(16).padStart(8, '0')}`;
    }
  }
  return `${out}"`;
}
