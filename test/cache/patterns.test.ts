import { describe, expect, it } from 'vitest';
import { PatternMatcher, readIgnoreFile, type MatchInfo } from '../../src/cache/index.js';

// Go's path.Match itself (common's pathMatch) is tested against Go's own table in test/common/path-match.test.ts.

// moby/patternmatcher's table: [pattern, path, how]: 'exact' matches the path itself, 'parent' only through a parent, 'fail' not at all.
const patternCases: ReadonlyArray<readonly [string, string, 'exact' | 'parent' | 'fail']> = [
  ['**', 'file', 'exact'],
  ['**', 'file/', 'exact'],
  ['**/', 'file', 'exact'],
  ['**/', 'file/', 'exact'],
  ['**', '/', 'exact'],
  ['**/', '/', 'exact'],
  ['**', 'dir/file', 'exact'],
  ['**/', 'dir/file', 'exact'],
  ['**/**', 'dir/file', 'exact'],
  ['dir/**', 'dir/file', 'exact'],
  ['dir/**', 'dir/dir2/file', 'exact'],
  ['**/dir', 'dir', 'exact'],
  ['**/dir', 'dir/file', 'parent'],
  ['**/dir2/*', 'dir/dir2/file', 'exact'],
  ['**/dir2/*', 'dir/dir2/file/', 'parent'],
  ['**/dir2/**', 'dir/dir2/dir3/file', 'exact'],
  ['**file', 'file', 'exact'],
  ['**file', 'dir/file', 'exact'],
  ['**/file', 'dir/file', 'exact'],
  ['**file', 'dir/dir/file', 'exact'],
  ['**/file*', 'dir/dir/file.txt', 'exact'],
  ['**/file*txt', 'dir/dir/file.txt', 'exact'],
  ['**/file*.txt*', 'dir/dir/file.txt', 'exact'],
  ['**/**/*.txt', 'dir/dir/file.txt', 'exact'],
  ['**/**/*.txt2', 'dir/dir/file.txt', 'fail'],
  ['**/*.txt', 'file.txt', 'exact'],
  ['**/**/*.txt', 'file.txt', 'exact'],
  ['a**/*.txt', 'a/file.txt', 'exact'],
  ['a**/*.txt', 'a/dir/dir/file.txt', 'exact'],
  ['a/*.txt', 'a/dir/file.txt', 'fail'],
  ['a/*.txt', 'a/file.txt', 'exact'],
  ['a/*.txt**', 'a/file.txt', 'exact'],
  ['a[b-d]e', 'ae', 'fail'],
  ['a[b-d]e', 'ace', 'exact'],
  ['a[^b-d]e', 'aze', 'exact'],
  ['.*', '.foo', 'exact'],
  ['.*', 'foo', 'fail'],
  ['abc.def', 'abcdef', 'fail'],
  ['abc.def', 'abc.def', 'exact'],
  ['abc?def', 'abcZdef', 'exact'],
  ['abc?def', 'abcdef', 'fail'],
  ['**/foo/bar', 'foo/bar', 'exact'],
  ['**/foo/bar', 'dir/dir2/foo/bar', 'exact'],
  ['abc/**', 'abc', 'fail'],
  ['abc/**', 'abc/def/ghi', 'exact'],
  ['**/.foo', '.foo', 'exact'],
  ['**/.foo', 'bar.foo', 'fail'],
  ['a(b)c/def', 'a(b)c/def', 'exact'],
  ['a(b)c/def', 'a(b)c/xyz', 'fail'],
  ['a.|)$(}+{bc', 'a.|)$(}+{bc', 'exact'],
  ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'exact'],
  ['a\\\\', 'a\\', 'exact'],
  ['a\\*b', 'a*b', 'exact'],
];

/** The walk's way: each parent's match information handed down. */
function matchWalking(matcher: PatternMatcher, path: string): boolean {
  const parts = path.split('/');
  let info: MatchInfo;
  for (let length = 1; length < parts.length; length++) info = matcher.matchesUsingParentResults(parts.slice(0, length).join('/'), info).info;
  return matcher.matchesUsingParentResults(path, info).matched;
}

describe('PatternMatcher', () => {
  for (const [pattern, path, how] of patternCases) {
    it(`${pattern} against ${path}`, () => {
      const matcher = new PatternMatcher([pattern]);
      expect(matcher.matchesOrParentMatches(path)).toBe(how !== 'fail');
      expect(matchWalking(matcher, path)).toBe(how !== 'fail');
      expect(matcher.matchesUsingParentResults(path, undefined).matched).toBe(how !== 'fail');
    });
  }

  it('lets the last matching pattern decide, exceptions re-including', () => {
    const cases: ReadonlyArray<readonly [readonly string[], string, boolean]> = [
      [['**', '!util/docker/web'], 'util/docker/web/foo', false],
      [['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo', true],
      [['**', '!dist/*.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
      [['docs', '!docs/README.md'], 'docs/README.md', false],
      [['docs/', '!docs/README.md'], 'docs/README.md', false],
      [['docs/*', '!docs/README.md'], 'docs/README.md', false],
      [['*.go', '!fileutils.go'], 'fileutils.go', false],
      [['!fileutils.go', '*.go'], 'fileutils.go', true],
      [['*.md', '!README*.md', 'README-secret.md'], 'README-secret.md', true],
      [['*.md', '!README*.md', 'README-secret.md'], 'README.md', false],
      [['*.md', '!README*.md', 'README-secret.md'], 'other.md', true],
    ];
    for (const [patterns, path, expected] of cases) {
      const matcher = new PatternMatcher(patterns);
      expect(matcher.matchesOrParentMatches(path), `${patterns.join(',')} ${path}`).toBe(expected);
      expect(matchWalking(matcher, path), `${patterns.join(',')} ${path} walking`).toBe(expected);
    }
  });

  it('decides files below a directory no pattern reaches into once per directory, as matchesOrParentMatches decides each', () => {
    const patternSets: ReadonlyArray<readonly string[]> = [
      ['Dockerfile', '.dockerignore'],
      ['docs', '!docs/README.md'],
      ['docs/*', '!docs/*/keep'],
      ['*/*.tmp', '!a/keep.tmp'],
      ['**/*.log', '!b/**/x.log'],
      ['a/[b/]c', 'b?'],
      ['*', '!*/*/deep'],
    ];
    const paths = ['Dockerfile', 'a', 'a/b', 'a/c', 'a/keep.tmp', 'a/x.tmp', 'a/b/x.tmp', 'b/c/x.log', 'b/x.log', 'bc/deep', 'bc/d/deep', 'docs/README.md', 'docs/a/keep', 'docs/a/other', 'docs/a/b/keep', 'e/f/g/h.log'];
    for (const patterns of patternSets) {
      const matcher = new PatternMatcher(patterns);
      const decide = matcher.parentDecisions();
      // Twice: the second pass answers from what the first kept.
      for (const path of [...paths, ...paths]) expect(decide(path), `${patterns.join(',')} ${path}`).toBe(matcher.matchesOrParentMatches(path));
    }
  });

  // V8's backtracking engine took exponential time on these for a path they do not match (Go's regexp is linear).
  it('matches patterns whose regexps backtrack exponentially in linear time, as Go does', { timeout: 20_000 }, () => {
    const stars = new PatternMatcher([`${'*'.repeat(3000)}z`, `${'**/'.repeat(30)}x`, `${'a*'.repeat(40)}b`]);
    const started = Date.now();
    expect(stars.matchesOrParentMatches('Dockerfile')).toBe(false);
    expect(stars.matchesOrParentMatches('a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/y')).toBe(false);
    expect(stars.matchesOrParentMatches('a'.repeat(60))).toBe(false);
    expect(stars.matchesOrParentMatches('some/dir/z')).toBe(true);
    expect(stars.matchesOrParentMatches('a/b/c/x')).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('refuses a lone ! and malformed patterns', () => {
    expect(() => new PatternMatcher(['!'])).toThrow(/illegal exclusion/);
    expect(() => new PatternMatcher(['['])).toThrow(/syntax error/);
    expect(new PatternMatcher(['docs', '', '  ']).patterns).toHaveLength(1);
    expect(new PatternMatcher(['docs', '  !docs/README.md  ']).exclusions).toBe(true);
  });

  it('says which excluded directories an exception may reach', () => {
    const literal = new PatternMatcher(['node_modules', 'build', '!build/keep']);
    expect(literal.mayIncludeBelow('node_modules')).toBe(false);
    expect(literal.mayIncludeBelow('build')).toBe(true);
    expect(new PatternMatcher(['build']).mayIncludeBelow('build')).toBe(false);
    expect(new PatternMatcher(['build', '!**/*.keep']).mayIncludeBelow('node_modules')).toBe(true);
  });
});

describe('PatternMatcher.decidesBelow', () => {
  it('holds only below the depth of every pattern, never with ** or a class that may hold /', () => {
    const shallow = new PatternMatcher(['Dockerfile', '*.md', '!docs/README.md']);
    expect(shallow.decidesBelow('')).toBe(false);
    expect(shallow.decidesBelow('src')).toBe(false);
    expect(shallow.decidesBelow('src/lib')).toBe(true);
    expect(shallow.decidesBelow('src/lib/deep')).toBe(true);
    expect(new PatternMatcher(['build']).decidesBelow('src')).toBe(true);
    expect(new PatternMatcher([]).decidesBelow('')).toBe(true);
    for (const deep of ['**/*.log', 'build/**', 'a[/]b', 'x/**/y']) expect(new PatternMatcher([deep]).decidesBelow('a/b/c/d/e')).toBe(false);
  });
});

describe('readIgnoreFile', () => {
  it('reads patterns as ignorefile.ReadAll does', () => {
    const text = '\uFEFF# comment\n  spaced  \n\n/abs/path\n./dot/./x/\n! negated \n!/neg/abs\n a/../b\r\n #not a comment\n/\n**/*.tmp';
    expect(readIgnoreFile(text)).toEqual(['spaced', 'abs/path', 'dot/x', '!negated', '!neg/abs', 'b', '#not a comment', '/', '**/*.tmp']);
  });
});
