/**
 * Parser speed: throughput over the whole conformance corpus in process (after warm-up), and
 * the cold start of `tsbuild debug parse` on one file against `node -e 0` in the same run.
 * Each figure also as CPU time (user and system, every thread), which other load on a shared
 * machine moves far less than wall time.
 *
 * Targets, on wall time: at least 20 MB/s in process; a cold start within 50 ms of
 * `node -e 0`'s, measured in the same run (a ratio would move with Node's own start-up, which
 * varies from 32 to 65 ms on the development machine). Run with NODE_EXTRA_CA_CERTS unset, as on
 * users' machines: with it, every Node process parses the CA bundle at start.
 *
 *   npm run bench parse
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type * as Parser from '../src/parser/index.js';
// The compiled parser, as the installed CLI runs it.
const { parseDockerfile } = (await import(new URL('../dist/parser/index.js', import.meta.url).href)) as typeof Parser;

const root = new URL('..', import.meta.url).pathname;
if (!existsSync(join(root, 'dist', 'parser', 'index.js'))) throw new Error('bench parse: run `npm run build` first');
const corpus = join(root, '..', 'shared', 'conformance');

function dockerfiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...dockerfiles(path));
    else if (entry === 'Dockerfile') found.push(path);
  }
  return found;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

const texts = dockerfiles(corpus).map((path) => new TextDecoder().decode(readFileSync(path)));
const bytes = texts.reduce((sum, text) => sum + Buffer.byteLength(text), 0);

// Warm-up by time rather than by count: the optimizing compiler needs a few seconds of calls.
const warmUntil = performance.now() + 3000;
while (performance.now() < warmUntil) for (const text of texts) parseDockerfile(text);
const passes: number[] = [];
const cpuPasses: number[] = [];
for (let round = 0; round < 41; round++) {
  const started = process.hrtime.bigint();
  const cpuStarted = process.cpuUsage();
  for (const text of texts) parseDockerfile(text);
  const cpu = process.cpuUsage(cpuStarted);
  passes.push(Number(process.hrtime.bigint() - started) / 1e9);
  cpuPasses.push((cpu.user + cpu.system) / 1e6);
}
const seconds = median(passes);
const cpuSeconds = median(cpuPasses);

const example = join(root, 'examples', 'hello', 'Dockerfile');
function wall(args: readonly string[]): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0) throw new Error(`node ${args.join(' ')} failed: ${result.stderr.toString()}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}
const nodeRuns: number[] = [];
const cliRuns: number[] = [];
for (let i = 0; i < 21; i++) {
  nodeRuns.push(wall(['-e', '0']));
  cliRuns.push(wall(['bin/tsbuild.js', 'debug', 'parse', '-f', example]));
}
const nodeMs = median(nodeRuns);
const cliMs = median(cliRuns);

// The same commands again for their CPU time, which they report themselves as they exit.
const cpuReporter = join(root, 'bench', 'cpu-at-exit.cjs');
function cpuTime(args: readonly string[]): number {
  const result = spawnSync(process.execPath, ['-r', cpuReporter, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  const reported = /cpu-microseconds (\d+)/.exec(result.stderr.toString());
  if (result.status !== 0 || reported === null) throw new Error(`node ${args.join(' ')} failed: ${result.stderr.toString()}`);
  return Number(reported[1]) / 1000;
}
const nodeCpu: number[] = [];
const cliCpu: number[] = [];
for (let i = 0; i < 21; i++) {
  nodeCpu.push(cpuTime(['-e', '0']));
  cliCpu.push(cpuTime(['bin/tsbuild.js', 'debug', 'parse', '-f', example]));
}
const nodeCpuMs = median(nodeCpu);
const cliCpuMs = median(cliCpu);

// The load average says how far other work on the machine may have moved the figures.
process.stdout.write(`corpus: ${texts.length} files, ${(bytes / 1e6).toFixed(2)} MB; node ${process.version}; ${os.cpus().length} CPUs; load average ${os.loadavg()[0]?.toFixed(1)} at the end\n\n`);
process.stdout.write('| measure | value | CPU time | target |\n|---|---|---|---|\n');
process.stdout.write(`| in-process throughput (median of 41 passes) | ${(bytes / 1e6 / seconds).toFixed(1)} MB/s, ${(texts.length / seconds).toFixed(0)} files/s | ${(bytes / 1e6 / cpuSeconds).toFixed(1)} MB/s | >= 20 MB/s |\n`);
process.stdout.write(`| cold start, tsbuild debug parse (median of 21) | ${cliMs.toFixed(0)} ms | ${cliCpuMs.toFixed(0)} ms | |\n`);
process.stdout.write(`| cold start, node -e 0 (median of 21) | ${nodeMs.toFixed(0)} ms | ${nodeCpuMs.toFixed(0)} ms | |\n`);
process.stdout.write(`| difference | ${(cliMs - nodeMs).toFixed(0)} ms (${(cliMs / nodeMs).toFixed(2)}x) | ${(cliCpuMs - nodeCpuMs).toFixed(0)} ms | <= 50 ms |\n`);
process.stdout.write('\nThe targets are on wall time (value); CPU time (all threads) is what other load on the machine moves least.\n');
if (process.env.NODE_EXTRA_CA_CERTS !== undefined) process.stdout.write('\nNODE_EXTRA_CA_CERTS is set: every Node process reads that bundle at start; unset it to measure as on users\' machines.\n');
