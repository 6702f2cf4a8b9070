import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runCli } from './program.js';

/**
 * What the rehearsals (build-rehearsal.ts, run-rehearsal.ts) share. They run when a bundle's code
 * cache is made (scripts/bundle-cli.mjs): V8 compiles a function when it first runs, and its code
 * cache holds only what was compiled by then; loading the modules compiles their top level, not
 * the code a command then runs.
 *
 * Only as root: an ordinary user's command would start itself again in a user namespace, and the
 * process here is the bundler's. The cache is then made without a rehearsal, as before.
 */
export function mayRehearse(): boolean {
  return process.getuid?.() === 0;
}

/** Runs FN with a scratch directory, removed after. */
export async function inScratch(fn: (scratch: string) => Promise<void>): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'tsbuild-rehearsal-'));
  try {
    await fn(scratch);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Runs the CLI with ARGV, its output thrown away; an exit status other than EXPECTED is an error naming what it said. */
export async function rehearse(argv: readonly string[], expected = 0): Promise<void> {
  let said = '';
  const stderr = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      said += chunk.toString();
      done();
    },
  });
  const stdout = new Writable({ write: (_chunk, _encoding, done) => done() });
  const status = await runCli(argv, { stdout, stderr, isTty: false });
  if (status !== expected) throw new Error(`${argv.join(' ')} exited with ${status}: ${said.trim()}`);
}
