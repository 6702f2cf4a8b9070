/**
 * `--call=outline`: what a build of the target asks of its caller — the build args it reads
 * (with the value each would take, and the comment above its ARG), the secrets and ssh agents
 * its RUN steps mount — as BuildKit's dockerfile2llb outline gives it.
 *
 * BuildKit's rules: a stage uses the global ARGs its FROM line expands and every ARG it
 * declares; a used global also uses those its default read (`ARG IMAGE=alpine:$VERSION`). An
 * ARG declared without a default nor a build arg, of the same name as a global (or a
 * predefined platform ARG), is the global: it is listed at the global's line, or not at all.
 * The stages walked are the target, its base stages and every stage it copies or mounts from;
 * of one name the first met is listed. Everything is ordered by line.
 */
import { hostPlatform, type SourceRange } from '../common/index.js';
import { secretMountId } from '../parser/index.js';
import { predefinedArgs, resolveGlobalArgs } from './environment.js';
import type { RawDockerfile, ResolvedDockerfile, ResolvedStage, ResolveOptions } from './model.js';

export interface OutlineArg {
  readonly name: string;
  /** The comment above the ARG that starts with its name (`# VERSION the release to build`). */
  readonly description: string;
  readonly value: string;
  readonly range: SourceRange;
}

/** A secret or ssh agent a RUN mounts, by its id; required when the mount says so. */
export interface OutlineMount {
  readonly name: string;
  readonly required: boolean;
  readonly range: SourceRange;
}

export interface BuildOutline {
  /** The target stage's name; '' for an unnamed one. */
  readonly name: string;
  readonly description: string;
  readonly args: readonly OutlineArg[];
  readonly secrets: readonly OutlineMount[];
  readonly ssh: readonly OutlineMount[];
}

interface GlobalArgInfo extends OutlineArg {
  /** The globals its default read. */
  readonly reads: readonly string[];
}

/** What one stage contributes: the ARG names it uses, its own ARGs, its mounts (first per id). */
interface StageOutline {
  readonly used: Set<string>;
  readonly own: Map<string, OutlineArg>;
  readonly secrets: Map<string, OutlineMount>;
  readonly ssh: Map<string, OutlineMount>;
}

/** The outline of RESOLVED's target, from the Dockerfile it was resolved from with OPTIONS. */
export function outlineOf(dockerfile: RawDockerfile, resolved: ResolvedDockerfile, options: ResolveOptions): BuildOutline {
  const build = options.platform?.build ?? hostPlatform();
  const target = options.platform?.target ?? build;
  const globals = new Map<string, GlobalArgInfo>();
  resolveGlobalArgs(dockerfile, options, build, target, (arg, range, value, reads) => {
    globals.set(arg.key, { name: arg.key, description: arg.comment, value: value ?? '', range, reads: arg.value !== undefined && !Object.hasOwn(options.buildArgs ?? {}, arg.key) ? reads : [] });
  });
  const globalNames = new Set([...predefinedArgs(build, target, '', {}).view().keys(), ...globals.keys()]);
  const byIndex = new Map(resolved.stages.map((stage) => [stage.index, stage]));

  const args: OutlineArg[] = [];
  const secrets: OutlineMount[] = [];
  const ssh: OutlineMount[] = [];
  const seenArgs = new Set<string>();
  const seenSecrets = new Set<string>();
  const seenSsh = new Set<string>();
  const walked = new Set<number>();
  const walk = (stage: ResolvedStage): void => {
    if (walked.has(stage.index)) return;
    walked.add(stage.index);
    const outline = stageOutline(dockerfile, stage, globalNames, options);
    const used = new Set<string>();
    const markUsed = (name: string): void => {
      if (used.has(name)) return;
      used.add(name);
      if (!outline.own.has(name)) for (const read of globals.get(name)?.reads ?? []) markUsed(read);
    };
    for (const name of outline.used) markUsed(name);
    for (const name of used) {
      const info = outline.own.get(name) ?? globals.get(name);
      if (info === undefined || seenArgs.has(name)) continue;
      seenArgs.add(name);
      args.push({ name: info.name, description: info.description, value: info.value, range: info.range });
    }
    firstOfEach(outline.secrets, seenSecrets, secrets);
    firstOfEach(outline.ssh, seenSsh, ssh);
    // Its base stage first, then the stages it copies or mounts from.
    const base = stage.base.kind === 'stage' ? [stage.base.stage] : [];
    for (const index of [...base, ...stage.dependencies]) {
      const next = byIndex.get(index);
      if (next !== undefined) walk(next);
    }
  };
  const targetStage = byIndex.get(resolved.target);
  if (targetStage !== undefined) walk(targetStage);
  const raw = dockerfile.stages[resolved.target];
  return {
    name: targetStage?.name ?? '',
    description: raw?.comment ?? '',
    args: byLine(args),
    secrets: byLine(secrets),
    ssh: byLine(ssh),
  };
}

function stageOutline(dockerfile: RawDockerfile, stage: ResolvedStage, globalNames: ReadonlySet<string>, options: ResolveOptions): StageOutline {
  const outline: StageOutline = { used: new Set(stage.fromArgs), own: new Map(), secrets: new Map(), ssh: new Map() };
  const rawInstructions = dockerfile.stages[stage.index]?.instructions ?? [];
  const buildArgs = options.buildArgs ?? {};
  for (const instruction of stage.instructions) {
    if (instruction.kind === 'ARG') {
      // The comments stay on the parsed instruction (an ONBUILD trigger's ARG has none).
      const raw = rawInstructions.find((candidate) => candidate.kind === 'ARG' && sameStart(candidate.range, instruction.range));
      instruction.args.forEach((arg, position) => {
        outline.used.add(arg.key);
        const inherited = arg.written === undefined && !Object.hasOwn(buildArgs, arg.key) && globalNames.has(arg.key);
        if (inherited) return;
        // The comment that names the ARG as written (its name may have been expanded since).
        const comment = raw?.kind === 'ARG' ? (raw.args[position]?.comment ?? '') : '';
        outline.own.set(arg.key, { name: arg.key, description: comment, value: arg.value ?? '', range: instruction.range });
      });
    } else if (instruction.kind === 'RUN') {
      for (const mount of instruction.mounts) {
        if (mount.type === 'secret') {
          const id = secretMountId(mount);
          if (id !== undefined && !outline.secrets.has(id)) outline.secrets.set(id, { name: id, required: mount.required, range: instruction.range });
        } else if (mount.type === 'ssh') {
          const id = mount.cacheId ?? 'default';
          if (!outline.ssh.has(id)) outline.ssh.set(id, { name: id, required: mount.required, range: instruction.range });
        }
      }
    }
  }
  return outline;
}

function firstOfEach(mounts: ReadonlyMap<string, OutlineMount>, seen: Set<string>, into: OutlineMount[]): void {
  for (const [id, mount] of mounts) {
    if (seen.has(id)) continue;
    seen.add(id);
    into.push(mount);
  }
}

function sameStart(a: SourceRange, b: SourceRange): boolean {
  return a.start.line === b.start.line && a.start.column === b.start.column;
}

/** By first line; of one line, in the order met. */
function byLine<T extends { readonly range: SourceRange }>(items: readonly T[]): T[] {
  return items.map((item, order) => ({ item, order })).sort((a, b) => a.item.range.start.line - b.item.range.start.line || a.order - b.order).map(({ item }) => item);
}
