/**
 * Shell glob patterns of `${VAR#pat}`, `${VAR%pat}` and `${VAR/pat/repl}`: `*` is any string,
 * `?` one character, `\` quotes the next `*`, `?` or `\`. Bracket expressions are not
 * supported, as in the reference implementation; `[` is an ordinary character.
 */

/** Why a pattern was rejected, in the reference implementation's words. */
export class PatternError extends Error {
  override readonly name = 'PatternError';
}

/** Go's regexp `.` matches any character but `\n`; JavaScript's also stops at `\r`, U+2028, U+2029. */
const anyChar = '[^\\n]';
const regexSpecial = new Set(['[', ']', '{', '}', '.', '+', '(', ')', '|', '^', '$']);

/**
 * The regular expression source for a pattern. `greedy` decides whether `*` takes the longest
 * or the shortest string; `anchored` ties the match to the start of the value.
 */
export function patternToRegExp(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  // Go's text/scanner, which reads the pattern, drops a leading byte order mark.
  const chars = Array.from(pattern.startsWith('\ufeff') ? pattern.slice(1) : pattern);
  let out = anchored ? '^' : '';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    if (ch === '*') {
      out += greedy ? `${anyChar}*` : `${anyChar}*?`;
    } else if (ch === '?') {
      out += anyChar;
    } else if (ch === '\\') {
      const next = chars[i + 1];
      // `\}` and `\/` only protect the delimiters of `${…}`; the backslash is not part of the pattern.
      if (next === '}' || next === '/') continue;
      i++;
      if (next !== '*' && next !== '?' && next !== '\\') {
        throw new PatternError(`invalid escape '\\${next ?? '\ufffd'}'`);
      }
      out += `\\${next}`;
    } else if (regexSpecial.has(ch)) {
      out += `\\${ch}`;
    } else {
      out += ch;
    }
  }
  return new RegExp(out, 'gu');
}

/** Reverses a pattern but keeps each `\x` pair in order, so `a\*c` becomes `c\*a`. */
export function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const out: string[] = [];
  for (let i = 0; i < chars.length; ) {
    const ch = chars[i] as string;
    const next = chars[i + 1];
    if (ch === '\\' && next !== undefined) {
      out.unshift(ch, next);
      i += 2;
    } else {
      out.unshift(ch);
      i++;
    }
  }
  return out.join('');
}

function reverseString(value: string): string {
  return Array.from(value).reverse().join('');
}

/** `${VAR#pat}` (shortest) and `${VAR##pat}` (longest): removes a matching prefix. */
export function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const re = patternToRegExp(pattern, greedy, true);
  re.lastIndex = 0;
  const match = re.exec(value);
  return match === null ? value : value.slice(match.index + match[0].length);
}

/**
 * `${VAR%pat}` and `${VAR%%pat}`: removes a matching suffix. A regular expression finds the
 * leftmost match, not the shortest rightmost one, so both value and pattern are reversed.
 */
export function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

/** `${VAR/pat/repl}`: the first match replaced, the replacement taken literally. */
export function replaceFirst(pattern: string, value: string, replacement: string): string {
  const re = patternToRegExp(pattern, true, false);
  re.lastIndex = 0;
  const match = re.exec(value);
  if (match === null) return value;
  return value.slice(0, match.index) + replacement + value.slice(match.index + match[0].length);
}

/**
 * `${VAR//pat/repl}`: every match replaced. This follows Go's `ReplaceAllString`, which differs
 * from `String.prototype.replace` in two ways: an empty match right after a match is skipped,
 * and `$0`, `${0}`, `$name` and `$$` in the replacement are template references.
 */
export function replaceAll(pattern: string, value: string, replacement: string): string {
  const re = patternToRegExp(pattern, true, false);
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  // Each round moves searchPos forward by at least one code unit, so this ends.
  while (searchPos <= value.length) {
    re.lastIndex = searchPos;
    const match = re.exec(value);
    if (match === null) break;
    const start = match.index;
    const end = start + match[0].length;
    out += value.slice(lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) out += expandTemplate(replacement, match[0]);
    lastMatchEnd = end;
    const codePoint = value.codePointAt(searchPos);
    const width = codePoint !== undefined && codePoint > 0xffff ? 2 : 1;
    if (searchPos + width > end) searchPos += width;
    else if (searchPos + 1 > end) searchPos += 1;
    else searchPos = end;
  }
  return out + value.slice(lastMatchEnd);
}

const templateName = /^[\p{L}\p{Nd}_]+/u;

/** Go's `Regexp.Expand` for a pattern without groups: only group 0 (the whole match) exists. */
function expandTemplate(template: string, whole: string): string {
  let out = '';
  let rest = template;
  for (;;) {
    const dollar = rest.indexOf('$');
    if (dollar < 0) break;
    out += rest.slice(0, dollar);
    rest = rest.slice(dollar);
    if (rest[1] === '$') {
      out += '$';
      rest = rest.slice(2);
      continue;
    }
    const braced = rest[1] === '{';
    const body = rest.slice(braced ? 2 : 1);
    const name = templateName.exec(body)?.[0];
    if (name === undefined || (braced && body[name.length] !== '}')) {
      // Not a reference: the `$` is kept as text.
      out += '$';
      rest = rest.slice(1);
      continue;
    }
    rest = body.slice(name.length + (braced ? 1 : 0));
    if (name === '0') out += whole;
  }
  return out + rest;
}
