/**
 * The grammar of one logical line: `KEYWORD [--flag…] [rest]`. A multi-mode Chevrotain lexer
 * separates the keyword, the flags (words starting with `--`, which may hold quoted blanks)
 * and the rest; its modes already order them as the grammar has them (an optional blank, the
 * keyword, flags before the rest), so the tokens are read in order without a parser.
 * How the rest splits into arguments depends on the instruction (see syntax.ts).
 */
import type { IToken } from 'chevrotain';
import { Lexer, createToken } from './lexer-library.js';
import { trimGoSpace } from './text.js';

// Blanks the reference's flag scanner stops at (it tests single bytes with unicode.IsSpace).
const flagBlank = '\\t\\n\\v\\f\\r \\u0085\\u00a0';

const Blank = createToken({ name: 'Blank', pattern: /[\t\v\f\r ]+/, line_breaks: false });
const Keyword = createToken({ name: 'Keyword', pattern: /[^\t\v\f\r ]+/, push_mode: 'flags' });
const FlagBlank = createToken({ name: 'FlagBlank', pattern: new RegExp(`[${flagBlank}]+`), line_breaks: true });
/** A bare `--` ends the flags; what follows is the rest even if it starts with `--`. */
const EndOfFlags = createToken({ name: 'EndOfFlags', pattern: new RegExp(`--(?![^${flagBlank}])`), push_mode: 'rest', start_chars_hint: ['-'] });
const Flag = createToken({
  name: 'Flag',
  // An unterminated quote runs to the end of the line, as in the reference's flag scanner.
  pattern: new RegExp(`--(?:"(?:[^"\\\\]|\\\\[^])*"?|'(?:[^'\\\\]|\\\\[^])*'?|\\\\[^]?|[^${flagBlank}"'\\\\])*`),
  line_breaks: true,
  start_chars_hint: ['-'],
});
const Rest = createToken({ name: 'Rest', pattern: /[^]+/, line_breaks: true });
const RestBlank = createToken({ name: 'RestBlank', pattern: new RegExp(`[${flagBlank}]+`), line_breaks: true });

let lexer: InstanceType<typeof Lexer> | undefined;

/**
 * The lexer, made on the first line split rather than when the module loads: its analysis of
 * the token patterns is start-up work that only a parse needs, and every command that imports
 * the planner would otherwise pay it.
 */
function lineLexer(): InstanceType<typeof Lexer> {
  lexer ??= new Lexer(
    {
      modes: {
        command: [Blank, Keyword],
        flags: [FlagBlank, EndOfFlags, Flag, Rest],
        rest: [RestBlank, Rest],
      },
      defaultMode: 'command',
    },
    // Validation of the token definitions costs milliseconds at every start; the conformance
    // and property tests exercise the definitions instead. Every mode holds a pattern that
    // starts with a negated class, which Chevrotain's first-character optimization cannot
    // analyse: safe mode skips that analysis, which would end by turning it off anyway.
    { positionTracking: 'onlyOffset', safeMode: true, skipValidations: true },
  );
  return lexer;
}

export interface LineFlag {
  readonly raw: string;
  readonly start: number;
  readonly end: number;
}

export interface LineParts {
  readonly keyword: string;
  readonly keywordStart: number;
  readonly flags: readonly LineFlag[];
  /** The rest with surrounding white space trimmed, and where it starts. */
  readonly rest: string;
  readonly restStart: number;
}

/**
 * Splits a non-blank logical line (already trimmed) into keyword, flags and rest. The token
 * patterns together match any text, so this never fails; a line the lexer cannot tokenize would
 * be a defect of the token patterns.
 */
export function splitLine(line: string): LineParts {
  const lexed = lineLexer().tokenize(line);
  if (lexed.errors.length > 0) throw new Error(`line lexer: ${lexed.errors[0]?.message ?? ''}`);
  let keyword: IToken | undefined;
  const flags: LineFlag[] = [];
  let rest: IToken | undefined;
  for (const token of lexed.tokens) {
    if (token.tokenType === Keyword) keyword ??= token;
    else if (token.tokenType === Flag) flags.push({ raw: token.image, start: token.startOffset, end: token.startOffset + token.image.length });
    else if (token.tokenType === Rest && rest === undefined) rest = token;
  }
  let restText = '';
  let restStart = line.length;
  if (rest !== undefined) {
    const trimmed = trimGoSpace(rest.image);
    restStart = trimmed === '' ? line.length : rest.startOffset + rest.image.indexOf(trimmed);
    restText = trimmed;
  }
  return { keyword: keyword?.image ?? '', keywordStart: keyword?.startOffset ?? 0, flags, rest: restText, restStart };
}
