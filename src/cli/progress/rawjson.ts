/**
 * `--progress=rawjson`: one JSON object per event, one per line, written as the event arrives,
 * for tools. Every object has `kind` and `time` (the executor's clock, milliseconds); the rest
 * by kind:
 *
 *     {"kind":"step","step":5,"name":"[build 2/4] RUN make","line":7,"phase":"start","time":…}
 *     {"kind":"step","step":5,"name":"…","phase":"done","time":…,"duration":1234}
 *     {"kind":"step","step":5,"name":"…","phase":"cached","time":…}
 *     {"kind":"step","step":5,"name":"…","phase":"error","time":…,"duration":1234,"message":"…"}
 *     {"kind":"step","step":6,"name":"…","phase":"canceled","time":…,"duration":1234}
 *     {"kind":"log","step":5,"name":"…","stream":"stdout","time":…,"encoding":"utf-8","data":"cc -o app main.c\n"}
 *     {"kind":"status","step":3,"name":"…","id":"…","text":"sha256:…","current":1050000,"total":3220000,"done":false,"time":…}
 *     {"kind":"warning","message":"…","time":…}
 *
 * - `step` is BuildKit's `#N`; `line` the Dockerfile line of the step's instruction, when it has one.
 * - `phase` is `start`, `cached`, `done`, `error` or `canceled` (stopped because another step
 *   failed); `duration` is in milliseconds.
 * - A log's `data` is the chunk as the step wrote it (not cut into lines): its text when the
 *   bytes are valid UTF-8 (`"encoding":"utf-8"`), else the bytes in base64 (`"encoding":"base64"`).
 * - `current` and `total` (bytes) appear on status lines only when known.
 */
import { drained, type BuildEvent, type Progress, type ProgressIo, type StepRef } from './renderer.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function stepFields(ref: StepRef): Record<string, unknown> {
  return { step: ref.number, name: ref.name, ...(ref.range === undefined ? {} : { line: ref.range.start.line }) };
}

function logData(data: Uint8Array): { encoding: 'utf-8' | 'base64'; data: string } {
  try {
    return { encoding: 'utf-8', data: strictUtf8.decode(data) };
  } catch {
    // Not UTF-8, or a character cut between two chunks: the bytes, losslessly.
    return { encoding: 'base64', data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') };
  }
}

/** The JSON object rawjson prints for EVENT. */
export function rawJsonRecord(event: BuildEvent): Record<string, unknown> {
  switch (event.kind) {
    case 'step': {
      const { kind, step, phase, time } = event;
      const record: Record<string, unknown> = { kind, ...stepFields(step), phase, time };
      if (event.phase === 'done' || event.phase === 'error' || event.phase === 'canceled') record.duration = event.duration;
      if (event.phase === 'error') record.message = event.message;
      return record;
    }
    case 'log':
      return { kind: event.kind, ...stepFields(event.step), stream: event.stream, time: event.time, ...logData(event.data) };
    case 'status':
      return {
        kind: event.kind,
        ...stepFields(event.step),
        id: event.id,
        text: event.text,
        ...(event.current === undefined ? {} : { current: event.current }),
        ...(event.total === undefined ? {} : { total: event.total }),
        done: event.done,
        time: event.time,
      };
    case 'warning':
      return { kind: event.kind, message: event.message, time: event.time };
  }
}

export class RawJsonProgress implements Progress {
  constructor(private readonly io: ProgressIo) {}

  onEvent(event: BuildEvent): void {
    this.io.stderr.write(`${JSON.stringify(rawJsonRecord(event))}\n`);
  }

  finish(): Promise<void> {
    return drained(this.io.stderr);
  }
}
