/**
 * The planner fed by tsbuild's own parser resolves every accepted corpus file exactly as when
 * fed by the reference's typed instructions: same stages, same expanded words, same failures.
 */
import { describe, expect, it } from 'vitest';
import { TsbuildError } from '../../src/common/index.js';
import { resolveDockerfile, resolveRaw } from '../../src/planner/index.js';
import { corpusCases } from '../parser/corpus.js';
import { loadCase } from './corpus-input.js';

const platform = { build: { os: 'linux', architecture: 'amd64' }, target: { os: 'linux', architecture: 'amd64' } };
/** Source ranges are by line only in the corpus; every other field must match. */
const dropped = new Set(['range']);

function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([key, v]) => !dropped.has(key) && v !== undefined).map(([key, v]) => [key, normalize(v)]));
}

function outcome(run: () => unknown, located = false): unknown {
  try {
    return { resolved: normalize(run()) };
  } catch (error) {
    // resolveDockerfile shows where an error is (file:line:column and the line) around resolveRaw's message.
    const inner = located && error instanceof TsbuildError && error.cause instanceof TsbuildError ? error.cause : error;
    return { error: (inner as Error).message.replace(/\(lines? [\d-]+\)/g, '') };
  }
}

describe('resolution from the parser', () => {
  const accepted = corpusCases().filter((c) => c.stable.status === 'ok');
  it.each(accepted.map((c) => [c.name, c] as const))('%s', (name, c) => {
    const fromReference = outcome(() => resolveRaw(loadCase(name), { platform }));
    const fromParser = outcome(() => resolveDockerfile({ source: new TextDecoder().decode(c.dockerfile), file: 'Dockerfile', channel: 'stable' }, { platform }).resolved, true);
    expect(fromParser).toEqual(fromReference);
  });
});

describe('resolution errors', () => {
  it('name the file, line and column of the instruction, and show the line, as parse errors do', () => {
    const source = 'FROM busybox\nRUN true\n  ENV A=${B:?required}\n';
    let thrown: unknown;
    try {
      resolveDockerfile({ source, file: 'ctx/Dockerfile' }, { platform });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TsbuildError);
    expect((thrown as TsbuildError).code).toBe('EXPANSION');
    expect((thrown as TsbuildError).message).toBe(
      ['ctx/Dockerfile:3:3: resolve ENV (line 3): failed to process "${B:?required}": B: required', ' 3 |   ENV A=${B:?required}', '   |   ^^^^^^^^^^^^^^^^^^^^'].join('\n'),
    );
  });
});

describe('references BuildKit cannot parse', () => {
  // docker 26's words for each (BuildKit 0.13's frontend parses with distribution/reference).
  const cases: ReadonlyArray<readonly [string, string]> = [
    ['FROM busybox@sha256:abc', 'resolve FROM (line 1): failed to parse stage name "busybox@sha256:abc": invalid reference format'],
    ['FROM BusyBox:latest', 'resolve FROM (line 1): failed to parse stage name "BusyBox:latest": invalid reference format: repository name (library/BusyBox) must be lowercase'],
    ['FROM a:b:c', 'resolve FROM (line 1): failed to parse stage name "a:b:c": invalid reference format'],
    ['FROM a@sha256:0123456789abcdef0123456789abcdef', 'resolve FROM (line 1): failed to parse stage name "a@sha256:0123456789abcdef0123456789abcdef": invalid checksum digest length'],
    ['FROM a@md5:0123456789abcdef0123456789abcdef', 'resolve FROM (line 1): failed to parse stage name "a@md5:0123456789abcdef0123456789abcdef": unsupported digest algorithm'],
    ['FROM busybox\nCOPY --from=BadName:x /x /y', 'resolve COPY (line 2): failed to parse stage name "BadName:x": invalid reference format: repository name (library/BadName) must be lowercase'],
    ['FROM busybox\nCOPY --from=a//b /x /y', 'resolve COPY (line 2): failed to parse stage name "a//b": invalid reference format'],
    ['FROM busybox\nRUN --mount=from=bad@sha256:1,target=/m true', 'resolve RUN (line 2): failed to parse stage name "bad@sha256:1": invalid reference format'],
  ];
  it.each(cases)('%s', (dockerfile, message) => {
    const source = `${dockerfile}\n`;
    expect(outcome(() => resolveDockerfile({ source, file: 'Dockerfile' }, { platform }), true)).toEqual({ error: message.replace(/\(lines? [\d-]+\)/g, '') });
  });

  it('leave a --from image that parses, and stage names, alone', () => {
    const source = 'FROM busybox AS Build\nFROM busybox\nCOPY --from=build /x /y\nCOPY --from=registry.example:5000/team/app:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef /x /z\n';
    expect(outcome(() => resolveDockerfile({ source, file: 'Dockerfile' }, { platform }), true)).toHaveProperty('resolved');
  });
});

describe('environments of instructions', () => {
  // Each instruction held a list of every pair: 20,000 ENV lines held 3.4 GB.
  it('share one scope until a variable changes, and one link per change', () => {
    const lines = Array.from({ length: 2000 }, (_, index) => `ENV V${index}=${index}`);
    const { resolved } = resolveDockerfile({ source: ['FROM busybox', ...lines, 'LABEL a=1', 'LABEL b=2', ''].join('\n'), file: 'Dockerfile' }, { platform });
    const instructions = resolved.stages[0]?.instructions ?? [];
    expect(instructions).toHaveLength(2002);
    const [firstLabel, secondLabel] = instructions.slice(-2);
    expect(firstLabel?.env.pairs()).toHaveLength(2001);
    expect(secondLabel?.env).toBe(firstLabel?.env);
    expect(instructions[1000]?.env.pairs()[0]).toBe(firstLabel?.env.pairs()[0]);
    expect(instructions[1000]?.env.pairs().find(([name]) => name === 'V999')).toEqual(['V999', '999']);
    expect(instructions[1000]?.env.pairs().find(([name]) => name === 'V1000')).toBeUndefined();
  });
});
