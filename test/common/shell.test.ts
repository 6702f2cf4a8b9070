import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TsbuildError } from '../../src/common/index.js';
import { envFromList, expandWord, goQuote, processWord, processWords } from '../../src/common/index.js';

const env = new Map([
  ['FILE', 'foo.tar.gz'],
  ['PATHY', 'a/b/c'],
  ['EMPTY', ''],
  ['SPACED', '  x  y '],
  ['STAR', 'a*b'],
]);

function reason(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(TsbuildError);
    expect((error as TsbuildError).code).toBe('EXPANSION');
    return ((error as TsbuildError).cause as Error).message;
  }
  throw new Error('expected an expansion error');
}

describe('pattern modifiers', () => {
  it.each([
    ['${FILE#*.}', 'tar.gz'],
    ['${FILE##*.}', 'gz'],
    ['${FILE%.*}', 'foo.tar'],
    ['${FILE%%.*}', 'foo'],
    ['${FILE#foo}', '.tar.gz'],
    ['${FILE#bar}', 'foo.tar.gz'],
    ['${FILE%gz}', 'foo.tar.'],
    ['${FILE#?}', 'oo.tar.gz'],
    ['${FILE%???}', 'foo.tar'],
    ['${FILE#f*}', 'oo.tar.gz'],
    ['${FILE##f*}', ''],
    ['${UNSET#x}', ''],
    ['${FILE/o/0}', 'f0o.tar.gz'],
    ['${FILE//o/0}', 'f00.tar.gz'],
    ['${FILE//.}', 'error'],
    ['${FILE//./}', 'footargz'],
    ['${PATHY//\\//-}', 'a-b-c'],
    ['${PATHY/b*/X}', 'a/X'],
    ['${FILE/x/y}', 'foo.tar.gz'],
    ['${STAR#a\\*}', 'b'],
    ['${STAR/\\*/+}', 'a+b'],
    ['${FILE//[.]/x}', 'foo.tar.gz'],
    ['${FILE/${EMPTY}f/F}', 'Foo.tar.gz'],
    ['${FILE:#foo}', '.tar.gz'],
  ])('%s → %s', (word, expected) => {
    if (expected === 'error') {
      expect(reason(() => processWord(word, env))).toBe("syntax error: missing '/' in ${}");
    } else {
      expect(processWord(word, env)).toBe(expected);
    }
  });

  it('replaces every match the way Go regexp does, skipping an empty match right after a match', () => {
    // String.prototype.replace(/.*/g) would give "--".
    expect(processWord('${FILE//*/-}', env)).toBe('-');
    expect(processWord('${PATHY///-}', env)).toBe('-a-/-b-/-c-');
  });

  it('reads $0 in a replace-all replacement as the whole match', () => {
    expect(processWord('${FILE//o/<\\$0>}', env)).toBe('f<\\o><\\o>.tar.gz');
    expect(processWord('${FILE/o/<\\$0>}', env)).toBe('f<\\$0>o.tar.gz');
  });

  it('rejects an escape that a pattern does not define', () => {
    expect(reason(() => processWord('${FILE#\\x}', env))).toBe("invalid pattern (\\x) in substitution: invalid escape '\\x'");
  });

  it('reports a missing brace after a pattern', () => {
    expect(reason(() => processWord('${FILE/a/b', env))).toBe("syntax error: missing '}'");
    expect(reason(() => processWord('${FILE%a', env))).toBe("syntax error: missing '}'");
  });
});

describe('defaults, alternatives and errors', () => {
  it.each([
    ['${EMPTY-d}', ''],
    ['${EMPTY:-d}', 'd'],
    ['${EMPTY+a}', 'a'],
    ['${EMPTY:+a}', ''],
    ['${UNSET-d}', 'd'],
    ['${UNSET+a}', ''],
    ["${UNSET:-'a}b'}", 'a}b'],
    ['${UNSET:-"$FILE"}', 'foo.tar.gz'],
    ['${UNSET:-\\}}', '}'],
  ])('%s → %s', (word, expected) => {
    expect(processWord(word, env)).toBe(expected);
  });

  it('uses the message given after ?', () => {
    expect(reason(() => processWord('${UNSET?must be set}', env))).toBe('UNSET: must be set');
    expect(reason(() => processWord('${EMPTY:?needs a value}', env))).toBe('EMPTY: needs a value');
    expect(processWord('${EMPTY?x}', env)).toBe('');
  });

  it('names the word in the error message', () => {
    expect(() => processWord('a${}', env)).toThrow('failed to process "a${}": syntax error: bad substitution');
  });
});

describe('quotes and escapes', () => {
  it('honours a backtick escape token and leaves backslashes alone', () => {
    const options = { escapeToken: '`' } as const;
    expect(processWord('C:\\path\\$FILE', env, options)).toBe('C:\\path\\foo.tar.gz');
    expect(processWord('a`$FILE', env, options)).toBe('a$FILE');
    expect(processWord('"a`"b"', env, options)).toBe('a"b');
    expect(processWord('"a\\"', env, options)).toBe('a\\');
  });

  it('drops a byte order mark at the start of a word only', () => {
    expect(processWord('\ufeffa\ufeff', env)).toBe('a\ufeff');
  });

  it('keeps quotes and escapes when asked', () => {
    expect(processWord(`"a b" 'c' \\d`, env, { rawQuotes: true })).toBe(`"a b" 'c' d`);
    expect(processWord('a\\$FILE', env, { rawEscapes: true })).toBe('a\\$FILE');
    expect(processWord(`'$FILE'`, env, { skipProcessQuotes: true })).toBe(`'foo.tar.gz'`);
  });

  it('leaves unset variables as written when asked', () => {
    const options = { skipUnsetEnv: true } as const;
    expect(processWord('$UNSET ${UNSET} ${UNSET:-x} ${UNSET/a/b} $FILE', env, options)).toBe(
      '$UNSET ${UNSET} ${UNSET:-x} ${UNSET/a/b} foo.tar.gz',
    );
  });
});

describe('word splitting', () => {
  it('splits expanded values but not quoted ones', () => {
    expect(processWords('a$SPACED"b"', env)).toEqual(['a', 'x', 'y', 'b']);
    expect(processWords('"$SPACED"', env)).toEqual(['  x  y ']);
    expect(processWords('a "" b', env)).toEqual(['a', 'b']);
    expect(processWords('a\\ b\tc\u3000d', env)).toEqual(['a b', 'c', 'd']);
  });

  it('joins without splitting in processWord', () => {
    expect(processWord('a$SPACED', env)).toBe('a  x  y ');
  });
});

describe('variables referenced', () => {
  it('reports which names were found and which were not', () => {
    const result = expandWord('$FILE ${UNSET:-$EMPTY} ${MISSING#$PATHY} $1 $', env);
    expect([...result.matched].sort()).toEqual(['EMPTY', 'FILE', 'PATHY']);
    expect([...result.unmatched].sort()).toEqual(['1', 'MISSING', 'UNSET']);
  });

  it('does not count quoted or escaped references', () => {
    const result = expandWord(`'$FILE' \\$UNSET "\\$X"`, env);
    expect(result.value).toBe('$FILE $UNSET $X');
    expect(result.matched.size + result.unmatched.size).toBe(0);
  });

  it("reads names of letters, digits and _ of any script, as Go's unicode.IsLetter and IsDigit", () => {
    const names = new Map([
      ['é_1', 'letters'],
      ['日本', 'ideographs'],
      ['x٣', 'arabic-indic digit'],
      ['Zz09', 'ascii'],
    ]);
    expect(processWord('$é_1|$日本|$x٣|$Zz09|$Zz09@|$Zz09[|$Zz09`|${Zz09}{', names)).toBe('letters|ideographs|arabic-indic digit|ascii|ascii@|ascii[|ascii`|ascii{');
    // A leading digit is a positional parameter of one digit, also beyond ASCII.
    expect(expandWord('$1x $٣y', names).unmatched).toEqual(new Set(['1', '٣']));
  });

  it('accepts a plain record and KEY=VALUE lists', () => {
    expect(processWord('$A-$B-$toString', { A: '1', B: '2' })).toBe('1-2-');
    expect(processWord('$A.$B.$C', envFromList(['A=1', 'B', 'C=x=y', 'A=3']))).toBe('3..x=y');
  });
});

describe('goQuote', () => {
  it('quotes like Go strconv.Quote', () => {
    expect(goQuote('a"b\\c\n\t\x01\x7f\u200b\u00a0é😀')).toBe('"a\\"b\\\\c\\n\\t\\x01\\x7f\\u200b\\u00a0é😀"');
  });
});

describe('properties', () => {
  it('leaves words without special characters unchanged, and splits them on whitespace only', () => {
    const plain = fc.string({ unit: fc.constantFrom('a', 'Z', '9', ' ', '\t', '\n', '}', '{', '/', '%', '#', '한', '\u00a0', '😀') });
    fc.assert(
      fc.property(plain, (word) => {
        expect(processWord(word, env)).toBe(word);
        expect(processWords(word, env)).toEqual(word.split(/[ \t\n\u00a0]+/).filter((w) => w !== ''));
      }),
      { numRuns: 300 },
    );
  });

  it('reads back any value inside single quotes, and inside double quotes once \\ " $ are escaped', () => {
    const text = fc.string({ unit: fc.constantFrom('a', ' ', '$', '\\', '"', '{', '}', 'b') });
    fc.assert(
      fc.property(text, (value) => {
        if (!value.includes("'")) expect(processWord(`'${value}'`, env)).toBe(value);
        expect(processWord(`"${value.replace(/[\\"$]/g, (ch) => `\\${ch}`)}"`, env)).toBe(value);
      }),
      { numRuns: 300 },
    );
  });
});

describe('bounds', () => {
  // `ENV A=$A$A` on each of a few dozen lines doubled a value past any memory.
  it('refuses to expand a word past 16 MiB, naming the bound, and splits a long value quickly', () => {
    const half = 'x y'.repeat(3 * 1024 * 1024);
    const started = Date.now();
    expect(processWords('$A', new Map([['A', half]]))).toHaveLength(3 * 1024 * 1024 + 1);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(() => expandWord('$A$A', new Map([['A', half]]))).toThrow(/failed to process "\$A\$A": the expansion is longer than 16777216 characters/);
    expect(() => expandWord('"${A}${A}"', new Map([['A', half]]))).toThrow(/longer than 16777216 characters/);
    expect(() => expandWord('${B:-$A$A}', new Map([['A', half]]))).toThrow(/longer than 16777216 characters/);
    expect(expandWord('$A', new Map([['A', half]])).value).toHaveLength(half.length);
  });

  // 10,000 levels ended in V8's "Maximum call stack size exceeded".
  it('expands ${a:-${a:-…}} nested 500 deep, and refuses deeper nesting naming the bound', () => {
    const nested = (levels: number): string => {
      let word = 'x';
      for (let level = 0; level < levels; level++) word = `\${a:-${word}}`;
      return word;
    };
    expect(processWord(nested(500), new Map())).toBe('x');
    for (const levels of [501, 10_000]) expect(() => expandWord(nested(levels), new Map())).toThrow(/substitutions nested more than 500 levels deep/);
  });
});
