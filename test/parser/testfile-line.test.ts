/**
 * The corpus's `buildkit/testfile-line`: BuildKit's line-number test Dockerfile (its parser
 * test TestParseLineNumbers), with blank lines, comment lines and empty continuation lines
 * between and inside instructions. Each instruction must keep the lines it was written on.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dumpSyntaxTree, instructionsJson, parseDockerfile } from '../../src/parser/index.js';
import { resolveDockerfile } from '../../src/planner/index.js';
import { corpusRoot } from './corpus.js';

const dir = join(corpusRoot, 'buildkit/testfile-line');
const source = readFileSync(join(dir, 'Dockerfile'), 'utf8');

describe('buildkit/testfile-line', () => {
  const parsed = parseDockerfile(source, { channel: 'stable' });

  it('gives the tree and the typed instructions the reference gives, its warning included', () => {
    expect(parsed.ok).toBe(true);
    expect(dumpSyntaxTree(parsed.tree)).toBe(readFileSync(join(dir, 'result'), 'utf8'));
    const warnings = parsed.diagnostics.filter((d) => d.severity === 'warning');
    expect(instructionsJson(parsed.dockerfile, parsed.tree.directives, warnings, 'stable')).toEqual(JSON.parse(readFileSync(join(dir, 'instructions.json'), 'utf8')));
  });

  it('keeps the lines of each instruction, as BuildKit asserts: FROM 5, ENV 11-12, RUN 17-31', () => {
    const lines = parsed.tree.instructions.map((node) => [node.range.start.line, node.range.end.line]);
    expect(lines).toEqual([
      [5, 5],
      [11, 12],
      [17, 31],
    ]);
    // The planner passes the same ranges on to what it resolves.
    const platform = { os: 'linux', architecture: 'amd64' };
    const stage = resolveDockerfile({ source, file: 'Dockerfile', channel: 'stable' }, { platform: { build: platform, target: platform } }).resolved.stages[0];
    expect([stage?.range.start.line, ...(stage?.instructions ?? []).flatMap((i) => [i.range.start.line, i.range.end.line])]).toEqual([5, 11, 12, 17, 31]);
  });

  it('starts an instruction on a line holding only the escape, and ends one the file cuts off after its continuation on the lines it took', () => {
    const lines = (text: string): number[][] => parseDockerfile(text, { channel: 'stable' }).tree.instructions.map((node) => [node.range.start.line, node.range.end.line]);
    // BuildKit's StartLine is where its scanner began the instruction; its EndLine the last line
    // the continuation consumed, blank and comment lines at the end of the file included.
    expect(lines('FROM x\n\\\nRUN a\n')).toEqual([
      [1, 1],
      [2, 3],
    ]);
    expect(lines('FROM x\nRUN a \\\n\n# c\n\n')).toEqual([
      [1, 1],
      [2, 5],
    ]);
    // Not at the end of the file: the lines run to the piece that ends the instruction.
    expect(lines('FROM x\nRUN a \\\n\n\nb\nRUN c\n')).toEqual([
      [1, 1],
      [2, 5],
      [6, 6],
    ]);
  });
});
