/**
 * Numbers the build's steps as they are first reported (`#N`) and turns what a step does into
 * events; the CLI renders them.
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

export class StepHandle {
  private started = 0;
  private ended = false;
  /** The last bytes of output, for the error message of a failed step. */
  private tail: Buffer[] = [];
  private tailBytes = 0;

  private numbered: StepRef | undefined;

  constructor(
    private readonly number: () => StepRef,
    private readonly reporter: StepReporter,
  ) {}

  get ref(): StepRef {
    this.numbered ??= this.number();
    return this.numbered;
  }

  start(): this {
    this.started = Date.now();
    this.reporter.emit({ kind: 'step', step: this.ref, phase: 'start', time: this.started });
    return this;
  }

  cached(): void {
    if (this.started === 0) this.start();
    this.ended = true;
    this.reporter.emit({ kind: 'step', step: this.ref, phase: 'cached', time: Date.now() });
  }

  done(): void {
    if (this.ended) return;
    if (this.started === 0) this.start();
    this.ended = true;
    const time = Date.now();
    this.reporter.emit({ kind: 'step', step: this.ref, phase: 'done', time, duration: time - this.started });
  }

  fail(message: string): void {
    if (this.ended) return;
    if (this.started === 0) this.start();
    this.ended = true;
    const time = Date.now();
    this.reporter.emit({ kind: 'step', step: this.ref, phase: 'error', time, duration: time - this.started, message });
  }

  log(stream: 'stdout' | 'stderr', data: Buffer): void {
    this.tail.push(data);
    this.tailBytes += data.length;
    while (this.tailBytes > 16 * 1024 && this.tail.length > 1) this.tailBytes -= this.tail.shift()?.length ?? 0;
    this.reporter.emit({ kind: 'log', step: this.ref, stream, data, time: Date.now() });
  }

  status(id: string, text: string, done: boolean, progress?: { current: number; total?: number }): void {
    this.reporter.emit({
      kind: 'status',
      step: this.ref,
      id,
      text,
      done,
      time: Date.now(),
      ...(progress === undefined ? {} : { current: progress.current, ...(progress.total === undefined ? {} : { total: progress.total }) }),
    });
  }

  /** The last lines of the step's output. */
  outputTail(lines = 10): string[] {
    const text = Buffer.concat(this.tail).toString('utf8');
    return text.split('\n').filter((line, i, all) => line !== '' || i < all.length - 1).slice(-lines);
  }
}
