/**
 * The grammar of one logical line: `KEYWORD [--flag…] [rest]`. A multi-mode Chevrotain lexer
 * separates the keyword, the flags (words starting with `--`, which may hold quoted blanks)
 * and the rest; a CST parser assembles them, and a visitor gives the parts with offsets.
 * How the rest splits into arguments depends on the instruction (see syntax.ts).
 */
import type { CstNode, IToken } from 'chevrotain';
import { CstParser, Lexer, createToken } from './lexer-library.js';
import { trimGoSpace } from './text.js';

// Blanks the reference's flag scanner stops at (it tests single bytes with unicode.IsSpace).
const flagBlank = '\\t\\n\\v\\f\\r \\u0085\\u00a0';

/** Every token after the keyword; the visitor tells them apart by type. */
const Part = createToken({ name: 'Part', pattern: Lexer.NA });
const Blank = createToken({ name: 'Blank', pattern: /[\t\v\f\r ]+/, line_breaks: false });
const Keyword = createToken({ name: 'Keyword', pattern: /[^\t\v\f\r ]+/, push_mode: 'flags' });
const FlagBlank = createToken({ name: 'FlagBlank', categories: [Part], pattern: new RegExp(`[${flagBlank}]+`), line_breaks: true });
/** A bare `--` ends the flags; what follows is the rest even if it starts with `--`. */
const EndOfFlags = createToken({ name: 'EndOfFlags', categories: [Part], pattern: new RegExp(`--(?![^${flagBlank}])`), push_mode: 'rest', start_chars_hint: ['-'] });
const Flag = createToken({
  name: 'Flag',
  categories: [Part],
  // An unterminated quote runs to the end of the line, as in the reference's flag scanner.
  pattern: new RegExp(`--(?:"(?:[^"\\\\]|\\\\[^])*"?|'(?:[^'\\\\]|\\\\[^])*'?|\\\\[^]?|[^${flagBlank}"'\\\\])*`),
  line_breaks: true,
  start_chars_hint: ['-'],
});
const Rest = createToken({ name: 'Rest', categories: [Part], pattern: /[^]+/, line_breaks: true });
const RestBlank = createToken({ name: 'RestBlank', categories: [Part], pattern: new RegExp(`[${flagBlank}]+`), line_breaks: true });

const allTokens = [Part, Blank, Keyword, FlagBlank, EndOfFlags, Flag, Rest, RestBlank];

class LineParser extends CstParser {
  constructor() {
    super(allTokens, { recoveryEnabled: false, skipValidations: true });
    this.performSelfAnalysis();
  }

  // The bodies of OPTION and MANY made once, not at every line: the rule runs for every line.
  private readonly blank = (): void => {
    this.CONSUME(Blank);
  };

  private readonly part = (): void => {
    this.CONSUME(Part);
  };

  line = this.RULE('line', () => {
    this.OPTION(this.blank);
    this.CONSUME(Keyword);
    // The lexer's modes already order flags before the rest: one category suffices here.
    this.MANY(this.part);
  });
}

interface LineGrammar {
  readonly lexer: InstanceType<typeof Lexer>;
  readonly parser: LineParser;
}

let grammar: LineGrammar | undefined;

/**
 * The lexer and parser, made on the first line split rather than when the module loads: their
 * analysis of the token patterns and rules is start-up work that only a parse needs, and every
 * command that imports the planner would otherwise pay it.
 */
function lineGrammar(): LineGrammar {
  grammar ??= {
    lexer: new Lexer(
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
    ),
    parser: new LineParser(),
  };
  return grammar;
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

function tokensOf(node: CstNode, name: string): IToken[] {
  const found = node.children[name];
  return (found ?? []) as IToken[];
}

/**
 * Splits a non-blank logical line (already trimmed) into keyword, flags and rest. The grammar
 * accepts every such line, so this never fails; a line the lexer cannot tokenize would be a
 * defect of the token patterns, which together match any text.
 */
export function splitLine(line: string): LineParts {
  const { lexer, parser } = lineGrammar();
  const lexed = lexer.tokenize(line);
  if (lexed.errors.length > 0) throw new Error(`line lexer: ${lexed.errors[0]?.message ?? ''}`);
  parser.input = lexed.tokens;
  const cst = parser.line();
  if (parser.errors.length > 0) throw new Error(`line grammar: ${parser.errors[0]?.message ?? ''}`);
  const keyword = tokensOf(cst, 'Keyword')[0];
  const flags: LineFlag[] = [];
  let rest: IToken | undefined;
  for (const part of tokensOf(cst, 'Part')) {
    if (part.tokenType === Flag) flags.push({ raw: part.image, start: part.startOffset, end: part.startOffset + part.image.length });
    else if (part.tokenType === Rest && rest === undefined) rest = part;
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
