/**
 * What `RUN --mount=type=cache` saves: the debian bench's package install (gcc and libc6-dev from
 * Debian's mirror), built a second time after a change above the install, once with apt's
 * caches on cache mounts and once without, on roots that hold the base image and the first
 * build. The target: the cached build at most 0.6× the uncached one.
 *
 *   /work/shared/peers/setup.sh                     # the registry with the debian base image
 *   npm run build && BENCH_ROUNDS=3 npm run bench cache-mount
 *
 * Each round changes the build arg used by the step above the install, so the install misses
 * the step cache every time and the difference is only what the mounts keep: the package lists
 * (apt-get update answers from them with If-Modified-Since) and the downloaded .debs. Debian's
 * image deletes downloaded packages after each install (docker-clean); the Dockerfile removes
 * that hook, as BuildKit's documentation of cache mounts does.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { median, requireDebianImage, timed } from './support/commands.js';

const rounds = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? '3'));
const registry = '127.0.0.1:5000';
const debianRef = `${registry}/library/debian:bookworm-slim`;
const repoRoot = new URL('..', import.meta.url).pathname;
const cli = process.env['BENCH_TSBUILD'] ?? join(repoRoot, 'bin', 'tsbuild.js');


const install = 'apt-get update -q && apt-get install -y -q --no-install-recommends gcc libc6-dev';
const dockerfiles = {
  'with cache mounts': [
    `FROM ${debianRef}`,
    'ENV DEBIAN_FRONTEND=noninteractive',
    'RUN rm -f /etc/apt/apt.conf.d/docker-clean',
    'ARG ROUND=0',
    'RUN echo "$ROUND" > /round',
    `RUN --mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=cache,target=/var/lib/apt,sharing=locked ${install}`,
  ],
  'without': [`FROM ${debianRef}`, 'ENV DEBIAN_FRONTEND=noninteractive', 'ARG ROUND=0', 'RUN echo "$ROUND" > /round', `RUN ${install} && rm -rf /var/lib/apt/lists/*`],
} as const;

function tsbuild(args: readonly string[]): number {
  return timed({ argv: [process.execPath, cli, ...args] }, 'tsbuild');
}


requireDebianImage(registry, 'cache-mount');

const work = mkdtempSync(join(os.tmpdir(), 'tsbuild-bench-cache-mount-'));
try {
  const times = new Map<string, number[]>();
  for (const [name, lines] of Object.entries(dockerfiles)) {
    const context = join(work, name.replace(/\W+/g, '-'));
    const root = join(context, 'root');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), `${lines.join('\n')}\n`);
    const common = ['build', '--root', root, '-q', '--network', 'host', '--insecure-registry', registry, '-t', 'bench/cache-mount:latest'];
    // The first build fills the step cache and, with mounts, the caches; it is not timed.
    tsbuild([...common, '--build-arg', 'ROUND=first', context]);
    const measured: number[] = [];
    for (let round = 0; round < rounds; round++) measured.push(tsbuild([...common, '--build-arg', `ROUND=${round}`, context]));
    times.set(name, measured);
  }
  const withMounts = median(times.get('with cache mounts') ?? []);
  const without = median(times.get('without') ?? []);
  process.stdout.write('| debian install after a change above it | median (s) | rounds |\n|---|---|---|\n');
  for (const [name, measured] of times) process.stdout.write(`| ${name} | ${median(measured).toFixed(2)} | ${measured.map((value) => value.toFixed(2)).join(', ')} |\n`);
  process.stdout.write(`\nwith cache mounts / without: ${(withMounts / without).toFixed(2)}x (target at most 0.6x); load average ${os.loadavg()[0]?.toFixed(1)}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
