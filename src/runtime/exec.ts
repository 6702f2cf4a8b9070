/**
 * `exec` and `top` for a running container: a process the runtime-shim starts in the
 * namespaces of the container's first process (`tsbuild-runtime exec --pid PID`, the process
 * as config.json describes it: the container's environment, user, working directory and
 * Docker's default capabilities), and the processes of its pid namespace as `ps -f` shows them.
 */
import { execFile, spawn } from 'node:child_process';
import { lstat, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Socket } from 'node:net';
import { PassThrough, type Writable } from 'node:stream';
import { TsbuildError, exitStatus, messageOf, uniqueHex } from '../common/index.js';
import { namespaceProcesses, type ContainerRecord } from './container.js';
import { DetachKeyMatcher } from './attach.js';
import { recordContainerEvent } from './events.js';
import { runtimeError, shimPath, type AttachedStreams } from './oci-runtime.js';
import { spawnPiped, type StdioWish } from './stdio-pipes.js';
import { containerCapabilities, securityOptOf } from './security-options.js';
import { generateConfig } from './spec.js';
import { ConsoleSocket, TerminalCopy, type TerminalSize } from './terminal.js';
import { containerEnvironment, overrideEnvironment } from './run.js';
import { lookupUser } from './user.js';

export interface ExecOptions {
  readonly args: readonly string[];
  /** `K=V` added to (or replacing in) the container's environment; `K` alone removes K. */
  readonly env?: readonly string[];
  /** Default: the container's user. */
  readonly user?: string;
  /** Default: the container's working directory. */
  readonly workdir?: string;
  /**
   * `exec -t`: a pty of the container's own (never the caller's terminal, whose input a process
   * could push keystrokes into), copied to and from `stdio`'s stdin and stdout. SIZE is its
   * first size; ONRESIZE is given the function that resizes it.
   */
  readonly terminal?: { readonly size?: TerminalSize; readonly onResize?: (resize: (size: TerminalSize) => void) => void };
  /** `-d`: started and left running. */
  readonly detach?: boolean;
  /** `--privileged`: every capability, whatever the container has (its seccomp rules then allow what they gate on them). */
  readonly privileged?: boolean;
  /** Copied through; `pipe` gives the output back (stdout and stderr together, bounded). */
  readonly stdio?: AttachedStreams | 'pipe';
  /** Ends the process with SIGKILL after this long (health checks). */
  readonly timeoutMs?: number;
  /**
   * docker's detach keys, looked for in `stdio`'s stdin: typed, the process is left running
   * (its output drained by a process of its own, its input held open) and the exec returns
   * `detached`.
   */
  readonly detachKeys?: Buffer;
  /** The root of the container's store: its event log is told of the exec (exec_create, exec_start, exec_die), as docker's daemon tells it. */
  readonly eventsRoot?: string;
  /**
   * With `detach` and `eventsRoot`: the command of a process that outlives the caller (a hidden
   * tsbuild command calling `waitDetachedExec`), given the exec's ID, its bundle and the
   * runtime's arguments, which runs the process and tells its end (exec_die), as docker's daemon
   * does for `exec -d`. Without it the end of a detached process is not told.
   */
  readonly detachedWaiter?: readonly string[];
  /**
   * Where the exec's OCI bundle (its process's environment among it) is made: the container's
   * directory, so that one a killed exec leaves goes with the container.
   */
  readonly bundleParent: string;
}

export interface ExecResult {
  /** 128+N when signal N ended it; -1 when it ran past `timeoutMs`; 0 when detached. */
  readonly status: number;
  readonly output: string;
  /** The detach keys were typed: the process goes on. */
  readonly detached?: boolean;
}

/**
 * Leaves an exec'd process running once the caller detached from it: a process of its own
 * (detached, its own session) holds FDS (the process's output to drain to its end, its input
 * to keep open), as docker's daemon holds an exec's streams when no one is attached.
 */
function holdStreams(fds: readonly (Socket | number | null)[]): void {
  const stdio = fds.map((fd) => fd ?? 'ignore');
  // A Node process: the descriptors are non-blocking (Node made them so, on the description
  // they share), which cat and its kin take for an error. fd 3 and 4: outputs (a pty's master,
  // or pipes), read to their end; fd 5: the input, open as long as the holder lives.
  const holder = spawn(process.execPath, ['-e', holderProgram], { stdio: ['ignore', 'ignore', 'ignore', ...stdio], detached: true });
  holder.unref();
}

const holderProgram = `
const net = require('node:net');
const tty = require('node:tty');
let open = 0;
for (const fd of [3, 4]) {
  let stream;
  try {
    stream = tty.isatty(fd) ? new tty.ReadStream(fd) : new net.Socket({ fd, readable: true, writable: false });
  } catch {
    continue;
  }
  open++;
  stream.on('data', () => undefined);
  stream.on('error', () => undefined);
  stream.on('close', () => {
    if (--open === 0) process.exit(0);
  });
}
if (open === 0) process.exit(0);
`;

/** STDIN filtered for DETACH_KEYS: what is not the keys goes on, and ON_DETACH is called when they are typed. */
function detachable(stdin: NodeJS.ReadableStream, detachKeys: Buffer | undefined, onDetach: () => void): NodeJS.ReadableStream {
  if (detachKeys === undefined || detachKeys.length === 0) return stdin;
  const keys = new DetachKeyMatcher(detachKeys);
  const filtered = new PassThrough();
  const onData = (chunk: Buffer | string): void => {
    const { input, detached } = keys.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (input.length > 0) filtered.write(input);
    if (detached) {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      onDetach();
    }
  };
  const onEnd = (): void => {
    filtered.end(keys.flush());
  };
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  return filtered;
}

const keyOf = (entry: string): string => (entry.includes('=') ? entry.slice(0, entry.indexOf('=')) : entry);

/** Whether CHUNK holds the runtime's own JSON error line (runtime-shim/ERRORS.md). */
const errorLine = (chunk: Buffer): boolean => chunk.subarray(0, 10).toString() === '{"error":{';

/**
 * The environment docker's exec gives its process (its daemon's CreateDaemonEnvironment): PATH,
 * HOSTNAME and, with -t only, TERM, overridden by the container's Config.Env, then by exec's own
 * EXEC_ENV (a bare `K` removes K); HOME from the user's passwd entry when none of them set it.
 * The run's TERM and HOME are its process's only: an exec without -t has no TERM.
 */
export function execEnvironment(record: Pick<ContainerRecord, 'config'>, execEnv: readonly string[], context: { readonly tty: boolean; readonly home: string; readonly userGiven: boolean }): string[] {
  const { configEnv } = record.config;
  if (configEnv !== undefined) return containerEnvironment(undefined, overrideEnvironment(configEnv, execEnv), { hostname: record.config.hostname, tty: context.tty, home: context.home });
  // A record from before configEnv keeps the run's process environment only: exec's variables
  // over it, HOME the exec user's unless exec set it.
  const env: string[] = [...record.config.env];
  for (const entry of [...(context.tty ? ['TERM=xterm'] : []), ...execEnv]) {
    const at = env.findIndex((existing) => keyOf(existing) === keyOf(entry));
    if (!entry.includes('=')) {
      if (at >= 0) env.splice(at, 1);
    } else if (at >= 0) env[at] = entry;
    else env.push(entry);
  }
  if (context.userGiven) {
    const home = env.findIndex((entry) => keyOf(entry) === 'HOME');
    if (home >= 0 && !execEnv.some((entry) => keyOf(entry) === 'HOME')) env[home] = `HOME=${context.home}`;
  }
  return env;
}

/** Runs a process in a running container (`docker exec`). */
export async function execInContainer(record: ContainerRecord, options: ExecOptions): Promise<ExecResult> {
  const pid = record.state.pid;
  if (record.state.status !== 'running' || pid === undefined) throw new TsbuildError('INVALID_ARGUMENT', `container ${record.id} is not running`);
  if (options.args.length === 0) throw new TsbuildError('INVALID_ARGUMENT', 'exec: no command specified');
  if (options.eventsRoot === undefined) return execProcess(record, pid, options);
  // As docker's daemon: the exec made and started (named by its entrypoint, then its arguments,
  // space-separated), and its end with its status; one left running (-d, detached) is not told
  // ending, nothing here waiting for it.
  const root = options.eventsRoot;
  const execID = uniqueHex(32);
  const command = `${options.args[0] ?? ''} ${options.args.slice(1).join(' ')}`;
  await recordContainerEvent(root, record, `exec_create: ${command}`, { execID });
  await recordContainerEvent(root, record, `exec_start: ${command}`, { execID });
  let result: ExecResult;
  try {
    result = await execProcess(record, pid, options, { root, execID });
  } catch (error) {
    // docker's exit code for an exec that could not start.
    await recordContainerEvent(root, record, 'exec_die', { execID, exitCode: '126' });
    throw error;
  }
  // One ended for running past its time (a health check's) was killed: 128+SIGKILL.
  if (options.detach !== true && result.detached !== true) await recordContainerEvent(root, record, 'exec_die', { execID, exitCode: String(result.status === -1 ? 137 : result.status) });
  return result;
}

/** How an exec's bundle directory is named in its container's directory (then mkdtemp's suffix). */
const execBundlePrefix = 'exec-';

async function execProcess(record: ContainerRecord, pid: number, options: ExecOptions, told?: { readonly root: string; readonly execID: string }): Promise<ExecResult> {
  const user = await lookupUser(`/proc/${pid}/root`, options.user ?? record.config.user);
  const workdir = options.workdir ?? record.config.workingDir;
  if (!workdir.startsWith('/')) throw new TsbuildError('INVALID_ARGUMENT', `the working directory '${workdir}' is invalid, it needs to be an absolute path`);
  const env = execEnvironment(record, options.env ?? [], { tty: options.terminal !== undefined, home: user.home, userGiven: options.user !== undefined });
  // What confines the container confines what runs in it, as docker exec: its capabilities,
  // its seccomp rules and no_new_privs.
  const host = record.hostConfig;
  const capabilities = await containerCapabilities(host?.capAdd ?? [], host?.capDrop ?? [], host?.privileged === true || options.privileged === true);
  const security = securityOptOf(host?.securityOpt ?? []);
  const bundle = await mkdtemp(join(options.bundleParent, execBundlePrefix));
  const config = generateConfig({
    capabilities,
    ...(host?.privileged === true ? { unmasked: true } : {}),
    ...(security.seccomp ? {} : { seccomp: false }),
    ...(security.noNewPrivileges ? { noNewPrivileges: true } : {}),
    args: options.args,
    env,
    cwd: workdir,
    user: { uid: user.uid, gid: user.gid, additionalGids: [user.gid, ...user.additionalGids] },
    rootfs: '/',
    rootless: false,
    ...(options.terminal === undefined ? {} : { terminal: true, ...(options.terminal.size === undefined ? {} : { consoleSize: options.terminal.size }) }),
  });
  await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
  const args = ['exec', '--pid', String(pid), '--bundle', bundle, record.id];
  if (options.terminal !== undefined && options.detach !== true) return runExecWithTerminal(record, args, options, options.terminal).finally(() => rm(bundle, { recursive: true, force: true }));
  let bundleKept = false;
  try {
    if (options.detach === true) {
      // When its end is told, a waiter runs the process, tells its end and removes the bundle;
      // else the runtime itself, which reads its config before it forks: the bundle may go once
      // it is running.
      const waiter = told === undefined || options.detachedWaiter === undefined ? undefined : [...options.detachedWaiter, '--root', told.root, '--exec-id', told.execID, '--bundle', bundle, record.id, '--'];
      const [command = '', ...rest] = [...(waiter ?? [shimPath()]), ...args];
      const child = spawn(command, rest, { stdio: 'ignore', detached: true });
      child.unref();
      bundleKept = waiter !== undefined;
      await new Promise((resolve) => setTimeout(resolve, 200));
      return { status: 0, output: '' };
    }
    return await runExec(record, args, options);
  } finally {
    if (!bundleKept) await rm(bundle, { recursive: true, force: true });
  }
}

/**
 * `exec -d`'s waiter, in a process of its own: runs the runtime with ARGS (the exec's process
 * in CONTAINER's namespaces), removes BUNDLE once the runtime has read it, and tells the
 * process's end (exec_die with its status) in ROOT's event log, as docker's daemon does. BUNDLE
 * must be an `exec-` directory right in BUNDLEPARENT (the container's directory), else nothing runs.
 */
export async function waitDetachedExec(root: string, record: ContainerRecord, execID: string, bundle: string, args: readonly string[], bundleParent: string): Promise<void> {
  // The bundle is removed whole at the end: only a directory execInContainer made for this
  // container is, never a path the command line named elsewhere.
  const bundleDirectory = await lstat(bundle).catch(() => undefined);
  const name = basename(bundle);
  if (dirname(resolve(bundle)) !== resolve(bundleParent) || !name.startsWith(execBundlePrefix) || name === execBundlePrefix || bundleDirectory?.isDirectory() !== true) {
    throw new TsbuildError('INVALID_ARGUMENT', `exec-wait: ${bundle} is not an exec bundle of container ${record.id}`);
  }
  const child = spawn(shimPath(), args, { stdio: 'ignore' });
  const status = await new Promise<number>((resolve) => {
    child.on('error', () => resolve(126));
    child.on('close', (code, signal) => resolve(exitStatus(code, signal)));
  });
  await rm(bundle, { recursive: true, force: true });
  await recordContainerEvent(root, record, 'exec_die', { execID, exitCode: String(status) });
}

/** `exec -t`: the runtime sends the pty master to a console socket; the master is copied to and from the caller's streams. */
async function runExecWithTerminal(record: ContainerRecord, args: readonly string[], options: ExecOptions, terminal: NonNullable<ExecOptions['terminal']>): Promise<ExecResult> {
  const attached = typeof options.stdio === 'object' ? options.stdio : undefined;
  const socket = ConsoleSocket.open();
  try {
    // A session of its own: the caller's terminal going away (after a detach) must not hang up
    // the runtime, which waits for the process.
    const child = spawn(shimPath(), [...args.slice(0, -1), '--console-socket', socket.path, ...args.slice(-1)], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    const ownError: Buffer[] = [];
    child.stderr?.on('data', (chunk: Buffer) => {
      if (errorLine(chunk)) ownError.push(chunk);
      else (attached?.stderr ?? process.stderr).write(chunk);
    });
    let ended = false;
    const exited = new Promise<number>((resolve, reject) => {
      child.on('error', (error) => reject(new TsbuildError('RUNTIME', `exec in container ${record.id}: start ${shimPath()}: ${error.message}`, { cause: error })));
      child.on('close', (code, signal) => {
        ended = true;
        resolve(exitStatus(code, signal));
      });
    });
    exited.catch(() => undefined);
    const master = await socket.receive(() => ended);
    let detach: () => void = () => undefined;
    const detached = new Promise<'detached'>((resolve) => (detach = () => resolve('detached')));
    const input = attached?.stdin === undefined ? undefined : detachable(attached.stdin, options.detachKeys, detach);
    const copy = master === undefined ? undefined : new TerminalCopy(master, input, attached?.stdout ?? process.stdout, terminal.size);
    if (copy !== undefined) terminal.onResize?.((size) => copy.resize(size));
    const status = await Promise.race([exited, detached]);
    if (status === 'detached') {
      // The terminal's master drained by a holder from now on: the process keeps its terminal.
      if (master !== undefined) holdStreams([master, null, null]);
      copy?.close();
      child.stderr?.destroy();
      child.unref();
      return { status: 0, output: '', detached: true };
    }
    // The process's output is read to its end (EIO once no descriptor of the slave is left), briefly.
    if (copy !== undefined) await Promise.race([copy.done, new Promise((resolve) => setTimeout(resolve, 2000))]);
    copy?.close();
    if (status === 125 && ownError.length > 0) throw runtimeError(`exec in container ${record.id}`, Buffer.concat(ownError).toString());
    return { status, output: '' };
  } finally {
    socket.close();
  }
}

function runExec(record: ContainerRecord, args: readonly string[], options: ExecOptions): Promise<ExecResult> {
  const attached = typeof options.stdio === 'object' ? options.stdio : undefined;
  const piped = options.stdio === 'pipe';
  const wishes: [StdioWish, StdioWish, StdioWish] = [attached?.stdin === undefined ? 'ignore' : 'pipe', attached?.stdout === undefined && !piped ? 'ignore' : 'pipe', 'pipe'];
  return new Promise((resolve, reject) => {
    const { child, stdin: childStdin, stdout: childStdout, stderr: childStderr, onClose } = spawnPiped(shimPath(), args, wishes);
    const output: Buffer[] = [];
    const ownError: Buffer[] = [];
    let outputBytes = 0;
    const keep = (chunk: Buffer): void => {
      if (outputBytes > 64 * 1024) return;
      output.push(chunk);
      outputBytes += chunk.length;
    };
    childStderr?.on('data', (chunk: Buffer) => {
      // The runtime's own failure becomes the rejection; it is not shown as output.
      if (errorLine(chunk)) ownError.push(chunk);
      else if (piped) keep(chunk);
      else (attached?.stderr ?? process.stderr).write(chunk);
    });
    if (piped) childStdout?.on('data', keep);
    else if (attached?.stdout !== undefined) childStdout?.pipe(attached.stdout as NodeJS.WritableStream & Writable, { end: false });
    if (attached?.stdin !== undefined && childStdin !== null) {
      const input = childStdin;
      input.on('error', () => undefined);
      const source = detachable(attached.stdin, options.detachKeys, () => {
        // Its streams held by a holder from now on; this exec is over for the caller.
        source.unpipe(input);
        childStdout?.unpipe();
        childStdout?.pause();
        childStderr?.pause();
        holdStreams([childStdout as Socket | null, childStderr as Socket | null, input as Socket]);
        for (const stream of [childStdout, childStderr, input]) stream?.destroy();
        child.unref();
        if (timer !== undefined) clearTimeout(timer);
        resolve({ status: 0, output: '', detached: true });
      });
      source.pipe(input);
      child.on('exit', () => source.unpipe(input));
    }
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    child.on('error', (error) => reject(new TsbuildError('RUNTIME', `exec in container ${record.id}: start ${shimPath()}: ${error.message}`, { cause: error })));
    onClose((code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      const status = timedOut ? -1 : exitStatus(code, signal);
      if (status === 125 && ownError.length > 0) {
        reject(runtimeError(`exec in container ${record.id}`, Buffer.concat(ownError).toString()));
        return;
      }
      resolve({ status, output: Buffer.concat(output).toString() });
    });
  });
}

/** The processes of the container's pid namespace, as `ps -f` prints them (docker top's default). */
export async function topOfContainer(record: ContainerRecord, psOptions: readonly string[] = ['-f']): Promise<string> {
  const pid = record.state.pid;
  if (record.state.status !== 'running' || pid === undefined) throw new TsbuildError('INVALID_ARGUMENT', `container ${record.id} is not running`);
  const pids = await namespaceProcesses(pid);
  if (pids === undefined) throw new TsbuildError('INVALID_ARGUMENT', `container ${record.id} is not running`);
  return new Promise((resolve, reject) => {
    execFile('ps', [...psOptions, '-p', pids.join(',')], (error, stdout, stderr) => {
      if (error !== null && stdout === '') reject(new TsbuildError('RUNTIME', `top of container ${record.id}: ${stderr.trim() || messageOf(error)}`, { cause: error }));
      else resolve(stdout);
    });
  });
}
