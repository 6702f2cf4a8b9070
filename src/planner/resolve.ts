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
 */
import { TsbuildError, formatPlatform, formatReference, hostPlatform, messageOf, parsePlatform, parseReference, suggest, type Platform, type SourceRange } from '../common/index.js';
import { describeLines, locatedAt } from './errors.js';
import type { RawArg, RawCopyFields, RawDockerfile, RawHeredocFile, RawInstruction, RawKeyValue, RawStage } from './model.js';
import { parseMount, type RunMount } from '../parser/index.js';
import { expandWord, type EscapeToken, type ExpansionResult } from '../common/index.js';

export interface BaseImageConfig {
  /** `KEY=VALUE` entries of the image config. */
  readonly env?: readonly string[];
  readonly workingDir?: string;
  readonly user?: string;
  /** ONBUILD triggers recorded in the image: run first in a stage built FROM it. */
  readonly onBuild?: readonly string[];
}

export interface ResolveOptions {
  /** `--build-arg` values. */
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** `--target`: the stage to build; the last stage by default. */
  readonly target?: string;
  /** The build machine's and the output's platform; the host's for both by default. */
  readonly platform?: { readonly build: Platform; readonly target: Platform };
  /**
   * The config of a base image, when known: its environment is in scope for every instruction
   * of the stage (`WORKDIR $GOPATH`). Without it a base image is taken to have an empty
   * environment (PATH aside). `baseImagesOf` lists which images a resolution will ask for.
   */
  readonly baseImage?: (reference: string, platform: Platform) => BaseImageConfig | undefined;
}

export type StageRef = { readonly kind: 'stage'; readonly stage: number } | { readonly kind: 'image'; readonly reference: string };

export type StageBase =
  | { readonly kind: 'stage'; readonly stage: number }
  | {
      readonly kind: 'image';
      /** As written, after expansion. */
      readonly reference: string;
      /** Fully qualified: `docker.io/library/alpine:latest`. */
      readonly normalized: string;
    }
  | { readonly kind: 'scratch' };

export type EnvPairs = readonly (readonly [string, string])[];

export interface VariableUse {
  /** Names the instruction's expanded words referred to and that were set. */
  readonly used: readonly string[];
  /** Names referred to but not set (they expanded to nothing). */
  readonly undefined: readonly string[];
}

interface Common {
  readonly range: SourceRange;
  readonly name: string;
  /** The environment the instruction sees (base image, ENV and ARG values so far). */
  readonly env: EnvPairs;
  readonly variables: VariableUse;
}

type Passed<K extends RawInstruction['kind']> = Omit<Extract<RawInstruction, { kind: K }>, 'range' | 'name'> & Common;

interface CopyFields extends Omit<RawCopyFields, 'from'> {
  /** COPY --from: another stage or an image; `undefined` for the build context. */
  readonly from: StageRef | undefined;
}

/** An ARG after resolution: its value in scope (`undefined` when it has none). */
export type ResolvedArg = Pick<RawArg, 'key' | 'value'>;
/** An ENV or LABEL pair after expansion. */
export type ResolvedPair = Pick<RawKeyValue, 'key' | 'value'>;

export type ResolvedInstruction =
  | (Common & { readonly kind: 'ARG'; readonly args: readonly ResolvedArg[] })
  | (Common & { readonly kind: 'ENV'; readonly pairs: readonly ResolvedPair[] })
  | (Common & { readonly kind: 'LABEL'; readonly pairs: readonly ResolvedPair[] })
  | (Common & { readonly kind: 'COPY' } & CopyFields)
  | (Common & { readonly kind: 'ADD' } & CopyFields)
  | (Common & {
      readonly kind: 'RUN';
      readonly shellForm: boolean;
      readonly cmdLine: readonly string[];
      readonly files: readonly RawHeredocFile[];
      readonly mounts: readonly ResolvedMount[];
      readonly network: string;
      readonly security: string;
      /** ARGs in scope with their values: they join the RUN environment and its history entry. */
      readonly args: readonly ResolvedArg[];
    })
  | (Common & { readonly kind: 'EXPOSE'; readonly ports: readonly string[] })
  | (Common & { readonly kind: 'VOLUME'; readonly volumes: readonly string[] })
  | (Common & { readonly kind: 'USER'; readonly user: string })
  | (Common & { readonly kind: 'WORKDIR'; readonly path: string })
  | (Common & { readonly kind: 'STOPSIGNAL'; readonly signal: string })
  | Passed<'CMD'>
  | Passed<'ENTRYPOINT'>
  | Passed<'SHELL'>
  | Passed<'MAINTAINER'>
  | Passed<'ONBUILD'>
  | Passed<'HEALTHCHECK'>;

export interface ResolvedMount extends RunMount {
  /** Where `from` points; `undefined` when the mount has no `from`. */
  readonly fromRef: StageRef | undefined;
}

export interface ResolvedStage {
  /** Position among the Dockerfile's stages (what `COPY --from=1` counts). */
  readonly index: number;
  /** `AS` name, lower-cased; `''` when the stage has none. */
  readonly name: string;
  /** The FROM instruction. */
  readonly range: SourceRange;
  readonly base: StageBase;
  readonly platform: Platform;
  /** Whether FROM gave `--platform` (otherwise the target platform, or the base stage's). */
  readonly platformExplicit: boolean;
  /** Stages this one needs: its base, COPY --from and RUN --mount from= sources. */
  readonly dependencies: readonly number[];
  /** Images this one reads files from (COPY --from, RUN --mount from= with an image). */
  readonly images: readonly string[];
  /** The global ARGs its FROM line used (they key the base image choice). */
  readonly fromArgs: readonly string[];
  readonly instructions: readonly ResolvedInstruction[];
  /** The environment after the last instruction. */
  readonly env: EnvPairs;
  /** The environment of the image config (base image env, then ENV), after the last instruction. */
  readonly imageEnv: EnvPairs;
}

export interface ProxyEnv {
  readonly httpProxy?: string;
  readonly httpsProxy?: string;
  readonly ftpProxy?: string;
  readonly noProxy?: string;
  readonly allProxy?: string;
}

export interface ResolvedDockerfile {
  readonly escapeToken: EscapeToken;
  /** Index of the stage to build. */
  readonly target: number;
  /** The stages the target needs (itself included), in Dockerfile order. */
  readonly stages: readonly ResolvedStage[];
  /** Global ARGs after build args and defaults, predefined platform ARGs included. */
  readonly globalArgs: EnvPairs;
  /** Proxy settings from build args; given to every RUN, never recorded in the image. */
  readonly proxy: ProxyEnv;
  /** Build args that no ARG in the built stages declares (worth a warning). */
  readonly unusedBuildArgs: readonly string[];
}

const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const proxyKeys: Readonly<Record<string, keyof ProxyEnv>> = {
  http_proxy: 'httpProxy',
  https_proxy: 'httpsProxy',
  ftp_proxy: 'ftpProxy',
  no_proxy: 'noProxy',
  all_proxy: 'allProxy',
};
/** Build args that need no ARG to have an effect. */
const builtinArgs = new Set(['SOURCE_DATE_EPOCH']);

/** An environment: insertion-ordered, and setting a name again moves it to the end. */
class Env {
  private readonly map: Map<string, string>;

  constructor(from: Iterable<readonly [string, string]> = []) {
    this.map = new Map(from);
  }

  get(name: string): string | undefined {
    return this.map.get(name);
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  set(name: string, value: string): void {
    this.map.delete(name);
    this.map.set(name, value);
  }

  view(): ReadonlyMap<string, string> {
    return this.map;
  }

  pairs(): EnvPairs {
    return [...this.map];
  }

  clone(): Env {
    return new Env(this.map);
  }
}

function parseEnvEntry(entry: string): [string, string] {
  const eq = entry.indexOf('=');
  return eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
}

/** The predefined platform ARGs, each replaceable by a build arg of the same name. */
function predefinedArgs(build: Platform, target: Platform, targetStage: string, buildArgs: Readonly<Record<string, string>>): Env {
  const env = new Env();
  const values: [string, string][] = [
    ['BUILDPLATFORM', formatPlatform(build)],
    ['BUILDOS', build.os],
    ['BUILDOSVERSION', build['os.version'] ?? ''],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
    ['TARGETPLATFORM', formatPlatform(target)],
    ['TARGETOS', target.os],
    ['TARGETOSVERSION', target['os.version'] ?? ''],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
    ['TARGETSTAGE', targetStage === '' ? 'default' : targetStage],
  ];
  for (const [name, value] of values) env.set(name, Object.hasOwn(buildArgs, name) ? (buildArgs[name] as string) : value);
  return env;
}

export function proxyFromBuildArgs(buildArgs: Readonly<Record<string, string>>): ProxyEnv {
  const proxy: Record<string, string> = {};
  // Sorted so that, of two spellings of one name, the result does not depend on object order.
  for (const name of Object.keys(buildArgs).sort()) {
    const field = proxyKeys[name.toLowerCase()];
    if (field !== undefined) proxy[field] = buildArgs[name] as string;
  }
  return proxy;
}

const sortedNames = (names: ReadonlySet<string>): string[] => [...names].sort();

/** Tracks what one instruction's expansions referred to. */
class Expander {
  readonly used = new Set<string>();
  readonly undefinedNames = new Set<string>();

  constructor(
    private readonly escapeToken: EscapeToken,
    private readonly env: ReadonlyMap<string, string>,
    private readonly at: { range: SourceRange; what: string },
  ) {}

  private run(word: string, raw: boolean): ExpansionResult {
    try {
      const result = raw
        ? expandWord(word, this.env, { escapeToken: '\\', skipProcessQuotes: true })
        : expandWord(word, this.env, { escapeToken: this.escapeToken });
      for (const name of result.matched) this.used.add(name);
      for (const name of result.unmatched) this.undefinedNames.add(name);
      return result;
    } catch (error) {
      throw new TsbuildError('EXPANSION', `resolve ${this.at.what} (${describeLines(this.at.range)}): ${messageOf(error)}`, { cause: error });
    }
  }

  word(word: string): string {
    return this.run(word, false).value;
  }

  words(word: string): readonly string[] {
    return this.run(word, false).words;
  }

  /** Heredoc bodies: quotes are text, only `$` and `\` are special, whatever the escape directive. */
  heredoc(data: string): string {
    return this.run(data, true).value;
  }

  variables(): VariableUse {
    return { used: sortedNames(this.used), undefined: sortedNames(this.undefinedNames) };
  }
}

/** Go's `strconv.Atoi` accepts a sign and leading zeros. */
const stageIndexPattern = /^[+-]?\d+$/;

interface StageState {
  readonly raw: RawStage;
  readonly index: number;
  readonly name: string;
  /** `stage-N` for unnamed stages, as messages call them. */
  readonly displayName: string;
  readonly base: StageBase;
  readonly platform: Platform | undefined;
  readonly fromArgs: readonly string[];
  /** Stage references of COPY --from and RUN --mount from=, by instruction. */
  readonly refs: Map<RawInstruction, readonly (StageRef | undefined)[]>;
  /** ONBUILD triggers of the base (stage or image), run before the stage's own instructions. */
  triggers: readonly RawInstruction[] | undefined;
  /** The base image's config, asked for once. */
  config: BaseImageConfig | undefined;
}

interface Resolved {
  readonly stage: ResolvedStage;
  readonly env: Env;
  readonly imageEnv: Env;
  readonly args: readonly ResolvedArg[];
}

function buildArgsOf(options: ResolveOptions): Readonly<Record<string, string>> {
  return options.buildArgs ?? {};
}

/** Expands the global ARGs (before the first FROM) with build args and predefined values. */
function resolveGlobalArgs(dockerfile: RawDockerfile, options: ResolveOptions, build: Platform, target: Platform): Env {
  const buildArgs = buildArgsOf(options);
  const last = dockerfile.stages[dockerfile.stages.length - 1];
  const targetStage = options.target ?? last?.name ?? '';
  const globals = predefinedArgs(build, target, targetStage, buildArgs);
  for (const instruction of dockerfile.metaArgs) {
    locatedAt(instruction.range, () => {
      const expander = new Expander(dockerfile.escapeToken, globals.view(), { range: instruction.range, what: 'ARG' });
      for (const arg of instruction.args) {
        const value = Object.hasOwn(buildArgs, arg.key)
          ? buildArgs[arg.key]
          : arg.value === undefined
            ? undefined
            : expander.word(arg.value);
        if (value !== undefined) globals.set(arg.key, value);
      }
    });
  }
  return globals;
}

function stageLookupName(name: string): string {
  return name.toLowerCase();
}

function normalizeReference(reference: string, range: SourceRange): string {
  try {
    return formatReference(parseReference(reference));
  } catch (error) {
    throw new TsbuildError('INVALID_REFERENCE', `resolve FROM (${describeLines(range)}): failed to parse stage name ${JSON.stringify(reference)}: ${messageOf(error)}`, { cause: error });
  }
}

/** Expands FROM lines and finds each stage's base; stages are known by name only after their FROM. */
function resolveStageHeads(dockerfile: RawDockerfile, globals: Env, targetPlatform: Platform): StageState[] {
  const byName = new Map<string, number>();
  const states: StageState[] = [];
  dockerfile.stages.forEach((raw, index) => locatedAt(raw.range, () => {
    const expander = new Expander(dockerfile.escapeToken, globals.view(), { range: raw.range, what: 'FROM' });
    const baseName = expander.word(raw.baseName);
    if (baseName === '') {
      throw new TsbuildError('EXPANSION', `resolve FROM (${describeLines(raw.range)}): base name (${raw.baseName}) should not be blank`);
    }
    let platform: Platform | undefined;
    if (raw.platform !== '') {
      const platformExpander = new Expander(dockerfile.escapeToken, globals.view(), { range: raw.range, what: 'FROM --platform' });
      const value = platformExpander.word(raw.platform);
      if (value === '') {
        const unknown = [...platformExpander.undefinedNames];
        const hint = unknown.map((name) => suggest(name, [...globals.view().keys()])).find((s) => s !== undefined);
        throw new TsbuildError(
          'EXPANSION',
          `resolve FROM (${describeLines(raw.range)}): empty platform value from expression ${raw.platform}` +
            (hint === undefined ? '' : ` (did you mean ${hint}?)`),
        );
      }
      try {
        platform = parsePlatform(value, targetPlatform);
      } catch (error) {
        throw new TsbuildError('DOCKERFILE_PARSE', `resolve FROM (${describeLines(raw.range)}): ${messageOf(error)}`, { cause: error });
      }
      for (const name of platformExpander.used) expander.used.add(name);
    }
    const baseStage = byName.get(baseName);
    let base: StageBase;
    if (baseStage !== undefined) base = { kind: 'stage', stage: baseStage };
    else if (baseName === 'scratch') base = { kind: 'scratch' };
    else base = { kind: 'image', reference: baseName, normalized: normalizeReference(baseName, raw.range) };
    const name = stageLookupName(raw.name);
    states.push({
      raw,
      index,
      name,
      displayName: name === '' ? `stage-${index}` : name,
      base,
      platform,
      fromArgs: sortedNames(expander.used),
      refs: new Map(),
      triggers: undefined,
      config: undefined,
    });
    if (name !== '') byName.set(name, index);
  }));
  return states;
}

function namesOf(states: readonly StageState[]): Map<string, number> {
  const byName = new Map<string, number>();
  for (const state of states) if (state.name !== '') byName.set(state.name, state.index);
  return byName;
}

/** Where COPY --from and RUN --mount from= point; these are never expanded. */
function resolveReferences(states: readonly StageState[], state: StageState, list: readonly RawInstruction[]): void {
  const byName = namesOf(states);
  for (const instruction of list) locatedAt(instruction.range, () => {
    if (instruction.kind === 'COPY' && instruction.from !== '') {
      state.refs.set(instruction, [copySource(instruction.from, instruction.range, byName, states.length)]);
    } else if (instruction.kind === 'RUN' && instruction.mounts.length > 0) {
      state.refs.set(
        instruction,
        instruction.mounts.map((value) => {
          let from: string | undefined;
          try {
            from = parseMount(value).from;
          } catch (error) {
            throw new TsbuildError('DOCKERFILE_PARSE', `resolve RUN (${describeLines(instruction.range)}): ${messageOf(error)}`, { cause: error });
          }
          if (from === undefined) return undefined;
          const stage = byName.get(stageLookupName(from));
          return stage !== undefined ? { kind: 'stage', stage } : { kind: 'image', reference: from };
        }),
      );
    }
  });
}

function copySource(from: string, range: SourceRange, byName: ReadonlyMap<string, number>, stageCount: number): StageRef {
  // Expanding with no variables changes nothing unless the value holds `$`, quotes or escapes.
  let literal: string;
  try {
    literal = expandWord(from, new Map()).value;
  } catch (error) {
    throw new TsbuildError('EXPANSION', `resolve COPY (${describeLines(range)}): ${messageOf(error)}`, { cause: error });
  }
  if (literal !== from) {
    throw new TsbuildError(
      'EXPANSION',
      `resolve COPY (${describeLines(range)}): variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround`,
    );
  }
  if (stageIndexPattern.test(from)) {
    const index = Number.parseInt(from, 10);
    if (index < 0 || index >= stageCount) {
      throw new TsbuildError('DOCKERFILE_PARSE', `resolve COPY (${describeLines(range)}): invalid stage index ${index}`);
    }
    return { kind: 'stage', stage: index };
  }
  const stage = byName.get(stageLookupName(from));
  return stage !== undefined ? { kind: 'stage', stage } : { kind: 'image', reference: from };
}

function stageDependencies(state: StageState): Map<number, SourceRange> {
  const deps = new Map<number, SourceRange>();
  if (state.base.kind === 'stage') deps.set(state.base.stage, state.raw.range);
  for (const [instruction, refs] of state.refs) {
    for (const ref of refs) if (ref?.kind === 'stage' && !deps.has(ref.stage)) deps.set(ref.stage, instruction.range);
  }
  return deps;
}

function checkCycles(states: readonly StageState[]): void {
  const graph = states.map(stageDependencies);
  const done = new Set<number>();
  const onPath = new Set<number>();
  const visit = (index: number, path: readonly SourceRange[]): readonly SourceRange[] | undefined => {
    if (done.has(index)) return undefined;
    done.add(index);
    onPath.add(index);
    for (const [dep, range] of graph[index] ?? []) {
      const next = [...path, range];
      if (onPath.has(dep)) return next;
      const found = visit(dep, next);
      if (found !== undefined) return found;
    }
    onPath.delete(index);
    return undefined;
  };
  for (const state of states) {
    const cycle = visit(state.index, []);
    if (cycle !== undefined) {
      throw new TsbuildError('DOCKERFILE_PARSE', `resolve stages: circular dependency detected on stage: ${state.displayName}`, { ranges: cycle });
    }
  }
}

function reachableFrom(states: readonly StageState[], target: number): Set<number> {
  const seen = new Set<number>();
  const stack = [target];
  while (stack.length > 0) {
    const index = stack.pop() as number;
    if (seen.has(index)) continue;
    seen.add(index);
    const state = states[index];
    if (state !== undefined) for (const dep of stageDependencies(state).keys()) stack.push(dep);
  }
  return seen;
}

function findTarget(states: readonly StageState[], target: string | undefined): number {
  if (target === undefined || target === '') return states.length - 1;
  const found = states.find((state) => state.name !== '' && state.name === stageLookupName(target));
  if (found !== undefined) return found.index;
  const names = states.map((state) => state.name).filter((name) => name !== '');
  const hint = suggest(target, names);
  const known = names.length === 0 ? 'the Dockerfile has no named stages' : `stages: ${names.join(', ')}`;
  throw new TsbuildError(
    'INVALID_ARGUMENT',
    `resolve target: target stage ${JSON.stringify(target)} could not be found${hint === undefined ? '' : ` (did you mean ${hint}?)`}; ${known}`,
  );
}

/** Everything one stage's dispatch needs from outside it. */
interface DispatchContext {
  readonly escapeToken: EscapeToken;
  readonly globals: Env;
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly done: ReadonlyMap<number, Resolved>;
  readonly declared: Set<string>;
}

function dispatchStage(state: StageState, context: DispatchContext, targetPlatform: Platform): Resolved {
  let env: Env;
  let imageEnv: Env;
  let args: ResolvedArg[];
  let platform: Platform;
  if (state.base.kind === 'stage') {
    const parent = context.done.get(state.base.stage);
    if (parent === undefined) {
      throw new TsbuildError('INTERNAL', `resolve FROM (${describeLines(state.raw.range)}): base stage ${state.base.stage} not resolved`);
    }
    env = parent.env.clone();
    imageEnv = parent.imageEnv.clone();
    args = [...parent.args];
    // The base stage's platform wins over --platform, as the state is inherited whole.
    platform = parent.stage.platform;
  } else {
    platform = state.platform ?? targetPlatform;
    imageEnv = new Env((state.config?.env ?? []).map(parseEnvEntry));
    env = new Env();
    args = [];
  }
  if (!imageEnv.has('PATH') && platform.os !== 'windows') imageEnv.set('PATH', defaultPath);
  for (const [name, value] of imageEnv.view()) env.set(name, value);

  const instructions: ResolvedInstruction[] = [];
  const dependencies = new Set<number>();
  const images = new Set<string>();
  if (state.base.kind === 'stage') dependencies.add(state.base.stage);

  const useRef = (ref: StageRef, range: SourceRange, what: () => string): void => {
    if (ref.kind === 'image') {
      images.add(ref.reference);
      return;
    }
    if (!context.done.has(ref.stage)) throw new TsbuildError('DOCKERFILE_PARSE', `resolve ${what()}`);
    dependencies.add(ref.stage);
  };

  for (const raw of [...(state.triggers ?? []), ...state.raw.instructions]) locatedAt(raw.range, () => {
    const snapshot = env.pairs();
    const expander = new Expander(context.escapeToken, env.view(), { range: raw.range, what: raw.kind });
    const common = { range: raw.range, name: raw.name, env: snapshot };
    const where = describeLines(raw.range);
    switch (raw.kind) {
      case 'ARG': {
        const resolvedArgs: ResolvedArg[] = [];
        for (const arg of raw.args) {
          context.declared.add(arg.key);
          let value: string | undefined;
          if (Object.hasOwn(context.buildArgs, arg.key)) value = context.buildArgs[arg.key];
          else if (arg.value !== undefined) value = expander.word(arg.value);
          else value = context.globals.get(arg.key);
          if (value !== undefined) env.set(arg.key, value);
          const resolved = { key: arg.key, value };
          resolvedArgs.push(resolved);
          args.push(resolved);
        }
        instructions.push({ ...common, kind: 'ARG', args: resolvedArgs, variables: expander.variables() });
        break;
      }
      case 'ENV':
      case 'LABEL': {
        // Every pair is expanded before any is applied: `ENV A=1 B=$A` sees the old A.
        const pairs = raw.pairs.map((pair) => ({ key: expander.word(pair.key), value: expander.word(pair.value) }));
        if (raw.kind === 'ENV') {
          for (const pair of pairs) {
            env.set(pair.key, pair.value);
            imageEnv.set(pair.key, pair.value);
          }
        }
        instructions.push({ ...common, kind: raw.kind, pairs, variables: expander.variables() });
        break;
      }
      case 'COPY':
      case 'ADD': {
        const chown = expander.word(raw.chown);
        const chmod = expander.word(raw.chmod);
        const checksum = raw.kind === 'ADD' ? expander.word(raw.checksum) : raw.checksum;
        const sources = raw.sources.map((source) => expander.word(source));
        const dest = expander.word(raw.dest);
        const contents = raw.contents.map((content) => (content.expand ? { ...content, data: expander.heredoc(content.data) } : content));
        const from = state.refs.get(raw)?.[0];
        if (from !== undefined) {
          useRef(from, raw.range, () => `COPY (${where}): cannot copy from stage ${JSON.stringify(raw.from)}, it needs to be defined before current stage ${JSON.stringify(state.displayName)}`);
        }
        instructions.push({
          ...common,
          kind: raw.kind,
          sources,
          contents,
          dest,
          from,
          chown,
          chmod,
          link: raw.link,
          parents: raw.parents,
          exclude: raw.exclude,
          checksum,
          keepGitDir: raw.keepGitDir,
          unpack: raw.unpack,
          variables: expander.variables(),
        });
        break;
      }
      case 'RUN': {
        const refs = state.refs.get(raw) ?? [];
        const mounts = raw.mounts.map((value, i): ResolvedMount => {
          let mount: RunMount;
          try {
            mount = parseMount(value, (word) => expander.word(word));
          } catch (error) {
            if (error instanceof TsbuildError && error.code === 'EXPANSION') throw error;
            throw new TsbuildError('DOCKERFILE_PARSE', `resolve RUN (${where}): ${messageOf(error)}`, { cause: error });
          }
          const ref = refs[i];
          if (ref !== undefined) {
            useRef(ref, raw.range, () => `RUN (${where}): cannot mount from stage ${JSON.stringify(mount.from ?? '')} to ${JSON.stringify(mount.target ?? '')}, stage needs to be defined before current command`);
          }
          return { ...mount, fromRef: ref };
        });
        instructions.push({
          ...common,
          kind: 'RUN',
          shellForm: raw.shellForm,
          cmdLine: raw.cmdLine,
          files: raw.files,
          mounts,
          network: raw.network,
          security: raw.security,
          args: [...args],
          variables: expander.variables(),
        });
        break;
      }
      case 'EXPOSE': {
        const ports = raw.ports.flatMap((port) => expander.words(port));
        instructions.push({ ...common, kind: 'EXPOSE', ports, variables: expander.variables() });
        break;
      }
      case 'VOLUME': {
        const volumes = raw.volumes.map((volume) => expander.word(volume));
        if (volumes.some((volume) => volume === '')) {
          throw new TsbuildError('EXPANSION', `resolve VOLUME (${where}): VOLUME specified can not be an empty string`);
        }
        instructions.push({ ...common, kind: 'VOLUME', volumes, variables: expander.variables() });
        break;
      }
      case 'USER':
        instructions.push({ ...common, kind: 'USER', user: expander.word(raw.user), variables: expander.variables() });
        break;
      case 'WORKDIR':
        instructions.push({ ...common, kind: 'WORKDIR', path: expander.word(raw.path), variables: expander.variables() });
        break;
      case 'STOPSIGNAL':
        instructions.push({ ...common, kind: 'STOPSIGNAL', signal: expander.word(raw.signal), variables: expander.variables() });
        break;
      default: {
        // CMD, ENTRYPOINT, SHELL, HEALTHCHECK, MAINTAINER, ONBUILD: taken as written.
        const { range: _range, name: _name, ...rest } = raw;
        instructions.push({ ...common, ...rest, variables: { used: [], undefined: [] } } as ResolvedInstruction);
      }
    }
  });

  return {
    stage: {
      index: state.index,
      name: state.name,
      range: state.raw.range,
      base: state.base,
      platform,
      platformExplicit: state.platform !== undefined,
      dependencies: [...dependencies].sort((a, b) => a - b),
      images: [...images].sort(),
      fromArgs: state.fromArgs,
      instructions,
      env: env.pairs(),
      imageEnv: imageEnv.pairs(),
    },
    env,
    imageEnv,
    args,
  };
}

/** Parses one instruction from text: ONBUILD triggers are instructions kept as text. */
export type ParseInstruction = (text: string, range: SourceRange, escapeToken: EscapeToken) => RawInstruction;

interface StageGraph {
  readonly build: Platform;
  readonly targetPlatform: Platform;
  readonly globals: Env;
  readonly states: readonly StageState[];
  readonly target: number;
  readonly reachable: ReadonlySet<number>;
}

/**
 * Stages, their bases and dependencies, the target and what it reaches. ONBUILD triggers can
 * add dependencies (a trigger may COPY --from a stage), so reachability is computed again
 * until it stops growing; each round attaches triggers to at least one more stage.
 */
function buildGraph(dockerfile: RawDockerfile, options: ResolveOptions, parse: ParseInstruction | undefined, withImages: boolean): StageGraph {
  if (dockerfile.stages.length === 0) {
    throw new TsbuildError('DOCKERFILE_PARSE', 'resolve stages: dockerfile contains no stages to build');
  }
  const build = options.platform?.build ?? hostPlatform();
  const targetPlatform = options.platform?.target ?? build;
  const globals = resolveGlobalArgs(dockerfile, options, build, targetPlatform);
  const states = resolveStageHeads(dockerfile, globals, targetPlatform);
  const target = findTarget(states, options.target);
  for (const state of states) resolveReferences(states, state, state.raw.instructions);
  checkCycles(states);
  let reachable = reachableFrom(states, target);
  for (let round = 0; round <= states.length; round++) {
    let grew = false;
    for (const state of states) {
      if (!reachable.has(state.index) || state.triggers !== undefined) continue;
      const texts = triggerTexts(state, states, options, targetPlatform, withImages);
      if (texts.length > 0 && parse === undefined) {
        throw new TsbuildError('INTERNAL', `resolve FROM (${describeLines(state.raw.range)}): ONBUILD triggers need an instruction parser`, { ranges: [state.raw.range] });
      }
      state.triggers = texts.map((text) =>
        locatedAt(state.raw.range, () => {
          try {
            return (parse as ParseInstruction)(text, state.raw.range, dockerfile.escapeToken);
          } catch (error) {
            throw new TsbuildError('DOCKERFILE_PARSE', `resolve ONBUILD trigger of FROM (${describeLines(state.raw.range)}): ${messageOf(error)}`, { cause: error });
          }
        }),
      );
      resolveReferences(states, state, state.triggers);
      grew ||= state.triggers.some((trigger) => state.refs.has(trigger));
    }
    if (!grew) break;
    checkCycles(states);
    reachable = reachableFrom(states, target);
  }
  return { build, targetPlatform, globals, states, target, reachable };
}

/** A stage's inherited triggers: its base stage's ONBUILD instructions, or its base image's. */
function triggerTexts(state: StageState, states: readonly StageState[], options: ResolveOptions, targetPlatform: Platform, withImages: boolean): string[] {
  if (state.base.kind === 'stage') {
    const parent = states[state.base.stage];
    return (parent?.raw.instructions ?? []).flatMap((i) => (i.kind === 'ONBUILD' ? [i.expression] : []));
  }
  if (state.base.kind === 'image' && withImages) {
    state.config = options.baseImage?.(state.base.reference, state.platform ?? targetPlatform);
    return [...(state.config?.onBuild ?? [])];
  }
  return [];
}

/**
 * Resolves a Dockerfile for one build: expands what the reference implementation expands,
 * picks the target stage and drops the stages it does not need.
 *
 * @throws TsbuildError `EXPANSION` (a word that cannot be expanded, a FROM that expands to
 * nothing), `DOCKERFILE_PARSE` (stage graph errors: cycles, references to later stages, bad
 * mounts or platforms), `INVALID_ARGUMENT` (unknown target), `INVALID_REFERENCE` (a FROM that
 * is no image reference). The error's `ranges` are the Dockerfile ranges involved.
 */
export function resolveRaw(dockerfile: RawDockerfile, options: ResolveOptions = {}, parse?: ParseInstruction): ResolvedDockerfile {
  const graph = buildGraph(dockerfile, options, parse, true);
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
export function baseImagesOf(dockerfile: RawDockerfile, options: ResolveOptions = {}, parse?: ParseInstruction): { reference: string; platform: Platform }[] {
  const graph = buildGraph(dockerfile, options, parse, false);
  const out: { reference: string; platform: Platform }[] = [];
  for (const state of graph.states) {
    if (graph.reachable.has(state.index) && state.base.kind === 'image') {
      out.push({ reference: state.base.reference, platform: state.platform ?? graph.targetPlatform });
    }
  }
  return out;
}
