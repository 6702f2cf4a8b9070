import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli/index.js';

export interface CliResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in process with captured output, as the bin would with these arguments (with ISTTY, both on a terminal). */
export async function runCliCaptured(args: readonly string[], isTty = false): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  if (isTty) Object.assign(stdout, { isTTY: true });
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk.toString()));
  stderr.on('data', (chunk: Buffer) => err.push(chunk.toString()));
  const status = await runCli([...args], { stdout, stderr, isTty });
  return { status, stdout: out.join(''), stderr: err.join('') };
}
