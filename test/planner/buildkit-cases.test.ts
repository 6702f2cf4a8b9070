import { describe, expect, it } from 'vitest';
import { isTsbuildError } from '../../src/common/index.js';
import { resolveRaw, type ResolvedInstruction, type ResolveOptions } from '../../src/planner/index.js';
import { loadCase } from './corpus-input.js';

/**
 * Dockerfiles from BuildKit's integration tests (in the conformance corpus), with what those
 * tests expect of the built result, checked here on the resolved plan: the environment a RUN
 * sees, the base image chosen, the errors.
 */
const platform: ResolveOptions['platform'] = {
  build: { os: 'linux', architecture: 'amd64' },
  target: { os: 'linux', architecture: 'amd64' },
};

function runEnv(instructions: readonly ResolvedInstruction[] | undefined): Map<string, string> {
  const run = instructions?.find((i) => i.kind === 'RUN');
  return new Map(run?.env.pairs());
}

describe('BuildKit integration cases', () => {
  it('testDefaultEnvWithArgs: ${x:-default} treats an empty build arg as unset; %% trims the longest suffix', () => {
    const df = loadCase('buildkit/integration/dockerfile__testDefaultEnvWithArgs__1');
    for (const [buildArgs, myArg, trimmed] of [
      [{}, 'my_arg=def_val', 'my_arg=d'],
      [{ my_arg: '' }, 'my_arg=def_val', 'my_arg=d'],
      [{ my_arg: 'override' }, 'my_arg=override', 'my_arg=ov'],
    ] as const) {
      const result = resolveRaw(df, { platform, buildArgs });
      const build = result.stages[0];
      expect(build?.base).toMatchObject({ kind: 'image', reference: 'busybox' });
      const env = runEnv(build?.instructions);
      expect(env.get('my_arg')).toBe(myArg);
      expect(env.get('my_trimmed_arg')).toBe(trimmed);
    }
  });

  it('testMultiArgs: global ARG defaults reach a stage through ARG re-declarations', () => {
    const result = resolveRaw(loadCase('buildkit/integration/dockerfile__testMultiArgs__1'), { platform });
    const build = result.stages[0];
    expect(build?.base).toMatchObject({ reference: 'busybox' });
    const env = runEnv(build?.instructions);
    expect([env.get('a1'), env.get('a3'), env.get('a4')].join(':')).toBe('foo bar:box-foo:123 456');
    expect(env.has('a2')).toBe(false);
  });

  it('testBuiltinArgs: proxy build args need no ARG and stay out of the stage environment', () => {
    const result = resolveRaw(loadCase('buildkit/integration/dockerfile__testBuiltinArgs__1'), {
      platform,
      buildArgs: { FOO: 'foocontents', http_proxy: 'hpvalue', NO_PROXY: 'npvalue' },
    });
    expect(result.proxy).toEqual({ httpProxy: 'hpvalue', noProxy: 'npvalue' });
    expect(result.unusedBuildArgs).toEqual([]);
    const run = result.stages[0]?.instructions.find((i) => i.kind === 'RUN');
    expect(run?.kind === 'RUN' ? run.args : []).toEqual([
      { key: 'FOO', value: 'foocontents' },
      { key: 'BAR', value: undefined },
      { key: 'BAZ', value: 'bazcontent', written: 'bazcontent' },
    ]);
    const env = runEnv(result.stages[0]?.instructions);
    expect(env.has('http_proxy') || env.has('HTTP_PROXY')).toBe(false);
  });

  it('testGlobalArg: a build arg replaces a global default in FROM', () => {
    const df = loadCase('buildkit/integration/dockerfile__testGlobalArg__1');
    expect(resolveRaw(df, { platform }).stages[0]?.base).toMatchObject({ reference: 'busybox:nosuchtag' });
    expect(resolveRaw(df, { platform, buildArgs: { tag: 'latest' } }).stages[0]?.base).toMatchObject({
      reference: 'busybox:latest',
      normalized: 'docker.io/library/busybox:latest',
    });
  });

  it('testArgDefaultExpansion: ${FOO:?msg} fails only while FOO is unset', () => {
    const df = loadCase('buildkit/integration/dockerfile__testArgDefaultExpansion__1');
    let failure: unknown;
    try {
      resolveRaw(df, { platform });
    } catch (error) {
      failure = error;
    }
    expect(isTsbuildError(failure, 'EXPANSION')).toBe(true);
    expect((failure as Error).message).toContain('FOO: foo missing');
    expect(() => resolveRaw(df, { platform, buildArgs: { FOO: '123' } })).not.toThrow();
    expect(() => resolveRaw(df, { platform, buildArgs: { BAR: '123' } })).not.toThrow();
  });
});
