/**
 * Commands killed with SIGKILL at moments spread over their run, as a crash or an OOM kill would
 * end them: the installed bin run as a separate process, its whole run timed first, then killed
 * at ROUNDS moments from its start to a little past its usual end, each kill followed by the
 * caller's checks (the store verifies, the listings work, the same command run again succeeds).
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { runCliCaptured, type CliResult } from './run-cli.js';

export const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;

export interface BinRun {
  /** null when the kill came first. */
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** `tsbuild ARGS` in a process of its own with TSBUILD_ROOT=ROOT, killed with SIGKILL after KILLAFTERMS when given. */
export function runBin(root: string, args: readonly string[], killAfterMs?: number, input?: string): Promise<BinRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, TSBUILD_ROOT: root }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    if (input !== undefined) child.stdin?.end(input);
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('error', reject);
    child.once('close', (status) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({ status, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/**
 * `tsbuild ARGS` on the store at ROOT, run in this process (a check after a kill need not pay
 * for a process of its own); `ok` says it must succeed.
 */
export async function cli(root: string, args: readonly string[]): Promise<CliResult> {
  const saved = process.env.TSBUILD_ROOT;
  process.env.TSBUILD_ROOT = root;
  try {
    return await runCliCaptured(args);
  } finally {
    if (saved === undefined) delete process.env.TSBUILD_ROOT;
    else process.env.TSBUILD_ROOT = saved;
  }
}

/** The same, which must succeed; its stdout. */
export async function cliOk(root: string, args: readonly string[]): Promise<string> {
  const run = await cli(root, args);
  expect(run.status, `tsbuild ${args.join(' ')}: ${run.stderr}`).toBe(0);
  return run.stdout;
}

export interface SweepOptions {
  readonly root: string;
  readonly rounds: number;
  /** Puts the store in the state the command starts from (round -1 and -2 are the timed runs). */
  readonly prepare?: (round: number) => Promise<void>;
  /** The command's arguments in ROUND. */
  readonly args: (round: number) => readonly string[];
  /** What must hold after ROUND's kill: the command may have ended, or been killed anywhere. */
  readonly check: (round: number, killed: BinRun) => Promise<void>;
}

/**
 * Times the command (twice, the first warming the disk cache), then kills it ROUNDS times at
 * moments spread from its start to 1.2 times its run; returns how many kills came before it ended.
 */
export async function killSweep(options: SweepOptions): Promise<number> {
  let span = 100;
  for (const round of [-2, -1]) {
    await options.prepare?.(round);
    const whole = await runBin(options.root, options.args(round));
    expect(whole.status, `tsbuild ${options.args(round).join(' ')}: ${whole.stderr}`).toBe(0);
    span = Math.max(100, whole.ms);
  }
  let killedMidway = 0;
  for (let round = 0; round < options.rounds; round++) {
    await options.prepare?.(round);
    const killed = await runBin(options.root, options.args(round), Math.floor((1.2 * span * (round + 0.5)) / options.rounds));
    if (killed.status === null) killedMidway++;
    await options.check(round, killed);
  }
  return killedMidway;
}

/** The entries of the store's temporary and ingest directories, which a prune must leave empty once no command runs. */
export async function leftoverTemporaries(root: string): Promise<string[]> {
  const names: string[] = [];
  for (const directory of ['tmp', 'ingest']) for (const name of await readdir(join(root, directory)).catch(() => [] as string[])) names.push(`${directory}/${name}`);
  for (const name of await readdir(join(root, 'layers')).catch(() => [] as string[])) if (name.endsWith('.tmp')) names.push(`layers/${name}`);
  return names;
}
