import { describe, expect, it } from 'vitest';
import { TsbuildError } from '../../src/common/index.js';
import { resolveRaw } from '../../src/planner/index.js';
import { cases, toRaw } from './corpus-input.js';

/**
 * Resolution over every Dockerfile of the shared conformance corpus, read through BuildKit's own
 * typed instructions (`instructions.json`): whatever the file, resolution either succeeds or
 * fails where BuildKit fails too, never with an internal error, and keeps what must be kept.
 */
/** The corpus files BuildKit would also refuse to build, and why. */
const expectedFailures: Readonly<Record<string, string>> = {
  'buildkit/integration/dockerfile__testArgDefaultExpansion__1': 'FOO: foo missing',
  'buildkit/integration/dockerfile__testGlobalArgErrors__1': 'FOO: custom error',
  'buildkit/integration/dockerfile_lint__testUndeclaredArg__4': 'empty platform value from expression $BULIDPLATFORM (did you mean BUILDPLATFORM?)',
  'buildkit/integration/dockerfile_lint__testUndeclaredArg__5': 'parse platform "linux/"',
  'buildkit/integration/dockerfile_lint__testWarningsBeforeError__1': 'base name (${BAR}) should not be blank',
  'buildkit/integration/dockerfile_mount__testMountInvalid__2': "unexpected key 'typ' in 'typ=tmpfs' (did you mean type?)",
  'buildkit/integration/dockerfile_mount__testMountInvalid__3': 'unsupported mount type "tmp" (did you mean tmpfs?)',
  'buildkit/testfiles/env': 'unexpected end of statement while looking for matching single-quote',
  'buildkit/testfiles/escapes': 'unexpected end of statement while looking for matching double-quote',
  'realworld/containers+buildah/tests__bud__copy-from-stage-scoped-arg__Containerfile.multi-copy-arg-override':
    'variable expansion is not supported for --from',
  'realworld/containers+buildah/tests__bud__multiarch__Containerfile.reset-platform': 'parse platform "linux/"',
  'realworld/containers+buildah/tests__bud__verify-cleanup__Dockerfile': "invalid field 'z' must be a key=value pair",
  'realworld/dotnet+dotnet-docker/tests__Microsoft.DotNet.Docker.Tests__TestAppArtifacts__Dockerfile.copy':
    'base name ($copy_image) should not be blank',
};

describe('resolution over the conformance corpus', () => {
  const all = cases();
  const platform = { build: { os: 'linux', architecture: 'amd64' }, target: { os: 'linux', architecture: 'amd64' } };

  it('finds the corpus', () => {
    expect(all.length).toBeGreaterThan(300);
  });

  it.each(all.map((c) => [c.name, c.json] as const))('%s', (name, json) => {
    const raw = toRaw(json);
    let resolved;
    try {
      resolved = resolveRaw(raw, { platform });
    } catch (error) {
      expect(error).toBeInstanceOf(TsbuildError);
      expect((error as TsbuildError).code).not.toBe('INTERNAL');
      expect((error as Error).message).toContain(expectedFailures[name] ?? 'no failure expected');
      return;
    }
    expect(expectedFailures[name]).toBeUndefined();
    const last = raw.stages.length - 1;
    expect(resolved.target).toBe(last);
    expect(resolved.stages.at(-1)?.index).toBe(last);
    for (const stage of resolved.stages) {
      const source = raw.stages[stage.index];
      const own = stage.instructions.slice(stage.instructions.length - (source?.instructions.length ?? 0));
      // Every instruction is there, in order, with its range; command bodies are untouched.
      expect(own.map((i) => [i.kind, i.range])).toEqual(source?.instructions.map((i) => [i.kind, i.range]));
      own.forEach((instruction, n) => {
        const before = source?.instructions[n];
        if ((instruction.kind === 'RUN' || instruction.kind === 'CMD' || instruction.kind === 'ENTRYPOINT') && before !== undefined && 'cmdLine' in before) {
          expect(instruction.cmdLine).toEqual(before.cmdLine);
        }
      });
      for (const dep of stage.dependencies) expect(dep).toBeLessThan(stage.index);
    }
  });
});
