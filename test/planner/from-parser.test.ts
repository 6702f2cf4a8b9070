/**
 * The planner fed by tsbuild's own parser resolves every accepted corpus file exactly as when
 * fed by the reference's typed instructions: same stages, same expanded words, same failures.
 */
import { describe, expect, it } from 'vitest';
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

function outcome(run: () => unknown): unknown {
  try {
    return { resolved: normalize(run()) };
  } catch (error) {
    return { error: (error as Error).message.replace(/\(lines? [\d-]+\)/g, '') };
  }
}

describe('resolution from the parser', () => {
  const accepted = corpusCases().filter((c) => c.stable.status === 'ok');
  it.each(accepted.map((c) => [c.name, c] as const))('%s', (name, c) => {
    const fromReference = outcome(() => resolveRaw(loadCase(name), { platform }));
    const fromParser = outcome(() => resolveDockerfile({ source: new TextDecoder().decode(c.dockerfile), file: 'Dockerfile', channel: 'stable' }, { platform }).resolved);
    expect(fromParser).toEqual(fromReference);
  });
});
