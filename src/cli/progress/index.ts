/**
 * Renderers of a build's events (src/executor/events.ts) on stderr, as `docker build` shows
 * them: `tty` (a live view, on a terminal), `plain` (BuildKit's line format, for CI logs),
 * `rawjson` (buildx's: BuildKit's SolveStatus updates as JSON, see rawjson.ts) and `quiet`. `auto`, the default, is
 * tty on a terminal and plain otherwise; BUILDKIT_PROGRESS sets the default.
 */
import { TsbuildError } from '../../common/index.js';
import { PlainProgress } from './plain.js';
import { RawJsonProgress } from './rawjson.js';
import type { Progress, ProgressIo, ProgressOptions } from './renderer.js';
import { TtyProgress } from './tty.js';

export type { Progress, ProgressIo, ProgressOptions } from './renderer.js';

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'rawjson' | 'quiet';

export const progressModes: readonly ProgressMode[] = ['auto', 'tty', 'plain', 'rawjson', 'quiet'];

function isProgressMode(value: string): value is ProgressMode {
  return (progressModes as readonly string[]).includes(value);
}

/**
 * The mode asked for: FLAG (`--progress`) when given, else BUILDKIT_PROGRESS from ENV when set
 * and not empty, else `auto`. An unknown value is an INVALID_ARGUMENT naming where it came from.
 */
export function progressMode(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): ProgressMode {
  const fromEnv = env.BUILDKIT_PROGRESS;
  const [value, source] = flag !== undefined ? [flag, '--progress'] : fromEnv !== undefined && fromEnv !== '' ? [fromEnv, 'BUILDKIT_PROGRESS'] : ['auto', ''];
  if (isProgressMode(value)) return value;
  throw new TsbuildError('INVALID_ARGUMENT', `parse ${source}: unknown progress mode ${JSON.stringify(value)} (expected ${progressModes.join(', ')})`);
}

const quiet: Progress = { onEvent: () => undefined, finish: () => Promise.resolve() };

/**
 * A renderer for MODE writing to IO.stderr. `tty` needs a terminal (as docker, which fails with
 * `--progress=tty` when stderr is not one); `auto` picks tty on a terminal, plain otherwise.
 */
export function createProgress(mode: ProgressMode, io: ProgressIo, options: ProgressOptions = {}): Progress {
  switch (mode) {
    case 'auto':
      return io.isTTY ? new TtyProgress(io, options) : new PlainProgress(io, options);
    case 'tty':
      if (!io.isTTY) throw new TsbuildError('INVALID_ARGUMENT', 'show progress: --progress=tty needs standard error to be a terminal');
      return new TtyProgress(io, options);
    case 'plain':
      return new PlainProgress(io, options);
    case 'rawjson':
      return new RawJsonProgress(io);
    case 'quiet':
      return quiet;
  }
}
