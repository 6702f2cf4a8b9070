/**
 * What the parser reports instead of throwing. Each diagnostic has a stable code (tests and
 * tools match on it; messages may be reworded), a severity, a precise range, and the lines of
 * the whole instruction it belongs to (the span the reference attaches to its error).
 */
import type { SourceRange } from '../common/index.js';

export const diagnosticCatalogue = {
  // The file as a whole and its lines: the reference rejects the file before typing instructions.
  'no-instructions': 'the file holds no instruction',
  'invalid-escape': 'the escape directive names a character other than \\ or `',
  'duplicate-directive': 'a parser directive is given twice',
  'line-too-long': 'a line is longer than the reference accepts (65535 bytes)',
  'unterminated-heredoc': 'a heredoc body has no terminator line',
  'invalid-heredoc': 'a heredoc word cannot be read as one shell word',
  'json-not-strings': 'a JSON array holds something other than strings',
  'missing-value': 'ENV or LABEL in the `key value` form without a value',
  'missing-equals': 'ENV or LABEL in the `key=value` form with a word lacking `=`',
  // Typing the instructions.
  'unknown-instruction': 'the instruction word is not one of the Dockerfile reference',
  'unknown-flag': 'a flag this instruction does not take (in this channel)',
  'duplicate-flag': 'a flag given twice that takes one value',
  'invalid-flag-value': 'a flag without its value, or with a value of the wrong kind',
  'argument-count': 'too few or too many arguments',
  'invalid-stage-name': 'a stage name that is not lower-case letters, digits, `-`, `_` and `.`',
  'no-stage': 'an instruction other than ARG before the first FROM',
  'invalid-onbuild': 'ONBUILD with a forbidden trigger (ONBUILD, FROM, MAINTAINER)',
  'invalid-healthcheck': 'HEALTHCHECK with an unknown type or options out of range',
  'invalid-heredoc-use': 'a heredoc where the instruction does not take one',
  'blank-name': 'ENV, LABEL or ARG with an empty name',
  'not-json': 'SHELL in shell form (it takes only a JSON array)',
  'invalid-mount': 'RUN --mount that cannot be read',
  'invalid-network': 'RUN --network other than default, none, host',
  'invalid-security': 'RUN --security other than sandbox, insecure',
  'empty-volume': 'VOLUME with an empty path',
  // Warnings.
  'empty-continuation': 'an empty line inside a continued instruction (warning)',
} as const;

export type DiagnosticCode = keyof typeof diagnosticCatalogue;

export interface Diagnostic {
  readonly code: DiagnosticCode;
  readonly severity: 'error' | 'warning';
  /** `syntax`: the reference's parser rejects the file; `instruction`: typing the instructions does. */
  readonly phase: 'syntax' | 'instruction';
  readonly message: string;
  readonly range: SourceRange;
  /** First and last line of the instruction (0 and 0 for an empty file). */
  readonly lines: { readonly start: number; readonly end: number };
}

/**
 * The error the reference would report first: it stops at its parser's first error, and only
 * a file its parser accepted has its instructions typed.
 */
export function primaryError(diagnostics: readonly Diagnostic[]): Diagnostic | undefined {
  const errors = diagnostics.filter((d) => d.severity === 'error');
  return errors.find((d) => d.phase === 'syntax') ?? errors[0];
}

/**
 * A compiler-style rendering: `file:line:column: message`, the offending line, and a caret
 * under the range (as far as the range stays on that line).
 */
export function renderDiagnostic(diagnostic: Diagnostic, file: string, source: string): string {
  const kind = diagnostic.severity === 'warning' ? 'warning: ' : '';
  return renderAt(diagnostic.range, file, source, `${kind}${diagnostic.message}`);
}

/** renderDiagnostic for any MESSAGE about RANGE (a planner's error, located at its instruction). */
export function renderAt(range: SourceRange, file: string, source: string, message: string): string {
  const { start, end } = range;
  const head = `${file}:${start.line}:${start.column}: ${message}`;
  const line = sourceLine(source, start.line);
  if (line === undefined) return head;
  const shown = line.replace(/\t/g, ' ');
  const width = end.line === start.line ? Math.max(1, end.column - start.column + 1) : Math.max(1, shown.length - start.column + 1);
  const gutter = String(start.line);
  return [
    head,
    ` ${gutter} | ${shown}`,
    ` ${' '.repeat(gutter.length)} | ${' '.repeat(Math.max(0, start.column - 1))}${'^'.repeat(width)}`,
  ].join('\n');
}

function sourceLine(source: string, line: number): string | undefined {
  if (line < 1) return undefined;
  let start = 0;
  for (let current = 1; current < line; current++) {
    const next = source.indexOf('\n', start);
    if (next < 0) return undefined;
    start = next + 1;
  }
  const stop = source.indexOf('\n', start);
  return source.slice(start, stop < 0 ? source.length : stop).replace(/^\uFEFF/, '').replace(/\r+$/, '');
}
