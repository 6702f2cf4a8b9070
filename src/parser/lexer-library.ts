/**
 * Chevrotain, from the single-file build its package ships: the package entry loads about a
 * hundred modules (0.4 s at start-up, more than a whole parse of a large file), the single file
 * a few milliseconds. Loaded with require() (an ES module without top-level await), so that no
 * module of the CLI waits at top level.
 *
 * The CLI bundle puts that same file in place of this module (scripts/bundle-cli.mjs): compiled
 * into the bundle, the library comes from the bundle's code cache instead of being found,
 * read and compiled at every start.
 */
import { createRequire } from 'node:module';
import type * as Chevrotain from 'chevrotain';

const requireHere = createRequire(import.meta.url);
const chevrotain = requireHere(new URL('../chevrotain.min.mjs', `file://${requireHere.resolve('chevrotain')}`).pathname) as typeof Chevrotain;

export const { Lexer, createToken } = chevrotain;
