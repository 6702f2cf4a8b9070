/**
 * What a build tells the outside while it runs. The executor never prints: it emits these, and
 * the CLI renders them (tty, plain as BuildKit prints, rawjson, quiet). Steps are numbered in the
 * order they start being shown (`#N` in BuildKit's plain output).
 */
import type { SourceRange } from '../common/index.js';
import type { LintWarning } from '../planner/index.js';

export interface StepRef {
  /** `#N`: 1-based, in the order steps were first reported. */
  readonly number: number;
  /** What BuildKit prints after `#N`: `[build 2/4] RUN make`, `[internal] load build context`. */
  readonly name: string;
  /** The instruction's place in the Dockerfile, when the step comes from one. */
  readonly range?: SourceRange;
}

/** `time` is in milliseconds on one clock (the renderers use only differences); `duration` is in milliseconds. */
export type BuildEvent =
  | { readonly kind: 'step'; readonly step: StepRef; readonly phase: 'start'; readonly time: number }
  /** The step's result came from the cache; nothing ran. */
  | { readonly kind: 'step'; readonly step: StepRef; readonly phase: 'cached'; readonly time: number }
  | { readonly kind: 'step'; readonly step: StepRef; readonly phase: 'done'; readonly time: number; readonly duration: number }
  | { readonly kind: 'step'; readonly step: StepRef; readonly phase: 'error'; readonly time: number; readonly duration: number; readonly message: string }
  /** The step was stopped because another one failed (BuildKit's CANCELED). */
  | { readonly kind: 'step'; readonly step: StepRef; readonly phase: 'canceled'; readonly time: number; readonly duration: number }
  /** Output of a running step (RUN's stdout and stderr); `data` is raw bytes. */
  | { readonly kind: 'log'; readonly step: StepRef; readonly stream: 'stdout' | 'stderr'; readonly data: Uint8Array; readonly time: number }
  /**
   * A short status line of a step: `transferring context: 2.1MB`, `sha256:… 1.2MB / 3.4MB`, `writing image sha256:… done`.
   * `id` names the status among its step's (its updates share it); `text` is the label only, as
   * BuildKit's status ID (`transferring context:`, `sha256:…`, `writing image sha256:…`): the
   * renderers append `current`/`total` (bytes), the time since the status first appeared, and `done`.
   */
  | { readonly kind: 'status'; readonly step: StepRef; readonly id: string; readonly text: string; readonly current?: number; readonly total?: number; readonly done: boolean; readonly time: number }
  /**
   * A warning not tied to a step (an unused build arg, a build check): `message` is the line
   * listed after the build; a build check's rule also gives its description, link and place.
   */
  | { readonly kind: 'warning'; readonly message: string; readonly time: number; readonly check?: LintWarning };

export type BuildEventListener = (event: BuildEvent) => void;
