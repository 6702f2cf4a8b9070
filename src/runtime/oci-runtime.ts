/**
 * The OCI runtimes tsbuild drives: its own runtime-shim (the default), or any binary with the
 * command line crun and runc share (`--runtime crun|runc|PATH`).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { TsbuildError, exitStatus } from '../common/index.js';
import { generateConfig, type ContainerSpec } from './spec.js';
import { spawnPiped, type StdioWish } from './stdio-pipes.js';

/**
 * The container's standard streams copied through tsbuild, as docker attaches them: pipes, so
 * that the container never shares a descriptor Node made non-blocking. With a terminal
 * (`consoleSocket`) the container's are the pty's, and these carry nothing.
 */
export interface AttachedStreams {
  /** Copied to the container's stdin, ended at its end; without it stdin is /dev/null. */
  readonly stdin?: NodeJS.ReadableStream;
  /** Without it the container's stdout is discarded. */
  readonly stdout?: NodeJS.WritableStream;
  /** The container's stderr and the runtime's own (read back for its error line). */
  readonly stderr: NodeJS.WritableStream;
}

export interface RunOptions {
  /** Default: inherited. `pipe` gives the output back in the result; streams are copied through. */
  readonly stdio?: 'inherit' | 'pipe' | AttachedStreams;
  /** A unix socket the runtime sends the pty master to (`process.terminal` in the config). */
  readonly consoleSocket?: string;
  /**
   * Starts the runtime in a session of its own: a terminal's ^C then reaches tsbuild alone,
   * which forwards it, rather than the container twice.
   */
  readonly ownSession?: boolean;
  /**
   * A file for the runtime's own log (`--log FILE --log-format json`, which crun and runc take):
   * an error found there after a failed run rejects it, as the shim's error line does (the shim
   * takes the option and ignores it). It tells a command that could not start from one that
   * exited 1.
   */
  readonly logFile?: string;
  /**
   * With `inherit`, where the container's stderr is passed on to (default: this process's). It
   * goes through tsbuild so that the runtime's own error line can be read back.
   */
  readonly stderr?: NodeJS.WritableStream;
  readonly pidFile?: string;
  /** Called with the runtime's process as soon as it starts (to send it signals). */
  readonly onSpawn?: (pid: number) => void;
  /**
   * With `pipe`: the container's output as it comes, instead of in the result (whose stdout is
   * then empty and whose stderr keeps only a bounded tail, for the runtime's own error line).
   */
  readonly onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
}

export interface RunResult {
  /** The container process's exit status; 128+N when killed by signal N. */
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CreateOptions {
  readonly pidFile?: string;
  /** A file the container's stdout and stderr are appended to. Default: discarded. */
  readonly output?: string;
}

export interface ContainerState {
  readonly id: string;
  readonly status: 'created' | 'running' | 'stopped';
  readonly pid: number;
  readonly bundle: string;
}

export interface OciRuntime {
  readonly name: string;
  /** Writes `bundle/config.json` for the container. */
  prepare(bundle: string, spec: ContainerSpec): Promise<void>;
  run(bundle: string, id: string, options?: RunOptions): Promise<RunResult>;
  create(bundle: string, id: string, options?: CreateOptions): Promise<void>;
  start(id: string): Promise<void>;
  state(id: string): Promise<ContainerState>;
  kill(id: string, signal?: string): Promise<void>;
  delete(id: string, options?: { readonly force?: boolean }): Promise<void>;
}

/** Bytes of a passed-through stderr kept to find the runtime's own error in. */
const stderrTail = 64 * 1024;

const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Where `npm ci` builds the shim. */
export function shimPath(): string {
  return join(packageRoot, 'runtime-shim', 'build', 'tsbuild-runtime');
}

/** The runtime-shim's error line (runtime-shim/ERRORS.md), the cause of the error made from it. */
export interface ShimError {
  readonly syscall?: string;
  readonly path?: string;
  readonly errno?: number;
  readonly strerror?: string;
  readonly message?: string;
}

interface ShimErrorLine {
  readonly error?: ShimError;
}

/** The runtime's own failure, from its JSON error line (the shim's) or its last line (others'). */
export function runtimeError(action: string, stderr: string): TsbuildError {
  for (const line of stderr.trim().split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as ShimErrorLine;
      const e = parsed.error;
      if (e === undefined) continue;
      const where = e.syscall === undefined || e.syscall === '' ? '' : [e.syscall, e.path].filter((part) => part !== undefined && part !== '').join(' ');
      const cause = e.strerror !== undefined && e.strerror !== '' ? e.strerror : e.errno !== undefined && e.errno !== 0 ? `errno ${e.errno}` : '';
      // "run container c1: mount /proc: No such file or directory (mount proc (proc))": the
      // failed call first, what the runtime was doing after it. Without a system call (a refused
      // config, a container in the wrong state) the runtime's words are the whole story.
      // The parsed line is kept as the cause: `tsbuild run` tells a program not found (127)
      // from one that cannot be executed (126) by its system call and errno.
      if (where !== '') return new TsbuildError('RUNTIME', `${action}: ${where}${cause === '' ? '' : `: ${cause}`}${e.message === undefined || e.message === '' ? '' : ` (${e.message})`}`, { cause: e });
      return new TsbuildError('RUNTIME', `${action}: ${e.message ?? 'failed'}${cause === '' ? '' : `: ${cause}`}`, { cause: e });
    } catch {
      // Not JSON after all: fall through to the plain text.
    }
  }
  const last = stderr.trim().split('\n').at(-1) ?? '';
  return new TsbuildError('RUNTIME', `${action}: ${last === '' ? 'the runtime failed' : last}`);
}

/** Whether CHUNK is one whole JSON error line of the shim's (runtime-shim/ERRORS.md). */
function ownErrorLine(chunk: Buffer): boolean {
  if (!chunk.subarray(0, 10).equals(Buffer.from('{"error":{')) || chunk.at(-1) !== 0x0a) return false;
  try {
    return typeof (JSON.parse(chunk.toString()) as ShimErrorLine).error === 'object';
  } catch {
    return false;
  }
}

/** The last error a runtime wrote to its JSON log (`{"level":"error","msg":...}`), if any. */
function loggedError(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  let found: string | undefined;
  for (const line of text.split('\n')) {
    try {
      const entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
      if (entry.level === 'error' && typeof entry.msg === 'string') found = entry.msg;
    } catch {
      // Not a JSON line: skipped.
    }
  }
  return found;
}

function hybridCgroups(): boolean {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8').includes(' /sys/fs/cgroup/unified ');
  } catch {
    return false;
  }
}

/**
 * Any runtime binary. crun 1.8 refuses cgroup v1 "hybrid" hosts unless started in a private
 * mount namespace with the unified hierarchy unmounted: as root, it is started that way.
 */
export class CommandRuntime implements OciRuntime {
  private readonly prefix: readonly string[];

  constructor(
    readonly name: string,
    private readonly binary: string,
    private readonly stateRoot?: string,
  ) {
    const isCrun = binary === 'crun' || binary.endsWith('/crun');
    this.prefix = isCrun && (process.getuid?.() ?? 0) === 0 && hybridCgroups() ? ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"', 'sh'] : [];
  }

  private argv(args: readonly string[], logFile?: string): [string, string[]] {
    // The shim takes these too, and ignores them: its errors are its stderr's JSON line.
    const log = logFile === undefined ? [] : ['--log', logFile, '--log-format', 'json'];
    const full = [this.binary, ...(this.stateRoot === undefined ? [] : ['--root', this.stateRoot]), ...log, ...args];
    const [command, ...rest] = [...this.prefix, ...full];
    return [command ?? this.binary, rest];
  }

  async prepare(bundle: string, spec: ContainerSpec): Promise<void> {
    await mkdir(bundle, { recursive: true });
    await writeFile(join(bundle, 'config.json'), `${JSON.stringify(generateConfig(spec), null, 2)}\n`);
  }

  run(bundle: string, id: string, options: RunOptions = {}): Promise<RunResult> {
    const [command, args] = this.argv([
      'run',
      '--bundle',
      bundle,
      ...(options.pidFile === undefined ? [] : ['--pid-file', options.pidFile]),
      ...(options.consoleSocket === undefined ? [] : ['--console-socket', options.consoleSocket]),
      id,
    ], options.logFile);
    const piped = options.stdio === 'pipe';
    const attached = typeof options.stdio === 'object' ? options.stdio : undefined;
    // Piped, stdin is an empty pipe, as a BuildKit step's is: a script that asks whether its
    // input is a pipe (`[ -p /dev/stdin ]`) sees what it sees there.
    const wishes: [StdioWish, StdioWish, StdioWish] = piped
      ? ['empty', 'pipe', 'pipe']
      : attached !== undefined
        ? [attached.stdin === undefined ? 'ignore' : 'pipe', attached.stdout === undefined ? 'ignore' : 'pipe', 'pipe']
        : ['inherit', 'inherit', 'pipe'];
    const stderrTarget = attached?.stderr ?? options.stderr ?? process.stderr;
    return new Promise((resolve, reject) => {
      const { child, stdin: childStdin, stdout: childStdout, stderr: childStderr, onClose } = spawnPiped(command, args, wishes, { detached: options.ownSession === true });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const streaming = piped && options.onOutput !== undefined;
      if (attached?.stdout !== undefined) childStdout?.pipe(attached.stdout as NodeJS.WritableStream & Writable, { end: false });
      else
        childStdout?.on('data', (chunk: Buffer) => {
          if (streaming) options.onOutput?.('stdout', chunk);
          else out.push(chunk);
        });
      if (attached?.stdin !== undefined && childStdin !== null) {
        const input = childStdin;
        // The container may exit, or close its stdin, before the input ends: not an error here.
        input.on('error', () => undefined);
        attached.stdin.pipe(input);
        child.on('exit', () => attached.stdin?.unpipe(input));
      }
      let errBytes = 0;
      // Streamed (a build step's log), a chunk that is the shim's error line is held back until
      // it is known whether it was the shim's (the step fails with it, as a message) or the
      // process's own output that only looks like one (passed on, in its place, before more).
      let heldLine: Buffer | undefined;
      const releaseHeldLine = (): void => {
        if (heldLine !== undefined) options.onOutput?.('stderr', heldLine);
        heldLine = undefined;
      };
      childStderr?.on('data', (chunk: Buffer) => {
        err.push(chunk);
        errBytes += chunk.length;
        if (streaming) {
          releaseHeldLine();
          if (ownErrorLine(chunk)) heldLine = chunk;
          else options.onOutput?.('stderr', chunk);
          while (errBytes > stderrTail && err.length > 1) errBytes -= err.shift()?.length ?? 0;
          return;
        }
        if (piped) return;
        // Attached, the runtime's own error line becomes the rejection and is not shown as
        // well; the shim writes it whole, once, after the container's process failed to start.
        if (attached === undefined || !ownErrorLine(chunk)) stderrTarget.write(chunk);
        // Passed through, kept only for the runtime's error line at the end: a chatty build step
        // must not grow this without bound.
        while (errBytes > stderrTail && err.length > 1) errBytes -= err.shift()?.length ?? 0;
      });
      child.on('error', (error) => reject(new TsbuildError('RUNTIME', `run container ${id}: start ${this.binary}: ${error.message}`, { cause: error })));
      if (child.pid !== undefined) options.onSpawn?.(child.pid);
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        const stderr = Buffer.concat(err).toString();
        const status = exitStatus(code, signal);
        // The shim's own failures exit 125 with a JSON line; the process may exit 125 too, so
        // only a line that parses as the shim's error makes it a runtime failure.
        if (status === 125 && /^\{"error":/m.test(stderr)) {
          reject(runtimeError(`run container ${id}`, stderr));
          return;
        }
        releaseHeldLine();
        if (status !== 0 && stderr.includes('cgroups in hybrid mode not supported')) {
          // crun's own words do not say what to do: as an unprivileged user it cannot be given
          // the mount namespace without the unified hierarchy that it needs on these hosts; as
          // root it is, when it is named as crun (a wrapper of it is not known to be crun).
          const why = (process.getuid?.() ?? 0) === 0 ? 'unless started where the unified hierarchy is unmounted, as tsbuild starts a runtime named crun (--runtime crun, or a path ending in /crun)' : 'as an unprivileged user';
          reject(new TsbuildError('RUNTIME', `run container ${id}: ${this.name} refuses cgroup v1 "hybrid" hosts ${why}; use the default runtime or --runtime runc`));
          return;
        }
        const logged = status === 0 || options.logFile === undefined ? undefined : loggedError(options.logFile);
        if (logged !== undefined) {
          reject(new TsbuildError('RUNTIME', `run container ${id}: ${logged}`));
          return;
        }
        resolve({ status, stdout: Buffer.concat(out).toString(), stderr });
      };
      onClose(finish);
    });
  }

  private invoke(action: string, args: readonly string[]): string {
    const [command, rest] = this.argv(args);
    const result = spawnSync(command, rest, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (result.error !== undefined) throw new TsbuildError('RUNTIME', `${action}: start ${this.binary}: ${result.error.message}`, { cause: result.error });
    if (result.status !== 0) throw runtimeError(action, result.stderr);
    return result.stdout;
  }

  create(bundle: string, id: string, options: CreateOptions = {}): Promise<void> {
    const [command, args] = this.argv(['create', '--bundle', bundle, ...(options.pidFile === undefined ? [] : ['--pid-file', options.pidFile]), id]);
    // The created process inherits the runtime's stdio and outlives this call: a pipe would stay
    // open until the container ends, so the runtime's errors are read back from a file instead.
    const scratch = mkdtempSync(join(tmpdir(), 'tsbuild-create-'));
    const logPath = options.output ?? join(scratch, 'stderr');
    const log = openSync(logPath, 'a', 0o600);
    const out = options.output === undefined ? 'ignore' : log;
    try {
      const result = spawnSync(command, args, { stdio: ['ignore', out, log] });
      if (result.error !== undefined) return Promise.reject(new TsbuildError('RUNTIME', `create container ${id}: start ${this.binary}: ${result.error.message}`, { cause: result.error }));
      if (result.status !== 0) return Promise.reject(runtimeError(`create container ${id}`, readFileSync(logPath, 'utf8')));
      return Promise.resolve();
    } finally {
      closeSync(log);
      // Unlinked while the container may still write to it: its space is freed when the container ends.
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  // Promise-returning rather than async: the calls are synchronous, and a failure must still
  // arrive as a rejection, never as a throw from the call itself.
  start(id: string): Promise<void> {
    return this.settle(() => {
      this.invoke(`start container ${id}`, ['start', id]);
    });
  }

  state(id: string): Promise<ContainerState> {
    return this.settle(() => {
      const parsed = JSON.parse(this.invoke(`state of container ${id}`, ['state', id])) as ContainerState;
      return { id: parsed.id, status: parsed.status, pid: parsed.pid, bundle: parsed.bundle };
    });
  }

  kill(id: string, signal = 'TERM'): Promise<void> {
    return this.settle(() => {
      this.invoke(`kill container ${id}`, ['kill', id, signal]);
    });
  }

  delete(id: string, options: { readonly force?: boolean } = {}): Promise<void> {
    return this.settle(() => {
      this.invoke(`delete container ${id}`, ['delete', ...(options.force === true ? ['--force'] : []), id]);
    });
  }

  private settle<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

/** tsbuild's own runtime; fails with what to do when it was not built. */
export class ShimRuntime extends CommandRuntime {
  constructor(stateRoot?: string) {
    const path = shimPath();
    if (!existsSync(path)) {
      throw new TsbuildError('RUNTIME', `runtime-shim: ${path} is missing; build it with \`npm run build:shim\` (needs gcc, libc6-dev and make)`);
    }
    super('runtime-shim', path, stateRoot);
  }
}

/** `--runtime`: `runtime-shim` (default), `crun`, `runc`, or a path. */
export function selectRuntime(name = 'runtime-shim', stateRoot?: string): OciRuntime {
  if (name === 'runtime-shim' || name === 'tsbuild-runtime') return new ShimRuntime(stateRoot);
  return new CommandRuntime(name.includes('/') ? name.split('/').at(-1) ?? name : name, name, stateRoot);
}
