/**
 * `exec` and `top` for a running container: a process that joins the namespaces of the
 * container's first process (util-linux `nsenter`, which every host tsbuild runs on has), and the
 * processes of its pid namespace as `ps -f` shows them.
 */
import { execFile, spawn, type StdioOptions } from 'node:child_process';
import { readdir, readlink } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import type { Writable } from 'node:stream';
import { TsbuildError, messageOf } from '../common/index.js';
import type { ContainerRecord } from './container.js';
import type { AttachedStreams } from './oci-runtime.js';
import { lookupUser, resolvePathInRoot } from './user.js';

export interface ExecOptions {
  readonly args: readonly string[];
  /** `K=V` added to (or replacing in) the container's environment. */
  readonly env?: readonly string[];
  /** Default: the container's user. */
  readonly user?: string;
  /** Default: the container's working directory. */
  readonly workdir?: string;
  /** The caller's own terminal, as it is (`exec -t` from a terminal). */
  readonly inheritTerminal?: boolean;
  /** `-d`: started and left running. */
  readonly detach?: boolean;
  /** Copied through; `pipe` gives the output back (stdout and stderr together, bounded). */
  readonly stdio?: AttachedStreams | 'pipe';
  /** Ends the process with SIGKILL after this long (health checks). */
  readonly timeoutMs?: number;
}

export interface ExecResult {
  /** 128+N when signal N ended it; -1 when it ran past `timeoutMs`. */
  readonly status: number;
  readonly output: string;
}

const namespaceFlags: readonly (readonly [string, string])[] = [
  ['mnt', '--mount'],
  ['uts', '--uts'],
  ['ipc', '--ipc'],
  ['net', '--net'],
  ['pid', '--pid'],
  ['cgroup', '--cgroup'],
];

const keyOf = (entry: string): string => (entry.includes('=') ? entry.slice(0, entry.indexOf('=')) : entry);

/** The namespaces of PID that are not this process's own (joining one's own is refused where it belongs to a parent user namespace). */
async function namespacesToJoin(pid: number): Promise<string[]> {
  const flags: string[] = [];
  for (const [name, flag] of namespaceFlags) {
    const [theirs, ours] = await Promise.all([readlink(`/proc/${pid}/ns/${name}`).catch(() => undefined), readlink(`/proc/self/ns/${name}`).catch(() => undefined)]);
    if (theirs !== undefined && theirs !== ours) flags.push(flag);
  }
  const [theirUser, ourUser] = await Promise.all([readlink(`/proc/${pid}/ns/user`).catch(() => undefined), readlink(`/proc/self/ns/user`).catch(() => undefined)]);
  // An ordinary user's container lives in the user namespace of the tsbuild that started it.
  if (theirUser !== undefined && theirUser !== ourUser) flags.unshift('--user');
  return flags;
}

/** Runs a process in a running container (`docker exec`). */
export async function execInContainer(record: ContainerRecord, options: ExecOptions): Promise<ExecResult> {
  const pid = record.state.pid;
  if (record.state.status !== 'running' || pid === undefined) throw new TsbuildError('INVALID_ARGUMENT', `container ${record.id} is not running`);
  if (options.args.length === 0) throw new TsbuildError('INVALID_ARGUMENT', 'exec: no command specified');
  const user = await lookupUser(`/proc/${pid}/root`, options.user ?? record.config.user);
  const workdir = options.workdir ?? record.config.workingDir;
  if (!workdir.startsWith('/')) throw new TsbuildError('INVALID_ARGUMENT', `the working directory '${workdir}' is invalid, it needs to be an absolute path`);
  const env: string[] = [...record.config.env];
  for (const entry of options.env ?? []) {
    const at = env.findIndex((existing) => keyOf(existing) === keyOf(entry));
    if (!entry.includes('=')) {
      if (at >= 0) env.splice(at, 1);
    } else if (at >= 0) env[at] = entry;
    else env.push(entry);
  }
  if (options.user !== undefined && !env.some((entry) => entry.startsWith('HOME='))) env.push(`HOME=${user.home}`);
  const environment: Record<string, string> = {};
  for (const entry of env) if (entry.includes('=')) environment[keyOf(entry)] = entry.slice(entry.indexOf('=') + 1);
  // nsenter opens the working directory before it enters the container: given as the host sees
  // it, resolved inside the container's root (a symbolic link in the image must not lead out).
  const hostWorkdir = await resolvePathInRoot(`/proc/${pid}/root`, workdir);
  const args = [
    `--target=${pid}`,
    ...(await namespacesToJoin(pid)),
    '--root',
    `--wd=${hostWorkdir}`,
    `--setgid=${user.gid}`,
    `--setuid=${user.uid}`,
    '--',
    ...options.args,
  ];
  if (options.detach === true) {
    const child = spawn('nsenter', args, { stdio: 'ignore', detached: true, env: environment });
    child.unref();
    return { status: 0, output: '' };
  }
  const attached = typeof options.stdio === 'object' ? options.stdio : undefined;
  const piped = options.stdio === 'pipe';
  const stdio: StdioOptions = options.inheritTerminal === true ? 'inherit' : [attached?.stdin === undefined ? 'ignore' : 'pipe', attached?.stdout === undefined && !piped ? 'ignore' : 'pipe', 'pipe'];
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', args, { stdio, env: environment });
    const output: Buffer[] = [];
    let outputBytes = 0;
    const keep = (chunk: Buffer): void => {
      if (outputBytes > 64 * 1024) return;
      output.push(chunk);
      outputBytes += chunk.length;
    };
    if (piped) {
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
    } else if (attached !== undefined) {
      if (attached.stdout !== undefined) child.stdout?.pipe(attached.stdout as NodeJS.WritableStream & Writable, { end: false });
      child.stderr?.pipe(attached.stderr as NodeJS.WritableStream & Writable, { end: false });
      if (attached.stdin !== undefined && child.stdin !== null) {
        child.stdin.on('error', () => undefined);
        attached.stdin.pipe(child.stdin);
        child.on('exit', () => {
          if (child.stdin !== null) attached.stdin?.unpipe(child.stdin);
        });
      }
    }
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    child.on('error', (error) => reject(new TsbuildError('RUNTIME', `exec in container ${record.id}: start nsenter: ${error.message}`, { cause: error })));
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      const status = timedOut ? -1 : (code ?? 128 + (signal === null ? 0 : osConstants.signals[signal]));
      resolve({ status, output: Buffer.concat(output).toString() });
    });
  });
}

/** The processes of the container's pid namespace, as `ps -f` prints them (docker top's default). */
export async function topOfContainer(record: ContainerRecord, psOptions: readonly string[] = ['-f']): Promise<string> {
  const pid = record.state.pid;
  if (record.state.status !== 'running' || pid === undefined) throw new TsbuildError('INVALID_ARGUMENT', `container ${record.id} is not running`);
  const namespace = await readlink(`/proc/${pid}/ns/pid`).catch(() => undefined);
  if (namespace === undefined) throw new TsbuildError('INVALID_ARGUMENT', `container ${record.id} is not running`);
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if ((await readlink(`/proc/${entry}/ns/pid`).catch(() => undefined)) === namespace) pids.push(Number(entry));
  }
  return new Promise((resolve, reject) => {
    execFile('ps', [...psOptions, '-p', pids.join(',')], (error, stdout, stderr) => {
      if (error !== null && stdout === '') reject(new TsbuildError('RUNTIME', `top of container ${record.id}: ${stderr.trim() || messageOf(error)}`, { cause: error }));
      else resolve(stdout);
    });
  });
}
