/**
 * What the benchmarks share: the environment of timed commands, running one, medians. (A folder of
 * its own: bench/run.ts takes every .ts file of bench/ for a benchmark.)
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';

/** The shell's environment without what would colour a timed command: Node's CA bundle, a docker host or config, a progress mode. */
export const benchEnv: NodeJS.ProcessEnv = { ...process.env };
for (const name of ['NODE_EXTRA_CA_CERTS', 'DOCKER_HOST', 'DOCKER_CONFIG', 'BUILDKIT_PROGRESS']) delete benchEnv[name];

export interface Command {
  readonly argv: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs COMMAND in `benchEnv` (with its own additions); fails with WHAT and the output's end when it fails. */
export function run(command: Command, what: string): SpawnSyncReturns<string> {
  const [file, ...args] = command.argv;
  if (file === undefined) throw new Error('empty command');
  const result = spawnSync(file, args, { encoding: 'utf8', env: { ...benchEnv, ...command.env }, maxBuffer: 64 << 20 });
  if (result.status !== 0) throw new Error(`${what}: ${command.argv.join(' ')} exited ${result.status ?? result.signal}: ${(result.stderr + result.stdout).slice(-1500)}`);
  return result;
}

/** Seconds COMMAND takes, after a `sync` so that it does not wait on the writeback of the one before. */
export function timed(command: Command, what: string): number {
  spawnSync('sync');
  const start = process.hrtime.bigint();
  run(command, what);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** The median of VALUES (NaN ones left out); NaN when none is left. */
export function median(values: readonly number[]): number {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Fails with WHAT's name unless the peers' registry holds the debian base image. */
export function requireDebianImage(registry: string, what: string): void {
  const probe = spawnSync('curl', ['-sf', `http://${registry}/v2/library/debian/tags/list`], { encoding: 'utf8' });
  if (probe.status !== 0 || !probe.stdout.includes('bookworm-slim')) throw new Error(`bench ${what}: ${registry}/library/debian:bookworm-slim is not in the registry: run /work/shared/peers/setup.sh`);
}
