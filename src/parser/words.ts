/**
 * The word rules the reference applies to an instruction's arguments, with offsets so that
 * every word keeps its place in the source.
 */
import { isGoSpace } from './text.js';

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
  const words: OffsetWord[] = [];
  let word = '';
  let start = -1;
  let blankOk = false;
  let quote = '';
  const chars = Array.from(rest);
  let offset = 0;
  const finish = (end: number): void => {
    if (blankOk || word.length > 0) words.push({ value: word, start, end });
    word = '';
    start = -1;
    blankOk = false;
  };
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] ?? '';
    const at = offset;
    offset += ch.length;
    if (start < 0) {
      if (isGoSpace(ch)) continue;
      start = at;
    }
    if (quote === '') {
      if (isGoSpace(ch)) {
        finish(at);
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
      }
      if (ch === escape) {
        if (i + 1 === chars.length) continue;
        const next = chars[++i] ?? '';
        offset += next.length;
        word += ch + next;
        continue;
      }
      word += ch;
      continue;
    }
    if (ch === quote) {
      quote = '';
      word += ch;
      continue;
    }
    if (ch === escape && quote !== "'") {
      if (i + 1 === chars.length) {
        quote = '';
        continue;
      }
      const next = chars[++i] ?? '';
      offset += next.length;
      word += ch + next;
      continue;
    }
    word += ch;
  }
  if (start >= 0) finish(offset);
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

const jsonSpace = /[ \t\n\r]/;

/**
 * The exec form: the rest read as JSON if it starts with `[`. As the reference's decoder
 * does, only the first JSON value is read and whatever follows it is ignored; invalid JSON is
 * not an error (the instruction is then in shell form), an array holding a non-string is.
 */
export function readJsonArray(rest: string): JsonArrayResult {
  let begin = 0;
  while (begin < rest.length && isGoSpace(rest[begin] ?? '')) begin++;
  if (rest[begin] !== '[') return { kind: 'not-json' };
  const end = endOfJsonValue(rest, begin);
  if (end === undefined) return { kind: 'not-json' };
  let value: unknown;
  try {
    value = JSON.parse(rest.slice(begin, end));
  } catch {
    return { kind: 'not-json' };
  }
  if (!Array.isArray(value)) return { kind: 'not-json' };
  if (!value.every((element) => typeof element === 'string')) return { kind: 'not-strings' };
  const strings = value as string[];
  const elements: OffsetWord[] = [];
  let index = 0;
  for (let i = begin + 1; i < end && index < strings.length; i++) {
    if (rest[i] !== '"') continue;
    const close = endOfJsonString(rest, i);
    elements.push({ value: strings[index] ?? '', start: i, end: close });
    index++;
    i = close - 1;
  }
  return { kind: 'array', elements };
}

/** Offset just past the JSON value starting at `begin` (an array), or undefined if it never closes. */
function endOfJsonValue(text: string, begin: number): number | undefined {
  let depth = 0;
  for (let i = begin; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      i = endOfJsonString(text, i) - 1;
      continue;
    }
    if (ch === '[' || ch === '{') depth++;
    else if (ch === ']' || ch === '}') {
      depth--;
      if (depth === 0) return i + 1;
    } else if (depth === 0 && !jsonSpace.test(ch ?? '')) return undefined;
  }
  return undefined;
}

function endOfJsonString(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\') i++;
    else if (ch === '"') return i + 1;
  }
  return text.length;
}
