/**
 * Per-blob progress of pull and push: one plain line per change of state when its stream is not
 * a terminal, a redrawn block of bars when it is. docker's pull and push write it on standard
 * output; a run's pull on standard error, its output being the container's.
 */
import { MediaType, type ImageReference } from '../../common/index.js';
import type { ProgressEvent, ProgressListener } from '../../registry/index.js';
import { formatBytes } from '../format.js';
import type { CliIo } from '../io.js';

type Direction = 'pull' | 'push';

const imageConfigMediaTypes: ReadonlySet<string> = new Set([MediaType.ociConfig, MediaType.dockerConfig]);

interface Row {
  readonly id: string;
  status: string;
  current: number;
  total: number;
}

const labels: Record<Direction, Record<string, string>> = {
  pull: { exists: 'Already exists', mounted: 'Mounted', waiting: 'Waiting', transfer: 'Downloading', retry: 'Retrying', done: 'Pull complete' },
  push: { exists: 'Layer already exists', mounted: 'Mounted from another repository', waiting: 'Waiting', transfer: 'Pushing', retry: 'Retrying', done: 'Pushed' },
};


function bar(current: number, total: number, width = 30): string {
  const fraction = total <= 0 ? 1 : Math.min(1, current / total);
  const filled = Math.round(fraction * width);
  return `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}]`;
}

export class TransferProgress {
  private readonly rows = new Map<string, Row>();
  private drawnLines = 0;
  private lastDraw = 0;

  constructor(
    private readonly io: CliIo,
    private readonly direction: Direction,
    private readonly quiet = false,
    private readonly stream: 'stdout' | 'stderr' = 'stderr',
  ) {}

  private get out(): NodeJS.WritableStream {
    return this.io[this.stream];
  }

  private get terminal(): boolean {
    return this.stream === 'stderr' ? this.io.isTty : (this.io.stdout as { isTTY?: boolean }).isTTY === true;
  }

  readonly listener = (event: ProgressEvent): void => {
    // As docker: a line per layer; the image config is not one.
    if (this.quiet || event.kind !== 'blob' || imageConfigMediaTypes.has(event.mediaType)) return;
    const id = event.digest.slice(event.digest.indexOf(':') + 1, event.digest.indexOf(':') + 13);
    const label = event.phase === 'mounted' && event.from !== undefined ? `Mounted from ${event.from}` : (labels[this.direction][event.phase] ?? event.phase);
    let row = this.rows.get(id);
    const changed = row?.status !== label;
    if (row === undefined) {
      row = { id, status: label, current: event.current, total: event.total };
      this.rows.set(id, row);
    }
    row.status = label;
    row.current = event.current;
    row.total = event.total;
    if (this.terminal) this.draw(changed);
    else if (changed) this.out.write(`${id}: ${label}${event.phase === 'done' || event.phase === 'exists' ? ` (${formatBytes(event.total)})` : ''}\n`);
  };

  private draw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const lines = [...this.rows.values()].map((row) =>
      row.status === labels[this.direction].transfer ? `${row.id}: ${row.status} ${bar(row.current, row.total)} ${formatBytes(row.current)}/${formatBytes(row.total)}` : `${row.id}: ${row.status}`,
    );
    const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F` : '';
    this.out.write(`${up}${lines.map((line) => `\x1b[2K${line}`).join('\n')}\n`);
    this.drawnLines = lines.length;
  }

  /** Draws the final state on a terminal. */
  finish(): void {
    if (this.terminal && !this.quiet && this.rows.size > 0) this.draw(true);
  }
}

/**
 * A pull's progress listener that first says docker's `TAG: Pulling from REPOSITORY`, when the
 * registry has given the image's manifest (its first event): an image the registry does not
 * have is refused without it, as docker's.
 */
export function afterPullingFrom(reference: ImageReference, say: (text: string) => void, listener: ProgressListener | undefined): ProgressListener {
  let announced = false;
  return (event) => {
    if (!announced) {
      announced = true;
      say(`${reference.tag ?? reference.digest ?? 'latest'}: Pulling from ${reference.path}\n`);
    }
    listener?.(event);
  };
}
