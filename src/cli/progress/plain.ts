/**
 * BuildKit's plain progress (`--progress=plain`), line for line:
 *
 *     #5 [build 2/4] RUN make
 *     #5 0.123 cc -o app main.c
 *     #5 DONE 1.2s
 *
 *     #6 [build 3/4] COPY . .
 *     #6 CACHED
 *
 * One step holds the output at a time. Output of other steps waits until the holder finishes,
 * has held it for 5 s, or the waiting output is 10 s old (BuildKit's anti-flicker rule); a
 * switch prints `#N ...` for the step left and the header again for the step taken. A blank
 * line separates the blocks. Log lines are printed whole, prefixed by the seconds since their
 * step started; status lines (`#3 sha256:… 1.05MB / 3.22MB 0.2s`) are thinned as BuildKit does
 * (a new line for 5 % more or 5 s later, always the last). At the end, the last lines of every
 * failed step and the warnings.
 */
import { formatBuildkitBytes, formatSeconds, logTimestamp } from './format.js';
import { LineSplitter } from './lines.js';
import { drained, EventClock, type BuildEvent, type Progress, type ProgressIo, type ProgressOptions, type StepRef } from './renderer.js';

/** A switch is due when the holder has had the output this long… */
const antiFlicker = 5000;
/** …or when output has waited this long. */
const maxDelay = 10_000;
const minTimeDelta = 5000;
const minProgressDelta = 0.05;
/** Lines of a failed step shown again at the end. */
const errorLogLines = 10;

interface StatusState {
  readonly started: number;
  printed?: { readonly current: number; readonly time: number };
}

interface StepState {
  readonly ref: StepRef;
  started?: number;
  completed: boolean;
  error?: string;
  readonly output: LineSplitter;
  /** Lines (without `#N `) that wait for the step to hold the output. */
  pending: string[];
  /** When the oldest waiting update arrived; undefined when nothing waits. */
  waitingSince?: number;
  readonly lastLines: string[];
  readonly statuses: Map<string, StatusState>;
}

export class PlainProgress implements Progress {
  private readonly steps = new Map<number, StepState>();
  private current: StepState | undefined;
  private currentSince = 0;
  private notFirst = false;
  private readonly warnings: string[] = [];
  private readonly clock: EventClock;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly io: ProgressIo,
    options: ProgressOptions = {},
  ) {
    this.clock = new EventClock(options.now ?? Date.now);
  }

  onEvent(event: BuildEvent): void {
    this.clock.see(event.time);
    if (event.kind === 'warning') {
      this.warnings.push(event.message);
      return;
    }
    const step = this.stepOf(event.step);
    if (event.kind === 'log') {
      const lines = step.output.push(event.data, event.time).map((line) => this.logLine(step, line.text, line.time));
      if (lines.length > 0) this.update(step, lines, event.time);
    } else if (event.kind === 'status') {
      const line = this.statusLine(step, event);
      if (line !== undefined) this.update(step, [line], event.time);
    } else if (event.phase === 'start') {
      step.started ??= event.time;
      this.update(step, [], event.time);
    } else {
      if (event.phase !== 'cached') step.started ??= event.time - event.duration;
      this.complete(step, event.phase === 'cached' ? 'CACHED' : event.phase === 'done' ? `DONE ${formatSeconds(event.duration)}` : event.phase === 'canceled' ? 'CANCELED' : `ERROR: ${event.message}`, event.time);
      if (event.phase === 'error') step.error = event.message;
    }
  }

  async finish(): Promise<void> {
    this.stopTimer();
    for (const step of this.steps.values()) {
      const rest = step.output.flush();
      if (rest !== undefined) this.update(step, [this.logLine(step, rest.text, rest.time)], rest.time);
    }
    for (let waiting = this.oldestWaiting(); waiting !== undefined; waiting = this.oldestWaiting()) this.show(waiting, [], this.currentSince);
    for (const step of this.steps.values()) {
      if (step.error === undefined) continue;
      this.write(['------', ` > ${step.ref.name}:`, ...step.lastLines, '------']);
    }
    if (this.warnings.length > 0) {
      const count = this.warnings.length === 1 ? '1 warning found' : `${this.warnings.length} warnings found`;
      this.io.stderr.write(`\n ${count}:\n${this.warnings.map((warning) => ` - ${warning}\n`).join('')}`);
    }
    await drained(this.io.stderr);
  }

  private stepOf(ref: StepRef): StepState {
    let step = this.steps.get(ref.number);
    if (step === undefined) {
      step = { ref, completed: false, output: new LineSplitter(), pending: [], lastLines: [], statuses: new Map() };
      this.steps.set(ref.number, step);
    }
    return step;
  }

  private logLine(step: StepState, text: string, time: number): string {
    const line = `${logTimestamp(step.started === undefined ? 0 : time - step.started)} ${text}`;
    step.lastLines.push(line);
    if (step.lastLines.length > errorLogLines) step.lastLines.shift();
    return line;
  }

  private statusLine(step: StepState, event: Extract<BuildEvent, { kind: 'status' }>): string | undefined {
    let status = step.statuses.get(event.id);
    if (status === undefined) {
      status = { started: event.time };
      step.statuses.set(event.id, status);
    }
    const current = event.current ?? 0;
    const total = event.total ?? 0;
    const last = status.printed;
    if (last !== undefined && !event.done) {
      const progressDelta = total > 0 ? (current - last.current) / total : 0;
      if (progressDelta < minProgressDelta && event.time - last.time < minTimeDelta) return undefined;
    }
    status.printed = { current, time: event.time };
    const bytes = total !== 0 ? ` ${formatBuildkitBytes(current)} / ${formatBuildkitBytes(total)}` : current !== 0 ? ` ${formatBuildkitBytes(current)}` : '';
    const elapsed = event.time - status.started;
    return `${event.text}${bytes}${elapsed > 10 ? ` ${formatSeconds(elapsed)}` : ''}${event.done ? ' done' : ''}`;
  }

  /** Shows LINES of STEP now if it may hold the output, else keeps them for its turn. */
  private update(step: StepState, lines: readonly string[], time: number): void {
    if (this.current === undefined || this.current === step) {
      this.show(step, lines, time);
    } else {
      step.pending.push(...lines);
      step.waitingSince ??= time;
    }
    this.switchIfDue(time);
    if (this.oldestWaiting() !== undefined) this.startTimer();
  }

  private complete(step: StepState, result: string, time: number): void {
    const rest = step.output.flush();
    const lines = rest === undefined ? [] : [this.logLine(step, rest.text, rest.time)];
    this.show(step, [...lines, result], time);
    step.completed = true;
    this.current = undefined;
    // As BuildKit: waiting output first, else an unfinished step takes the output back.
    const next = this.oldestWaiting() ?? [...this.steps.values()].find((other) => other.started !== undefined && !other.completed);
    if (next !== undefined) this.show(next, [], time);
    if (this.oldestWaiting() === undefined) this.stopTimer();
  }

  private show(step: StepState, lines: readonly string[], time: number): void {
    const out: string[] = [];
    if (this.current !== step) {
      if (this.current !== undefined) out.push(`#${this.current.ref.number} ...`);
      if (this.notFirst) out.push('');
      this.notFirst = true;
      out.push(`#${step.ref.number} ${step.ref.name}`);
      this.current = step;
      this.currentSince = time;
    }
    const number = step.ref.number;
    for (const line of [...step.pending, ...lines]) out.push(`#${number} ${line}`);
    step.pending = [];
    step.waitingSince = undefined;
    this.write(out);
  }

  private oldestWaiting(): StepState | undefined {
    let oldest: StepState | undefined;
    for (const step of this.steps.values()) {
      if (step.waitingSince !== undefined && (oldest?.waitingSince === undefined || step.waitingSince < oldest.waitingSince)) oldest = step;
    }
    return oldest;
  }

  private switchIfDue(time: number): void {
    const waiting = this.oldestWaiting();
    if (waiting?.waitingSince === undefined || this.current === undefined) return;
    if (time - this.currentSince >= antiFlicker || time - waiting.waitingSince >= maxDelay) this.show(waiting, [], time);
  }

  /** While output waits behind a step that went quiet, the clock alone may make a switch due. */
  private startTimer(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      const now = this.clock.now();
      if (now !== undefined) this.switchIfDue(now);
      if (this.oldestWaiting() === undefined) this.stopTimer();
    }, 1000);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private write(lines: readonly string[]): void {
    if (lines.length > 0) this.io.stderr.write(`${lines.join('\n')}\n`);
  }
}
