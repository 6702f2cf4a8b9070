import { describe, expect, it } from 'vitest';
import { isTsbuildError } from '../../src/common/index.js';
import { parseBuildArgs } from '../../src/planner/index.js';

describe('parseBuildArgs', () => {
  it('reads KEY=VALUE, splitting at the first = and keeping empty values', () => {
    expect(parseBuildArgs(['A=1', 'B=x=y', 'C='], {})).toEqual({ A: '1', B: 'x=y', C: '' });
  });

  it('takes a KEY alone from the environment, as docker does, and leaves it out when unset', () => {
    expect(parseBuildArgs(['HOME_DIR', 'MISSING'], { HOME_DIR: '/home/u' })).toEqual({ HOME_DIR: '/home/u' });
    expect(parseBuildArgs(['EMPTY'], { EMPTY: '' })).toEqual({ EMPTY: '' });
  });

  it('lets a later value for a key win', () => {
    expect(parseBuildArgs(['A=1', 'A', 'A=3'], { A: '2' })).toEqual({ A: '3' });
    expect(parseBuildArgs(['A=1', 'A'], { A: '2' })).toEqual({ A: '2' });
  });

  it('refuses an empty key', () => {
    for (const value of ['=1', '']) {
      let failure: unknown;
      try {
        parseBuildArgs([value], {});
      } catch (error) {
        failure = error;
      }
      expect(isTsbuildError(failure, 'INVALID_ARGUMENT')).toBe(true);
    }
  });
});
