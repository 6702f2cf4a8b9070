/**
 * Numbers the build's steps as they are first reported (`#N`) and turns what a step does into
 * events; the CLI renders them. A step may be held: what it does is kept, with its times, until
 * it is shown, and it is numbered then (BuildKit numbers a step when it first prints it, so a
 * step that ran early may come after one that finished first).
 */
import type { SourceRange } from '../common/index.js';
import type { BuildEvent, BuildEventListener, StepRef } from './events.js';

export class StepReporter {
  private next = 1;

  constructor(private readonly listener: BuildEventListener | undefined) {}

  emit(event: BuildEvent): void {
    this.listener?.(event);
  }

  /** A step, numbered when it is first reported (a step waiting for another stage has no number yet). */
  step(name: string, range?: SourceRange): StepHandle {
    return new StepHandle(() => ({ number: this.next++, name, ...(range === undefined ? {} : { range }) }), this);
  }

  warn(message: string): void {
    this.emit({ kind: 'warning', message, time: Date.now() });
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

export class StepHandle {
  private started = 0;
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

  log(stream: 'stdout' | 'stderr', data: Buffer): void {
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
