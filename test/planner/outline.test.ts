/**
 * The outline of a build (`--call=outline`) from the planner: which build args a target reads and
 * with what value, as BuildKit 0.13's outline gave them for these Dockerfiles (buildx --print).
 */
import { describe, expect, it } from 'vitest';
import { outlineOf, type ResolveOptions } from '../../src/planner/index.js';
import { resolveDockerfile } from '../../src/planner/dockerfile.js';

function outline(source: string, options: ResolveOptions = {}): { args: [string, string, number][]; secrets: string[] } {
  const { parsed, resolved } = resolveDockerfile({ source, file: 'Dockerfile' }, options);
  const result = outlineOf(parsed.dockerfile, resolved, options);
  return { args: result.args.map((arg) => [arg.name, arg.value, arg.range.start.line]), secrets: result.secrets.map((secret) => secret.name) };
}

describe('outlineOf', () => {
  const chained = [
    'ARG REG=127.0.0.1:5000',
    'ARG TAG=latest',
    'ARG IMG=$REG/library/busybox:$TAG',
    'FROM $IMG',
    'ARG TAG',
    'ARG X=$TAG Y',
    'RUN --mount=type=secret,target=/x echo',
    '',
  ].join('\n');

  it('lists the globals a FROM reads and those their defaults read, and a global re-declared at its own line', () => {
    expect(outline(chained)).toEqual({
      args: [
        ['REG', '127.0.0.1:5000', 1],
        ['TAG', 'latest', 2],
        ['IMG', '127.0.0.1:5000/library/busybox:latest', 3],
        ['X', 'latest', 6],
        ['Y', '', 6],
      ],
      secrets: ['x'],
    });
  });

  it('drops what a global’s default read once a build arg replaces it', () => {
    expect(outline(chained, { buildArgs: { IMG: '127.0.0.1:5000/library/busybox:latest' } }).args).toEqual([
      ['TAG', 'latest', 2],
      ['IMG', '127.0.0.1:5000/library/busybox:latest', 3],
      ['X', 'latest', 6],
      ['Y', '', 6],
    ]);
  });

  it('leaves out a predefined platform ARG the stage declares without a default, and takes values from ENV', () => {
    const source = 'FROM scratch\nENV BASEV=fromenv\nARG A=$BASEV\nARG TARGETARCH\nARG TARGETOS=x\n';
    expect(outline(source).args).toEqual([
      ['A', 'fromenv', 3],
      ['TARGETOS', 'x', 5],
    ]);
  });

  it('names a stage ARG by its expanded name, as BuildKit expands it', () => {
    expect(outline('FROM scratch\nARG "A"=1 B\\ C=2\n').args).toEqual([
      ['A', '1', 2],
      ['B C', '2', 2],
    ]);
  });

  it('walks only the stages the target needs', () => {
    const source = 'FROM scratch AS unused\nARG NOPE=1\nRUN --mount=type=secret,id=nope true\nFROM scratch AS dep\nARG DEP=2\nFROM scratch\nCOPY --from=dep / /\n';
    expect(outline(source)).toEqual({ args: [['DEP', '2', 5]], secrets: [] });
  });
});
