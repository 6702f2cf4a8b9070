/**
 * Every case of the conformance corpus against the reference's outcomes, in both channels:
 * accepted files give the same tree dump and the same typed instructions; rejected files are
 * rejected at the same stage, with the error on the reference's lines.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dumpSyntaxTree, instructionsJson, parseDockerfile, primaryError, type Channel } from '../../src/parser/index.js';
import { corpusCases, type Expectation } from './corpus.js';

const exceptions = JSON.parse(readFileSync(new URL('./conformance-exceptions.json', import.meta.url), 'utf8')) as Record<string, string>;

function check(text: string, channel: Channel, expected: Expectation): void {
  const parsed = parseDockerfile(text, { channel });
  const error = primaryError(parsed.diagnostics);
  if (expected.status === 'ok') {
    expect(error?.message).toBeUndefined();
    expect(dumpSyntaxTree(parsed.tree)).toBe(expected.result);
    const warnings = parsed.diagnostics.filter((d) => d.severity === 'warning');
    if (expected.instructions !== undefined) {
      expect(instructionsJson(parsed.dockerfile, parsed.tree.directives, warnings, channel)).toEqual(expected.instructions);
    }
    return;
  }
  expect(error, `expected the reference's error: ${expected.error ?? ''}`).toBeDefined();
  expect(error?.phase).toBe(expected.status === 'error:parser' ? 'syntax' : 'instruction');
  if (expected.status === 'error:instructions' && expected.result !== undefined) expect(dumpSyntaxTree(parsed.tree)).toBe(expected.result);
  if (expected.errorLines !== undefined) expect([error?.lines.start, error?.lines.end]).toEqual(expected.errorLines);
}

describe('conformance with the reference parser', () => {
  const cases = corpusCases();
  it('reads the whole corpus', () => {
    expect(cases.length).toBeGreaterThan(350);
  });
  for (const c of cases) {
    const text = new TextDecoder('utf-8').decode(c.dockerfile);
    for (const channel of ['stable', 'labs'] as const) {
      const name = `${c.name} (${channel})`;
      const reason = exceptions[name];
      if (reason !== undefined) {
        it.fails(`${name}: listed as an exception: ${reason}`, () => check(text, channel, channel === 'stable' ? c.stable : c.labs));
        continue;
      }
      it(name, () => check(text, channel, channel === 'stable' ? c.stable : c.labs));
    }
  }
});
