/**
 * pathMatch against the cases Go's own path.Match is tested with (pattern, name, matched, or
 * ErrBadPattern), and a few more on bytes that are not characters.
 */
import { describe, expect, it } from 'vitest';
import { isTsbuildError, pathMatch } from '../../src/common/index.js';

const bad = 'ErrBadPattern';
const goCases: ReadonlyArray<readonly [pattern: string, name: string, expected: boolean | typeof bad]> = [
  ['abc', 'abc', true],
  ['*', 'abc', true],
  ['*c', 'abc', true],
  ['a*', 'a', true],
  ['a*', 'abc', true],
  ['a*', 'ab/c', false],
  ['a*/b', 'abc/b', true],
  ['a*/b', 'a/c/b', false],
  ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
  ['a*b?c*x', 'abxbbxdbxebxczzx', true],
  ['a*b?c*x', 'abxbbxdbxebxczzy', false],
  ['ab[c]', 'abc', true],
  ['ab[b-d]', 'abc', true],
  ['ab[e-g]', 'abc', false],
  ['ab[^c]', 'abc', false],
  ['ab[^b-d]', 'abc', false],
  ['ab[^e-g]', 'abc', true],
  ['a\\*b', 'a*b', true],
  ['a\\*b', 'ab', false],
  ['a?b', 'a☺b', true],
  ['a[^a]b', 'a☺b', true],
  ['a???b', 'a☺b', false],
  ['a[^a][^a][^a]b', 'a☺b', false],
  ['[a-ζ]*', 'α', true],
  ['*[a-ζ]', 'A', false],
  ['a?b', 'a/b', false],
  ['a*b', 'a/b', false],
  ['[\\]a]', ']', true],
  ['[\\-]', '-', true],
  ['[x\\-]', 'x', true],
  ['[x\\-]', '-', true],
  ['[x\\-]', 'z', false],
  ['[\\-x]', 'x', true],
  ['[\\-x]', '-', true],
  ['[\\-x]', 'a', false],
  ['[]a]', ']', bad],
  ['[-]', '-', bad],
  ['[x-]', 'x', bad],
  ['[x-]', '-', bad],
  ['[x-]', 'z', bad],
  ['[-x]', 'x', bad],
  ['[-x]', '-', bad],
  ['[-x]', 'a', bad],
  ['\\', 'a', bad],
  ['[a-b-c]', 'a', bad],
  ['[', 'a', bad],
  ['[^', 'a', bad],
  ['[^bc', 'a', bad],
  ['a[', 'a', bad],
  ['a[', 'ab', bad],
  ['a[', 'x', bad],
  ['a/b[', 'x', bad],
  ['*x', 'xxx', true],
];

function outcome(pattern: string, name: string): boolean | typeof bad {
  try {
    return pathMatch(pattern, name);
  } catch (error) {
    if (isTsbuildError(error, 'INVALID_ARGUMENT')) return bad;
    throw error;
  }
}

describe('pathMatch (Go path.Match)', () => {
  it.each(goCases)('%j against %j', (pattern, name, expected) => {
    expect(outcome(pattern, name)).toBe(expected);
  });

  it('checks the whole pattern even when the name already failed, as Go does', () => {
    expect(outcome('x*[', 'abc')).toBe(bad);
    expect(outcome('a*b\\', 'zzz')).toBe(bad);
    // A pattern cut short after a match that already succeeded is still read to its end.
    expect(outcome('abc[', 'abc')).toBe(bad);
  });

  it('takes an escaped letter as the letter, in a class too, and classes of characters beyond one byte', () => {
    expect(pathMatch('[\\d]', 'd')).toBe(true);
    expect(pathMatch('[\\d]', '5')).toBe(false);
    expect(pathMatch('\\a', 'a')).toBe(true);
    expect(pathMatch('[☺-☻]', '☻')).toBe(true);
    expect(pathMatch('[^☺]', '☺')).toBe(false);
    expect(pathMatch('a.b', 'axb')).toBe(false);
    expect(pathMatch('*', '')).toBe(true);
    expect(pathMatch('', '')).toBe(true);
    expect(pathMatch('', 'a')).toBe(false);
  });

  it('takes a range out of order as a class nothing falls in, not as a bad pattern', () => {
    expect(pathMatch('[z-a]', 'm')).toBe(false);
    expect(pathMatch('[^z-a]', 'm')).toBe(true);
  });
});
