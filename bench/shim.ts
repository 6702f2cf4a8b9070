/**
 * Container start-up latency: `/bin/true` from a prepared busybox bundle under tsbuild-runtime,
 * crun and runc, the same config.json for all three, N runs each, interleaved so that noise
 * from the shared machine falls on every runtime alike. Target: at most 1.2x crun's median.
 *
 *   npm run bench shim              # BENCH_RUNS=50
 *
 * On cgroup v1 "hybrid" hosts crun refuses to start unless /sys/fs/cgroup/unified is unmounted
 * in its mount namespace: the whole benchmark re-executes itself once in such a namespace, so
 * that no runtime pays for a per-run `unshare`. The cost of that prefix, which `--runtime crun`
 * pays on these hosts, is measured on its own row.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateConfig, shimPath } from '../src/runtime/index.js';

const runs = Number(process.env['BENCH_RUNS'] ?? 50);
const hybrid = (): boolean => readFileSync('/proc/self/mountinfo', 'utf8').includes(' /sys/fs/cgroup/unified ');

if ((process.getuid?.() ?? 0) !== 0) throw new Error('bench shim: run as root (the rootful start-up is what is measured)');
if (hybrid() && process.env['TSBUILD_BENCH_PRIVATE_MOUNTS'] !== '1') {
  const self = new URL(import.meta.url).pathname;
  const result = spawnSync(
    'unshare',
    ['-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$@"', 'sh', process.execPath, '--import', 'tsx', self],
    { stdio: 'inherit', env: { ...process.env, TSBUILD_BENCH_PRIVATE_MOUNTS: '1' } },
  );
  process.exit(result.status ?? 1);
}

const shim = shimPath();
if (!existsSync(shim)) throw new Error(`bench shim: ${shim} is missing: run \`make -C runtime-shim\``);
for (const tool of ['crun', 'runc']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`bench shim: ${tool} is missing: run scripts/install-system-deps.sh`);
}

const work = mkdtempSync('/tmp/tsbuild-bench-shim-');
try {
  // The peers' prepared busybox root when present, else one made from Debian's busybox-static.
  let rootfs = '/var/lib/peer-images/bundle-busybox/rootfs';
  if (!existsSync(join(rootfs, 'bin', 'true'))) {
    rootfs = join(work, 'rootfs');
    for (const dir of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc']) mkdirSync(join(rootfs, dir), { recursive: true });
    copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
    chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
    symlinkSync('busybox', join(rootfs, 'bin', 'true'));
  }
  const bundle = join(work, 'bundle');
  mkdirSync(bundle);
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(generateConfig({ args: ['/bin/true'], rootfs, readonlyRootfs: true, rootless: false })));

  let id = 0;
  const prefix = ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"', 'sh'];
  const runtimes: { name: string; argv: (id: string) => string[] }[] = [
    { name: 'tsbuild-runtime', argv: (i) => [shim, '--root', join(work, 'state-shim'), 'run', '--bundle', bundle, i] },
    { name: 'crun', argv: (i) => ['crun', '--root', join(work, 'state-crun'), 'run', '--bundle', bundle, i] },
    { name: 'runc', argv: (i) => ['runc', '--root', join(work, 'state-runc'), 'run', '--bundle', bundle, i] },
    ...(process.env['TSBUILD_BENCH_PRIVATE_MOUNTS'] === '1'
      ? [{ name: 'crun, unshare prefix', argv: (i: string) => [...prefix, 'crun', '--root', join(work, 'state-crun'), 'run', '--bundle', bundle, i] }]
      : []),
  ];
  const once = (argv: readonly string[]): number => {
    const start = performance.now();
    const result = spawnSync(argv[0] ?? '', argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    const elapsed = performance.now() - start;
    if (result.status !== 0) throw new Error(`bench shim: ${argv.join(' ')} exited ${result.status}: ${result.stderr}`);
    return elapsed;
  };
  const times = new Map<string, number[]>(runtimes.map((r) => [r.name, []]));
  for (let round = -3; round < runs; round++) {
    for (const runtime of runtimes) {
      const elapsed = once(runtime.argv(`bench${++id}`));
      if (round >= 0) times.get(runtime.name)?.push(elapsed);
    }
  }
  const median = (values: readonly number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  };
  const quantile = (values: readonly number[], q: number): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))] ?? Number.NaN;
  const crun = median(times.get('crun') ?? []);
  const out: string[] = [
    `${runs} runs each of /bin/true, interleaved, after 3 warm-up rounds; rootfs ${rootfs}; ${hybrid() ? 'hybrid cgroups' : 'cgroup v1 controllers, unified hierarchy unmounted'} in this mount namespace`,
    '',
    '| runtime | median ms | p10 ms | p90 ms | / crun |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const runtime of runtimes) {
    const values = times.get(runtime.name) ?? [];
    const m = median(values);
    out.push(`| ${runtime.name} | ${m.toFixed(1)} | ${quantile(values, 0.1).toFixed(1)} | ${quantile(values, 0.9).toFixed(1)} | ${(m / crun).toFixed(2)} |`);
  }
  out.push('', 'command lines:');
  const quote = (arg: string): string => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);
  for (const runtime of runtimes) out.push(`    ${runtime.argv('ID').map(quote).join(' ')}`);
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
