/**
 * The steps BuildKit shows of a Dockerfile's base images and build context, and when.
 *
 * BuildKit makes one step (an LLB vertex) of every FROM of the same image: a definition's
 * equal vertices are one, named as the last of them its marshalling visits. That walk starts
 * at the target and visits each step's inputs, in order, before the step: a stage's base
 * first, then, instruction by instruction, the stages an instruction reads from.
 *
 * Its plain progress numbers a step when it first prints it, and prints a step once it has
 * finished. A FROM finishes as soon as its image is resolved (`DONE`) when nothing runs on top
 * of it, and is printed before the build context, which is sent meanwhile; when a step on top
 * of it runs, the FROM is loaded for it (`CACHED`) once that step knows it must run: after the
 * build context when the step reads it. The executor holds these steps (StepHandle.hold): a
 * FROM until the first step on top of it decides between the cache and a run, the context until
 * the first step of the build decides (`announcer`).
 *
 * What it leaves to timing is not followed: a FROM BuildKit loads early because a step further
 * on cannot hit the cache, the order of steps that finish together.
 */
import type { ResolvedInstruction, ResolvedStage } from '../planner/index.js';
import { contextSources } from './copy-op.js';
import type { StepHandle } from './progress.js';

/**
 * For each base image (by KEY, none for a stage without one), the stage whose FROM step names
 * the one step BuildKit shows for all the stages from that image: the last one visited.
 */
export function fromStepOwners(stages: ReadonlyMap<number, ResolvedStage>, target: number, key: (stage: ResolvedStage) => string | undefined): Map<string, number> {
  const owners = new Map<string, number>();
  const visited = new Set<number>();
  // A depth-first walk (the base, then the stage itself, then the stages it reads) on a stack of
  // its own: a chain of thousands of stages is deeper than the call stack.
  const walk: { readonly stage: ResolvedStage; reads: readonly number[] | undefined; next: number }[] = [];
  const enter = (index: number): void => {
    if (visited.has(index)) return;
    visited.add(index);
    const stage = stages.get(index);
    if (stage !== undefined) walk.push({ stage, reads: undefined, next: 0 });
  };
  enter(target);
  for (let frame = walk.at(-1); frame !== undefined; frame = walk.at(-1)) {
    if (frame.reads === undefined) {
      frame.reads = frame.stage.instructions.flatMap(stagesRead);
      if (frame.stage.base.kind === 'stage') {
        enter(frame.stage.base.stage);
        continue;
      }
    }
    if (frame.next === 0) {
      const own = key(frame.stage);
      if (own !== undefined) owners.set(own, frame.stage.index);
    }
    const read = frame.reads[frame.next++];
    if (read === undefined) walk.pop();
    else enter(read);
  }
  return owners;
}

function stagesRead(instruction: ResolvedInstruction): number[] {
  if ((instruction.kind === 'COPY' || instruction.kind === 'ADD') && instruction.from?.kind === 'stage') return [instruction.from.stage];
  if (instruction.kind === 'RUN') return instruction.mounts.flatMap((mount) => (mount.fromRef?.kind === 'stage' ? [mount.fromRef.stage] : []));
  return [];
}

/** Whether INSTRUCTION reads the build context (a COPY or ADD of its files, a RUN's bind mount of it). */
export function readsContext(instruction: ResolvedInstruction): boolean {
  if (instruction.kind === 'COPY' || instruction.kind === 'ADD') return contextSources(instruction).length > 0;
  if (instruction.kind === 'RUN') return instruction.mounts.some((mount) => mount.type === 'bind' && mount.fromRef === undefined);
  return false;
}

/**
 * What a step decided: its result comes from the cache (`hit`), it runs (`run`), or it failed
 * before either (BuildKit had loaded what it stood on to look into it).
 */
export type StepDecision = 'hit' | 'run' | 'failed';

/**
 * Shows a held FROM step: `DONE` when the step on top of it hit the cache (only the FROM's key
 * was needed), else `CACHED` (its image was loaded for that step). Shown once, by the first step
 * that decides.
 */
export function showFrom(step: StepHandle | undefined, decision: StepDecision): void {
  if (step === undefined || step.shown) return;
  if (decision === 'hit') step.done();
  else step.cached();
  step.show();
}

/**
 * What a step announces when it decides: the FROM below it, still held, and the build context's
 * step, which BuildKit has loaded by then. A step that reads the context and runs needed all of
 * it first (the context, then the FROM loaded for it); otherwise the FROM is done, or loaded, as
 * soon as its key is known, before the context has arrived.
 */
export function announcer(from: () => StepHandle | undefined, readsContext: boolean, showContext: () => void): (decision: StepDecision) => void {
  return (decision) => {
    if (decision === 'run' && readsContext) showContext();
    showFrom(from(), decision);
    showContext();
  };
}
