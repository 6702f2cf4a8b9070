/**
 * The stage half of resolution: FROM lines and their bases, where COPY --from and RUN --mount
 * from= point, the dependency graph (cycles, the target, what it reaches) and ONBUILD triggers,
 * parsed here with the parser's `parseTrigger`.
 */
import { TsbuildError, expandWord, familiarReference, formatReference, goReferenceError, hostPlatform, messageOf, parsePlatform, parseReference, suggest, type EscapeToken, type Platform, type SourceRange } from '../common/index.js';
import { parseMount, parseTrigger } from '../parser/index.js';
import { Expander, resolveGlobalArgs, sortedNames, type Env } from './environment.js';
import { describeLines, locatedAt } from './errors.js';
import type { BaseImageConfig, RawDockerfile, RawInstruction, RawStage, ResolveOptions, StageBase, StageRef } from './model.js';

/** Go's `strconv.Atoi` accepts a sign and leading zeros. */
const stageIndexPattern = /^[+-]?\d+$/;

export interface StageState {
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

function stageLookupName(name: string): string {
  return name.toLowerCase();
}

function normalizeReference(reference: string, range: SourceRange, instruction = 'FROM'): string {
  try {
    return formatReference(parseReference(reference));
  } catch (error) {
    // In the words of the parser BuildKit's frontend uses, where it refuses the reference too.
    const why = goReferenceError(reference) ?? messageOf(error);
    throw new TsbuildError('INVALID_REFERENCE', `resolve ${instruction} (${describeLines(range)}): failed to parse stage name ${JSON.stringify(reference)}: ${why}`, { cause: error });
  }
}

/**
 * The reference a named context gives for NAME (an image name as a FROM or --from wrote it, or a
 * stage name), or undefined. BuildKit's NamedContext: the name in its short form, `:latest` dropped.
 */
function namedContext(options: ResolveOptions, name: string): string | undefined {
  const contexts = options.namedContexts;
  if (contexts === undefined || contexts.size === 0) return undefined;
  let short: string;
  try {
    short = familiarReference(parseReference(name)).replace(/:latest$/, '');
  } catch {
    return undefined;
  }
  return contexts.get(short);
}

function imageBase(reference: string, range: SourceRange): StageBase {
  return { kind: 'image', reference, normalized: normalizeReference(reference, range) };
}

/** Expands FROM lines and finds each stage's base; stages are known by name only after their FROM. */
function resolveStageHeads(dockerfile: RawDockerfile, globals: Env, targetPlatform: Platform, options: ResolveOptions): StageState[] {
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
    const name = stageLookupName(raw.name);
    // A stage a named context replaces keeps its name (for --from and --target), nothing of its own.
    const replacement = name === '' ? undefined : namedContext(options, name);
    if (replacement !== undefined) base = imageBase(replacement, raw.range);
    else if (baseStage !== undefined) base = { kind: 'stage', stage: baseStage };
    else if (baseName === 'scratch') base = { kind: 'scratch' };
    else base = imageBase(namedContext(options, baseName) ?? baseName, raw.range);
    states.push({
      raw: replacement === undefined ? raw : { ...raw, instructions: [] },
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
function resolveReferences(states: readonly StageState[], byName: ReadonlyMap<string, number>, state: StageState, list: readonly RawInstruction[], options: ResolveOptions): void {
  for (const instruction of list) locatedAt(instruction.range, () => {
    // An image not given as a named context must parse, as a FROM's; BuildKit refuses it before the build starts.
    const image = (reference: string): StageRef => {
      const named = namedContext(options, reference);
      if (named === undefined) normalizeReference(reference, instruction.range, instruction.kind);
      return { kind: 'image', reference: named ?? reference };
    };
    if (instruction.kind === 'COPY' && instruction.from !== '') {
      const ref = copySource(instruction.from, instruction.range, byName, states.length);
      state.refs.set(instruction, [ref.kind === 'image' ? image(ref.reference) : ref]);
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
          return stage !== undefined ? { kind: 'stage', stage } : image(from);
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
  // A depth-first walk on a stack of its own (a chain of thousands of stages is deeper than the
  // call stack), with one path grown and shrunk as it goes (a copy per edge was quadratic).
  const visit = (start: number): readonly SourceRange[] | undefined => {
    if (done.has(start)) return undefined;
    const path: SourceRange[] = [];
    const walk: { readonly index: number; readonly edges: readonly (readonly [number, SourceRange])[]; next: number }[] = [];
    const enter = (index: number): void => {
      done.add(index);
      onPath.add(index);
      walk.push({ index, edges: [...(graph[index] ?? [])], next: 0 });
    };
    enter(start);
    for (let frame = walk.at(-1); frame !== undefined; frame = walk.at(-1)) {
      const edge = frame.edges[frame.next++];
      if (edge === undefined) {
        onPath.delete(frame.index);
        walk.pop();
        path.pop();
        continue;
      }
      const [dep, range] = edge;
      path.push(range);
      if (onPath.has(dep)) return path;
      if (done.has(dep)) path.pop();
      else enter(dep);
    }
    return undefined;
  };
  for (const state of states) {
    const cycle = visit(state.index);
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

export interface StageGraph {
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
export function buildGraph(dockerfile: RawDockerfile, options: ResolveOptions, withImages: boolean): StageGraph {
  if (dockerfile.stages.length === 0) {
    throw new TsbuildError('DOCKERFILE_PARSE', 'resolve stages: dockerfile contains no stages to build');
  }
  const build = options.platform?.build ?? hostPlatform();
  const targetPlatform = options.platform?.target ?? build;
  const globals = resolveGlobalArgs(dockerfile, options, build, targetPlatform);
  const states = resolveStageHeads(dockerfile, globals, targetPlatform, options);
  const target = findTarget(states, options.target);
  // Made once: a lookup per stage made it again for every stage.
  const byName = namesOf(states);
  for (const state of states) resolveReferences(states, byName, state, state.raw.instructions, options);
  checkCycles(states);
  const needed = (): Set<number> => (options.allStages === true ? new Set(states.map((state) => state.index)) : reachableFrom(states, target));
  let reachable = needed();
  for (let round = 0; round <= states.length; round++) {
    let grew = false;
    for (const state of states) {
      if (!reachable.has(state.index) || state.triggers !== undefined) continue;
      const texts = triggerTexts(state, states, options, targetPlatform, withImages);
      state.triggers = texts.map((text) => locatedAt(state.raw.range, () => parseTriggerText(text, state.raw.range, dockerfile.escapeToken, options)));
      resolveReferences(states, byName, state, state.triggers, options);
      grew ||= state.triggers.some((trigger) => state.refs.has(trigger));
    }
    if (!grew) break;
    checkCycles(states);
    reachable = needed();
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


/** An ONBUILD trigger (kept as text in a stage or an image config) as the instruction it is, located at the FROM line. */
function parseTriggerText(text: string, range: SourceRange, escapeToken: EscapeToken, options: Pick<ResolveOptions, 'channel' | 'frontendMinor'>): RawInstruction {
  const trigger = parseTrigger(text, escapeToken, options.channel ?? 'stable', options.frontendMinor);
  if (trigger.command === undefined) {
    // No error and no instruction: a FROM (a stage of its own), or nothing but blanks and comments.
    const causes = trigger.diagnostics.map((d) => d.message).join('; ') || 'not one instruction a trigger can run';
    throw new TsbuildError('DOCKERFILE_PARSE', `resolve ONBUILD trigger of FROM (${describeLines(range)}): parse ${JSON.stringify(text)}: ${causes}`);
  }
  return { ...trigger.command, range };
}
