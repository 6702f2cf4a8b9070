/**
 * The default network of an unprivileged user: no bridge can be made on the host, so the
 * container's namespace (bound at `<root>/networks/netns/<id>` in rootless tsbuild's own mount
 * namespace) gets a user-mode network stack, slirp4netns, for outbound access, and its `-p`
 * ports as slirp4netns's host forwards. slirp4netns is a child of the attaching process and
 * exits with it (`--exit-fd`), or when `detach` signals it (its pid and start time are next to
 * the namespace).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { TsbuildError, messageOf } from '../../common/index.js';
import { parseSubnet, type PortSpec } from './address.js';
import { checkPortFree, chooseHostPort, portTakenError } from './ports.js';
import { processStartTime } from '../container.js';
import { slirpRequest } from './rootless-netns.js';

/** slirp4netns's fixed addresses (its defaults, as podman's and rootlesskit's). */
export const slirpAddress = '10.0.2.100';
export const slirpNameserver = '10.0.2.3';
/** Its network and gateway (the host's side), the rootless default network's IPAM. */
export const slirpSubnet = parseSubnet('10.0.2.0/24');
export const slirpGateway = '10.0.2.2';

interface SlirpProcess {
  readonly pid: number;
  readonly startTime: string;
  /** The private directory of its API socket, removed with it. */
  readonly socketDirectory?: string;
}

function processFile(namespace: string): string {
  return `${namespace}.slirp.json`;
}

/**
 * A directory of its own for slirp4netns's API socket, which only this user enters: in the
 * temporary directory, as a store's path may be too long for a socket's address (108 bytes).
 * A fixed name there, in everyone's directory, could be taken by another user first, and the
 * socket itself connected to by anyone the umask lets write it (to forward the container's
 * ports where they like).
 */
function apiSocketDirectory(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'tsbuild-slirp-'));
}

/** Asks slirp4netns, through its API socket, to forward PORT from the host to the container. */
async function addForward(socket: string, port: PortSpec): Promise<void> {
  const reply = await slirpRequest(socket, { execute: 'add_hostfwd', arguments: { proto: port.protocol, host_addr: port.hostIp ?? '0.0.0.0', host_port: port.hostPort, guest_port: port.containerPort } });
  if (reply.error !== undefined) {
    const reason = reply.error.desc ?? JSON.stringify(reply.error);
    if (/in use|EADDRINUSE/i.test(reason)) throw portTakenError(port.hostIp ?? '0.0.0.0', port.hostPort);
    throw new TsbuildError('RUNTIME', `publish port ${port.hostIp ?? '0.0.0.0'}:${port.hostPort}: ${reason}`);
  }
}

/**
 * Starts slirp4netns on the namespace at NAMESPACE (made here) and forwards PORTS; resolves to
 * the ports with the host ports chosen for those given as 0. MAC: its tap device's (`--mac-address`).
 */
export async function startUserModeNetwork(namespace: string, ports: readonly PortSpec[], mac?: string): Promise<PortSpec[]> {
  await writeFile(namespace, '', { mode: 0o600 });
  const made = await new Promise<string | undefined>((resolve) => {
    const child = spawn('unshare', [`--net=${namespace}`, 'ip', 'link', 'set', 'lo', 'up'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.on('error', (error) => resolve(error.message));
    child.on('exit', (code) => resolve(code === 0 ? undefined : errors.trim()));
  });
  if (made !== undefined) throw new TsbuildError('RUNTIME', `create network namespace ${namespace}: ${made}`);
  const socketDirectory = await apiSocketDirectory();
  const socket = join(socketDirectory, 'api.sock');
  const child = spawn('slirp4netns', ['--configure', '--mtu=65520', '--disable-host-loopback', '--netns-type=path', ...(mac === undefined ? [] : [`--macaddress=${mac}`]), `--api-socket=${socket}`, '--ready-fd=3', '--exit-fd=4', namespace, 'tap0'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const ready = await new Promise<string | undefined>((resolve) => {
    let errors = '';
    child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.stdio[3]?.on('data', () => resolve(undefined));
    child.on('error', (error) => resolve(error.message));
    child.on('exit', (code) => resolve(errors.trim() || `exited with status ${code ?? 'unknown'}`));
  });
  if (ready !== undefined || child.pid === undefined) {
    await rm(socketDirectory, { recursive: true, force: true });
    throw new TsbuildError('RUNTIME', `start slirp4netns: ${ready ?? 'no process'}`);
  }
  child.stderr?.destroy();
  (child.stdio[3] as NodeJS.ReadableStream & { destroy(): void }).destroy();
  // The exit pipe's other end stays open in this process: slirp4netns exits when it closes,
  // whatever ends this process; it must not keep this process alive meanwhile.
  (child.stdio[4] as unknown as { unref(): void } | null)?.unref();
  child.unref();
  await writeFile(processFile(namespace), JSON.stringify({ pid: child.pid, startTime: (await processStartTime(child.pid)) ?? '', socketDirectory } satisfies SlirpProcess));
  const chosen: PortSpec[] = [];
  for (const port of ports) {
    const forwarded = await chooseHostPort(port, chosen);
    // slirp4netns says only that it failed: a port in use is told apart first.
    if (port.hostPort !== 0) await checkPortFree(forwarded);
    try {
      await addForward(socket, forwarded);
    } catch (error) {
      throw error instanceof TsbuildError ? error : new TsbuildError('RUNTIME', `publish port ${forwarded.hostPort}: ${messageOf(error)}`, { cause: error });
    }
    chosen.push(forwarded);
  }
  return chosen;
}

/** Stops the namespace's slirp4netns, if it has one. */
export async function stopUserModeNetwork(namespace: string): Promise<void> {
  let owner: SlirpProcess;
  try {
    owner = JSON.parse(await readFile(processFile(namespace), 'utf8')) as SlirpProcess;
  } catch {
    return;
  }
  if ((await processStartTime(owner.pid)) === owner.startTime) {
    try {
      process.kill(owner.pid, 'SIGTERM');
    } catch {
      // Gone meanwhile.
    }
  }
  await rm(processFile(namespace), { force: true });
  // Only what apiSocketDirectory makes is removed, whatever the file says.
  const directory = owner.socketDirectory;
  if (directory !== undefined && dirname(directory) === tmpdir() && basename(directory).startsWith('tsbuild-slirp-')) await rm(directory, { recursive: true, force: true });
}
