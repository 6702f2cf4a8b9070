/**
 * Resolution: from a Dockerfile's raw instructions to stages whose words are expanded with the
 * variables in scope, following the reference implementation (BuildKit's `dockerfile2llb`):
 *
 * - ARGs before the first FROM are global: they (and the predefined platform ARGs) expand FROM
 *   lines only; inside a stage a global ARG is visible once re-declared with `ARG name`.
 * - Inside a stage, ARG and ENV values join one environment, in order, later wins; ENV values
 *   also go to the image config, and a stage built FROM another stage starts from the other
 *   stage's environment with its ENV values (the image config) applied again on top.
 * - A `--build-arg` replaces the default of an ARG that declares it; it is otherwise unused,
 *   except the proxy variables, which every RUN receives without any declaration.
 * - Which words an instruction expands is fixed per instruction: RUN, CMD, ENTRYPOINT, SHELL,
 *   HEALTHCHECK and ONBUILD are never expanded (a shell does it later, or a later build).
 *
 * The parts: `environment.ts` (build args, predefined ARGs, scopes, expansion), `stages.ts`
 * (FROM lines, stage references, the graph, ONBUILD triggers), `dispatch.ts` (each
 * instruction of a stage).
 */
import type { Platform } from '../common/index.js';
import { dispatchStage, type DispatchContext, type Resolved } from './dispatch.js';
import { buildArgsOf, builtinArgs, predefinedArgs, proxyFromBuildArgs, proxyKeys } from './environment.js';
import type { RawDockerfile, ResolvedDockerfile, ResolveOptions } from './model.js';
import { buildGraph } from './stages.js';

export { parseBuildArgs, proxyFromBuildArgs } from './environment.js';

/**
 * Resolves a Dockerfile for one build: expands what the reference implementation expands,
 * picks the target stage and drops the stages it does not need.
 *
 * @throws TsbuildError `EXPANSION` (a word that cannot be expanded, a FROM that expands to
 * nothing), `DOCKERFILE_PARSE` (stage graph errors: cycles, references to later stages, bad
 * mounts or platforms), `INVALID_ARGUMENT` (unknown target), `INVALID_REFERENCE` (a FROM that
 * is no image reference). The error's `ranges` are the Dockerfile ranges involved.
 */
export function resolveRaw(dockerfile: RawDockerfile, options: ResolveOptions = {}): ResolvedDockerfile {
  const graph = buildGraph(dockerfile, options, true);
  const buildArgs = buildArgsOf(options);
  const declared = new Set<string>();
  for (const instruction of dockerfile.metaArgs) for (const arg of instruction.args) declared.add(arg.key);
  const done = new Map<number, Resolved>();
  const context: DispatchContext = { escapeToken: dockerfile.escapeToken, globals: graph.globals, buildArgs, done, declared };
  for (const state of graph.states) {
    if (graph.reachable.has(state.index)) done.set(state.index, dispatchStage(state, context, graph.targetPlatform));
  }

  const predefined = new Set(predefinedArgs(graph.build, graph.targetPlatform, '', {}).view().keys());
  const unusedBuildArgs = Object.keys(buildArgs)
    .filter((name) => !declared.has(name) && !predefined.has(name) && !builtinArgs.has(name))
    .filter((name) => proxyKeys[name.toLowerCase()] === undefined && !name.startsWith('BUILDKIT_'))
    .sort();

  return {
    escapeToken: dockerfile.escapeToken,
    target: graph.target,
    stages: [...done.values()].map((resolved) => resolved.stage).sort((a, b) => a.index - b.index),
    globalArgs: graph.globals.pairs(),
    proxy: proxyFromBuildArgs(buildArgs),
    unusedBuildArgs,
  };
}

/**
 * The base images (with the platform each is wanted for) that resolving for this target
 * needs, so that their configs can be fetched before `resolveRaw` asks for them.
 */
export function baseImagesOf(dockerfile: RawDockerfile, options: ResolveOptions = {}): { reference: string; platform: Platform }[] {
  const graph = buildGraph(dockerfile, options, false);
  const out: { reference: string; platform: Platform }[] = [];
  for (const state of graph.states) {
    if (graph.reachable.has(state.index) && state.base.kind === 'image') {
      out.push({ reference: state.base.reference, platform: state.platform ?? graph.targetPlatform });
    }
  }
  return out;
}
