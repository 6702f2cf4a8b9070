import { isTsbuildError } from '../../src/common/index.js';

/** The TsbuildError code PROMISE fails with, undefined when it succeeds, or a note when it fails otherwise. */
export async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return isTsbuildError(error) ? error.code : `not a TsbuildError: ${String(error)}`;
  }
}
