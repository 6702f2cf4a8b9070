/**
 * The word rules the reference applies to an instruction's arguments, with offsets so that
 * every word keeps its place in the source.
 */
import { isGoSpaceCode } from './text.js';

export interface OffsetWord {
  readonly value: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Words of ENV, LABEL and ARG: split on unquoted white space; quotes and escapes stay in the
 * word (they are removed when the word is expanded). An escape at the very end is dropped.
 */
export function splitWordsKeepingQuotes(rest: string, escape: string): OffsetWord[] {
  // By UTF-16 unit: the characters that matter are all in the BMP, and a surrogate pair after
  // an escape is copied whole either way.
  const words: OffsetWord[] = [];
  const escapeCode = escape.charCodeAt(0);
  let word = '';
  let start = -1;
  let blankOk = false;
  let quote = 0;
  const finish = (end: number): void => {
    if (blankOk || word.length > 0) words.push({ value: word, start, end });
    word = '';
    start = -1;
    blankOk = false;
  };
  for (let i = 0; i < rest.length; i++) {
    const code = rest.charCodeAt(i);
    if (start < 0) {
      if (isGoSpaceCode(code)) continue;
      start = i;
    }
    if (quote === 0) {
      if (isGoSpaceCode(code)) {
        finish(i);
        continue;
      }
      if (code === 0x27 || code === 0x22) {
        quote = code;
        blankOk = true;
      }
      if (code === escapeCode) {
        if (i + 1 === rest.length) continue;
        word += rest.slice(i, i + 2);
        i++;
        continue;
      }
      word += rest[i];
      continue;
    }
    if (code === quote) {
      quote = 0;
      word += rest[i];
      continue;
    }
    if (code === escapeCode && quote !== 0x27) {
      if (i + 1 === rest.length) {
        quote = 0;
        continue;
      }
      word += rest.slice(i, i + 2);
      i++;
      continue;
    }
    word += rest[i];
  }
  if (start >= 0) finish(rest.length);
  return words;
}

/**
 * A flag word as the reference hands it on: quotes removed and `\` escapes resolved (always
 * backslash here, whatever the escape directive says).
 */
export function decodeFlagWord(raw: string): string {
  let out = '';
  let quote = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i] ?? '';
    if (quote === '' && (ch === '"' || ch === "'")) {
      quote = ch;
      continue;
    }
    if (quote !== '' && ch === quote) {
      quote = '';
      continue;
    }
    if (ch === '\\') {
      if (i + 1 === raw.length) continue;
      out += raw[++i] ?? '';
      continue;
    }
    out += ch;
  }
  return out;
}

export type JsonArrayResult =
  | { readonly kind: 'array'; readonly elements: readonly OffsetWord[] }
  | { readonly kind: 'not-json' }
  | { readonly kind: 'not-strings' };

const maxJsonDepth = 10000;
const isJsonSpace = (code: number): boolean => code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;

/**
 * The exec form: the rest read as JSON if it starts with `[`. As the reference's decoder
 * does, only the first JSON value is read and whatever follows it is ignored; invalid JSON is
 * not an error (the instruction is then in shell form), an array holding a non-string is.
 * WHOLE: the rest must be that value alone (trailing whitespace aside), as docker/dockerfile 1.9
 * and later read it; other text after it makes the shell form.
 */
export function readJsonArray(rest: string, whole = false): JsonArrayResult {
  let begin = 0;
  while (begin < rest.length && isGoSpaceCode(rest.charCodeAt(begin))) begin++;
  if (rest.charCodeAt(begin) !== 0x5b) return { kind: 'not-json' };
  if (whole) {
    const end = endOfJsonValue(rest, begin);
    if (end === undefined) return { kind: 'not-json' };
    for (let i = end; i < rest.length; i++) if (!isJsonSpace(rest.charCodeAt(i))) return { kind: 'not-json' };
  }
  // Most arrays hold only strings and most `[`-lines that are not JSON (`RUN [ -f x ]`) fail
  // on the first word: a scanner settles both without building an exception.
  const fast = scanStringArray(rest, begin);
  if (fast !== undefined) return fast;
  const end = endOfJsonValue(rest, begin);
  if (end === undefined) return { kind: 'not-json' };
  let value: unknown;
  try {
    value = JSON.parse(rest.slice(begin, end));
  } catch {
    return { kind: 'not-json' };
  }
  if (!Array.isArray(value)) return { kind: 'not-json' };
  return value.every((element) => typeof element === 'string') ? { kind: 'array', elements: stringOffsets(rest, begin, end, value as string[]) } : { kind: 'not-strings' };
}

function stringOffsets(rest: string, begin: number, end: number, strings: readonly string[]): OffsetWord[] {
  const elements: OffsetWord[] = [];
  let index = 0;
  for (let i = begin + 1; i < end && index < strings.length; i++) {
    if (rest.charCodeAt(i) !== 0x22) continue;
    const close = endOfJsonString(rest, i);
    elements.push({ value: strings[index] ?? '', start: i, end: close });
    index++;
    i = close - 1;
  }
  return elements;
}

const simpleEscapes: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/**
 * `[ "a", "b" ]` read directly. Returns undefined when the text needs the full JSON reader (a
 * value other than a string, which may make it valid JSON with non-strings).
 */
function scanStringArray(text: string, begin: number): JsonArrayResult | undefined {
  const elements: OffsetWord[] = [];
  let i = begin + 1;
  const skipSpace = (): void => {
    while (i < text.length && isJsonSpace(text.charCodeAt(i))) i++;
  };
  skipSpace();
  if (text.charCodeAt(i) === 0x5d) return { kind: 'array', elements };
  for (;;) {
    skipSpace();
    const code = text.charCodeAt(i);
    if (code !== 0x22) return startsJsonValue(code) ? undefined : { kind: 'not-json' };
    const start = i;
    let value = '';
    let chunk = ++i;
    for (;;) {
      if (i >= text.length) return { kind: 'not-json' };
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) return { kind: 'not-json' };
      if (c !== 0x5c) {
        i++;
        continue;
      }
      value += text.slice(chunk, i);
      const escape = text[i + 1] ?? '';
      const simple = simpleEscapes[escape];
      if (simple !== undefined) {
        value += simple;
        i += 2;
      } else if (escape === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
        value += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
        i += 6;
      } else {
        return { kind: 'not-json' };
      }
      chunk = i;
    }
    value += text.slice(chunk, i);
    i++;
    elements.push({ value, start, end: i });
    skipSpace();
    const next = text.charCodeAt(i);
    if (next === 0x5d) return { kind: 'array', elements };
    if (next !== 0x2c) return { kind: 'not-json' };
    i++;
  }
}

/** Characters that can begin a JSON value other than a string. */
function startsJsonValue(code: number): boolean {
  return code === 0x2d || (code >= 0x30 && code <= 0x39) || code === 0x74 || code === 0x66 || code === 0x6e || code === 0x7b || code === 0x5b;
}

/** Offset just past the JSON value starting at `begin` (an array), or undefined if it never closes. */
function endOfJsonValue(text: string, begin: number): number | undefined {
  let depth = 0;
  for (let i = begin; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x22) {
      i = endOfJsonString(text, i) - 1;
      continue;
    }
    if (code === 0x5b || code === 0x7b) {
      // Go's decoder gives up past 10000 levels: the line is then shell form, not an error.
      if (++depth > maxJsonDepth) return undefined;
    } else if (code === 0x5d || code === 0x7d) {
      depth--;
      if (depth === 0) return i + 1;
    } else if (depth === 0 && !isJsonSpace(code)) return undefined;
  }
  return undefined;
}

function endOfJsonString(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x5c) i++;
    else if (code === 0x22) return i + 1;
  }
  return text.length;
}
