/**
 * Random mutations of corpus files: the parser must never throw, never hang, and every
 * diagnostic must point inside the file.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../src/parser/index.js';
import { corpusCases } from './corpus.js';

const sources = corpusCases().map((c) => new TextDecoder().decode(c.dockerfile));

// Pieces that reach the parser's special cases more often than random characters would.
const fragments = ['\\', '`', '\n', '\r\n', '"', "'", '[', ']', '{', '<<', '<<-', 'EOF', '#', '# escape=`\n', '--', '--mount=', '=', ' ', '\t', '\uFEFF', '$', '${', 'ONBUILD ', 'RUN ', 'COPY ', 'FROM ', '\u00a0', '\u2028', ','];

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...fragments), fc.string({ maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 4 })) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 200 }) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function apply(source: string, mutations: readonly Mutation[]): string {
  let text = source;
  for (const m of mutations) {
    const at = text.length === 0 ? 0 : m.at % (text.length + 1);
    if (m.kind === 'insert') text = text.slice(0, at) + m.text + text.slice(at);
    else if (m.kind === 'delete') text = text.slice(0, at) + text.slice(at + m.length);
    else text = text.slice(0, at) + text.slice(at, at + m.length) + text.slice(at);
  }
  return text;
}

function checkInside(text: string): void {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const started = performance.now();
  const parsed = parseDockerfile(text);
  expect(performance.now() - started).toBeLessThan(5000);
  for (const d of parsed.diagnostics) {
    for (const position of [d.range.start, d.range.end]) {
      expect(position.line).toBeGreaterThanOrEqual(1);
      expect(position.line).toBeLessThanOrEqual(Math.max(1, lines.length));
      expect(position.column).toBeGreaterThanOrEqual(1);
      expect(position.column).toBeLessThanOrEqual((lines[position.line - 1] ?? '').length + 1);
    }
    expect(d.lines.start).toBeLessThanOrEqual(d.lines.end);
  }
}

describe('parser robustness', () => {
  it('never throws, never hangs, and keeps every diagnostic inside the file', () => {
    fc.assert(
      fc.property(fc.nat({ max: sources.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 12 }), (index, mutations) => {
        checkInside(apply(sources[index] ?? '', mutations));
      }),
      { numRuns: 1500 },
    );
  });

  it('survives arbitrary text', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(...fragments), fc.string({ unit: 'grapheme', maxLength: 6 })), { maxLength: 60 }), (pieces) => {
        checkInside(pieces.join(''));
      }),
      { numRuns: 1500 },
    );
  });

  it('takes linear time on a long run of continuations and heredoc markers', () => {
    const text = `FROM x\nRUN ${'a \\\n'.repeat(20000)}b\nRUN ${'<<E '.repeat(2000)}\n${'E\n'.repeat(2000)}`;
    const started = performance.now();
    expect(parseDockerfile(text).ok).toBe(true);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
