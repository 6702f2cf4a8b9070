/**
 * Debian's docker engine (docker.io), started by a test file for itself: a private socket, data
 * root, exec root and pid file in a temporary directory, no bridge and no iptables rules, so that
 * it touches nothing on the machine and nothing else touches it. `stop()` ends it by its pid and
 * removes its directory. Starting needs root; the package is installed when it is missing.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const dockerd = '/usr/sbin/dockerd';
/** The package's own client: the engine is 20.10 and other clients on the machine may be newer. */
export const dockerCli = '/usr/bin/docker';

/** Containers of every engine the tests start go under this cgroup, one name, never accumulating. */
const cgroupParent = 'tsbuild-test';
const readyTries = 80;
const readyInterval = 250;
const stopWait = 20_000;

export interface DockerEngine {
  /** `unix://…/docker.sock`. */
  readonly host: string;
  /** Runs the engine's client with ARGS; a failure carries the client's standard error. */
  docker(args: readonly string[], options?: { readonly input?: Buffer }): string;
  stop(): Promise<void>;
}

export function canStartDockerEngine(): boolean {
  return process.getuid?.() === 0;
}

/** Installs docker.io through the project's script (the one CI runs) when the engine is missing. */
function installWhenMissing(): void {
  if (existsSync(dockerd) && existsSync(dockerCli)) return;
  const script = fileURLToPath(new URL('../../scripts/install-system-deps.sh', import.meta.url));
  try {
    execFileSync('bash', [script], { stdio: 'pipe', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`install docker.io: ${(error as Error).message}\n${stderr}`);
  }
  if (!existsSync(dockerd)) throw new Error(`install docker.io: ${dockerd} is still missing after scripts/install-system-deps.sh`);
}

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

async function logTail(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '(no log)');
  return text.split('\n').slice(-40).join('\n');
}

/** Mount points under DIR, deepest first: a dockerd killed hard leaves its overlay mounts. */
async function mountsUnder(dir: string): Promise<string[]> {
  const table = await readFile('/proc/self/mountinfo', 'utf8');
  return table
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

async function stopProcess(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const stopped = await Promise.race([exited.then(() => true), sleep(stopWait).then(() => false)]);
    if (!stopped) {
      child.kill('SIGKILL');
      await exited;
    }
  }
  // dockerd ends the containerd it supervises on a clean exit; after a SIGKILL that one remains.
  // Its pid file may be stale: the pid is ended only while its command line names this engine's files.
  const containerdPid = Number.parseInt(await readFile(join(dir, 'exec', 'containerd', 'containerd.pid'), 'utf8').catch(() => ''), 10);
  if (!Number.isInteger(containerdPid) || containerdPid <= 0) return;
  const commandLine = await readFile(`/proc/${containerdPid}/cmdline`, 'utf8').catch(() => '');
  if (!commandLine.includes(dir)) return;
  try {
    process.kill(containerdPid, 'SIGKILL');
  } catch {
    // gone in between
  }
}

async function removeEngineFiles(dir: string): Promise<void> {
  for (const point of await mountsUnder(dir)) {
    await new Promise<void>((resolve) => execFile('umount', ['-l', point], () => resolve()));
  }
  await rm(dir, { recursive: true, force: true });
  // The containers' cgroups are gone with them; their parent goes when no other engine uses it.
  for (const controller of await readdir('/sys/fs/cgroup').catch(() => [])) {
    await rmdir(join('/sys/fs/cgroup', controller, cgroupParent)).catch(() => undefined);
  }
}

/**
 * Starts a dockerd of the caller's own. A daemon that does not answer on its socket within
 * `readyTries` checks, or that exits, is an error that carries the end of its log.
 */
export async function startDockerEngine(): Promise<DockerEngine> {
  installWhenMissing();
  const dir = await mkdtemp(join(tmpdir(), 'tsbuild-docker-'));
  const socket = join(dir, 'docker.sock');
  const host = `unix://${socket}`;
  const logPath = join(dir, 'dockerd.log');
  const configPath = join(dir, 'daemon.json');
  await writeFile(configPath, '{}\n');
  const log = openSync(logPath, 'w');
  const child = spawn(
    dockerd,
    [
      '--host', host,
      '--data-root', join(dir, 'data'),
      '--exec-root', join(dir, 'exec'),
      '--pidfile', join(dir, 'dockerd.pid'),
      // The machine's /etc/docker/daemon.json, if any, is not this engine's.
      '--config-file', configPath,
      '--bridge=none',
      '--iptables=false',
      '--ip6tables=false',
      '--ip-forward=false',
      '--ip-masq=false',
      '--userland-proxy=false',
      '--storage-driver', 'overlay2',
      // No systemd here: cgroupfs; cgroups v1 hybrid suits runc, the engine's default runtime.
      '--exec-opt', 'native.cgroupdriver=cgroupfs',
      '--cgroup-parent', cgroupParent,
    ],
    { stdio: ['ignore', log, log], cwd: dir, env: { ...process.env, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } },
  );
  closeSync(log);
  const failed = async (why: string): Promise<never> => {
    const tail = await logTail(logPath);
    await stopProcess(child, dir);
    await removeEngineFiles(dir);
    throw new Error(`start dockerd: ${why}; its log ends:\n${tail}`);
  };

  let ready = false;
  for (let attempt = 0; attempt < readyTries && !ready; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null) await failed(`exited with ${child.exitCode ?? child.signalCode}`);
    ready = await ping(socket);
    if (!ready) await sleep(readyInterval);
  }
  if (!ready) await failed(`no answer on ${socket} after ${readyTries} checks ${readyInterval} ms apart`);

  const env = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: join(dir, 'client') };
  return {
    host,
    docker(args, options = {}) {
      try {
        return execFileSync(dockerCli, [...args], { env, encoding: 'utf8', stdio: 'pipe', maxBuffer: 64 << 20, ...(options.input === undefined ? {} : { input: options.input }) });
      } catch (error) {
        const stderr = (error as { stderr?: string }).stderr ?? '';
        throw new Error(`docker ${args.join(' ')}: ${stderr.trim() || (error as Error).message}`);
      }
    },
    async stop() {
      await stopProcess(child, dir);
      await removeEngineFiles(dir);
    },
  };
}
