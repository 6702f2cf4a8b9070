/**
 * The cache that follows ephemeral runners: a build on a fresh root (only the base image) that
 * imports what another root exported to the registry, against BuildKit with the best remote cache
 * the peer engines here can use — the inline cache (`BUILDKIT_INLINE_CACHE=1` on push, then
 * `--cache-from` the image: their classic image stores cannot export a registry cache) — and
 * buildah with `--layers --cache-to/--cache-from`, on the busybox bench of ../shared/peers.
 *
 *   /work/shared/peers/setup.sh && /work/shared/peers/docker26.sh      # the peers, as root
 *   npm run build && BENCH_ROUNDS=3 npm run bench cache
 *   BENCH_PEERS=0 BENCH_ROUNDS=5 npm run bench cache     # tsbuild alone (the registry still needed)
 *
 * Rows (targets of the cache issue):
 * - fresh root, --cache-from a warm cache, nothing changed: tsbuild ≤ 0.3× its own build with no
 *   cache, ≤ 0.5× BuildKit's (and buildah's, reported) for the same;
 * - the same after editing one context file read by a late step: ≤ 0.5× BuildKit's;
 * - exporting the cache (--cache-to, mode=max) on a cold build: ≤ 1.2× the cold build without.
 * "Fresh" is, for tsbuild, a copy of a root holding only the base image; for BuildKit
 * `docker builder prune -af` and the built image removed (the base image stays, as on a runner
 * whose engine has pulled it); for buildah a storage of its own with only the base image.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { benchEnv, median, run, timed, type Command } from './support/commands.js';

const rounds = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? '3'));
const peersBench = process.env['PEERS_BENCH'] ?? '/var/tmp/tsbuild-peers/bench';
const registry = '127.0.0.1:5000';
const busyboxRef = `${registry}/library/busybox:latest`;
const repoRoot = new URL('..', import.meta.url).pathname;
const cli = process.env['BENCH_TSBUILD'] ?? join(repoRoot, 'bin', 'tsbuild.js');
if ((process.getuid?.() ?? 0) !== 0) throw new Error('bench cache: run as root (the peers are rootful)');

/** One builder as the rows use it: a fresh state, a build that exports, a build that imports. */
interface Tool {
  readonly name: string;
  readonly available: boolean;
  fresh(): void;
  exportBuild(context: string): Command;
  importBuild(context: string): Command;
  plainBuild?(context: string): Command;
}

function tsbuildTool(work: string): Tool {
  const base = join(work, 'tsbuild-base');
  const root = join(work, 'tsbuild-root');
  const cacheRef = `${registry}/tsbuild-bench/cache:busybox`;
  run({ argv: [process.execPath, cli, 'pull', '--quiet', '--insecure-registry', registry, '--root', base, busyboxRef] }, 'tsbuild pull');
  // Unpacked, as docker pull and buildah pull leave their base images.
  run({ argv: [process.execPath, cli, 'run', '--rm', '--network', 'none', '--root', base, busyboxRef, 'true'] }, 'tsbuild run (unpack)');
  let spent = 0;
  const build = (context: string, extra: readonly string[]): Command => ({
    argv: [process.execPath, cli, 'build', '-q', '--network', 'host', '--insecure-registry', registry, '--root', root, '-t', 'bench/cache:latest', ...extra, context],
  });
  return {
    name: 'tsbuild',
    available: true,
    fresh: () => {
      // Set aside, not deleted, until the run ends: see bench/build.ts (ext4's recently_deleted).
      if (existsSync(root)) renameSync(root, join(work, `spent-${spent++}`));
      run({ argv: ['cp', '-a', base, root] }, 'cp -a');
    },
    exportBuild: (context) => build(context, ['--cache-to', `type=registry,ref=${cacheRef},mode=max`]),
    importBuild: (context) => build(context, ['--cache-from', `type=registry,ref=${cacheRef}`]),
    plainBuild: (context) => build(context, []),
  };
}

function dockerTool(name: string, sock: string, docker: string, env: NodeJS.ProcessEnv): Tool {
  const fullEnv = { DOCKER_BUILDKIT: '1', BUILDX_GIT_INFO: 'false', ...env };
  const argv = (args: readonly string[]): string[] => [docker, ...args];
  const available = existsSync(sock) && spawnSync(docker, ['version'], { env: { ...benchEnv, ...fullEnv } }).status === 0;
  const image = `${registry}/tsbuild-bench/${name.replace(/\W+/g, '-').toLowerCase()}:inline`;
  return {
    name,
    available,
    fresh: () => {
      spawnSync(docker, ['rmi', '-f', image, 'tsbuild-bench-cache'], { env: { ...benchEnv, ...fullEnv } });
      run({ argv: argv(['builder', 'prune', '-af']), env: fullEnv }, `${name} prune`);
    },
    // The build and its push: the inline cache reaches the registry only with the image.
    exportBuild: (context) => ({
      argv: ['sh', '-c', `"$0" build -q --network host --build-arg BUILDKIT_INLINE_CACHE=1 -t "$1" "$2" >/dev/null && "$0" push -q "$1" >/dev/null`, docker, image, context],
      env: fullEnv,
    }),
    importBuild: (context) => ({ argv: argv(['build', '-q', '--network', 'host', '--cache-from', image, '-t', 'tsbuild-bench-cache', context]), env: fullEnv }),
  };
}

function buildahTool(work: string): Tool {
  const storage = ['--root', join(work, 'buildah', 'root'), '--runroot', join(work, 'buildah', 'run')];
  const available = spawnSync('buildah', ['--version']).status === 0;
  const cacheRepo = `${registry}/tsbuild-bench/buildah-cache`;
  if (available) run({ argv: ['buildah', ...storage, 'pull', '-q', busyboxRef] }, 'buildah pull');
  const build = (context: string, extra: readonly string[]): Command => ({
    argv: ['buildah', ...storage, 'bud', '--layers', '--network', 'host', '--tls-verify=false', '-q', '-t', 'localhost/tsbuild-bench-cache', ...extra, context],
  });
  return {
    name: 'buildah',
    available,
    fresh: () => {
      const images = spawnSync('buildah', [...storage, 'images', '-q', '--no-trunc'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      const baseId = spawnSync('buildah', [...storage, 'inspect', '--type', 'image', '--format', '{{.FromImageID}}', busyboxRef], { encoding: 'utf8' }).stdout.trim();
      spawnSync('buildah', [...storage, 'rm', '-a']);
      const remove = images.filter((id) => baseId === '' || !id.endsWith(baseId));
      if (remove.length > 0) spawnSync('buildah', [...storage, 'rmi', '-f', ...remove]);
    },
    exportBuild: (context) => build(context, ['--cache-to', cacheRepo]),
    importBuild: (context) => build(context, ['--cache-from', cacheRepo]),
  };
}

// Beside the peers' own data roots (/var/lib/peer-docker…): on this machine a root under /var/tmp
// builds the busybox bench in 4–5 s against 2.4–2.8 s under /var/lib, /work or /tmp (the kernel's
// time triples there, same file system), which would measure the directory, not the builder.
const work = mkdtempSync(join(process.env['BENCH_WORK'] ?? '/var/lib', 'tsbuild-bench-cache-'));
try {
  const source = join(peersBench, 'busybox');
  if (!existsSync(join(source, 'Dockerfile'))) throw new Error(`bench cache: ${source}/Dockerfile is missing: run /work/shared/peers/setup.sh`);
  const context = join(work, 'context');
  cpSync(source, context, { recursive: true });
  // BENCH_PEERS=0: tsbuild alone (its export against its own plain cold build needs no peer).
  const peers = process.env['BENCH_PEERS'] === '0' ? [] : [
    dockerTool('BuildKit 20.10', '/run/peer-docker.sock', '/opt/peers/docker/usr/bin/docker', { DOCKER_HOST: 'unix:///run/peer-docker.sock' }),
    dockerTool('BuildKit 26', '/run/peer-docker26.sock', '/opt/peers/docker26/usr/bin/docker', {}),
    buildahTool(work),
  ];
  const tools = [tsbuildTool(work), ...peers].filter((tool) => {
    if (!tool.available) process.stderr.write(`bench cache: ${tool.name} is not available: left out\n`);
    return tool.available;
  });
  const times = new Map<string, number[]>();
  const add = (key: string, seconds: number): void => void times.set(key, [...(times.get(key) ?? []), seconds]);
  const late = join(context, 'ctx', 'd07', 'f0700.txt');

  for (let round = 0; round < rounds; round++) {
    process.stderr.write(`bench cache: round ${round + 1} of ${rounds}\n`);
    for (const tool of tools) {
      // A runner that builds and exports, then a fresh one that imports (nothing changed),
      // then the same fresh start after a late context file changed.
      tool.fresh();
      add(`${tool.name} export`, timed(tool.exportBuild(context), `${tool.name} export`));
      if (tool.plainBuild !== undefined) {
        tool.fresh();
        add(`${tool.name} plain`, timed(tool.plainBuild(context), `${tool.name} plain`));
      }
      tool.fresh();
      add(`${tool.name} import`, timed(tool.importBuild(context), `${tool.name} import`));
      appendFileSync(late, `${tool.name} ${round}\n`);
      tool.fresh();
      add(`${tool.name} import edited`, timed(tool.importBuild(context), `${tool.name} import edited`));
      // The next tool exports the edited context: every tool starts from its own export.
    }
  }

  const of = (key: string): number => median(times.get(key) ?? []);
  const buildkit = (suffix: string): number => {
    const measured = ['BuildKit 20.10', 'BuildKit 26'].map((name) => of(`${name} ${suffix}`)).filter((value) => !Number.isNaN(value));
    // Left out (BENCH_PEERS=0, or not available): no figure, rather than a ratio to infinity.
    return measured.length === 0 ? Number.NaN : Math.min(...measured);
  };
  const fmt = (value: number): string => (Number.isFinite(value) ? value.toFixed(2) : '—');
  const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '—');
  const commit = spawnSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  const out = [
    `tsbuild ${commit}; node ${process.version}; ${os.cpus().length} CPUs; median of ${rounds} rounds; ${new Date().toISOString()}; load average ${os.loadavg().map((value) => value.toFixed(1)).join(' ')}`,
    '',
    '| case | tsbuild s | faster BuildKit s | buildah s | tsbuild / BuildKit | target |',
    '|---|---:|---:|---:|---:|---|',
    `| fresh root, --cache-from, nothing changed | ${fmt(of('tsbuild import'))} | ${fmt(buildkit('import'))} | ${fmt(of('buildah import'))} | ${ratio(of('tsbuild import'), buildkit('import'))} | ≤ 0.5× BuildKit; ≤ 0.3× tsbuild with no cache (${fmt(of('tsbuild plain'))} s): ${ratio(of('tsbuild import'), of('tsbuild plain'))} |`,
    `| fresh root, --cache-from, a late context file edited | ${fmt(of('tsbuild import edited'))} | ${fmt(buildkit('import edited'))} | ${fmt(of('buildah import edited'))} | ${ratio(of('tsbuild import edited'), buildkit('import edited'))} | ≤ 0.5× BuildKit |`,
    `| cold build with --cache-to mode=max (BuildKit: build and push with the inline cache) | ${fmt(of('tsbuild export'))} | ${fmt(buildkit('export'))} | ${fmt(of('buildah export'))} | ${ratio(of('tsbuild export'), buildkit('export'))} | ≤ 1.2× tsbuild's cold build without (${fmt(of('tsbuild plain'))} s): ${ratio(of('tsbuild export'), of('tsbuild plain'))} |`,
    '',
    'each round, seconds:',
    ...[...times].map(([key, values]) => `  ${key}: ${values.map(fmt).join('  ')}`),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
