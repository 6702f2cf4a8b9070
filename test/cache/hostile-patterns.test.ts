/**
 * A context whose `.dockerignore` is made to hang the build (BuildKit CVE-2024-23650's class:
 * input that stops the builder): patterns such as `x/**\/**\/…/y` or `*a*a*a…b`, which a
 * backtracking regular expression engine tries against a path in every way there is. Go's RE2
 * matches them for BuildKit in time linear in the path; so does tsbuild's automaton, which
 * must agree with what V8's engine answers for every expression the pattern compiler writes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IgnorePattern } from '../../src/cache/patterns.js';
import { PatternAutomaton } from '../../src/cache/pattern-automaton.js';
import { runCliCaptured } from '../helpers/run-cli.js';
import { temporaryDirectory } from '../helpers/temporary-store.js';

describe('patterns made to backtrack', () => {
  it('answers as V8 does for every expression of the forms the compiler writes (property)', () => {
    const atom = fc.constantFrom('a', 'b', '/', '\\.', '\\\\', ']', '[ab]', '[^a]', '[^/]', '[a-b/]', '[]', '[^]', '[\\]a]', '\\x61', '\\u0062');
    const item = fc.oneof(
      { weight: 4, arbitrary: fc.tuple(atom, fc.constantFrom('', '', '*', '?')).map(([text, repeat]) => text + repeat) },
      { weight: 1, arbitrary: fc.constant('(.*/)?') },
      { weight: 1, arbitrary: fc.constant('.*') },
    );
    const expression = fc.array(item, { maxLength: 8 }).map((items) => `^${items.join('')}$`);
    const path = fc.array(fc.constantFrom('a', 'b', '/', '.', ']', '\\'), { maxLength: 12 }).map((units) => units.join(''));
    fc.assert(
      fc.property(expression, fc.array(path, { minLength: 1, maxLength: 6 }), (source, paths) => {
        const automaton = PatternAutomaton.compile(source);
        const expected = new RegExp(source);
        for (const candidate of paths) expect(automaton.test(candidate), `${source} against ${JSON.stringify(candidate)}`).toBe(expected.test(candidate));
      }),
      { numRuns: 3000 },
    );
  });

  it('matches patterns of many ** and * against deep and long paths at once', () => {
    const deep = `x/${'a/'.repeat(40)}z`;
    const started = Date.now();
    expect(new IgnorePattern(`x/${'**/'.repeat(16)}y`, false).matches(deep)).toBe(false);
    expect(new IgnorePattern(`x/${'**/'.repeat(16)}z`, false).matches(deep)).toBe(true);
    expect(new IgnorePattern(`x/${'**/a/'.repeat(12)}y`, false).matches(deep)).toBe(false);
    expect(new IgnorePattern(`${'*a'.repeat(12)}b`, false).matches('a'.repeat(250))).toBe(false);
    expect(new IgnorePattern(`${'*a'.repeat(12)}b`, false).matches(`${'a'.repeat(250)}b`)).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(() => new IgnorePattern('a/**/\\1', false)).toThrow(/not supported in a path pattern/);
  });

  describe('in a build', () => {
    let dir: string;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      ({ path: dir, cleanup } = await temporaryDirectory('tsbuild-hostile-patterns-'));
    });

    afterAll(async () => {
      await cleanup();
    });

    it('builds a context whose .dockerignore is made to backtrack over its deep directories', async () => {
      const context = join(dir, 'context');
      const deep = join(context, 'x', ...Array.from({ length: 30 }, () => 'a'));
      await mkdir(deep, { recursive: true });
      await writeFile(join(deep, 'z'), 'kept\n');
      await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
      await writeFile(join(context, '.dockerignore'), [`x/${'**/'.repeat(16)}y`, `x/${'**/a/'.repeat(10)}y`, `${'*a'.repeat(10)}b`].join('\n'));
      const result = await runCliCaptured(['build', '--root', join(dir, 'root'), '--progress', 'plain', '-t', 'deep', context]);
      expect(result.stderr).not.toContain('error');
      expect(result.status).toBe(0);
    }, 60_000);
  });
});
