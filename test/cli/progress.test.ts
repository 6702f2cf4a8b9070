import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProgress, progressMode, type Progress } from '../../src/cli/progress/index.js';
import type { BuildEvent, StepRef } from '../../src/executor/index.js';
import { codeOf } from '../helpers/error-code.js';

/** Event times of the executor: an arbitrary clock, unrelated to the wall clock. */
const T = 5_000_000;

function step(number: number, name: string, line?: number): StepRef {
  return { number, name, ...(line === undefined ? {} : { range: { start: { line, column: 1 }, end: { line, column: 10 } } }) };
}
const start = (s: StepRef, time: number): BuildEvent => ({ kind: 'step', step: s, phase: 'start', time });
const cached = (s: StepRef, time: number): BuildEvent => ({ kind: 'step', step: s, phase: 'cached', time });
const done = (s: StepRef, time: number, duration: number): BuildEvent => ({ kind: 'step', step: s, phase: 'done', time, duration });
const failed = (s: StepRef, time: number, duration: number, message: string): BuildEvent => ({ kind: 'step', step: s, phase: 'error', time, duration, message });
const log = (s: StepRef, time: number, text: string | Uint8Array, stream: 'stdout' | 'stderr' = 'stdout'): BuildEvent => ({
  kind: 'log',
  step: s,
  stream,
  data: typeof text === 'string' ? new TextEncoder().encode(text) : text,
  time,
});
const status = (s: StepRef, time: number, id: string, text: string, fields: { current?: number; total?: number; done?: boolean } = {}): BuildEvent => ({
  kind: 'status',
  step: s,
  id,
  text,
  done: fields.done ?? false,
  time,
  ...(fields.current === undefined ? {} : { current: fields.current }),
  ...(fields.total === undefined ? {} : { total: fields.total }),
});

interface Captured {
  readonly stream: PassThrough & { columns?: number; rows?: number };
  text(): string;
  writes(): string[];
}

function capture(size?: { columns: number; rows: number }): Captured {
  const stream: PassThrough & { columns?: number; rows?: number } = new PassThrough();
  if (size !== undefined) Object.assign(stream, size);
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  return { stream, text: () => chunks.join(''), writes: () => [...chunks] };
}

async function render(mode: 'plain' | 'rawjson' | 'quiet', events: readonly BuildEvent[]): Promise<string> {
  const out = capture();
  const progress = createProgress(mode, { stderr: out.stream, isTTY: false });
  for (const event of events) progress.onEvent(event);
  await progress.finish();
  return out.text();
}

/** The SolveStatus updates rawjson printed: indented JSON objects one after the other. */
function solveStatuses(text: string): unknown[] {
  return text
    .split(/\n(?=\{)/)
    .filter((chunk) => chunk.trim() !== '')
    .map((chunk) => JSON.parse(chunk) as unknown);
}

/** TIME as Go's time.Time marshals it in UTC (BuildKit's SolveStatus times). */
function goTime(time: number): string {
  return new Date(time).toISOString().replace(/\.?0+Z$/, 'Z');
}

describe('plain progress', () => {
  it('prints a sequential build exactly as BuildKit', async () => {
    const definition = step(1, '[internal] load build definition from Dockerfile');
    const base = step(2, '[1/3] FROM docker.io/library/busybox:latest', 1);
    const run = step(3, '[2/3] RUN echo hello && printf par && printf "tial\\n" && printf end', 2);
    const exporting = step(4, 'exporting to image');
    const text = await render('plain', [
      start(definition, T),
      status(definition, T + 10, 'dockerfile', 'transferring dockerfile:', { current: 87, done: true }),
      done(definition, T + 30, 30),
      cached(base, T + 40),
      start(run, T + 50),
      log(run, T + 173, 'hello\npar'),
      log(run, T + 300, 'tial\n', 'stderr'),
      log(run, T + 400, 'end'),
      done(run, T + 1350, 1300),
      start(exporting, T + 1400),
      status(exporting, T + 1410, 'layers', 'exporting layers'),
      status(exporting, T + 1500, 'layers', 'exporting layers', { done: true }),
      status(exporting, T + 1510, 'image', 'writing image sha256:0123456789abcdef', { done: true }),
      done(exporting, T + 1650, 250),
    ]);
    expect(text).toBe(
      [
        '#1 [internal] load build definition from Dockerfile',
        '#1 transferring dockerfile: 87B done',
        '#1 DONE 0.0s',
        '',
        '#2 [1/3] FROM docker.io/library/busybox:latest',
        '#2 CACHED',
        '',
        '#3 [2/3] RUN echo hello && printf par && printf "tial\\n" && printf end',
        '#3 0.123 hello',
        '#3 0.123 partial',
        '#3 0.350 end',
        '#3 DONE 1.3s',
        '',
        '#4 exporting to image',
        '#4 exporting layers',
        '#4 exporting layers 0.1s done',
        '#4 writing image sha256:0123456789abcdef done',
        // 0.25 s: Go rounds the tie to even.
        '#4 DONE 0.2s',
        '',
      ].join('\n'),
    );
  });

  it('thins transfer lines as BuildKit does and prints sizes in its units', async () => {
    const pull = step(2, '[1/2] FROM docker.io/library/debian:12@sha256:abc');
    const layer = 'sha256:5c8cd8d2e1a38f2c6f5e0d4c3a7f1e6c2b0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f';
    const text = await render('plain', [
      start(pull, T),
      status(pull, T + 5, layer, layer, { current: 0, total: 3_220_000 }),
      status(pull, T + 100, layer, layer, { current: 100_000, total: 3_220_000 }),
      status(pull, T + 150, layer, layer, { current: 140_000, total: 3_220_000 }),
      status(pull, T + 205, layer, layer, { current: 1_050_000, total: 3_220_000 }),
      status(pull, T + 300, layer, layer, { current: 1_100_000, total: 3_220_000 }),
      // Five seconds later a line is due even without 5 % more.
      status(pull, T + 5300, layer, layer, { current: 1_110_000, total: 3_220_000 }),
      status(pull, T + 5505, layer, layer, { current: 3_220_000, total: 3_220_000, done: true }),
      status(pull, T + 5600, 'extract', `extracting ${layer}`, { done: false }),
      status(pull, T + 5900, 'extract', `extracting ${layer}`, { done: true }),
      done(pull, T + 6000, 6000),
    ]);
    expect(text).toBe(
      [
        '#2 [1/2] FROM docker.io/library/debian:12@sha256:abc',
        `#2 ${layer} 0B / 3.22MB`,
        `#2 ${layer} 1.05MB / 3.22MB 0.2s`,
        `#2 ${layer} 1.11MB / 3.22MB 5.3s`,
        `#2 ${layer} 3.22MB / 3.22MB 5.5s done`,
        `#2 extracting ${layer}`,
        `#2 extracting ${layer} 0.3s done`,
        '#2 DONE 6.0s',
        '',
      ].join('\n'),
    );
  });

  it('keeps one step on the output and marks every switch when steps run in parallel', async () => {
    const one = step(5, '[a 2/2] RUN sleep 1 && echo five');
    const two = step(6, '[b 2/2] RUN echo six');
    const text = await render('plain', [
      start(one, T),
      start(two, T + 10),
      log(two, T + 20, 'six\n'),
      log(one, T + 30, 'five\n'),
      done(two, T + 100, 90),
      log(one, T + 1200, 'five again\n'),
      done(one, T + 1300, 1300),
    ]);
    expect(text).toBe(
      [
        '#5 [a 2/2] RUN sleep 1 && echo five',
        '#5 0.030 five',
        '#5 ...',
        '',
        '#6 [b 2/2] RUN echo six',
        '#6 0.010 six',
        '#6 DONE 0.1s',
        '',
        '#5 [a 2/2] RUN sleep 1 && echo five',
        '#5 1.200 five again',
        '#5 DONE 1.3s',
        '',
      ].join('\n'),
    );
  });

  it('hands the output over after 5 s, on the next event or on the clock alone', async () => {
    const one = step(1, '[a 2/2] RUN make');
    const two = step(2, '[b 2/2] RUN make test');
    // On the next event.
    const text = await render('plain', [start(one, T), log(one, T + 100, 'a\n'), start(two, T + 1000), log(two, T + 2000, 'b\n'), log(one, T + 5100, 'a again\n'), done(two, T + 5200, 4200), done(one, T + 5300, 5300)]);
    expect(text).toBe(
      ['#1 [a 2/2] RUN make', '#1 0.100 a', '#1 5.100 a again', '#1 ...', '', '#2 [b 2/2] RUN make test', '#2 1.000 b', '#2 DONE 4.2s', '', '#1 [a 2/2] RUN make', '#1 DONE 5.3s', ''].join('\n'),
    );

    // On the clock, while the holding step is silent.
    vi.useFakeTimers();
    try {
      let wall = 1000;
      const out = capture();
      const progress = createProgress('plain', { stderr: out.stream, isTTY: false }, { now: () => wall });
      progress.onEvent(start(one, T));
      progress.onEvent(start(two, T + 10));
      progress.onEvent(log(two, T + 20, 'waiting\n'));
      wall += 3000;
      vi.advanceTimersByTime(3000);
      expect(out.text()).toBe('#1 [a 2/2] RUN make\n');
      wall += 3000;
      vi.advanceTimersByTime(3000);
      expect(out.text()).toBe('#1 [a 2/2] RUN make\n#1 ...\n\n#2 [b 2/2] RUN make test\n#2 0.010 waiting\n');
      await progress.finish();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('prints the error, the failed step’s last lines and the warnings', async () => {
    const run = step(7, '[build 3/4] RUN make', 4);
    const lines = Array.from({ length: 12 }, (_, i) => `line ${i + 1}\n`).join('');
    const text = await render('plain', [
      { kind: 'warning', message: 'FromAsCasing: \'as\' and \'FROM\' keywords\' casing do not match (line 1)', time: T },
      start(run, T),
      log(run, T + 100, lines),
      log(run, T + 200, 'make: *** [Makefile:2: all] Error 2'),
      failed(run, T + 300, 300, 'process "/bin/sh -c make" did not complete successfully: exit code: 2'),
    ]);
    expect(text).toBe(
      [
        '#7 [build 3/4] RUN make',
        ...Array.from({ length: 12 }, (_, i) => `#7 0.100 line ${i + 1}`),
        '#7 0.200 make: *** [Makefile:2: all] Error 2',
        '#7 ERROR: process "/bin/sh -c make" did not complete successfully: exit code: 2',
        '------',
        ' > [build 3/4] RUN make:',
        ...Array.from({ length: 9 }, (_, i) => `0.100 line ${i + 4}`),
        '0.200 make: *** [Makefile:2: all] Error 2',
        '------',
        '',
        ' 1 warning found:',
        " - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)",
        '',
      ].join('\n'),
    );
  });

  it('marks a step that the failure of another stopped as CANCELED, without an error box of its own', async () => {
    const run = step(5, '[a 2/2] RUN exit 3');
    const other = step(6, '[b 2/2] RUN sleep 30');
    const text = await render('plain', [
      start(run, T),
      start(other, T),
      failed(run, T + 1000, 1000, 'process "/bin/sh -c exit 3" did not complete successfully: exit code: 3'),
      { kind: 'step', step: other, phase: 'canceled', time: T + 1100, duration: 1100 },
    ]);
    expect(text).toContain('#6 CANCELED\n');
    expect(text).not.toContain(' > [b 2/2] RUN sleep 30:');
    const json = solveStatuses(await render('rawjson', [start(other, T), { kind: 'step', step: other, phase: 'canceled', time: T + 1100, duration: 1100 }]));
    expect(json.at(-1)).toEqual({ vertexes: [{ digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), name: '[b 2/2] RUN sleep 30', started: goTime(T), completed: goTime(T + 1100), error: 'context canceled' }] });
  });

  it('decodes a character split between two chunks, and prints an unfinished line at the end', async () => {
    const run = step(1, '[1/1] RUN printf');
    const bytes = new TextEncoder().encode('héllo\nno newline');
    const text = await render('plain', [start(run, T), log(run, T + 1, bytes.subarray(0, 2)), log(run, T + 2, bytes.subarray(2))]);
    expect(text).toBe('#1 [1/1] RUN printf\n#1 0.001 héllo\n#1 0.002 no newline\n');
  });
});

/**
 * What a terminal shows after OUTPUT: enough of ECMA-48 for the tty view (cursor to the start
 * of a previous line, erase line and below, colours and cursor visibility ignored).
 */
function screen(output: string): string[] {
  const rows: string[] = [''];
  let row = 0;
  let column = 0;
  const put = (character: string): void => {
    const line = (rows[row] ?? '').padEnd(column);
    rows[row] = line.slice(0, column) + character + line.slice(column + 1);
    column++;
  };
  for (let i = 0; i < output.length; i++) {
    const character = output[i] ?? '';
    if (character === '\x1b') {
      const match = /^\x1b\[(\??)([0-9;]*)([A-Za-z])/.exec(output.slice(i));
      if (match === null) throw new Error(`unexpected escape at ${i}: ${JSON.stringify(output.slice(i, i + 8))}`);
      const [sequence, , parameter, command] = match;
      const count = Number(parameter === '' ? '1' : parameter);
      if (command === 'F') {
        row = Math.max(0, row - count);
        column = 0;
      } else if (command === 'K') {
        rows[row] = (rows[row] ?? '').slice(0, column);
      } else if (command === 'J') {
        rows[row] = (rows[row] ?? '').slice(0, column);
        rows.length = row + 1;
      } else if (command !== 'm' && command !== 'l' && command !== 'h') {
        throw new Error(`unexpected escape ${JSON.stringify(sequence)}`);
      }
      i += (sequence ?? '').length - 1;
    } else if (character === '\n') {
      row++;
      column = 0;
      rows[row] ??= '';
    } else if (character === '\r') {
      column = 0;
    } else {
      put(character);
    }
  }
  if (rows.at(-1) === '') rows.pop();
  return rows.map((line) => line.trimEnd());
}

/** A step's line as BuildKit lays it out: text, at least two spaces, the timer ending one column short of the width. */
function row(text: string, timer: string, width = 60): string {
  return `${text.padEnd(width - timer.length - 3)}  ${timer}`;
}

describe('tty progress', () => {
  let wall = 0;
  beforeEach(() => {
    vi.useFakeTimers();
    wall = 100_000;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function terminal(): { out: Captured; progress: Progress } {
    const out = capture({ columns: 60, rows: 20 });
    const progress = createProgress('auto', { stderr: out.stream, isTTY: true }, { now: () => wall, env: {} });
    return { out, progress };
  }

  function advance(milliseconds: number): void {
    wall += milliseconds;
    vi.advanceTimersByTime(milliseconds);
  }

  it('redraws in place, shows the running step’s last 6 lines, and ends with the final state', async () => {
    const { out, progress } = terminal();
    const definition = step(1, '[internal] load build definition from Dockerfile');
    const base = step(2, '[1/2] FROM docker.io/library/busybox:latest');
    const run = step(3, '[2/2] RUN for i in 1 2 3 4 5 6 7 8; do echo line $i; done');
    progress.onEvent(start(definition, T));
    progress.onEvent(status(definition, T, 'dockerfile', 'transferring dockerfile:', { current: 87, done: true }));
    progress.onEvent(done(definition, T + 20, 20));
    progress.onEvent(cached(base, T + 30));
    progress.onEvent(start(run, T + 40));
    advance(200);
    progress.onEvent(log(run, T + 240, Array.from({ length: 8 }, (_, i) => `line ${i + 1}\n`).join('')));
    advance(1000);
    expect(screen(out.text())).toEqual([
      '[+] Building 1.2s (2/3)',
      row(' => [internal] load build definition from Dockerfile', '0.0s'),
      row(' => => transferring dockerfile: 87B', '0.0s'),
      ' => CACHED [1/2] FROM docker.io/library/busybox:lates  0.0s',
      // Cut to fit.
      ' => [2/2] RUN for i in 1 2 3 4 5 6 7 8; do echo line   1.2s',
      ...[3, 4, 5, 6, 7, 8].map((i) => ` => => # line ${i}`),
    ]);
    // Colours: finished steps blue, output faint.
    expect(out.text()).toContain('\x1b[34m => CACHED [1/2] FROM');
    expect(out.text()).toContain('\x1b[2m => => # line 8');

    progress.onEvent(done(run, T + 1300, 1260));
    advance(10);
    await progress.finish();
    expect(screen(out.text())).toEqual([
      '[+] Building 1.3s (3/3) FINISHED',
      row(' => [internal] load build definition from Dockerfile', '0.0s'),
      row(' => => transferring dockerfile: 87B', '0.0s'),
      ' => CACHED [1/2] FROM docker.io/library/busybox:lates  0.0s',
      ' => [2/2] RUN for i in 1 2 3 4 5 6 7 8; do echo line   1.3s',
    ]);
    expect(out.text().endsWith('\x1b[?25h')).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('draws at most every 100 ms and never drops the final state', async () => {
    const { out, progress } = terminal();
    const run = step(1, '[1/1] RUN yes | head -n 500');
    progress.onEvent(start(run, T));
    for (let i = 1; i <= 500; i++) progress.onEvent(log(run, T + i / 10, `y ${i}\n`));
    const draws = (): number => out.text().split('[+] Building').length - 1;
    // The first event drew; the 500 others wait for the next slot.
    expect(draws()).toBe(1);
    advance(99);
    expect(draws()).toBe(1);
    advance(1);
    expect(draws()).toBe(2);
    expect(screen(out.text()).slice(-6)).toEqual([495, 496, 497, 498, 499, 500].map((i) => ` => => # y ${i}`));
    // An end within the same 100 ms is still shown once finish() runs.
    progress.onEvent(done(run, T + 150, 150));
    expect(draws()).toBe(2);
    await progress.finish();
    expect(draws()).toBe(3);
    expect(screen(out.text())).toEqual(['[+] Building 0.1s (1/1) FINISHED', row(' => [1/1] RUN yes | head -n 500', '0.1s')]);
  });

  it('prints the failed step’s output and the warnings after the final state, without colour under NO_COLOR', async () => {
    const out = capture({ columns: 60, rows: 20 });
    const progress = createProgress('tty', { stderr: out.stream, isTTY: true }, { now: () => wall, env: { NO_COLOR: '1' } });
    const run = step(4, '[build 2/2] RUN make', 3);
    progress.onEvent(start(run, T));
    progress.onEvent(log(run, T + 500, 'cc main.c\nmain.c:1: error\n'));
    progress.onEvent({ kind: 'warning', message: 'UndefinedVar: Usage of undefined variable $X (line 2)', time: T + 600 });
    progress.onEvent(failed(run, T + 700, 700, 'process "/bin/sh -c make" did not complete successfully: exit code: 2'));
    await progress.finish();
    expect(out.text()).not.toMatch(/\x1b\[3[0-9]m/);
    expect(screen(out.text())).toEqual([
      '[+] Building 0.7s (1/1) FINISHED',
      row(' => ERROR [build 2/2] RUN make', '0.7s'),
      '------',
      ' > [build 2/2] RUN make:',
      '0.500 cc main.c',
      '0.500 main.c:1: error',
      '------',
      '',
      ' 1 warning found:',
      ' - UndefinedVar: Usage of undefined variable $X (line 2)',
    ]);
  });

  it('fits a short terminal by dropping finished steps first, and strips control characters from output', async () => {
    const out = capture({ columns: 60, rows: 6 });
    const progress = createProgress('tty', { stderr: out.stream, isTTY: true }, { now: () => wall, env: {} });
    for (let n = 1; n <= 5; n++) progress.onEvent(cached(step(n, `[${n}/6] COPY f${n} /`), T));
    const run = step(6, '[6/6] RUN progress');
    progress.onEvent(start(run, T));
    progress.onEvent(log(run, T + 10, '10%\r50%\r\x1b[1m100%\x1b[0m\n'));
    advance(200);
    expect(screen(out.text())).toEqual(['[+] Building 0.2s (5/6)', row(' => CACHED [4/6] COPY f4 /', '0.0s'), row(' => CACHED [5/6] COPY f5 /', '0.0s'), row(' => [6/6] RUN progress', '0.2s'), ' => => # 100%']);
    await progress.finish();
    // The final state is whole.
    expect(screen(out.text())).toHaveLength(7);
  });
});

describe('tty progress on a terminal that does not say its size', () => {
  it('lays out 80 columns', async () => {
    const out = capture({ columns: 0, rows: 0 });
    const progress = createProgress('tty', { stderr: out.stream, isTTY: true }, { env: { NO_COLOR: '1' } });
    progress.onEvent(cached(step(1, '[1/2] FROM docker.io/library/busybox:latest'), T));
    progress.onEvent(cached(step(2, '[2/2] COPY . .'), T));
    await progress.finish();
    expect(screen(out.text())).toEqual(['[+] Building 0.0s (2/2) FINISHED', row(' => CACHED [1/2] FROM docker.io/library/busybox:latest', '0.0s', 80), row(' => CACHED [2/2] COPY . .', '0.0s', 80)]);
  });
});

describe('rawjson progress', () => {
  it('prints each event as buildx does: a SolveStatus update, indented as Go\'s json.Encoder, with times and bytes as Go marshals them', async () => {
    const run = step(3, '[2/2] RUN make', 5);
    const base = step(4, '[1/2] FROM busybox');
    const binary = Uint8Array.from([0xff, 0x00, 0x41]);
    const text = await render('rawjson', [
      start(run, T),
      log(run, T + 1, 'hello\n'),
      log(run, T + 2, binary, 'stderr'),
      status(run, T + 3, 'layer', 'sha256:abc', { current: 1, total: 2 }),
      status(run, T + 13, 'layer', 'sha256:abc', { current: 2, total: 2, done: true }),
      { kind: 'warning', message: 'careful', time: T + 4 },
      failed(run, T + 100, 100, 'exit code: 1'),
      cached(base, T + 6),
      done(step(5, 'exporting to image'), T + 1000, 20),
    ]);
    // Go's encoder: two spaces, a newline after each object.
    expect(text.startsWith('{\n  "vertexes": [\n    {\n      "digest": "sha256:')).toBe(true);
    const updates = solveStatuses(text);
    const runDigest = (updates[0] as { vertexes: Array<{ digest: string }> }).vertexes[0]?.digest;
    expect(runDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(updates).toEqual([
      { vertexes: [{ digest: runDigest, name: '[2/2] RUN make', started: goTime(T) }] },
      { logs: [{ vertex: runDigest, stream: 1, data: Buffer.from('hello\n').toString('base64'), timestamp: goTime(T + 1) }] },
      { logs: [{ vertex: runDigest, stream: 2, data: '/wBB', timestamp: goTime(T + 2) }] },
      { statuses: [{ id: 'sha256:abc', vertex: runDigest, total: 2, current: 1, timestamp: goTime(T + 3), started: goTime(T + 3) }] },
      { statuses: [{ id: 'sha256:abc', vertex: runDigest, total: 2, current: 2, timestamp: goTime(T + 13), started: goTime(T + 3), completed: goTime(T + 13) }] },
      { warnings: [{ level: 1, short: Buffer.from('careful').toString('base64') }] },
      { vertexes: [{ digest: runDigest, name: '[2/2] RUN make', started: goTime(T), completed: goTime(T + 100), error: 'exit code: 1' }] },
      { vertexes: [{ digest: expect.not.stringMatching(runDigest ?? ''), name: '[1/2] FROM busybox', started: goTime(T + 6), completed: goTime(T + 6), cached: true }] },
      { vertexes: [{ digest: expect.any(String), name: 'exporting to image', started: goTime(T + 980), completed: goTime(T + 1000) }] },
    ]);
    // Go trims the fraction's trailing zeros, and leaves out a zero fraction.
    expect(goTime(T + 980)).toBe('1970-01-01T01:23:20.98Z');
    expect(text).toContain('"completed": "1970-01-01T01:23:21Z"');
    // As Go's encoder: `&`, `<` and `>` in strings are escaped.
    const shell = await render('rawjson', [start(step(6, '[2/2] RUN a && b > c'), T)]);
    expect(shell).toContain('"name": "[2/2] RUN a \\u0026\\u0026 b \\u003e c"');
    expect(solveStatuses(shell)).toEqual([{ vertexes: [{ digest: expect.any(String), name: '[2/2] RUN a && b > c', started: goTime(T) }] }]);
    // The same step of the same build has the same digest.
    expect(solveStatuses(await render('rawjson', [start(run, T)]))).toEqual([updates[0]]);
  });
});

describe('progress modes', () => {
  it('takes --progress, else BUILDKIT_PROGRESS, else auto, and names a wrong value', async () => {
    expect(progressMode('plain', { BUILDKIT_PROGRESS: 'rawjson' })).toBe('plain');
    expect(progressMode(undefined, { BUILDKIT_PROGRESS: 'rawjson' })).toBe('rawjson');
    expect(progressMode(undefined, { BUILDKIT_PROGRESS: '' })).toBe('auto');
    expect(progressMode(undefined, {})).toBe('auto');
    expect(() => progressMode('fancy', {})).toThrow(/--progress.*"fancy"/);
    expect(() => progressMode(undefined, { BUILDKIT_PROGRESS: 'fancy' })).toThrow(/BUILDKIT_PROGRESS.*"fancy"/);
    expect(await codeOf(Promise.resolve().then(() => progressMode('fancy', {})))).toBe('INVALID_ARGUMENT');
  });

  it('is plain on a pipe in auto, refuses tty there, and prints nothing when quiet', async () => {
    const run = step(1, '[1/1] RUN true');
    const out = capture();
    const auto = createProgress('auto', { stderr: out.stream, isTTY: false });
    auto.onEvent(start(run, T));
    auto.onEvent(done(run, T + 100, 100));
    await auto.finish();
    expect(out.text()).toBe('#1 [1/1] RUN true\n#1 DONE 0.1s\n');
    expect(() => createProgress('tty', { stderr: out.stream, isTTY: false })).toThrow(/terminal/);
    expect(await render('quiet', [start(run, T), log(run, T, 'x\n'), failed(run, T + 1, 1, 'no')])).toBe('');
  });
});
