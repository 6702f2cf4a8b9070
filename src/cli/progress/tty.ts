/**
 * BuildKit's terminal view (`--progress=tty`): a block redrawn in place,
 *
 *     [+] Building 3.2s (5/9)
 *      => [internal] load build definition from Dockerfile           0.0s
 *      => CACHED [build 2/4] COPY go.mod .                             0.0s
 *      => [build 3/4] RUN make                                         1.2s
 *      => => # cc -o app main.c
 *
 * with the last 6 lines of output under each running step, finished steps in blue and failed
 * ones in red (none with NO_COLOR). Redrawn at most every 100 ms, and every 150 ms while a step
 * runs so its timer moves; the block is cut to the terminal's height, finished steps going
 * first. finish() draws the final state once, whole, then the output of failed steps and the
 * warnings, as BuildKit does.
 */
import { formatBuildkitBytes, goFixed } from './format.js';
import { LineSplitter } from './lines.js';
import { drained, EventClock, type BuildEvent, type Progress, type ProgressIo, type ProgressOptions, type StepRef } from './renderer.js';

const minRedrawInterval = 100;
const tickInterval = 150;
/** Lines of a running step's output shown under it. */
const tailLines = 6;
/** Lines of a failed step kept for the summary at the end. */
const errorLogLines = 200;
/** Columns the output lines give up to the ` => => # ` prefix and the margin, as BuildKit's termPad. */
const outputPad = 10;

const ansi = {
  up: (lines: number): string => `\x1b[${lines}F`,
  clearLine: '\x1b[K',
  clearBelow: '\x1b[J',
  hideCursor: '\x1b[?25l',
  showCursor: '\x1b[?25h',
  blue: '\x1b[34m',
  red: '\x1b[31m',
  yellow: '\x1b[33m',
  faint: '\x1b[2m',
  reset: '\x1b[0m',
};

type StepResult = 'running' | 'cached' | 'done' | 'error' | 'canceled';

interface StatusRow {
  text: string;
  current: number;
  total: number;
  readonly started: number;
  ended?: number;
}

interface StepState {
  readonly ref: StepRef;
  started: number;
  result: StepResult;
  duration?: number;
  error?: string;
  readonly output: LineSplitter;
  /** Last complete lines, for the view while running. */
  readonly tail: string[];
  /** Last lines with their timestamps, for the summary of a failed step. */
  readonly log: string[];
  readonly statuses: Map<string, StatusRow>;
}

interface Row {
  readonly text: string;
  /** Right-aligned: the timer. */
  readonly timer?: string;
  readonly color?: string;
  /** Rows of a finished step give way first when the terminal is too short. */
  readonly finished: boolean;
}

/** Printable text on one terminal line: control characters (colours, cursor moves, \r) stripped. */
function printable(text: string): string {
  const afterReturn = text.slice(text.lastIndexOf('\r') + 1);
  return afterReturn.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]/g, '').replace(/\t/g, ' ');
}

function truncate(text: string, width: number): string {
  const characters = Array.from(text);
  return characters.length <= width ? text : characters.slice(0, Math.max(0, width)).join('');
}

export class TtyProgress implements Progress {
  private readonly steps = new Map<number, StepState>();
  private readonly warnings: string[] = [];
  private readonly clock: EventClock;
  private readonly color: boolean;
  private firstTime: number | undefined;
  /** The latest event time: the view never shows a time before what already happened. */
  private latestTime = Number.NEGATIVE_INFINITY;
  private drawnLines = 0;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private drawTimer: NodeJS.Timeout | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private finished = false;
  private readonly wall: () => number;

  constructor(
    private readonly io: ProgressIo,
    options: ProgressOptions = {},
  ) {
    this.wall = options.now ?? Date.now;
    this.clock = new EventClock(this.wall);
    const env = options.env ?? process.env;
    this.color = env.NO_COLOR === undefined || env.NO_COLOR === '';
  }

  onEvent(event: BuildEvent): void {
    if (this.finished) return;
    this.clock.see(event.time);
    this.firstTime ??= event.time;
    this.latestTime = Math.max(this.latestTime, event.time);
    if (event.kind === 'warning') {
      this.warnings.push(event.message);
    } else {
      const step = this.stepOf(event.step, event.time);
      if (event.kind === 'log') this.addOutput(step, event.data, event.time);
      else if (event.kind === 'status') this.setStatus(step, event);
      else if (event.phase === 'start') step.result = 'running';
      else {
        const rest = step.output.flush();
        if (rest !== undefined) this.addLine(step, rest.text, rest.time);
        step.result = event.phase;
        step.duration = event.phase === 'cached' ? 0 : event.duration;
        if (event.phase === 'error') step.error = event.message;
      }
    }
    this.scheduleDraw();
    this.startTicker();
  }

  async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    if (this.drawTimer !== undefined) clearTimeout(this.drawTimer);
    if (this.ticker !== undefined) clearInterval(this.ticker);
    this.drawTimer = undefined;
    this.ticker = undefined;
    if (this.steps.size > 0 || this.warnings.length > 0) {
      this.draw(true);
      const out: string[] = [];
      for (const step of this.steps.values()) {
        if (step.result !== 'error') continue;
        out.push('------', ` > ${step.ref.name}:`, ...step.log, '------');
      }
      if (this.warnings.length > 0) {
        const count = this.warnings.length === 1 ? '1 warning found' : `${this.warnings.length} warnings found`;
        out.push('', ` ${this.paint(`${count}:`, ansi.yellow)}`, ...this.warnings.map((warning) => ` - ${warning}`));
      }
      if (out.length > 0) this.io.stderr.write(`${out.join('\n')}\n`);
    }
    await drained(this.io.stderr);
  }

  private stepOf(ref: StepRef, time: number): StepState {
    let step = this.steps.get(ref.number);
    if (step === undefined) {
      step = { ref, started: time, result: 'running', output: new LineSplitter(), tail: [], log: [], statuses: new Map() };
      this.steps.set(ref.number, step);
    }
    return step;
  }

  private addOutput(step: StepState, data: Uint8Array, time: number): void {
    for (const line of step.output.push(data, time)) this.addLine(step, line.text, line.time);
  }

  private addLine(step: StepState, text: string, time: number): void {
    step.tail.push(text);
    if (step.tail.length > tailLines) step.tail.shift();
    const seconds = Math.max(0, time - step.started) / 1000;
    step.log.push(`${goFixed(seconds, seconds < 10 ? 3 : seconds < 100 ? 2 : 1)} ${text}`);
    if (step.log.length > errorLogLines) step.log.shift();
  }

  private setStatus(step: StepState, event: Extract<BuildEvent, { kind: 'status' }>): void {
    let row = step.statuses.get(event.id);
    if (row === undefined) {
      row = { text: event.text, current: 0, total: 0, started: event.time };
      step.statuses.set(event.id, row);
    }
    row.text = event.text;
    row.current = event.current ?? 0;
    row.total = event.total ?? 0;
    if (event.done) row.ended = event.time;
  }

  private scheduleDraw(): void {
    if (this.drawTimer !== undefined) return;
    const wait = minRedrawInterval - (this.wall() - this.lastDraw);
    if (wait <= 0) {
      this.draw(false);
      return;
    }
    this.drawTimer = setTimeout(() => {
      this.drawTimer = undefined;
      this.draw(false);
    }, wait);
    this.drawTimer.unref();
  }

  /** Running steps' timers move even when no event comes. */
  private startTicker(): void {
    if (this.ticker !== undefined) return;
    this.ticker = setInterval(() => {
      if (![...this.steps.values()].some((step) => step.result === 'running')) return;
      if (this.wall() - this.lastDraw >= minRedrawInterval) this.draw(false);
    }, tickInterval);
    this.ticker.unref();
  }

  private draw(final: boolean): void {
    this.lastDraw = this.wall();
    // A terminal that does not say its size (0, as a pty nobody sized) gets the usual 80×24.
    const size = this.io.stderr as { columns?: number; rows?: number };
    const width = Math.max(20, size.columns !== undefined && size.columns > 0 ? size.columns : 80);
    const height = size.rows !== undefined && size.rows > 0 ? size.rows : 24;
    const now = Math.max(this.clock.now() ?? 0, this.latestTime);
    let rows = this.rows(now, final, width);
    if (!final) rows = fitHeight(rows, Math.max(1, height - 2));
    const completed = [...this.steps.values()].filter((step) => step.result !== 'running').length;
    const total = this.steps.size;
    const elapsed = goFixed(Math.max(0, now - (this.firstTime ?? now)) / 1000, 1);
    const header = `[+] Building ${elapsed}s (${completed}/${total})${final && completed === total && total > 0 ? ' FINISHED' : ''}`;
    const lines = [truncate(header, width), ...rows.map((row) => this.layout(row, width))];
    let out = this.drawnLines > 0 ? ansi.up(this.drawnLines) : ansi.hideCursor;
    out += lines.map((line) => `${line}${ansi.clearLine}\n`).join('');
    if (lines.length < this.drawnLines) out += ansi.clearBelow;
    if (final) out += ansi.showCursor;
    this.drawnLines = lines.length;
    this.io.stderr.write(out);
  }

  private rows(now: number, final: boolean, width: number): Row[] {
    const rows: Row[] = [];
    for (const step of this.steps.values()) {
      const running = step.result === 'running';
      const prefix = step.result === 'cached' ? 'CACHED ' : step.result === 'error' ? 'ERROR ' : step.result === 'canceled' ? 'CANCELED ' : '';
      const seconds = (running ? now - step.started : (step.duration ?? 0)) / 1000;
      // BuildKit's colours: red for a failure, yellow for a step another one's failure stopped.
      const color = running ? undefined : step.result === 'error' ? ansi.red : step.result === 'canceled' ? ansi.yellow : ansi.blue;
      rows.push({ text: ` => ${prefix}${step.ref.name.replace(/\t/g, ' ')}`, timer: timer(seconds), finished: !running, ...(color === undefined ? {} : { color }) });
      for (const status of step.statuses.values()) {
        const bytes = status.total !== 0 ? ` ${formatBuildkitBytes(status.current)} / ${formatBuildkitBytes(status.total)}` : status.current !== 0 ? ` ${formatBuildkitBytes(status.current)}` : '';
        const end = status.ended ?? (running ? now : status.started);
        rows.push({ text: ` => => ${status.text}${bytes}`, timer: timer((end - status.started) / 1000), finished: !running || status.ended !== undefined, ...(status.ended === undefined ? {} : { color: ansi.blue }) });
      }
      if (running && !final) {
        for (const line of step.tail) rows.push({ text: truncate(` => => # ${printable(line)}`, width - outputPad + ' => => # '.length), color: ansi.faint, finished: false });
      }
    }
    return rows;
  }

  /** As BuildKit: the timer right-aligned two spaces after the text, the line one column short of the width. */
  private layout(row: Row, width: number): string {
    let text = row.text;
    if (row.timer !== undefined) {
      const room = width - row.timer.length - 3;
      text = `${truncate(text, room).padEnd(room)}  ${row.timer}`;
    } else {
      text = truncate(text, width - 1);
    }
    return row.color === undefined ? text : this.paint(text, row.color);
  }

  private paint(text: string, color: string): string {
    return this.color ? `${color}${text}${ansi.reset}` : text;
  }
}

/** BuildKit's `%3.1fs`, with durations under 0.05 s shown as 0. */
function timer(seconds: number): string {
  return `${goFixed(seconds < 0.05 ? 0 : seconds, 1).padStart(3)}s`;
}

/** At most LIMIT rows: finished rows from the top give way first, then the oldest rows. */
function fitHeight(rows: readonly Row[], limit: number): Row[] {
  if (rows.length <= limit) return [...rows];
  let excess = rows.length - limit;
  const kept = rows.filter((row) => {
    if (excess > 0 && row.finished) {
      excess--;
      return false;
    }
    return true;
  });
  return kept.slice(kept.length - limit);
}
