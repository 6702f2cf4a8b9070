import { describe, expect, it } from 'vitest';
import { isTsbuildError } from '../../src/common/index.js';
import { baseImagesOf, errorRanges, resolveRaw, type ResolvedInstruction, type ResolveOptions } from '../../src/planner/index.js';
import { arg, copy, dockerfile, env, ins, run, stage } from './raw-builders.js';

const platforms: ResolveOptions['platform'] = {
  build: { os: 'linux', architecture: 'amd64' },
  target: { os: 'linux', architecture: 'arm64', variant: 'v8' },
};

function find<K extends ResolvedInstruction['kind']>(list: readonly ResolvedInstruction[], kind: K): Extract<ResolvedInstruction, { kind: K }>[] {
  return list.filter((i): i is Extract<ResolvedInstruction, { kind: K }> => i.kind === kind);
}

describe('resolveRaw (planner input built directly)', () => {
  it('expands FROM with global ARGs and predefined platform ARGs, but not instructions', () => {
    const df = dockerfile(
      [() => arg(['BASE', 'alpine:${VERSION:-3.20}']), () => arg(['VERSION'])],
      stage('${BASE}-$TARGETARCH', { platform: '$BUILDPLATFORM' }, () => run('echo $BASE'), () => env(['B', '${BASE}x'])),
    );
    const result = resolveRaw(df, { platform: platforms });
    const only = result.stages[0];
    expect(only?.base).toEqual({ kind: 'image', reference: 'alpine:3.20-arm64', normalized: 'docker.io/library/alpine:3.20-arm64' });
    expect(only?.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(only?.fromArgs).toEqual(['BASE', 'BUILDPLATFORM', 'TARGETARCH']);
    // A global ARG is not in scope inside the stage without `ARG BASE`.
    expect(find(only?.instructions ?? [], 'ENV')[0]?.pairs).toEqual([{ key: 'B', value: 'x' }]);
    expect(find(only?.instructions ?? [], 'ENV')[0]?.variables.undefined).toEqual(['BASE']);
  });

  it('gives a re-declared global ARG its global value, and build args win over defaults', () => {
    // W's default is expanded with the variables from before its ARG line, where V is not
    // declared yet (BuildKit expands an ARG's words at once).
    const df = dockerfile(
      [() => arg(['V', '1'])],
      stage('scratch', {}, () => arg(['V'], ['W', 'w-$V'], ['TARGETOS']), () => env(['OUT', '$V/$W/$TARGETOS'])),
    );
    const plain = resolveRaw(df, { platform: platforms });
    expect(find(plain.stages[0]?.instructions ?? [], 'ENV')[0]?.pairs[0]?.value).toBe('1/w-/linux');
    const overridden = resolveRaw(df, { platform: platforms, buildArgs: { V: '9', W: 'given' } });
    expect(find(overridden.stages[0]?.instructions ?? [], 'ENV')[0]?.pairs[0]?.value).toBe('9/given/linux');
  });

  it('prunes stages the target does not reach and reports the range of a blank FROM', () => {
    const df = dockerfile(
      [() => arg(['EMPTY', ''])],
      stage('alpine', { name: 'a' }),
      stage('$EMPTY', { name: 'broken' }),
      stage('a', { name: 'b' }, () => copy(['/x'], '/y', { from: 'a' })),
    );
    let failure: unknown;
    try {
      resolveRaw(df, { platform: platforms });
    } catch (error) {
      failure = error;
    }
    expect(isTsbuildError(failure, 'EXPANSION')).toBe(true);
    expect(errorRanges(failure)[0]?.start.line).toBe(3);
  });
});

describe('resolveRaw: scope rules', () => {
  const options = { platform: platforms };

  it('expands all ENV and ARG pairs of a stage before applying them', () => {
    const df = dockerfile(
      [],
      stage(
        'scratch',
        {},
        () => env(['A', 'old']),
        () => env(['A', 'new'], ['B', '$A']),
        () => arg(['C', 'c1'], ['D', '$C']),
      ),
    );
    const instructions = resolveRaw(df, options).stages[0]?.instructions ?? [];
    expect(find(instructions, 'ENV')[1]?.pairs).toEqual([
      { key: 'A', value: 'new' },
      { key: 'B', value: 'old' },
    ]);
    expect(find(instructions, 'ARG')[0]?.args).toEqual([
      { key: 'C', value: 'c1', written: 'c1' },
      { key: 'D', value: '', written: '' },
    ]);
  });

  it('lets a later ARG shadow an ENV for expansion, while the image keeps the ENV value', () => {
    const df = dockerfile(
      [],
      stage('scratch', { name: 'parent' }, () => env(['V', 'from-env']), () => arg(['V', 'from-arg']), () => ins({ kind: 'USER', user: '$V' })),
      stage('parent', {}, () => ins({ kind: 'USER', user: '$V' })),
    );
    const result = resolveRaw(df, options);
    const [parent, child] = result.stages;
    expect(find(parent?.instructions ?? [], 'USER')[0]?.user).toBe('from-arg');
    expect(parent?.imageEnv.pairs()).toContainEqual(['V', 'from-env']);
    // A stage built FROM another starts from its environment, with the image ENV applied again.
    expect(find(child?.instructions ?? [], 'USER')[0]?.user).toBe('from-env');
    expect(child?.dependencies).toEqual([0]);
    expect(child?.base).toEqual({ kind: 'stage', stage: 0 });
  });

  it('puts the base image environment and a default PATH in scope', () => {
    const df = dockerfile([], stage('golang:1.22', {}, () => ins({ kind: 'WORKDIR', path: '$GOPATH/src' }), () => env(['P', '$PATH'])));
    const result = resolveRaw(df, { ...options, baseImage: () => ({ env: ['GOPATH=/go'] }) });
    const instructions = result.stages[0]?.instructions ?? [];
    expect(find(instructions, 'WORKDIR')[0]?.path).toBe('/go/src');
    expect(find(instructions, 'ENV')[0]?.pairs[0]?.value).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  });

  it('splits EXPOSE words, rejects an empty VOLUME and expands unquoted heredoc bodies only', () => {
    const df = dockerfile(
      [],
      stage(
        'scratch',
        {},
        () => env(['PORTS', '80/tcp 443'], ['N', 'x']),
        () => ins({ kind: 'EXPOSE', ports: ['$PORTS', '8080'] }),
        () =>
          ins({
            kind: 'COPY',
            sources: [],
            contents: [
              { path: 'EOF', data: 'hello "$N" \\$N\n', expand: true },
              { path: 'RAW', data: 'hello $N\n', expand: false },
            ],
            dest: '/$N',
            from: '',
            chown: '$N',
            chmod: '',
            link: false,
            parents: false,
            exclude: ['$N'],
            checksum: '',
            keepGitDir: undefined,
            unpack: undefined,
          }),
      ),
    );
    const instructions = resolveRaw(df, options).stages[0]?.instructions ?? [];
    expect(find(instructions, 'EXPOSE')[0]?.ports).toEqual(['80/tcp', '443', '8080']);
    const copied = find(instructions, 'COPY')[0];
    expect(copied?.contents.map((c) => c.data)).toEqual(['hello "x" $N\n', 'hello $N\n']);
    expect(copied?.dest).toBe('/x');
    expect(copied?.chown).toBe('x');
    expect(copied?.exclude).toEqual(['$N']);

    const empty = dockerfile([], stage('scratch', {}, () => ins({ kind: 'VOLUME', volumes: ['$NOTHING'] })));
    expect(() => resolveRaw(empty, options)).toThrow('VOLUME specified can not be an empty string');
  });

  it('passes proxy build args without declaration and reports build args nobody declares', () => {
    const df = dockerfile([() => arg(['G'])], stage('scratch', {}, () => arg(['S'])));
    const result = resolveRaw(df, { ...options, buildArgs: { G: '1', S: '2', http_proxy: 'http://p:3128', NO_PROXY: 'x', TARGETARCH: 'riscv64', EXTRA: '3' } });
    expect(result.proxy).toEqual({ httpProxy: 'http://p:3128', noProxy: 'x' });
    expect(result.unusedBuildArgs).toEqual(['EXTRA']);
    expect(result.globalArgs).toContainEqual(['TARGETARCH', 'riscv64']);
  });
});

describe('resolveRaw: stage graph', () => {
  const options = { platform: platforms };

  it('follows COPY --from by name and index and RUN --mount from=, and prunes the rest', () => {
    const df = dockerfile(
      [],
      stage('alpine', { name: 'Tools' }),
      stage('alpine', { name: 'unused' }),
      stage('alpine', { name: 'deps' }),
      stage(
        'scratch',
        { name: 'final' },
        () => copy(['/bin/x'], '/x', { from: 'tools' }),
        () => copy(['/y'], '/y', { from: '2' }),
        () => copy(['/z'], '/z', { from: 'busybox:1.36' }),
        () => run('make', ['type=bind,from=deps,target=/deps', 'type=cache,target=/cache']),
      ),
    );
    const result = resolveRaw(df, options);
    expect(result.target).toBe(3);
    expect(result.stages.map((s) => s.index)).toEqual([0, 2, 3]);
    const final = result.stages[2];
    expect(final?.dependencies).toEqual([0, 2]);
    expect(final?.images).toEqual(['busybox:1.36']);
    expect(find(final?.instructions ?? [], 'RUN')[0]?.mounts.map((m) => m.fromRef)).toEqual([{ kind: 'stage', stage: 2 }, undefined]);

    const onlyDeps = resolveRaw(df, { ...options, target: 'DEPS' });
    expect(onlyDeps.stages.map((s) => s.index)).toEqual([2]);
  });

  it('takes named contexts for stages of their name and images of their short name, as BuildKit', () => {
    const df = dockerfile(
      [],
      stage('alpine', { name: 'deps' }, () => run('exit 1')),
      stage('docker.io/library/node:latest', { name: 'base' }),
      stage(
        'base',
        { name: 'final' },
        () => copy(['/x'], '/x', { from: 'deps' }),
        () => copy(['/y'], '/y', { from: 'docker.io/user/tools:2' }),
        () => copy(['/z'], '/z', { from: 'busybox:1.36' }),
        () => run('make', ['type=bind,from=alpine:3,target=/a']),
      ),
    );
    const namedContexts = new Map([
      ['deps', 'ctx.invalid/deps:latest'],
      ['node', 'registry.example:5000/node:20'],
      ['user/tools:2', 'ctx.invalid/tools:latest'],
      ['alpine:3', 'ctx.invalid/alpine:latest'],
    ]);
    const result = resolveRaw(df, { platform: platforms, namedContexts });
    const [deps, base, final] = result.stages;
    // The stage is replaced: its base is the context, its instructions gone.
    expect(deps?.base).toEqual({ kind: 'image', reference: 'ctx.invalid/deps:latest', normalized: 'ctx.invalid/deps:latest' });
    expect(deps?.instructions).toEqual([]);
    expect(base?.base).toMatchObject({ kind: 'image', reference: 'registry.example:5000/node:20' });
    expect(final?.dependencies).toEqual([0, 1]);
    expect([...(final?.images ?? [])].sort()).toEqual(['busybox:1.36', 'ctx.invalid/alpine:latest', 'ctx.invalid/tools:latest']);
    expect(find(final?.instructions ?? [], 'RUN')[0]?.mounts.map((m) => m.fromRef)).toEqual([{ kind: 'image', reference: 'ctx.invalid/alpine:latest' }]);
    // Without the contexts, the same file reads its own stages and images.
    const plain = resolveRaw(df, { platform: platforms });
    expect(plain.stages[0]?.instructions).toHaveLength(1);
    expect([...(plain.stages[2]?.images ?? [])].sort()).toEqual(['alpine:3', 'busybox:1.36', 'docker.io/user/tools:2']);
  });

  it('names the unknown target and suggests a close one', () => {
    const df = dockerfile([], stage('alpine', { name: 'build' }));
    expect(() => resolveRaw(df, { ...options, target: 'biuld' })).toThrow(/target stage "biuld" could not be found \(did you mean build\?\)/);
  });

  it('refuses variables in COPY --from, later stages and cycles, with ranges', () => {
    const withVariable = dockerfile([], stage('alpine', {}, () => copy(['/a'], '/b', { from: '$STAGE' })));
    expect(() => resolveRaw(withVariable, options)).toThrow('variable expansion is not supported for --from');

    const later = dockerfile([], stage('alpine', { name: 'a' }, () => copy(['/a'], '/b', { from: 'b' })), stage('alpine', { name: 'b' }), stage('a', {}));
    expect(() => resolveRaw(later, options)).toThrow('cannot copy from stage "b", it needs to be defined before current stage "a"');

    const cycle = dockerfile([], stage('alpine', { name: 'a' }, () => copy(['/a'], '/b', { from: 'a' })));
    let failure: unknown;
    try {
      resolveRaw(cycle, options);
    } catch (error) {
      failure = error;
    }
    expect(isTsbuildError(failure, 'DOCKERFILE_PARSE')).toBe(true);
    expect((failure as Error).message).toContain('circular dependency detected on stage: a');
    expect(errorRanges(failure).map((r) => r.start.line)).toEqual([2]);
  });

  it('runs the base stage ONBUILD triggers first, parsed as instructions', () => {
    const df = dockerfile(
      [],
      stage('alpine', { name: 'base' }, () => ins({ kind: 'ONBUILD', expression: 'USER $WHO' }), () => env(['WHO', 'app'])),
      stage('base', {}),
    );
    const child = resolveRaw(df, options).stages[1];
    expect(child?.instructions.map((i) => i.kind)).toEqual(['USER']);
    expect(find(child?.instructions ?? [], 'USER')[0]).toMatchObject({ user: 'app', range: { start: { line: 4 } } });
  });

  it('refuses a trigger that is no instruction, pointing at the FROM line that inherits it', () => {
    const df = dockerfile([], stage('alpine', { name: 'base' }, () => ins({ kind: 'ONBUILD', expression: 'NOSUCH thing' })), stage('base', {}));
    let failure: unknown;
    try {
      resolveRaw(df, options);
    } catch (error) {
      failure = error;
    }
    expect(failure).toMatchObject({ code: 'DOCKERFILE_PARSE' });
    expect(errorRanges(failure).map((r) => r.start.line)).toEqual([3]);
  });
});

describe('resolveRaw: base images', () => {
  const options = { platform: platforms };

  it('lists the base images the target needs, with the platform wanted for each', () => {
    const df = dockerfile(
      [() => arg(['V', '3'])],
      stage('alpine:$V', { name: 'a', platform: '$BUILDPLATFORM' }),
      stage('debian', { name: 'unused' }),
      stage('a', {}, () => copy(['/x'], '/x', { from: 'busybox' })),
      stage('scratch', { name: 'last' }),
    );
    // The last stage is scratch: it needs no image.
    expect(baseImagesOf(df, options)).toEqual([]);
    const df2 = dockerfile(
      [() => arg(['V', '3'])],
      stage('alpine:$V', { name: 'a', platform: '$BUILDPLATFORM' }),
      stage('debian', { name: 'unused' }),
      stage('a', { name: 'final' }, () => copy(['/x'], '/x', { from: 'busybox' })),
    );
    expect(baseImagesOf(df2, options)).toEqual([{ reference: 'alpine:3', platform: { os: 'linux', architecture: 'amd64' } }]);
  });

  it("runs the base image's ONBUILD triggers and uses its environment", () => {
    const df = dockerfile([], stage('node:20-onbuild', {}, () => run('npm test')));
    const result = resolveRaw(df, { ...options, baseImage: () => ({ env: ['APP=/srv/app'], onBuild: ['WORKDIR $APP'] }) });
    const instructions = result.stages[0]?.instructions ?? [];
    expect(instructions.map((i) => i.kind)).toEqual(['WORKDIR', 'RUN']);
    expect(find(instructions, 'WORKDIR')[0]?.path).toBe('/srv/app');
  });

  it("refuses a base image's trigger that is no instruction a trigger runs, saying so", () => {
    const df = dockerfile([], stage('hostile', {}, () => run('true')));
    for (const trigger of ['FROM busybox', '', '# only a comment']) {
      let message = '';
      try {
        resolveRaw(df, { ...options, baseImage: () => ({ onBuild: [trigger] }) });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message, trigger).toBe(`resolve ONBUILD trigger of FROM (line 1): parse ${JSON.stringify(trigger)}: not one instruction a trigger can run`);
    }
  });
});
