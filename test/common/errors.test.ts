import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errnoOf, TsbuildError, withLocation, type SourceRange } from '../../src/common/index.js';

const line = (n: number): SourceRange => ({ start: { line: n, column: 1 }, end: { line: n, column: 10 } });

describe('TsbuildError locations', () => {
  it('carries the ranges, reference and digest it was made with', () => {
    const error = new TsbuildError('DIGEST_MISMATCH', 'verify blob: digest mismatch', { reference: 'alpine:3', digest: 'sha256:ab', ranges: [line(2)] });
    expect(error.ranges).toEqual([line(2)]);
    expect(error.reference).toBe('alpine:3');
    expect(error.digest).toBe('sha256:ab');
    expect(new TsbuildError('INTERNAL', 'x').ranges).toEqual([]);
  });

  it('withLocation adds the enclosing range after the ranges already there, on the same error', () => {
    const inner = new TsbuildError('EXPANSION', 'expand word: bad substitution', { ranges: [line(3)] });
    const located = withLocation(inner, line(7));
    expect(located).toBe(inner);
    expect(located.code).toBe('EXPANSION');
    expect(located.ranges.map((r) => r.start.line)).toEqual([3, 7]);
    expect(withLocation(located, [line(8), line(9)]).ranges.map((r) => r.start.line)).toEqual([3, 7, 8, 9]);
  });

  it('withLocation turns what is no TsbuildError into an INTERNAL error with it as the cause', () => {
    const thrown = new RangeError('index out of range');
    const located = withLocation(thrown, line(4));
    expect(located).toBeInstanceOf(TsbuildError);
    expect(located.code).toBe('INTERNAL');
    expect(located.cause).toBe(thrown);
    expect(located.ranges).toEqual([line(4)]);
  });
});

describe('errnoOf', () => {
  it("gives a failed system call's code, and nothing for other values or a TsbuildError's code", () => {
    let failure: unknown;
    try {
      readFileSync('/nonexistent/tsbuild-errno');
    } catch (error) {
      failure = error;
    }
    expect(errnoOf(failure)).toBe('ENOENT');
    expect(errnoOf(new TsbuildError('NOT_FOUND', 'x'))).toBeUndefined();
    expect(errnoOf(new Error('plain'))).toBeUndefined();
    expect(errnoOf(undefined)).toBeUndefined();
    expect(errnoOf({ code: 7 })).toBeUndefined();
  });
});
