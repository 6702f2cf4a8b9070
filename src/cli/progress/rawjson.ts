/**
 * `--progress=rawjson`: what buildx prints (BuildKit's progressui RawJSONMode): each update a
 * JSON object of BuildKit's SolveStatus, written as Go's json.Encoder with a two-space indent
 * writes it, one update per event, as the event arrives:
 *
 *     {"vertexes":[{"digest":"sha256:…","name":"[2/2] RUN make","started":"2024-01-01T00:00:00.1Z"}]}
 *     {"vertexes":[{"digest":"sha256:…","name":"…","started":"…","completed":"…","cached":true}]}
 *     {"vertexes":[{"digest":"sha256:…","name":"…","started":"…","completed":"…","error":"…"}]}
 *     {"statuses":[{"id":"transferring context:","vertex":"sha256:…","total":3220000,"current":1050000,"timestamp":"…","started":"…","completed":"…"}]}
 *     {"logs":[{"vertex":"sha256:…","stream":1,"data":"<base64>","timestamp":"…"}]}
 *     {"warnings":[{"level":1,"short":"<base64>"}]}
 *
 * Fields are named, ordered and left out (Go's omitempty) as BuildKit's client types do
 * (client/graph.go). A step's `digest` stands for BuildKit's vertex digest: it is made from the
 * step's number and name, so the same step of the same build has the same digest. A step
 * stopped because another failed has the error BuildKit gives it, `context canceled`. A status's
 * `id` is its label, as BuildKit's (`transferring context:`, `sha256:…`, `cache miss: …`).
 * Times are UTC, in Go's RFC 3339 with the fraction's trailing zeros left out.
 */
import { createHash } from 'node:crypto';
import { goIndent, goJson, wholeLineRanges } from '../../common/index.js';
import { drained, type BuildEvent, type Progress, type ProgressIo, type StepRef } from './renderer.js';

/** TIME (milliseconds since the epoch) as Go's time.Time marshals to JSON in UTC. */
function goJsonTime(time: number): string {
  const text = new Date(time).toISOString();
  return text.replace(/\.?0+Z$/, 'Z');
}

function vertexDigest(step: StepRef): string {
  return `sha256:${createHash('sha256').update(`${step.number}\0${step.name}`).digest('hex')}`;
}

/** Go's json.Encoder with SetIndent("", "  "): `<`, `>` and `&` escaped, two spaces, a newline after each object. */
function encoded(value: unknown): string {
  return `${goIndent(goJson(value), '', '  ')}\n`;
}

export class RawJsonProgress implements Progress {
  /** When each step started, by number: later updates of its vertex repeat it. */
  private readonly stepStarts = new Map<number, number>();
  /** When each status first appeared, by step number and id. */
  private readonly statusStarts = new Map<string, number>();

  constructor(private readonly io: ProgressIo) {}

  onEvent(event: BuildEvent): void {
    this.io.stderr.write(encoded(this.solveStatus(event)));
  }

  /** The SolveStatus update buildx would print for EVENT. */
  solveStatus(event: BuildEvent): Record<string, unknown> {
    switch (event.kind) {
      case 'step': {
        const vertex: Record<string, unknown> = { digest: vertexDigest(event.step), name: event.step.name };
        if (event.phase === 'start') {
          this.stepStarts.set(event.step.number, event.time);
          vertex.started = goJsonTime(event.time);
          return { vertexes: [vertex] };
        }
        const started = event.phase === 'cached' ? (this.stepStarts.get(event.step.number) ?? event.time) : event.time - event.duration;
        vertex.started = goJsonTime(started);
        vertex.completed = goJsonTime(event.time);
        if (event.phase === 'cached') vertex.cached = true;
        if (event.phase === 'error') vertex.error = event.message;
        if (event.phase === 'canceled') vertex.error = 'context canceled';
        return { vertexes: [vertex] };
      }
      case 'log':
        return {
          logs: [{ vertex: vertexDigest(event.step), stream: event.stream === 'stdout' ? 1 : 2, data: Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength).toString('base64'), timestamp: goJsonTime(event.time) }],
        };
      case 'status': {
        const key = `${event.step.number}\0${event.id}`;
        const started = this.statusStarts.get(key) ?? event.time;
        this.statusStarts.set(key, started);
        return {
          statuses: [
            {
              id: event.text,
              vertex: vertexDigest(event.step),
              ...(event.total === undefined || event.total === 0 ? {} : { total: event.total }),
              current: event.current ?? 0,
              timestamp: goJsonTime(event.time),
              started: goJsonTime(started),
              ...(event.done ? { completed: goJsonTime(event.time) } : {}),
            },
          ],
        };
      }
      case 'warning': {
        const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
        const check = event.check;
        if (check === undefined) return { warnings: [{ level: 1, short: base64(event.message) }] };
        // A build check as BuildKit's VertexWarning: its description as the detail, its rule's
        // link, and the lines it is about (BuildKit locates checks by whole lines, one range each).
        return { warnings: [{ level: 1, short: base64(event.message), detail: [base64(check.description)], url: check.url, range: wholeLineRanges(check.range) }] };
      }
    }
  }

  finish(): Promise<void> {
    return drained(this.io.stderr);
  }
}
