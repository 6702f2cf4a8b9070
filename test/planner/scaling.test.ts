/**
 * What resolution keeps grows with the Dockerfile, not with its square: the environments its
 * instructions and stages keep share their structure. Counted, not timed: every link and every
 * pair of a list that some instruction's or stage's scope reaches, each once.
 */
import { describe, expect, it } from 'vitest';
import { resolveDockerfile, type EnvScope, type ResolvedDockerfile } from '../../src/planner/index.js';

const platform = { build: { os: 'linux', architecture: 'amd64' }, target: { os: 'linux', architecture: 'amd64' } };

type Link = EnvScope['link'];

/** Links and listed pairs reachable from every scope the resolution keeps, each counted once. */
function retained(resolved: ResolvedDockerfile): number {
  const seen = new Set<Link>();
  let count = 0;
  const walk = (scope: EnvScope): void => {
    for (let link: Link | undefined = scope.link; link !== undefined && !seen.has(link); link = 'previous' in link ? link.previous : undefined) {
      seen.add(link);
      count += 'previous' in link ? 1 : link.pairs.length;
    }
  };
  for (const stage of resolved.stages) {
    walk(stage.env);
    walk(stage.imageEnv);
    for (const instruction of stage.instructions) walk(instruction.env);
  }
  return count;
}

function resolve(lines: readonly string[]): ResolvedDockerfile {
  return resolveDockerfile({ source: [...lines, ''].join('\n'), file: 'Dockerfile' }, { platform }).resolved;
}

const envLines = (n: number): string[] => ['FROM busybox', ...Array.from({ length: n }, (_, i) => `ENV V${i}=${i}`)];
const argLines = (n: number): string[] => ['FROM busybox', ...Array.from({ length: n }, (_, i) => [`ARG A${i}=${i}`, `ENV E${i}=$A${i}`]).flat(), 'RUN true'];
const chainLines = (n: number): string[] => ['FROM busybox AS s0', ...Array.from({ length: n }, (_, i) => [`FROM s${i} AS s${i + 1}`, `ENV X${i}=${i}`]).flat()];
const sameNameLines = (n: number): string[] => ['FROM busybox', ...Array.from({ length: n }, (_, i) => `ENV V=${i}`)];

describe('environments kept by a resolution', () => {
  // A list of every pair per instruction held 3.4 GB for 20,000 ENV lines; a list per stage
  // (and a copy of the environment per ARG) made a chain of stages quadratic too. Per line,
  // what is kept stays within a small constant as the file grows fourfold.
  it.each([
    ['ENV lines', envLines],
    ['ARG and ENV lines', argLines],
    ['stages each FROM the one before', chainLines],
    ['ENV lines setting one name again and again', sameNameLines],
  ])('grows linearly with %s', (_name, lines) => {
    const small = retained(resolve(lines(1000)));
    const large = retained(resolve(lines(4000)));
    expect(large).toBeLessThanOrEqual(8 * 4000);
    expect(large / small).toBeLessThan(4 * 1.5);
  });

  it('gives each instruction the pairs it sees, in order', () => {
    // As the lists every instruction kept before: a name set again moves to the end, a stage
    // FROM another sets its image environment again on top of the other's.
    const resolved = resolve(['FROM busybox AS a', 'ENV A=1 B=2', 'ARG C=3', 'ENV A=4', 'RUN true', 'FROM a', 'ENV B=5', 'RUN true']);
    const path = ['PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
    const [first, second] = resolved.stages;
    const run = (stage: typeof first): readonly (readonly [string, string])[] => stage?.instructions.find((instruction) => instruction.kind === 'RUN')?.env.pairs() ?? [];
    expect(run(first)).toEqual([path, ['B', '2'], ['C', '3'], ['A', '4']]);
    expect(first?.imageEnv.pairs()).toEqual([path, ['B', '2'], ['A', '4']]);
    expect(run(second)).toEqual([['C', '3'], path, ['A', '4'], ['B', '5']]);
    expect(second?.imageEnv.pairs()).toEqual([path, ['A', '4'], ['B', '5']]);
    expect(JSON.parse(JSON.stringify(second?.imageEnv))).toEqual([path, ['A', '4'], ['B', '5']]);
  });
});
