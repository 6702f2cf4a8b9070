/**
 * Per-instruction dispatch: one stage's instructions, in order (its inherited ONBUILD triggers
 * first), with the words each instruction expands expanded in the scope it sees.
 */
import { TsbuildError, messageOf, type EscapeToken, type Platform, type SourceRange } from '../common/index.js';
import { parseMount, type RunMount } from '../parser/index.js';
import { Env, defaultPath, parseEnvEntry, Expander, type EnvScope } from './environment.js';
import { describeLines, locatedAt } from './errors.js';
import type { ResolvedArg, ResolvedInstruction, ResolvedMount, ResolvedStage, StageRef } from './model.js';
import type { StageState } from './stages.js';

export interface Resolved {
  readonly stage: ResolvedStage;
  /** What a stage FROM this one starts from: scopes, which share their links with the instructions'. */
  readonly env: EnvScope;
  readonly imageEnv: EnvScope;
}

/** Everything one stage's dispatch needs from outside it. */
export interface DispatchContext {
  readonly escapeToken: EscapeToken;
  readonly globals: Env;
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly done: ReadonlyMap<number, Resolved>;
  readonly declared: Set<string>;
}

export function dispatchStage(state: StageState, context: DispatchContext, targetPlatform: Platform): Resolved {
  let env: Env;
  let imageEnv: Env;
  // BuildKit's dispatch state starts a stage's ARG declarations afresh, also FROM another
  // stage (only their values live on, in the inherited environment): a RUN's `|N A=1` lists
  // the ARGs this stage declared.
  const args: ResolvedArg[] = [];
  let platform: Platform;
  if (state.base.kind === 'stage') {
    const parent = context.done.get(state.base.stage);
    if (parent === undefined) {
      throw new TsbuildError('INTERNAL', `resolve FROM (${describeLines(state.raw.range)}): base stage ${state.base.stage} not resolved`);
    }
    env = new Env(parent.env);
    imageEnv = new Env(parent.imageEnv);
    // The base stage's platform wins over --platform, as the state is inherited whole.
    platform = parent.stage.platform;
  } else if (state.base.kind === 'scratch') {
    // BuildKit 0.13 gives a scratch stage the build's target platform, whatever its FROM
    // --platform says (dockerfile2llb's emptyImage(targetPlatform)): its image and its steps.
    platform = targetPlatform;
    imageEnv = new Env();
    env = new Env();
  } else {
    platform = state.platform ?? targetPlatform;
    imageEnv = new Env((state.config?.env ?? []).map(parseEnvEntry));
    env = new Env();
  }
  if (!imageEnv.has('PATH') && platform.os !== 'windows') imageEnv.set('PATH', defaultPath);
  env.setAll(imageEnv.pairs());

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
    const scope = env.scope();
    const expander = new Expander(context.escapeToken, env.view(), { range: raw.range, what: raw.kind });
    const common = { range: raw.range, name: raw.name, env: scope };
    const where = describeLines(raw.range);
    switch (raw.kind) {
      case 'ARG': {
        // Every default is expanded against the variables from before the instruction, as
        // BuildKit expands an ARG's words at once: `ARG P=1 Q=$P` leaves Q empty in a stage.
        // (Global ARGs before the first FROM are expanded one after another, as BuildKit does.)
        // The values are set once all are expanded, so the expansion reads the environment as it is.
        const argExpander = new Expander(context.escapeToken, env.view(), { range: raw.range, what: raw.kind });
        const resolvedArgs: ResolvedArg[] = [];
        const values: [string, string][] = [];
        for (const arg of raw.args) {
          // BuildKit expands a stage ARG's name too (`ARG "A"=1` declares A); a global's it does not.
          const key = argExpander.word(arg.key);
          context.declared.add(key);
          // BuildKit's history says `ARG NAME=DEFAULT` as the Dockerfile wrote it (expanded),
          // whatever --build-arg gave; a default that cannot expand then (`${X:?…}`) is no
          // error when --build-arg replaces it, and is shown as written.
          const overridden = Object.hasOwn(context.buildArgs, key);
          let written: string | undefined;
          if (arg.value !== undefined) written = overridden ? expandedOrWritten(argExpander, arg.value) : argExpander.word(arg.value);
          let value: string | undefined;
          if (overridden) value = context.buildArgs[key];
          else if (written !== undefined) value = written;
          else value = context.globals.get(key);
          if (value !== undefined) values.push([key, value]);
          const resolved = { key, value, ...(written === undefined ? {} : { written }) };
          resolvedArgs.push(resolved);
          args.push(resolved);
        }
        for (const [name, value] of values) env.set(name, value);
        instructions.push({ ...common, kind: 'ARG', args: resolvedArgs, variables: argExpander.variables() });
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
        // BuildKit 0.13 expands --chown but not --chmod: `--chmod=$MODE` stays as written.
        const chmod = raw.chmod;
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
      env: env.scope(),
      imageEnv: imageEnv.scope(),
    },
    env: env.scope(),
    imageEnv: imageEnv.scope(),
  };
}

/** WORD expanded, or as written when it cannot be (a `${X:?message}` whose X is unset). */
function expandedOrWritten(expander: Expander, word: string): string {
  try {
    return expander.word(word);
  } catch {
    return word;
  }
}
