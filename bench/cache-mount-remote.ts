/**
 * Cache mounts that follow ephemeral runners: the debian bench's package install (gcc and
 * libc6-dev from Debian's mirror, apt's caches on cache mounts) on a fresh root — only the base
 * image — after a change above the install, importing the registry cache another root exported
 * with `cache-mounts=true` (apt's lists and .debs restored before the install runs), against the
 * same fresh build importing the same records without the mounts' contents. The issue's target:
 * at most 0.6× the time without the restored mount.
 *
 *   /work/shared/peers/setup.sh                     # the registry with the debian base image
 *   npm run build && BENCH_ROUNDS=3 npm run bench cache-mount-remote
 *
 * The exporting build runs once with ROUND=first; each timed build sets another ROUND, so the
 * step above the install and the install itself miss every time: what differs is only what the
 * restored mounts hold. Both timed builds fetch what they import from the same local registry.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { benchEnv, median, requireDebianImage, timed } from './support/commands.js';

const rounds = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? '3'));
const registry = '127.0.0.1:5000';
const debianRef = `${registry}/library/debian:bookworm-slim`;
const repoRoot = new URL('..', import.meta.url).pathname;
const cli = process.env['BENCH_TSBUILD'] ?? join(repoRoot, 'bin', 'tsbuild.js');
const withMounts = `${registry}/tsbuild-bench/cache-mount:with-mounts`;
const recordsOnly = `${registry}/tsbuild-bench/cache-mount:records-only`;


const install = 'apt-get update -q && apt-get install -y -q --no-install-recommends gcc libc6-dev';
const dockerfile = [
  `FROM ${debianRef}`,
  'ENV DEBIAN_FRONTEND=noninteractive',
  'RUN rm -f /etc/apt/apt.conf.d/docker-clean',
  'ARG ROUND=0',
  'RUN echo "$ROUND" > /round',
  `RUN --mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=cache,target=/var/lib/apt,sharing=locked ${install}`,
];

function tsbuild(args: readonly string[]): number {
  return timed({ argv: [process.execPath, cli, ...args] }, 'tsbuild');
}


requireDebianImage(registry, 'cache-mount-remote');

const work = mkdtempSync(join(os.tmpdir(), 'tsbuild-bench-cache-mount-remote-'));
try {
  const context = join(work, 'context');
  const base = join(work, 'base');
  const root = join(work, 'root');
  mkdirSync(context);
  writeFileSync(join(context, 'Dockerfile'), `${dockerfile.join('\n')}\n`);
  const pulled = spawnSync(process.execPath, [cli, 'pull', '--quiet', '--insecure-registry', registry, '--root', base, debianRef], { encoding: 'utf8', env: benchEnv });
  if (pulled.status !== 0) throw new Error(`tsbuild pull ${debianRef}: ${pulled.stderr}`);
  const fresh = (): void => {
    rmSync(root, { recursive: true, force: true });
    cpSync(base, root, { recursive: true, verbatimSymlinks: true });
  };
  const common = ['build', '--root', root, '-q', '--network', 'host', '--insecure-registry', registry, '-t', 'bench/cache-mount-remote:latest'];

  // Runner A: builds once and exports the same records twice, with and without the mounts' contents.
  fresh();
  const exported = tsbuild([...common, '--build-arg', 'ROUND=first', '--cache-to', `type=registry,ref=${withMounts},mode=max,cache-mounts=true`, '--cache-to', `type=registry,ref=${recordsOnly},mode=max`, context]);
  process.stderr.write(`bench cache-mount-remote: exporting build ${exported.toFixed(2)} s\n`);

  const times = new Map<string, number[]>([
    ['restored from the registry', []],
    ['without the restored mount', []],
  ]);
  for (let round = 0; round < rounds; round++) {
    // Alternated, so that a slower moment of the mirror or the machine does not favour one.
    const order = round % 2 === 0 ? [withMounts, recordsOnly] : [recordsOnly, withMounts];
    for (const ref of order) {
      fresh();
      const seconds = tsbuild([...common, '--build-arg', `ROUND=${round}`, '--cache-from', `type=registry,ref=${ref}`, context]);
      times.get(ref === withMounts ? 'restored from the registry' : 'without the restored mount')?.push(seconds);
    }
  }
  const restored = median(times.get('restored from the registry') ?? []);
  const without = median(times.get('without the restored mount') ?? []);
  process.stdout.write('| debian install on a fresh root after a change above it | median (s) | rounds |\n|---|---|---|\n');
  for (const [name, measured] of times) process.stdout.write(`| ${name} | ${median(measured).toFixed(2)} | ${measured.map((value) => value.toFixed(2)).join(', ')} |\n`);
  process.stdout.write(`\nrestored / without: ${(restored / without).toFixed(2)}x (target at most 0.6x); load average ${os.loadavg()[0]?.toFixed(1)}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
