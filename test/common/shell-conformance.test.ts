import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTsbuildError } from '../../src/common/index.js';
import { envFromList, expandWord, goQuote, type EscapeToken } from '../../src/common/index.js';

/**
 * BuildKit's own shell tables (envVarTest, wordsTest) with the reference output of every row,
 * from the shared conformance corpus beside the repository (see its README, "Shell tables").
 */
const shellDir = resolve(import.meta.dirname, '../../../shared/conformance/buildkit/shell');

interface EnvVarCase {
  readonly line: number;
  readonly platform: 'A' | 'U' | 'W';
  readonly input: string;
  readonly expected: string;
  readonly output: string | null;
  readonly error: string | null;
  readonly skipped?: string;
}

interface EnvVarTable {
  readonly env: readonly string[];
  readonly escapeToken: EscapeToken;
  readonly cases: readonly EnvVarCase[];
}

interface WordsCase {
  readonly line: number;
  readonly env: readonly string[];
  readonly input: string;
  readonly expected: readonly string[] | 'error';
  readonly output: readonly string[] | null;
  readonly error: string | null;
}

interface WordsTable {
  readonly escapeToken: EscapeToken;
  readonly cases: readonly WordsCase[];
}

function load<T>(name: string): T {
  return JSON.parse(readFileSync(resolve(shellDir, name), 'utf8')) as T;
}

type Outcome = { readonly output: string | readonly string[] } | { readonly error: string };

/** Runs a word and renders a failure in the reference implementation's wording. */
function outcome(input: string, run: () => string | readonly string[]): Outcome {
  try {
    return { output: run() };
  } catch (error) {
    if (!isTsbuildError(error, 'EXPANSION') || !(error.cause instanceof Error)) throw error;
    return { error: `failed to process ${goQuote(input)}: ${error.cause.message}` };
  }
}

const expectedOutcome = (row: { output: unknown; error: string | null }): Outcome =>
  row.error !== null ? { error: row.error } : { output: row.output as string | readonly string[] };

describe('shell conformance: envVarTest', () => {
  const table = load<EnvVarTable>('envVarTest.json');
  const env = envFromList(table.env);
  const evaluated = table.cases.filter((row) => row.skipped === undefined);
  const skipped = table.cases.filter((row) => row.skipped !== undefined);

  it('has the rows the README describes', () => {
    expect(evaluated.length).toBe(228);
    // Only the rows where Windows' case-insensitive names matter are skipped.
    expect(skipped.every((row) => row.platform === 'W' && row.skipped === 'windows-only')).toBe(true);
  });

  it.each(evaluated.map((row) => [row.line, row.input, row] as const))('line %i: %s', (_line, input, row) => {
    const got = outcome(input, () => expandWord(input, env, { escapeToken: table.escapeToken }).value);
    expect(got).toEqual(expectedOutcome(row));
  });
});

describe('shell conformance: wordsTest', () => {
  const table = load<WordsTable>('wordsTest.json');

  it('has the rows the README describes', () => {
    expect(table.cases.length).toBe(24);
  });

  it.each(table.cases.map((row) => [row.line, row.input, row] as const))('line %i: %s', (_line, input, row) => {
    const env = envFromList(row.env);
    const got = outcome(input, () => expandWord(input, env, { escapeToken: table.escapeToken }).words);
    expect(got).toEqual(expectedOutcome(row));
  });
});
