/**
 * Bundles for runtime tests: a root filesystem holding only the static test program, and an
 * unprivileged user for rootless runs. Nothing here needs a distribution image.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { openStore } from '../../src/store/index.js';
import { busyboxImage } from '../helpers/busybox-image.js';

export const repoRoot = resolve(import.meta.dirname, '../..');
export const shimBinary = join(repoRoot, 'runtime-shim', 'build', 'tsbuild-runtime');
export const testProgram = join(repoRoot, 'runtime-shim', 'build', 'test-init');
export const rootlessUser = 'tsbuild-rootless';

/** Builds the shim and the test program (make is incremental: cheap when up to date). */
export function buildBinaries(): void {
  // Under a lock: test files run in parallel, and two compilers writing one binary corrupt it.
  const lock = join('/tmp', 'tsbuild-runtime-make.lock');
  execFileSync('flock', [lock, 'make', '-s', '-C', join(repoRoot, 'runtime-shim')], { stdio: 'inherit' });
  execFileSync('flock', [lock, 'make', '-s', '-C', join(repoRoot, 'runtime-shim', 'test-program')], { stdio: 'inherit' });
}

export const isRoot = (process.getuid?.() ?? 0) === 0;

/** A scratch directory everyone can enter (rootless runs read bundles made by root). */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join('/tmp', prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/** A scratch directory (PREFIX) holding a store at `root` with the busybox image, for containers run with the CLI. */
export async function busyboxStore(prefix: string): Promise<{ dir: string; root: string }> {
  buildBinaries();
  const dir = scratchDir(prefix);
  const root = join(dir, 'root');
  await busyboxImage(await openStore({ root }));
  return { dir, root };
}

/** Removes every container of the store at ROOT, then DIR. */
export function removeBusyboxStore(store: { readonly dir: string; readonly root: string }): void {
  const ids = runInstalledCli(['ps', '-aq'], { root: store.root }).stdout.split('\n').filter((id) => id !== '');
  if (ids.length > 0) runInstalledCli(['rm', '-f', ...ids], { root: store.root });
  spawnSync('rm', ['-rf', store.dir]);
}

/** A root filesystem: the test program as /test-init, /etc/passwd and /etc/group, empty mount points. */
export function makeRootfs(parent: string, owner?: { uid: number; gid: number }): string {
  const rootfs = join(parent, 'rootfs');
  for (const dir of ['', 'proc', 'dev', 'sys', 'tmp', 'etc', 'work']) mkdirSync(join(rootfs, dir), { recursive: true, mode: 0o755 });
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  copyFileSync(testProgram, join(rootfs, 'test-init'));
  chmodSync(join(rootfs, 'test-init'), 0o755);
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  if (owner !== undefined) chownTree(parent, owner);
  return rootfs;
}

export function chownTree(path: string, owner: { uid: number; gid: number }): void {
  execFileSync('chown', ['-R', `${owner.uid}:${owner.gid}`, path]);
  chownSync(path, owner.uid, owner.gid);
}

/** Creates the unprivileged user the rootless tests run as (with a subordinate id range). */
export function ensureRootlessUser(): { uid: number; gid: number; runtimeDir: string } {
  // Test files run in parallel and may all find the user missing: one creates it, under a lock.
  // useradd gives a subordinate range when /etc/login.defs says so; make sure there is one.
  const script = [
    `id -u ${rootlessUser} >/dev/null 2>&1 || useradd --create-home --shell /bin/sh ${rootlessUser}`,
    `grep -q '^${rootlessUser}:' /etc/subuid 2>/dev/null || usermod --add-subuids 300000-365535 ${rootlessUser}`,
    `grep -q '^${rootlessUser}:' /etc/subgid 2>/dev/null || usermod --add-subgids 300000-365535 ${rootlessUser}`,
  ].join(' && ');
  execFileSync('flock', ['/tmp/tsbuild-rootless-user.lock', 'sh', '-c', script], { stdio: ['ignore', 'ignore', 'inherit'] });
  const uid = Number(execFileSync('id', ['-u', rootlessUser], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', rootlessUser], { encoding: 'utf8' }).trim());
  const runtimeDir = `/run/user/${uid}`;
  mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
  chownSync(runtimeDir, uid, gid);
  chmodSync(runtimeDir, 0o700);
  return { uid, gid, runtimeDir };
}

/** argv prefix that runs a command as the rootless user, with its runtime directory. */
export function asRootless(user: { uid: number; gid: number; runtimeDir: string }): string[] {
  return ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', 'env', `XDG_RUNTIME_DIR=${user.runtimeDir}`, `HOME=/home/${rootlessUser}`];
}

export function toolExists(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

/** URL's body, fetched from the host, tried for a few seconds (a published port may be about to listen). */
export async function fetchFromHost(url: string): Promise<string> {
  let last: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
      return await response.text();
    } catch (error) {
      last = error;
      await sleep(200);
    }
  }
  throw last;
}

/**
 * An HTTP server on the host answering `from-host`, in a process of its own: the test's own
 * process waits in spawnSync while containers call it.
 */
export async function startHostServer(host: string, port: number): Promise<{ stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['-e', `require('node:http').createServer((q, r) => r.end('from-host\\n')).listen(${port}, '${host}', () => console.log('listening'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  while (!out.includes('listening')) {
    if (child.exitCode !== null) throw new Error(`host server on ${host}:${port} did not start`);
    await sleep(20);
  }
  return {
    async stop() {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill();
      await exited;
    },
  };
}

const installedCli = join(repoRoot, 'bin', 'tsbuild.js');

export interface InstalledCliOptions {
  /** The store, as TSBUILD_ROOT. */
  readonly root: string;
  /** argv before node's: setpriv for a suite run as the unprivileged user. */
  readonly prefix?: readonly string[];
  readonly input?: Buffer | string;
  readonly timeoutMs?: number;
}

/** The installed CLI (bin/tsbuild.js), waited for; its standard output as bytes (tar streams). */
export function runInstalledCliBytes(args: readonly string[], options: InstalledCliOptions): { status: number | null; stdout: Buffer; stderr: string } {
  const [command, ...rest] = [...(options.prefix ?? []), process.execPath, installedCli, ...args];
  const result = spawnSync(command ?? process.execPath, rest, { input: options.input ?? '', env: { ...process.env, TSBUILD_ROOT: options.root }, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr.toString() };
}

/** The installed CLI, waited for, its output as text. */
export function runInstalledCli(args: readonly string[], options: InstalledCliOptions): { status: number | null; stdout: string; stderr: string } {
  const result = runInstalledCliBytes(args, options);
  return { ...result, stdout: result.stdout.toString() };
}

/** The installed CLI's output, the test failed with its status and errors unless it succeeded. */
export function installedCliOutput(args: readonly string[], options: InstalledCliOptions): string {
  const result = runInstalledCli(args, options);
  if (result.status !== 0) throw new Error(`tsbuild ${args.join(' ')} exited ${String(result.status)}: ${result.stderr}`);
  return result.stdout;
}

/** The host's mount points whose path starts with PREFIX. */
export async function mountsUnder(prefix: string): Promise<string[]> {
  const table = await readFile('/proc/self/mountinfo', 'utf8');
  return table
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(prefix));
}
