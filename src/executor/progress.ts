/**
 * Numbers the build's steps as they are first reported (`#N`) and turns what a step does into
 * events; the CLI renders them. A step may be held: what it does is kept, with its times, until
 * it is shown, and it is numbered then (BuildKit numbers a step when it first prints it, so a
 * step that ran early may come after one that finished first).
 */
import type { SourceRange } from '../common/index.js';
import { lintWarningShort, type LintWarning } from '../planner/index.js';
import type { BuildEvent, BuildEventListener, StepRef } from './events.js';

export class StepReporter {
  private next = 1;
  /** Warnings said: a build of several platforms resolves the Dockerfile for each, and says each once. */
  private readonly warned = new Set<string>();

  constructor(private readonly listener: BuildEventListener | undefined) {}

  emit(event: BuildEvent): void {
    this.listener?.(event);
  }

  /** A step, numbered when it is first reported (a step waiting for another stage has no number yet). */
  step(name: string, range?: SourceRange): StepHandle {
    return new StepHandle(() => ({ number: this.next++, name, ...(range === undefined ? {} : { range }) }), this);
  }

  warn(message: string): void {
    if (this.firstTime(message)) this.emit({ kind: 'warning', message, time: Date.now() });
  }

  /** A build check's warning (src/planner/lint.ts). */
  lint(warning: LintWarning): void {
    const message = lintWarningShort(warning);
    if (this.firstTime(message)) this.emit({ kind: 'warning', message, time: Date.now(), check: warning });
  }

  private firstTime(message: string): boolean {
    if (this.warned.has(message)) return false;
    this.warned.add(message);
    return true;
  }
}

/**
 * Thrown where a step stops, or does not start, because another step of the build failed: as
 * BuildKit cancels what still runs once one step fails, and starts nothing more.
 */
export class StepCanceled extends Error {
  constructor() {
    super('canceled: another step of the build failed');
  }
}

/** What one stream of a step may print, as BuildKit's defaults (BUILDKIT_STEP_LOG_MAX_SIZE, _MAX_SPEED). */
export const stepLogMaxBytes = 2 * 1024 * 1024;
export const stepLogMaxBytesPerSecond = 200 * 1024;

/**
 * BuildKit's clipping of what a step prints, for one stream: 2 MiB in all, and no more than 200
 * KiB for each second (begun) since the stream was opened, every byte offered counted. What
 * passes a limit is dropped and said once where it begins (`[output clipped, log limit 2MiB
 * reached]`, or `200KiB/s`); the speed's clipping ends when a whole write fits again. So a step
 * that prints without end shows a bounded part of it, and nothing holds the rest (a step held
 * back, the plain printer's output waiting behind another step's) in memory.
 */
export class StepLogLimit {
  private size = 0;
  private clipping = false;

  /** OPENED: when the stream was opened (the step started), in NOW's milliseconds. */
  constructor(
    private readonly opened: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** What of DATA may be shown now: DATA, a part of it, or nothing, with the clipping message where clipping begins. */
  take(data: Buffer): Buffer {
    const before = this.size;
    this.size += data.length;
    const seconds = Math.max(1, Math.ceil((this.now() - this.opened) / 1000));
    const bySpeed = seconds * stepLogMaxBytesPerSecond < stepLogMaxBytes;
    const allowed = bySpeed ? seconds * stepLogMaxBytesPerSecond : stepLogMaxBytes;
    const kept = allowed < before ? 0 : Math.min(data.length, allowed - before);
    if (kept === data.length) {
      this.clipping = false;
      return data;
    }
    const part = data.subarray(0, kept);
    if (this.clipping) return part;
    this.clipping = true;
    const limit = bySpeed ? `${stepLogMaxBytesPerSecond / 1024}KiB/s` : `${stepLogMaxBytes / 1024 / 1024}MiB`;
    return Buffer.concat([part, Buffer.from(`\n[output clipped, log limit ${limit} reached]\n`)]);
  }
}

export class StepHandle {
  private started = 0;
  /** BuildKit's clipping of each stream, counted from the step's start. */
  private readonly limits = new Map<'stdout' | 'stderr', StepLogLimit>();
  private ended = false;
  /** The last bytes of output, for the error message of a failed step. */
  private tail: Buffer[] = [];
  private tailBytes = 0;

  private numbered: StepRef | undefined;
  /** The events of a held step, made when it is shown. */
  private held: (() => BuildEvent)[] | undefined;

  constructor(
    private readonly number: () => StepRef,
    private readonly reporter: StepReporter,
  ) {}

  get ref(): StepRef {
    this.numbered ??= this.number();
    return this.numbered;
  }

  /** Keeps what the step does from being reported (and the step from being numbered) until show(). */
  hold(): this {
    this.held ??= [];
    return this;
  }

  /** Reports what a held step has done so far, and from now on as it happens. */
  show(): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    for (const event of held) this.reporter.emit(event());
  }

  get shown(): boolean {
    return this.held === undefined;
  }

  /** Whether the step has started its own work (or ended: cached, done, failed). */
  get began(): boolean {
    return this.started !== 0;
  }

  private send(event: () => BuildEvent): void {
    if (this.held === undefined) this.reporter.emit(event());
    else this.held.push(event);
  }

  start(): this {
    const time = Date.now();
    this.started = time;
    this.send(() => ({ kind: 'step', step: this.ref, phase: 'start', time }));
    return this;
  }

  cached(): void {
    if (this.started === 0) this.start();
    this.ended = true;
    const time = Date.now();
    this.send(() => ({ kind: 'step', step: this.ref, phase: 'cached', time }));
  }

  done(): void {
    this.end((time, duration) => ({ kind: 'step', step: this.ref, phase: 'done', time, duration }));
  }

  fail(message: string): void {
    this.end((time, duration) => ({ kind: 'step', step: this.ref, phase: 'error', time, duration, message }));
  }

  cancel(): void {
    this.end((time, duration) => ({ kind: 'step', step: this.ref, phase: 'canceled', time, duration }));
  }

  /** Ends the step once (started first if it was not), with the event EVENT makes of its end and duration. */
  private end(event: (time: number, duration: number) => BuildEvent): void {
    if (this.ended) return;
    if (this.started === 0) this.start();
    this.ended = true;
    const time = Date.now();
    const duration = time - this.started;
    this.send(() => event(time, duration));
  }

  log(stream: 'stdout' | 'stderr', output: Buffer): void {
    let limit = this.limits.get(stream);
    if (limit === undefined) {
      limit = new StepLogLimit(this.started === 0 ? Date.now() : this.started);
      this.limits.set(stream, limit);
    }
    const data = limit.take(output);
    if (data.length === 0) return;
    this.tail.push(data);
    this.tailBytes += data.length;
    while (this.tailBytes > 16 * 1024 && this.tail.length > 1) this.tailBytes -= this.tail.shift()?.length ?? 0;
    const time = Date.now();
    this.send(() => ({ kind: 'log', step: this.ref, stream, data, time }));
  }

  status(id: string, text: string, done: boolean, progress?: { current: number; total?: number }): void {
    const time = Date.now();
    this.send(() => ({
      kind: 'status',
      step: this.ref,
      id,
      text,
      done,
      time,
      ...(progress === undefined ? {} : { current: progress.current, ...(progress.total === undefined ? {} : { total: progress.total }) }),
    }));
  }

  /** The last lines of the step's output. */
  outputTail(lines = 10): string[] {
    const text = Buffer.concat(this.tail).toString('utf8');
    return text.split('\n').filter((line, i, all) => line !== '' || i < all.length - 1).slice(-lines);
  }
}
