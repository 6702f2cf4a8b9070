/**
 * `tsbuild build` against BuildKit (docker 20.10's engine and docker 26.1's with BuildKit 0.13,
 * the faster of the two case by case) and buildah, in the same run, on the peers' benchmark
 * Dockerfiles and contexts (../shared/peers, copied to a temporary directory) and on a context
 * of 10,000 small files and one 200 MB file made here. Times are medians of whole commands,
 * start-up included, with `NODE_EXTRA_CA_CERTS` unset for every timed command; tsbuild runs as
 * installed (`bin/tsbuild.js`, built by `npm run build`).
 *
 *   /work/shared/peers/setup.sh && /work/shared/peers/docker26.sh      # the peers, as root
 *   npm run build && BENCH_ROUNDS=3 npm run bench build
 *
 * BENCH_CASES picks cases by name (busybox-cold, warm, debian-cold, big-context-cold; default
 * all); a peer that is not running is left out of the tables, not faked.
 *
 * "Cold" is, for tsbuild, a fresh copy of a root that holds only the base image(s), pulled and
 * unpacked as `docker pull` and `buildah pull` leave theirs; for BuildKit
 * `docker builder prune -af` and the built image removed; for buildah a storage of its own
 * (`--root`) that holds only the base image(s). Peak memory is GNU time's %M of the tsbuild
 * command: the largest RSS of the process or of any process it waited for (a RUN's command
 * included), so an upper bound of tsbuild's own.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { benchEnv, median, run, type Command } from './support/commands.js';

const rounds = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? '3'));
const caseNames = ['busybox-cold', 'warm', 'big-context-cold', 'debian-cold'] as const;
type CaseName = (typeof caseNames)[number];
const selected = new Set<string>((process.env['BENCH_CASES'] ?? caseNames.join(',')).split(',').map((name) => name.trim()));
const peersBench = process.env['PEERS_BENCH'] ?? '/var/tmp/tsbuild-peers/bench';
const registry = '127.0.0.1:5000';
const busyboxRef = `${registry}/library/busybox:latest`;
const debianRef = `${registry}/library/debian:bookworm-slim`;
const repoRoot = new URL('..', import.meta.url).pathname;
// BENCH_TSBUILD: another build's bin/tsbuild.js, to compare two versions with the same peers.
const cli = process.env['BENCH_TSBUILD'] ?? join(repoRoot, 'bin', 'tsbuild.js');
if (!existsSync(join(cli, '..', '..', 'dist', 'cli-bundle', 'cli.cjs'))) throw new Error(`bench build: ${cli} is not built: run npm run build`);
if ((process.getuid?.() ?? 0) !== 0) throw new Error('bench build: run as root (the peers are rootful)');

interface Measure {
  readonly seconds: number;
  readonly maxRssMb: number;
}

/**
 * One whole command, wall time measured here (GNU time's %e has 10 ms steps, too coarse for
 * the warm cases) and its peak RSS by GNU time, which wraps every tool alike. The disk is
 * synced first, so that no command waits on the writeback of the one before.
 */
function timed(command: Command): Measure {
  spawnSync('sync');
  const [file, ...args] = command.argv;
  if (file === undefined) throw new Error('empty command');
  const start = process.hrtime.bigint();
  const result = spawnSync('/usr/bin/time', ['-f', 'maxrss=%M', file, ...args], { encoding: 'utf8', env: { ...benchEnv, ...command.env }, maxBuffer: 64 << 20 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0) throw new Error(`${command.argv.join(' ')} exited ${result.status ?? result.signal}: ${(result.stderr + result.stdout).slice(-2000)}`);
  const kb = /maxrss=(\d+)/.exec(result.stderr.split('\n').filter((line) => line.startsWith('maxrss=')).at(-1) ?? '')?.[1];
  return { seconds, maxRssMb: Number(kb ?? Number.NaN) / 1024 };
}

// ---------------------------------------------------------------- the tools

interface Tool {
  readonly name: string;
  /** Whether this run can use it (a peer that is not running is left out). */
  readonly available: boolean;
  /** Brings the tool to "holds only the base images" for the next cold build. */
  readonly makeCold: (state: string) => void;
  /** Puts a base image where the state's cold builds find it. */
  readonly pull: (ref: string, state: string) => void;
  readonly build: (contextDir: string, state: string) => Command;
}

const dockerFlags = (sock: string, cli: string, extra: NodeJS.ProcessEnv): { argv: (args: string[]) => string[]; env: NodeJS.ProcessEnv; sock: string } => ({
  argv: (args) => [cli, ...args],
  env: { DOCKER_BUILDKIT: '1', BUILDX_GIT_INFO: 'false', ...extra },
  sock,
});

function dockerTool(name: string, docker: ReturnType<typeof dockerFlags>): Tool {
  const available = existsSync(docker.sock) && spawnSync(docker.argv(['version'])[0] ?? '', docker.argv(['version']).slice(1), { env: { ...benchEnv, ...docker.env } }).status === 0;
  const tag = `tsbuild-bench-build-${name.replace(/\W+/g, '-').toLowerCase()}`;
  return {
    name,
    available,
    makeCold: () => {
      spawnSync(docker.argv(['rmi', '-f', tag])[0] ?? '', docker.argv(['rmi', '-f', tag]).slice(1), { env: { ...benchEnv, ...docker.env } });
      run({ argv: docker.argv(['builder', 'prune', '-af']), env: docker.env }, `${name} prune`);
    },
    pull: (ref) => void run({ argv: docker.argv(['pull', '-q', ref]), env: docker.env }, `${name} pull`),
    build: (contextDir) => ({ argv: docker.argv(['build', '-q', '--network', 'host', '-t', tag, contextDir]), env: docker.env }),
  };
}

const buildkit20 = dockerTool(
  'BuildKit 20.10',
  dockerFlags('/run/peer-docker.sock', '/opt/peers/docker/usr/bin/docker', { DOCKER_HOST: 'unix:///run/peer-docker.sock' }),
);
// The 26 wrapper points DOCKER_HOST and DOCKER_CONFIG at its own engine and plugins when unset.
const buildkit26 = dockerTool('BuildKit 26', dockerFlags('/run/peer-docker26.sock', '/opt/peers/docker26/usr/bin/docker', {}));

/** buildah in a storage of its own, so that removing its images touches no one else's. */
function buildahTool(work: string): Tool {
  const storage = (state: string): string[] => ['--root', join(work, `buildah-${state}`, 'root'), '--runroot', join(work, `buildah-${state}`, 'run')];
  const available = spawnSync('buildah', ['--version']).status === 0;
  const tag = 'localhost/tsbuild-bench-build';
  return {
    name: 'buildah',
    available,
    makeCold: (state) => {
      const images = run({ argv: ['buildah', ...storage(state), 'images', '-a', '-q', '--no-trunc'] }, 'buildah images').stdout.split('\n').filter(Boolean);
      const bases = new Set(
        [busyboxRef, debianRef].flatMap((ref) => {
          const result = spawnSync('buildah', [...storage(state), 'inspect', '--type', 'image', '--format', '{{.FromImageID}}', ref], { encoding: 'utf8' });
          return result.status === 0 ? [result.stdout.trim()] : [];
        }),
      );
      const remove = images.filter((id) => ![...bases].some((base) => id.endsWith(base)));
      spawnSync('buildah', [...storage(state), 'rm', '-a']);
      if (remove.length > 0) run({ argv: ['buildah', ...storage(state), 'rmi', '-f', ...remove] }, 'buildah rmi');
    },
    pull: (ref, state) => void run({ argv: ['buildah', ...storage(state), 'pull', '-q', ref] }, 'buildah pull'),
    build: (contextDir, state) => ({ argv: ['buildah', ...storage(state), 'bud', '--layers', '--network', 'host', '-q', '-t', tag, contextDir] }),
  };
}

function tsbuildTool(work: string): Tool {
  const rootOf = (state: string): string => join(work, `tsbuild-${state}`);
  let spent = 0;
  return {
    name: 'tsbuild',
    available: true,
    makeCold: (state) => {
      // The last round's root is set aside, not deleted, until the run ends: on this machine's
      // ext4 (no journal) thousands of inodes freed just before make every file the next build
      // creates nearby scan them (recently_deleted, seen with perf): 2,000 files in 2 s instead
      // of 0.07 s, which measured the harness's rm, not the builder.
      if (existsSync(rootOf(state))) renameSync(rootOf(state), join(work, `spent-${state}-${spent++}`));
      // cp -a: the unpacked base keeps its hard links, owners and xattrs.
      run({ argv: ['cp', '-a', join(work, `tsbuild-base-${state}`), rootOf(state)] }, 'cp -a');
    },
    // Pulled and unpacked, the state `docker pull` and `buildah pull` leave their base images in
    // (a run unpacks it, as a build's first step would).
    pull: (ref, state) => {
      const root = join(work, `tsbuild-base-${state}`);
      run({ argv: [process.execPath, cli, 'pull', '--quiet', '--insecure-registry', registry, '--root', root, ref] }, 'tsbuild pull');
      run({ argv: [process.execPath, cli, 'run', '--rm', '--network', 'none', '--root', root, ref, 'true'] }, 'tsbuild run (unpack)');
    },
    build: (contextDir, state) => ({
      argv: [process.execPath, cli, 'build', '-q', '--network', 'host', '--insecure-registry', registry, '--root', rootOf(state), '-t', 'bench/build:latest', contextDir],
    }),
  };
}

// ---------------------------------------------------------------- results

interface Row {
  readonly label: string;
  readonly target: number;
  readonly nearNode: boolean;
  readonly measures: Map<string, Measure[]>;
  readonly errors: Map<string, string>;
}

function record(row: Row, tool: Tool, measure: () => Measure): void {
  if (row.errors.has(tool.name)) return;
  try {
    const value = measure();
    row.measures.set(tool.name, [...(row.measures.get(tool.name) ?? []), value]);
  } catch (error) {
    row.errors.set(tool.name, (error as Error).message);
    process.stderr.write(`bench build: ${row.label}: ${tool.name} failed: ${(error as Error).message}\n`);
  }
}

const nodeStarts: number[] = [];
const benchStart = Date.now();
const say = (text: string): void => void process.stderr.write(`[${((Date.now() - benchStart) / 1000).toFixed(0)} s] ${text}\n`);
const memoryLimitMb = 250;
const nodeMarginSeconds = 0.08;

function report(rows: readonly Row[], tools: readonly Tool[]): string {
  const out: string[] = [];
  const fmt = (value: number): string => (Number.isNaN(value) ? '—' : value.toFixed(2));
  const nodeMedian = median(nodeStarts);
  out.push(
    `| case | tsbuild s | BuildKit 20.10 s | BuildKit 26 s | buildah s | tsbuild / faster BuildKit | target | tsbuild peak RSS MB | met? |`,
    '|---|---:|---:|---:|---:|---:|---|---:|---|',
  );
  for (const row of rows) {
    const of = (name: string): number => (tools.find((tool) => tool.name === name)?.available === true ? median((row.measures.get(name) ?? []).map((m) => m.seconds)) : Number.NaN);
    const mine = row.errors.has('tsbuild') ? Number.NaN : of('tsbuild');
    const buildkit = Math.min(...['BuildKit 20.10', 'BuildKit 26'].map(of).filter((value) => !Number.isNaN(value)));
    const ratio = mine / buildkit;
    const rss = Math.max(...(row.measures.get('tsbuild') ?? []).map((m) => m.maxRssMb));
    const nearNode = !row.nearNode || mine - nodeMedian <= nodeMarginSeconds;
    const met = !Number.isNaN(ratio) && ratio <= row.target && nearNode && rss < memoryLimitMb;
    const target = `≤ ${row.target.toFixed(1)}×${row.nearNode ? `, ≤ node -e 0 + 80 ms (${fmt(nodeMedian + nodeMarginSeconds)} s)` : ''}, < ${memoryLimitMb} MB`;
    const cell = (name: string): string => (row.errors.has(name) ? 'failed' : fmt(of(name)));
    out.push(
      `| ${row.label} | ${cell('tsbuild')} | ${cell('BuildKit 20.10')} | ${cell('BuildKit 26')} | ${cell('buildah')} | ${Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '—'} | ${target} | ${Number.isFinite(rss) ? rss.toFixed(0) : '—'} | ${met ? 'yes' : 'no'} |`,
    );
  }
  out.push('', `node -e 0: median ${fmt(nodeMedian)} s of ${nodeStarts.length} (${nodeStarts.map(fmt).join(' ')})`, '', 'each round, seconds (peak RSS MB for tsbuild):');
  for (const row of rows) {
    out.push(`  ${row.label}:`);
    for (const tool of tools.filter((item) => item.available)) {
      const values = (row.measures.get(tool.name) ?? []).map((m) => (tool.name === 'tsbuild' ? `${fmt(m.seconds)} (${m.maxRssMb.toFixed(0)})` : fmt(m.seconds)));
      out.push(`    ${tool.name}: ${values.join('  ')}${row.errors.has(tool.name) ? `  failed: ${(row.errors.get(tool.name) ?? '').split('\n').slice(-3).join(' | ').slice(0, 300)}` : ''}`);
    }
  }
  return out.join('\n');
}

// ---------------------------------------------------------------- contexts

function copyContext(name: string, work: string): string {
  const source = join(peersBench, name);
  if (!existsSync(join(source, 'Dockerfile'))) throw new Error(`bench build: ${source}/Dockerfile is missing: run /work/shared/peers/setup.sh`);
  const destination = join(work, 'contexts', name);
  cpSync(source, destination, { recursive: true });
  return destination;
}

/** 10,000 small files in 100 folders (64 bytes to 4 KiB, deterministic) and one 200 MB file of incompressible data. */
function makeBigContext(work: string): string {
  const dir = join(work, 'contexts', 'big');
  for (let d = 0; d < 100; d++) {
    const sub = join(dir, 'files', `d${String(d).padStart(2, '0')}`);
    mkdirSync(sub, { recursive: true });
    for (let f = 0; f < 100; f++) {
      const n = d * 100 + f;
      const size = 64 + ((n * 7919) % 4033);
      writeFileSync(join(sub, `f${String(n).padStart(5, '0')}.txt`), `${`${n}:`.repeat(Math.ceil(size / 3))}`.slice(0, size));
    }
  }
  const big = join(dir, 'big.bin');
  for (let left = 200_000_000; left > 0; left -= 1 << 20) appendFileSync(big, randomBytes(Math.min(left, 1 << 20)));
  writeFileSync(join(dir, 'Dockerfile'), `FROM ${busyboxRef}\nCOPY . /data/\n`);
  return dir;
}

// ---------------------------------------------------------------- the run

// Beside the peers' own data roots (/var/lib/peer-docker…): on this machine a root under /var/tmp
// builds the busybox bench in 4–5 s against 2.4–2.8 s under /var/lib, /work or /tmp (the kernel's
// time triples there, same file system), which would measure the directory, not the builder.
const work = mkdtempSync(join(process.env['BENCH_WORK'] ?? '/var/lib', 'tsbuild-bench-build-'));
try {
  const tools: Tool[] = [tsbuildTool(work), buildkit20, buildkit26, buildahTool(work)];
  for (const tool of tools) if (!tool.available) process.stderr.write(`bench build: ${tool.name} is not available: left out\n`);
  const wanted = (name: CaseName): boolean => selected.has(name);

  // Base images: into a root tsbuild copies for each cold build, into buildah's storage for the
  // state, and into each docker engine (BuildKit's cache is what a prune empties).
  const states: Record<string, readonly string[]> = {};
  if (wanted('busybox-cold') || wanted('warm')) states['busybox'] = [busyboxRef];
  if (wanted('big-context-cold')) states['big'] = [busyboxRef];
  if (wanted('debian-cold')) {
    const tags = spawnSync('curl', ['-sf', `http://${registry}/v2/library/debian/tags/list`], { encoding: 'utf8' }).stdout;
    if (tags.includes('"bookworm-slim"')) states['debian'] = [debianRef, busyboxRef];
    else process.stderr.write(`bench build: ${debianRef} is not in the registry (setup.sh with NO_DEBIAN unset makes it): debian case left out\n`);
  }
  for (const [state, refs] of Object.entries(states)) {
    for (const tool of tools) {
      if (!tool.available) continue;
      say(`${tool.name}: pull ${refs.join(' ')} for the ${state} case`);
      for (const ref of refs) tool.pull(ref, state);
    }
  }

  const commit = spawnSync('git', ['-C', join(cli, '..', '..'), 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  process.stdout.write(
    `tsbuild ${commit || '?'} (${cli}); node ${process.version}; ${os.cpus().length} CPUs; median of ${rounds} rounds; ${new Date().toISOString()}; load average at start ${os.loadavg().map((value) => value.toFixed(1)).join(' ')}\n`,
  );
  const rows: Row[] = [];
  const newRow = (label: string, target: number, nearNode = false): Row => {
    const row: Row = { label, target, nearNode, measures: new Map(), errors: new Map() };
    rows.push(row);
    return row;
  };
  const active = tools.filter((tool) => tool.available);
  // Rotated each round, so that no tool always goes first after a change or a prune.
  const order = (round: number): Tool[] => active.map((_, index) => active[(index + round) % active.length] as Tool);

  const cold = (row: Row, contextDir: string, state: string): void => {
    for (let round = 0; round < rounds; round++) {
      say(`${row.label}: round ${round + 1} of ${rounds}`);
      for (const tool of order(round)) {
        if (row.errors.has(tool.name)) continue;
        try {
          tool.makeCold(state);
        } catch (error) {
          row.errors.set(tool.name, (error as Error).message);
          continue;
        }
        record(row, tool, () => timed(tool.build(contextDir, state)));
      }
    }
  };

  if (wanted('busybox-cold') || wanted('warm')) {
    const contextDir = copyContext('busybox', work);
    if (wanted('busybox-cold')) cold(newRow('busybox bench, cold', 0.7), contextDir, 'busybox');
    if (wanted('warm')) {
      const unchanged = newRow('busybox bench, nothing changed', 0.6, true);
      const touched = newRow('busybox bench, one context file touched', 0.6, true);
      const edited = newRow('busybox bench, one file of the late COPY edited', 0.5);
      // One build each to fill the caches (the cold case may have been skipped).
      for (const tool of active) {
        try {
          if (!wanted('busybox-cold')) tool.makeCold('busybox');
          run(tool.build(contextDir, 'busybox'), `${tool.name} warm-up`);
        } catch (error) {
          for (const row of [unchanged, touched, edited]) row.errors.set(tool.name, (error as Error).message);
        }
      }
      const file = join(contextDir, 'ctx', 'd07', 'f0742.txt');
      const original = readFileSync(file, 'utf8');
      for (let round = 0; round < rounds; round++) {
        say(`warm rebuilds: round ${round + 1} of ${rounds}`);
        for (let i = 0; i < 5; i++) nodeStarts.push(timed({ argv: [process.execPath, '-e', '0'] }).seconds);
        for (const tool of order(round)) record(unchanged, tool, () => timed(tool.build(contextDir, 'busybox')));
        // One touch, then every tool's next build: each sees the file changed since its last.
        const now = new Date();
        utimesSync(file, now, now);
        for (const tool of order(round)) record(touched, tool, () => timed(tool.build(contextDir, 'busybox')));
        writeFileSync(file, `${original.slice(0, -1)}${round}\n`);
        for (const tool of order(round)) record(edited, tool, () => timed(tool.build(contextDir, 'busybox')));
      }
    }
  }
  if (wanted('big-context-cold')) cold(newRow('10,000 small files and one 200 MB file, COPY, cold', 0.5), makeBigContext(work), 'big');
  if (states['debian'] !== undefined) cold(newRow('debian bench (apt-get, gcc), cold', 1.0), copyContext('debian', work), 'debian');

  process.stdout.write(`\n${report(rows, tools)}\n\nload average at the end ${os.loadavg().map((value) => value.toFixed(1)).join(' ')}; ${((Date.now() - benchStart) / 60_000).toFixed(1)} minutes in all\n`);
} finally {
  // buildah's overlay storage holds mounts; let it clean up its own before the files go.
  for (const state of ['busybox', 'big', 'debian']) {
    const root = join(work, `buildah-${state}`);
    if (existsSync(root)) spawnSync('buildah', ['--root', join(root, 'root'), '--runroot', join(root, 'run'), 'rm', '-a']);
  }
  spawnSync('sh', ['-c', `grep -o ' ${work}/[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
  rmSync(work, { recursive: true, force: true });
}
