/**
 * Layer compression: tsbuild's gzip (1 MiB runs deflated on every core, joined into one
 * stream) and zstd (libzstd, one worker per core) over one large tar of this machine's /usr,
 * against single-threaded `gzip -6` of the same tar, measured in the same run, rounds
 * interleaved. Each figure as wall time and as CPU time (every thread; the gzip child's from
 * the kernel's account of waited-for children), with the load average: other work on a shared
 * machine stretches wall time far more than CPU time. Checks that every round gives the same
 * digest.
 *
 * Targets, on wall time: tsbuild's gzip at least 1.6× the throughput of `gzip -6`; zstd at
 * least 3× tsbuild's gzip.
 *
 *   env -u NODE_EXTRA_CA_CERTS npm run bench compress     # BENCH_COMPRESS_MB=256 BENCH_ROUNDS=3
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type * as Exporter from '../src/exporter/index.js';
import type { Digest } from '../src/common/index.js';
// The compiled exporter, as the installed CLI runs it.
const { compressLayer } = (await import(new URL('../dist/exporter/index.js', import.meta.url).href)) as typeof Exporter;

const megabytes = Number(process.env.BENCH_COMPRESS_MB ?? 256);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

/** Regular files under DIR in name order, until BUDGET bytes: libraries and programs, as layers hold them. */
function pickFiles(dir: string, budget: { left: number }, into: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    if (budget.left <= 0) return;
    const path = join(dir, name);
    const info = lstatSync(path);
    if (info.isDirectory()) pickFiles(path, budget, into);
    else if (info.isFile() || info.isSymbolicLink()) {
      into.push(path.slice(1));
      budget.left -= info.isFile() ? info.size : 0;
    }
  }
}

const work = mkdtempSync(join(os.tmpdir(), 'tsbuild-bench-compress-'));
try {
  const files: string[] = [];
  // Three parts of /usr: shared libraries, programs, and text (docs, scripts, data).
  for (const [dir, share] of [['/usr/lib/x86_64-linux-gnu', 0.5], ['/usr/bin', 0.25], ['/usr/share', 0.25]] as const) pickFiles(dir, { left: megabytes * share * 1024 * 1024 }, files);
  writeFileSync(join(work, 'files'), files.join('\n'));
  const tar = join(work, 'layer.tar');
  const made = spawnSync('tar', ['-C', '/', '--sort=name', '-cf', tar, '-T', join(work, 'files')], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`bench compress: tar: ${made.stderr}`);
  const tarBytes = statSync(tar).size;
  // Into the page cache before anything is timed.
  readFileSync(tar);

  /** The children's CPU seconds so far (utime + stime of waited-for children, in clock ticks). */
  const childCpu = (): number => {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[13]) + Number(fields[14])) / 100;
  };

  /** A sink like the store's: hashes the blob and counts it; nothing is written. */
  const hashingSink = {
    async putBlob(source: AsyncIterable<Uint8Array>): Promise<{ digest: Digest; size: number }> {
      const hash = createHash('sha256');
      let size = 0;
      await pipeline(
        source,
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            size += chunk.length;
            done();
          },
        }),
      );
      return { digest: `sha256:${hash.digest('hex')}` as Digest, size };
    },
  };

  interface Measure {
    wall: number[];
    cpu: number[];
    digests: Set<string>;
    size: number;
  }
  const measures: Record<'gzip -6' | 'tsbuild gzip' | 'tsbuild zstd', Measure> = {
    'gzip -6': { wall: [], cpu: [], digests: new Set(), size: 0 },
    'tsbuild gzip': { wall: [], cpu: [], digests: new Set(), size: 0 },
    'tsbuild zstd': { wall: [], cpu: [], digests: new Set(), size: 0 },
  };

  async function inProcess(which: 'gzip' | 'zstd'): Promise<void> {
    const measure = measures[`tsbuild ${which}`];
    const started = process.hrtime.bigint();
    const cpuStarted = process.cpuUsage();
    const layer = await compressLayer(createReadStream(tar, { highWaterMark: 1024 * 1024 }), hashingSink, which);
    const cpu = process.cpuUsage(cpuStarted);
    measure.wall.push(Number(process.hrtime.bigint() - started) / 1e9);
    measure.cpu.push((cpu.user + cpu.system) / 1e6);
    measure.digests.add(layer.descriptor.digest);
    measure.size = layer.descriptor.size;
  }

  function gnuGzip(): void {
    const measure = measures['gzip -6'];
    const cpuStarted = childCpu();
    const started = process.hrtime.bigint();
    const result = spawnSync('sh', ['-c', 'gzip -6 -n -c "$1" | wc -c', 'sh', tar], { encoding: 'utf8' });
    measure.wall.push(Number(process.hrtime.bigint() - started) / 1e9);
    measure.cpu.push(childCpu() - cpuStarted);
    if (result.status !== 0) throw new Error(`bench compress: gzip: ${result.stderr}`);
    measure.size = Number(result.stdout.trim());
  }

  const load = (): string => os.loadavg()[0]?.toFixed(1) ?? '?';
  const loadAtStart = load();
  // One untimed pass of each: the JIT and the addon's first load.
  await inProcess('gzip');
  await inProcess('zstd');
  for (const measure of Object.values(measures)) {
    measure.wall.length = 0;
    measure.cpu.length = 0;
  }
  for (let round = 0; round < rounds; round++) {
    // Each goes first in turn.
    const order = [(): Promise<void> | void => gnuGzip(), () => inProcess('gzip'), () => inProcess('zstd')];
    for (let i = 0; i < order.length; i++) await order[(i + round) % order.length]?.();
  }

  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
  const mb = tarBytes / 1e6;
  const rate = (seconds: number): number => mb / seconds;
  process.stdout.write(`tar: ${files.length} entries of /usr, ${mb.toFixed(0)} MB; ${os.availableParallelism()} CPUs; node ${process.version}; load average ${loadAtStart} at the start, ${load()} at the end; medians of ${rounds} rounds\n\n`);
  process.stdout.write('| compressor | wall s | MB/s | CPU s | MB/s per CPU s | output MB | ratio | digests over the rounds |\n|---|---:|---:|---:|---:|---:|---:|---|\n');
  for (const [name, measure] of Object.entries(measures)) {
    const wall = median(measure.wall);
    const cpu = median(measure.cpu);
    const digests = name === 'gzip -6' ? 'n/a' : measure.digests.size === 1 ? `1 (${[...measure.digests][0]?.slice(0, 19)}…)` : `${measure.digests.size}: NOT DETERMINISTIC`;
    process.stdout.write(`| ${name} | ${wall.toFixed(2)} | ${rate(wall).toFixed(0)} | ${cpu.toFixed(2)} | ${(mb / cpu).toFixed(0)} | ${(measure.size / 1e6).toFixed(1)} | ${(measure.size / tarBytes).toFixed(3)} | ${digests} |\n`);
  }
  const gzipSpeedup = median(measures['gzip -6'].wall) / median(measures['tsbuild gzip'].wall);
  const zstdSpeedup = median(measures['tsbuild gzip'].wall) / median(measures['tsbuild zstd'].wall);
  const deterministic = measures['tsbuild gzip'].digests.size === 1 && measures['tsbuild zstd'].digests.size === 1;
  process.stdout.write(`\ntsbuild gzip / gzip -6: ${gzipSpeedup.toFixed(2)}× (target ≥ 1.6×: ${gzipSpeedup >= 1.6 ? 'met' : 'not met'})\n`);
  process.stdout.write(`tsbuild zstd / tsbuild gzip: ${zstdSpeedup.toFixed(2)}× (target ≥ 3×: ${zstdSpeedup >= 3 ? 'met' : 'not met'})\n`);
  process.stdout.write(`one digest per compressor over every round: ${deterministic ? 'yes' : 'NO'}\n`);
  if (!deterministic) process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
