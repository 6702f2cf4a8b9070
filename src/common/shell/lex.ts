/**
 * Shell-style word processing for Dockerfile instructions: quote removal, escapes, `$VAR` and
 * `${VAR…}` expansion and word splitting, with the semantics of BuildKit's Dockerfile frontend
 * (`frontend/dockerfile/shell`). It is deliberately not a shell: no command substitution, no
 * arithmetic, no globbing of file names, and a variable's value is never re-split inside quotes.
 */
import { TsbuildError } from '../errors.js';
import { PatternError, replaceAll, replaceFirst, trimPrefix, trimSuffix } from './pattern.js';
import { goQuote } from './quote.js';

export type EscapeToken = '\\' | '`';

export interface ShellOptions {
  /** The Dockerfile's escape character (`# escape=` directive); `\` by default. */
  readonly escapeToken?: EscapeToken;
  /** Keep quote characters in the result (they still group words and stop expansion). */
  readonly rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  readonly rawEscapes?: boolean;
  /** Treat quotes as ordinary characters. */
  readonly skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written instead of expanding them to nothing. */
  readonly skipUnsetEnv?: boolean;
}

/**
 * The longest value a word may expand to. Every value a Dockerfile expands can end in the image
 * config (ENV and LABEL values, ARG values in a RUN's history entry), which is read back only up
 * to 16 MiB; without a bound, `ENV A=$A$A` on a few dozen lines doubles past any memory.
 */
export const maxExpansionLength = 16 * 1024 * 1024;

/** Variables by name. Names are case-sensitive (Linux semantics). */
export type ShellEnv = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

export interface ExpansionResult {
  /** The processed word, without splitting. */
  readonly value: string;
  /** The processed word split on unquoted whitespace (whitespace produced by expansion splits too). */
  readonly words: readonly string[];
  /** Names referenced and found in the environment. */
  readonly matched: ReadonlySet<string>;
  /** Names referenced but not set (positional and special parameters included). */
  readonly unmatched: ReadonlySet<string>;
}

/** `KEY=VALUE` strings (a name without `=` has the empty value) to an environment; later wins. */
export function envFromList(list: readonly string[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of list) {
    const eq = entry.indexOf('=');
    if (eq < 0) env.set(entry, '');
    else env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

/** One string: quotes removed, escapes processed, variables expanded, no word splitting. */
export function processWord(word: string, env: ShellEnv, options: ShellOptions = {}): string {
  return expandWord(word, env, options).value;
}

/** The word split into words after expansion, as an unquoted shell argument list would be. */
export function processWords(word: string, env: ShellEnv, options: ShellOptions = {}): string[] {
  return [...expandWord(word, env, options).words];
}

/**
 * Both forms of the result, and the variables the word referred to (for lint rules and for
 * cache keys: only the build arguments a step uses should invalidate it).
 *
 * @throws TsbuildError `EXPANSION` with the reason as `cause` (its message is the reference
 * implementation's wording, e.g. `syntax error: bad substitution`).
 */
export function expandWord(word: string, env: ShellEnv, options: ShellOptions = {}): ExpansionResult {
  const processor = new WordProcessor(word, lookupIn(env), options);
  try {
    const { value, words } = processor.processStopOn(undefined, options.rawEscapes ?? false);
    return { value, words, matched: processor.matched, unmatched: processor.unmatched };
  } catch (error) {
    if (error instanceof SyntaxFailure) {
      throw new TsbuildError('EXPANSION', `failed to process ${goQuote(word)}: ${error.message}`, { cause: error });
    }
    // A pattern replacement (`${A//?/$A}`) can outgrow a string before its result is seen.
    if (error instanceof RangeError && /string length/i.test(error.message)) throw new TsbuildError('EXPANSION', `failed to process ${goQuote(word)}: ${tooLong}`, { cause: error });
    throw error;
  }
}

const tooLong = `the expansion is longer than ${maxExpansionLength} characters, the most tsbuild expands a word to`;

/** How deep `${…}` may nest in one word. */
const maxNesting = 500;

function bounded(text: string): string {
  if (text.length > maxExpansionLength) throw new SyntaxFailure(tooLong);
  return text;
}

/** A failure inside the processor; wrapped once, with the whole word, at the entry point. */
class SyntaxFailure extends Error {
  override readonly name = 'ExpansionSyntaxError';
}

type Lookup = (name: string) => string | undefined;

function lookupIn(env: ShellEnv): Lookup {
  if (env instanceof Map) return (name) => env.get(name);
  const record = env as Readonly<Record<string, string>>;
  return (name) => (Object.hasOwn(record, name) ? record[name] : undefined);
}

/** Go's `unicode.IsSpace`. */
const spaceChars = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/;
const isSpace = (ch: string): boolean => spaceChars.test(ch);
const spaceRuns = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/g;
// ASCII first: V8 builds a Unicode property class's set for its first match, about a
// millisecond each for \p{L} and \p{Nd}, which nearly every Dockerfile would pay for nothing.
const letters = /^\p{L}$/u;
const digits = /^\p{Nd}$/u;
const isLetter = (ch: string): boolean => (ch < '\x80' ? (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') : letters.test(ch));
const isDigit = (ch: string): boolean => (ch < '\x80' ? ch >= '0' && ch <= '9' : digits.test(ch));
/** POSIX special parameters; never set in a Dockerfile, so they expand to nothing. */
const specialParams = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);
/** How Go renders the end of input as a character in a message. */
const endOfInput = '\ufffd';

/** Accumulates words; whitespace splits only when it came from outside quotes. */
class WordSplitter {
  private current = '';
  private inWord = false;
  private readonly done: string[] = [];

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.current.length > 0) {
        this.done.push(this.current);
        this.current = '';
        this.inWord = false;
      }
    } else {
      this.addRaw(ch);
    }
  }

  /** As addChar for each character, a run of them at a time: a value may be megabytes long. */
  addString(text: string): void {
    let start = 0;
    for (const space of text.matchAll(spaceRuns)) {
      if (space.index > start) this.addRaw(text.slice(start, space.index));
      this.addChar(space[0].charAt(0));
      start = space.index + space[0].length;
    }
    if (start < text.length) this.addRaw(text.slice(start));
  }

  addRaw(text: string): void {
    this.current += text;
    this.inWord = true;
  }

  words(): string[] {
    // An empty quoted string ("") is not a word, as in the reference implementation.
    return this.current.length > 0 ? [...this.done, this.current] : [...this.done];
  }
}

class WordProcessor {
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes: boolean;
  private readonly escapeToken: EscapeToken;
  private nesting = 0;

  constructor(
    word: string,
    private readonly lookup: Lookup,
    private readonly options: ShellOptions,
  ) {
    // Code points, not UTF-16 units: `${안녕}` and astral characters are single characters.
    // A byte order mark at the start is dropped, as Go's text/scanner does.
    this.chars = Array.from(word.startsWith('\ufeff') ? word.slice(1) : word);
    this.rawEscapes = options.rawEscapes ?? false;
    this.escapeToken = options.escapeToken ?? '\\';
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  private next(): string | undefined {
    const ch = this.chars[this.pos];
    if (ch !== undefined) this.pos++;
    return ch;
  }

  private getEnv(name: string): { value: string; set: boolean } {
    const value = this.lookup(name);
    if (value === undefined) {
      this.unmatched.add(name);
      return { value: '', set: false };
    }
    this.matched.add(name);
    return { value, set: true };
  }

  /** Processes up to `stop` (consumed) or, when `stop` is undefined, to the end. */
  processStopOn(stop: string | undefined, rawEscapes: boolean): { value: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.processUntil(stop);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processUntil(stop: string | undefined): { value: string; words: string[] } {
    let result = '';
    const words = new WordSplitter();
    const quotes = !(this.options.skipProcessQuotes ?? false);
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (stop !== undefined && ch === stop) {
        this.next();
        return { value: result, words: words.words() };
      }
      if (ch === '$') {
        const value = this.processDollar();
        result = bounded(result + value);
        words.addString(value);
      } else if (quotes && (ch === "'" || ch === '"')) {
        const value = ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
        result = bounded(result + value);
        words.addRaw(value);
      } else {
        this.next();
        if (ch === this.escapeToken) {
          if (this.rawEscapes) {
            words.addRaw(ch);
            result += ch;
          }
          const escaped = this.next();
          // A trailing escape character is dropped.
          if (escaped === undefined) break;
          words.addRaw(escaped);
          result += escaped;
        } else {
          words.addChar(ch);
          result += ch;
        }
      }
    }
    if (stop !== undefined) {
      throw new SyntaxFailure(`unexpected end of statement while looking for matching ${stop}`);
    }
    return { value: result, words: words.words() };
  }

  /** Everything up to the next `'` is literal; a single quote cannot be escaped inside. */
  private processSingleQuote(): string {
    const raw = this.options.rawQuotes ?? false;
    let result = raw ? "'" : '';
    this.next();
    for (;;) {
      const ch = this.next();
      if (ch === undefined) {
        throw new SyntaxFailure('unexpected end of statement while looking for matching single-quote');
      }
      if (ch === "'") return raw ? `${result}'` : result;
      result += ch;
    }
  }

  /**
   * Inside `"…"`, `$` expands and the escape character quotes only `"`, `$` and itself; before
   * any other character it stays, as in a POSIX shell.
   */
  private processDoubleQuote(): string {
    const raw = this.options.rawQuotes ?? false;
    let result = raw ? '"' : '';
    this.next();
    for (;;) {
      const peeked = this.peek();
      if (peeked === undefined) {
        throw new SyntaxFailure('unexpected end of statement while looking for matching double-quote');
      }
      if (peeked === '"') {
        this.next();
        return raw ? `${result}"` : result;
      }
      if (peeked === '$') {
        result = bounded(result + this.processDollar());
        continue;
      }
      let ch = this.next() as string;
      if (ch === this.escapeToken) {
        if (this.rawEscapes) result += ch;
        const after = this.peek();
        // An escape at the very end is dropped; the missing quote is reported next round.
        if (after === undefined) continue;
        if (after === '"' || after === '$' || after === this.escapeToken) ch = this.next() as string;
      }
      result += ch;
    }
  }

  private processDollar(): string {
    this.next();
    const skipUnset = this.options.skipUnsetEnv ?? false;

    if (this.peek() !== '{') {
      const name = this.processName();
      // A `$` not followed by a name is literal (`$.`, `$` at the end).
      if (name === '') return '$';
      const { value, set } = this.getEnv(name);
      return !set && skipUnset ? `$${name}` : value;
    }

    this.next();
    // Each level of `${a:-${b:-…}}` is a few frames of recursion: a bound named in the error
    // instead of the stack's end. BuildKit (Go, whose stacks grow) has none; no Dockerfile
    // nests near it.
    if (++this.nesting > maxNesting) throw new SyntaxFailure(`substitutions nested more than ${maxNesting} levels deep`);
    try {
      return this.processBraced(skipUnset);
    } finally {
      this.nesting--;
    }
  }

  private processBraced(skipUnset: boolean): string {
    const first = this.peek();
    if (first === undefined) throw new SyntaxFailure("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new SyntaxFailure('syntax error: bad substitution');

    const name = this.processName();
    let ch = this.next();
    let modifier = ch ?? endOfInput;

    if (ch === '}') {
      const { value, set } = this.getEnv(name);
      return !set && skipUnset ? `\${${name}}` : value;
    }

    if (ch === '/') return this.processReplace(name);

    if (ch !== ':' && ch !== '+' && ch !== '-' && ch !== '?' && ch !== '#' && ch !== '%') {
      throw new SyntaxFailure(`unsupported modifier (${modifier}) in substitution`);
    }

    // `:` makes an empty value count as unset for the operator that follows it.
    let nullIsUnset = false;
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.next();
      modifier += ch ?? endOfInput;
    }

    // Patterns keep their escapes so that `\*` stays a literal star when the pattern is compiled.
    const word = this.processOperand('}', ch === '#' || ch === '%', "syntax error: missing '}'");
    const { value, set } = this.getEnv(name);
    if (skipUnset && !set) return `\${${name}${modifier}${word}}`;
    const unset = !set || (nullIsUnset && value === '');

    switch (ch) {
      case '-':
        return unset ? word : value;
      case '+':
        return unset ? '' : word;
      case '?':
        if (!set) throw new SyntaxFailure(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
        if (unset) throw new SyntaxFailure(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
        return value;
      case '#':
      case '%': {
        // Doubling the operator (`##`, `%%`) asks for the longest match.
        const greedy = word.startsWith(ch);
        const pattern = greedy ? word.slice(1) : word;
        return this.withPattern(pattern, () =>
          ch === '%' ? trimSuffix(pattern, value, greedy) : trimPrefix(pattern, value, greedy),
        );
      }
      default:
        throw new SyntaxFailure(`unsupported modifier (${modifier}) in substitution`);
    }
  }

  /** `${VAR/pat/repl}` and `${VAR//pat/repl}`, the name already read. */
  private processReplace(name: string): string {
    const all = this.peek() === '/';
    if (all) this.next();
    const pattern = this.processOperand('/', true, "syntax error: missing '/' in ${}");
    const replacement = this.processOperand('}', true, "syntax error: missing '}'");
    const { value, set } = this.getEnv(name);
    if ((this.options.skipUnsetEnv ?? false) && !set) return `\${${name}/${pattern}/${replacement}}`;
    return this.withPattern(pattern, () =>
      all ? replaceAll(pattern, value, replacement) : replaceFirst(pattern, value, replacement),
    );
  }

  /**
   * A nested word up to `stop`. Running out of input anywhere inside it (even in a quote) is
   * reported as the missing delimiter, which is the more useful message.
   */
  private processOperand(stop: string, rawEscapes: boolean, missing: string): string {
    try {
      return this.processStopOn(stop, rawEscapes).value;
    } catch (error) {
      if (error instanceof SyntaxFailure && this.peek() === undefined) throw new SyntaxFailure(missing);
      throw error;
    }
  }

  private withPattern(pattern: string, apply: () => string): string {
    try {
      return apply();
    } catch (error) {
      if (error instanceof PatternError) {
        throw new SyntaxFailure(`invalid pattern (${pattern}) in substitution: ${error.message}`);
      }
      throw error;
    }
  }

  /**
   * A variable name: letters, digits and `_`; or a run of digits (a positional parameter); or
   * one special parameter character.
   */
  private processName(): string {
    let name = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (name === '' && isDigit(ch)) {
        for (let digit = this.peek(); digit !== undefined && isDigit(digit); digit = this.peek()) {
          name += this.next() as string;
        }
        return name;
      }
      if (name === '' && specialParams.has(ch)) {
        this.next();
        return ch;
      }
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.next() as string;
    }
    return name;
  }
}
