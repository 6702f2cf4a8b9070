/**
 * Container start-up through the whole command: `tsbuild run --rm IMAGE true` against `crun run`
 * of a prepared bundle of the same busybox root and `node -e 0` (Node's own start-up), N runs
 * each, interleaved so that noise from the shared machine falls on every row alike. Targets:
 * within 40 ms of node + crun; with BENCH_PEERS=1 (after ../shared/peers/setup.sh and
 * docker26.sh; this benchmark never starts them) also at most 0.5x `docker run --rm` on each
 * peer engine and `podman run --rm --network none`.
 *
 *   npm run bench containers          # BENCH_RUNS=30, as root
 *
 * As in bench/shim.ts, on cgroup v1 "hybrid" hosts the whole benchmark runs in a private mount
 * namespace without /sys/fs/cgroup/unified, which crun needs; tsbuild runs there as well.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { median } from './support/commands.js';
import { makeBusyboxImage } from '../scripts/make-busybox-image.js';
import { generateConfig } from '../src/runtime/index.js';
import { openStore, resolveImage, unpackLayers } from '../src/store/index.js';

const runs = Number(process.env['BENCH_RUNS'] ?? 30);
const hybrid = (): boolean => readFileSync('/proc/self/mountinfo', 'utf8').includes(' /sys/fs/cgroup/unified ');

if ((process.getuid?.() ?? 0) !== 0) throw new Error('bench containers: run as root');
if (hybrid() && process.env['TSBUILD_BENCH_PRIVATE_MOUNTS'] !== '1') {
  const self = new URL(import.meta.url).pathname;
  const result = spawnSync(
    'unshare',
    ['-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$@"', 'sh', process.execPath, '--import', 'tsx', self],
    { stdio: 'inherit', env: { ...process.env, TSBUILD_BENCH_PRIVATE_MOUNTS: '1' } },
  );
  process.exit(result.status ?? 1);
}

const bin = new URL('../bin/tsbuild.js', import.meta.url).pathname;
const work = mkdtempSync('/tmp/tsbuild-bench-containers-');
try {
  const root = join(work, 'root');
  const store = await openStore({ root });
  await makeBusyboxImage({ store });
  // crun's bundle: the same unpacked layer tsbuild's container runs on, read-only.
  const image = await resolveImage(store, (await store.resolveReference('docker.io/library/busybox:latest')) ?? (() => { throw new Error('no busybox'); })());
  const rootfs = (await unpackLayers(store, image.manifest.layers, image.config.rootfs.diff_ids)) ?? '';
  const bundle = join(work, 'bundle');
  mkdirSync(bundle);
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(generateConfig({ args: ['/bin/true'], rootfs, readonlyRootfs: true, rootless: false })));

  const peerImage = '127.0.0.1:5000/library/busybox:latest';
  const peers = process.env['BENCH_PEERS'] === '1';
  let id = 0;
  const rows: { name: string; argv: () => string[]; env?: NodeJS.ProcessEnv }[] = [
    { name: 'tsbuild run --rm busybox true', argv: () => [process.execPath, bin, 'run', '--rm', 'busybox', 'true'], env: { ...process.env, TSBUILD_ROOT: root } },
    // The peer engines here run with "bridge": "none": their containers get no network at all.
    { name: 'tsbuild run --rm --network none busybox true', argv: () => [process.execPath, bin, 'run', '--rm', '--network', 'none', 'busybox', 'true'], env: { ...process.env, TSBUILD_ROOT: root } },
    { name: 'crun run (prepared bundle)', argv: () => ['crun', '--root', join(work, 'state-crun'), 'run', '--bundle', bundle, `bench${++id}`] },
    { name: 'node -e 0', argv: () => [process.execPath, '-e', '0'] },
    ...(peers && existsSync('/run/peer-docker.sock')
      ? [{ name: 'docker 20.10 run --rm', argv: () => ['/opt/peers/docker/usr/bin/docker', 'run', '--rm', peerImage, 'true'], env: { ...process.env, DOCKER_HOST: 'unix:///run/peer-docker.sock' } }]
      : []),
    ...(peers && existsSync('/opt/peers/docker26/usr/bin/docker') ? [{ name: 'docker 26.1 run --rm', argv: () => ['/opt/peers/docker26/usr/bin/docker', 'run', '--rm', peerImage, 'true'] }] : []),
    ...(peers && spawnSync('sh', ['-c', 'command -v podman']).status === 0 ? [{ name: 'podman run --rm --network none', argv: () => ['podman', 'run', '--rm', '--network', 'none', peerImage, 'true'] }] : []),
  ];
  const once = (row: (typeof rows)[number]): number => {
    const argv = row.argv();
    const start = performance.now();
    const result = spawnSync(argv[0] ?? '', argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', ...(row.env === undefined ? {} : { env: row.env }) });
    const elapsed = performance.now() - start;
    if (result.status !== 0) throw new Error(`bench containers: ${argv.join(' ')} exited ${result.status}: ${result.stderr}`);
    return elapsed;
  };
  const times = new Map<string, number[]>(rows.map((row) => [row.name, []]));
  for (let round = -3; round < runs; round++) {
    for (const row of rows) {
      const elapsed = once(row);
      if (round >= 0) times.get(row.name)?.push(elapsed);
    }
  }
  const quantile = (values: readonly number[], q: number): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))] ?? Number.NaN;
  const medianOf = (name: string): number => median(times.get(name) ?? []);
  const tsbuild = medianOf('tsbuild run --rm --network none busybox true');
  const floor = medianOf('node -e 0') + medianOf('crun run (prepared bundle)');
  const out: string[] = [
    `${runs} runs each, interleaved, after 3 warm-up rounds${peers ? '' : ' (BENCH_PEERS=1 adds docker and podman)'}`,
    '',
    '| command | median ms | p10 ms | p90 ms | tsbuild / this |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const values = times.get(row.name) ?? [];
    const m = median(values);
    out.push(`| ${row.name} | ${m.toFixed(1)} | ${quantile(values, 0.1).toFixed(1)} | ${quantile(values, 0.9).toFixed(1)} | ${(tsbuild / m).toFixed(2)} |`);
  }
  out.push('', `tsbuild (--network none) − (node -e 0 + crun): ${(tsbuild - floor).toFixed(1)} ms (target ≤ 40 ms)`);
  for (const row of rows.filter((r) => r.name.startsWith('docker') || r.name.startsWith('podman'))) {
    out.push(`tsbuild / ${row.name}: ${(tsbuild / medianOf(row.name)).toFixed(2)} (target ≤ 0.5)`);
  }

  // A detached server to a published port answering: the command, then the port, polled.
  const detachedRuns = Math.max(3, Math.floor(runs / 6));
  const untilAnswering = async (port: number, started: number): Promise<number> => {
    for (;;) {
      try {
        await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
        return performance.now() - started;
      } catch {
        if (performance.now() - started > 30_000) throw new Error(`bench containers: nothing answers on ${port}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  };
  const detached: { name: string; start: (port: number) => string[]; stop: (id: string) => string[]; env?: NodeJS.ProcessEnv }[] = [
    {
      name: 'tsbuild run -d -p',
      start: (port) => [process.execPath, bin, 'run', '-d', '--rm', '-p', `127.0.0.1:${port}:80`, 'busybox', 'httpd', '-f', '-p', '80'],
      stop: (cid) => [process.execPath, bin, 'rm', '-f', cid],
      env: { ...process.env, TSBUILD_ROOT: root },
    },
    ...(peers && spawnSync('sh', ['-c', 'command -v podman']).status === 0
      ? [{ name: 'podman run -d -p', start: (port: number) => ['podman', 'run', '-d', '--rm', '-p', `127.0.0.1:${port}:80`, peerImage, 'httpd', '-f', '-p', '80'], stop: (cid: string) => ['podman', 'rm', '-f', cid] }]
      : []),
  ];
  const detachedTimes = new Map<string, number[]>(detached.map((row) => [row.name, []]));
  for (let round = -1; round < detachedRuns; round++) {
    for (const row of detached) {
      const port = 20000 + Math.floor(Math.random() * 20000);
      const argv = row.start(port);
      const started = performance.now();
      const result = spawnSync(argv[0] ?? '', argv.slice(1), { encoding: 'utf8', ...(row.env === undefined ? {} : { env: row.env }) });
      if (result.status !== 0) throw new Error(`bench containers: ${argv.join(' ')} exited ${result.status}: ${result.stderr}`);
      const elapsed = await untilAnswering(port, started);
      const stop = row.stop(result.stdout.trim());
      spawnSync(stop[0] ?? '', stop.slice(1), { stdio: 'ignore', ...(row.env === undefined ? {} : { env: row.env }) });
      if (round >= 0) detachedTimes.get(row.name)?.push(elapsed);
    }
  }
  out.push('', `run -d to a published port answering (${detachedRuns} runs; the docker peers have no bridge here, so podman stands in):`, '', '| command | median ms |', '|---|---:|');
  for (const [name, values] of detachedTimes) out.push(`| ${name} | ${median(values).toFixed(1)} |`);
  const podmanTimes = detachedTimes.get('podman run -d -p') ?? [];
  const podman = median(podmanTimes);
  if (podmanTimes.length > 0) out.push('', `tsbuild / podman, run -d -p: ${(median(detachedTimes.get('tsbuild run -d -p') ?? []) / podman).toFixed(2)} (target ≤ 0.5)`);
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
