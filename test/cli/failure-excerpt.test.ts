import { describe, expect, it } from 'vitest';
import { excerptLines } from '../../src/cli/commands/build.js';

describe('excerptLines', () => {
  // Counts of lines as BuildKit splits a file: one more than its lines when it ends in a newline.
  it('takes the lines around a failed instruction as BuildKit does', () => {
    // One line: two before and two after where there are.
    expect(excerptLines(20, 20, 23)).toEqual({ first: 18, last: 22 });
    // Near the start: fewer before, one more after.
    expect(excerptLines(2, 2, 5)).toEqual({ first: 1, last: 4 });
    expect(excerptLines(1, 1, 5)).toEqual({ first: 1, last: 3 });
    // At the end: before only.
    expect(excerptLines(5, 5, 5)).toEqual({ first: 3, last: 5 });
    // Several lines (continued with backslashes): one on each side.
    expect(excerptLines(4, 7, 12)).toEqual({ first: 3, last: 8 });
  });
});
