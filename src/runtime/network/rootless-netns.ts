/**
 * An ordinary user's networks live in one network namespace per store, as podman's rootless
 * netns: the bridges, veths, rules and DNS responders that root makes on the host are made there,
 * by the same code (a `NetworkSide` that enters it through nsenter), and one slirp4netns gives it
 * outbound access and carries published ports to it (a host forward to 10.0.2.100, then a DNAT
 * rule there to the container).
 *
 * The namespace is held by a small process of the user's (rootless-holder.ts), started by the
 * first container that joins a user network and stopped when the last leaves. Its pid and start
 * time, its keeper's (whose /proc/PID/ns/net is the namespace) and slirp4netns's API socket are in
 * `<root>/networks/rootless-netns.json`, written under the store's network lock.
 *
 * The namespace belongs to the user namespace of the process that started the holder; only a
 * process of that user namespace (or of the host's, entering it) can join it: rootless tsbuild
 * enters it instead of making one of its own while the holder runs (`rootlessUserNamespace`).
 */
import { spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { TsbuildError, messageOf } from '../../common/index.js';
import { acquireLock, temporaryName, type Store } from '../../store/index.js';
import { processStartTime } from '../container.js';
import { shimPath } from '../oci-runtime.js';
import { userNamespaceSize } from '../spec.js';
import type { PortSpec } from './address.js';
import { portTakenError } from './ports.js';
import type { NetworkSide } from './host.js';
import { listNetworks, networksDirectory, withNetworkLock } from './state.js';

// Found from the shim's place in the package, as the DNS responder's.
const holderScript = resolve(shimPath(), '../../../dist/runtime/network/rootless-holder.js');

/** slirp4netns's address in the namespace: where its host forwards arrive. */
export const rootlessNamespaceAddress = '10.0.2.100';
/** slirp4netns's resolver, which the DNS responders forward other names to. */
export const rootlessNameserver = '10.0.2.3';
/** slirp4netns's own network, which no user network may overlap. */
export const rootlessSlirpSubnet = '10.0.2.0/24';

interface HolderState {
  readonly pid: number;
  readonly startTime: string;
  readonly keeperPid: number;
  readonly keeperStartTime: string;
  readonly apiSocket: string;
}

function statePath(root: string): string {
  return join(root, 'networks', 'rootless-netns.json');
}

async function readState(root: string): Promise<HolderState | undefined> {
  try {
    return JSON.parse(await readFile(statePath(root), 'utf8')) as HolderState;
  } catch {
    return undefined;
  }
}

async function alive(state: HolderState): Promise<boolean> {
  return (await processStartTime(state.pid)) === state.startTime && (await processStartTime(state.keeperPid)) === state.keeperStartTime;
}

/** The running holder's state; undefined when there is none (never started, stopped, or died). */
export async function rootlessHolder(store: Pick<Store, 'root'>): Promise<HolderState | undefined> {
  const state = await readState(store.root);
  return state !== undefined && (await alive(state)) ? state : undefined;
}

/**
 * The user namespace rootless tsbuild enters instead of making its own: the running holder's
 * (`/proc/PID/ns/user`), or undefined.
 */
export async function rootlessUserNamespace(root: string): Promise<string | undefined> {
  const state = await rootlessHolder({ root });
  return state === undefined ? undefined : `/proc/${state.keeperPid}/ns/user`;
}

function namespaceLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** The side to make bridges and rules on: the holder's namespace, entered from this process. */
function sideOf(store: Store, state: HolderState): NetworkSide {
  const userNamespace = `/proc/${state.keeperPid}/ns/user`;
  const ownUserNamespace = namespaceLink('/proc/self/ns/user');
  const joined = ownUserNamespace !== undefined && ownUserNamespace === namespaceLink(userNamespace);
  // The host's user namespace owns the holder's: a process there enters it, and is root there.
  if (!joined && userNamespaceSize() !== undefined) {
    throw new TsbuildError('RUNTIME', 'rootless networks: another tsbuild started the rootless network namespace after this one started; run the command again');
  }
  return {
    enter: ['nsenter', ...(joined ? [] : [`--user=${userNamespace}`, '--preserve-credentials']), `--net=/proc/${state.keeperPid}/ns/net`, '--'],
    procNet: `/proc/${state.keeperPid}/net`,
    lock: () => acquireLock(join(networksDirectory(store), 'rootless-netns.lock'), { timeoutMs: 60_000, staleMs: 60_000 }),
    environment: { XTABLES_LOCKFILE: join(networksDirectory(store), 'xtables.lock') },
  };
}

/** The running namespace's side, or undefined (nothing of it exists then). Call under the network lock. */
export async function rootlessSide(store: Store): Promise<NetworkSide | undefined> {
  const state = await rootlessHolder(store);
  return state === undefined ? undefined : sideOf(store, state);
}

/**
 * slirp4netns's API socket: in a directory of its own (0700) under the runtime directory, or the
 * temporary one where there is none (a store's path may be too long for a socket's address); a
 * fixed name there could be taken first by another user, and the socket reached by anyone the
 * umask lets write it. The state records it.
 */
async function apiSocketPath(): Promise<string> {
  return join(await mkdtemp(join(process.env.XDG_RUNTIME_DIR ?? tmpdir(), 'tsbuild-netns-')), 'api.sock');
}

/** Removes the socket of a state, with the directory apiSocketPath made for it (not one a state of an older tsbuild names). */
function removeApiSocket(path: string): Promise<void> {
  const directory = dirname(path);
  return basename(directory).startsWith('tsbuild-netns-') && basename(path) === 'api.sock' ? rm(directory, { recursive: true, force: true }) : rm(path, { force: true });
}

/** Starts the holder when it is not running; the namespace's side. Call under the network lock. */
export async function ensureRootlessNamespace(store: Store): Promise<NetworkSide> {
  const running = await rootlessHolder(store);
  if (running !== undefined) return sideOf(store, running);
  // From the host's user namespace (`network connect`), a namespace made now would be in a user
  // namespace no container of the store is in.
  if (userNamespaceSize() === undefined) {
    throw new TsbuildError('RUNTIME', 'rootless networks: no container runs on a user network; start the container on one (--network) to connect it to others');
  }
  return sideOf(store, await startHolder(store, []));
}

/**
 * From the host's user namespace, before a rootless tsbuild that will put a container on a user
 * network enters a user namespace: the running holder's user namespace, or a new one's, made for
 * a holder started now (MAPPING: `unshare`'s options for it, those rootless tsbuild uses). Under
 * the network lock, so that tsbuilds started at once all enter the same one.
 */
export async function startRootlessNamespaceFromHost(root: string, mapping: readonly string[]): Promise<string> {
  return withNetworkLock({ root }, async () => {
    const state = (await rootlessHolder({ root })) ?? (await startHolder({ root }, ['unshare', ...mapping, '--']));
    return `/proc/${state.keeperPid}/ns/user`;
  });
}

/**
 * Stops the holder when no container is on any network of the store (a tsbuild that started it
 * failed before its container joined). From the host's user namespace, after that tsbuild ended.
 */
export async function stopUnusedRootlessNamespace(root: string): Promise<void> {
  await withNetworkLock({ root }, async () => {
    if ((await rootlessHolder({ root })) === undefined) return;
    if ((await listNetworks({ root })).every((network) => Object.keys(network.endpoints).length === 0)) await stopRootlessNamespace({ root });
  });
}

/**
 * Whether the store's `config.json` lets containers of rootless networks reach the host's
 * loopback through 10.0.2.2 (`{"rootlessNetworks": {"allowHostLoopback": true}}`); off by
 * default, as in docker's and podman's rootless networks.
 */
async function allowHostLoopback(root: string): Promise<boolean> {
  const path = join(root, 'config.json');
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return false;
  let config: { rootlessNetworks?: { allowHostLoopback?: unknown } };
  try {
    config = JSON.parse(text) as typeof config;
  } catch (error) {
    throw new TsbuildError('INVALID_ARGUMENT', `read ${path}: ${messageOf(error)}`, { cause: error });
  }
  const value = config.rootlessNetworks?.allowHostLoopback;
  if (value !== undefined && typeof value !== 'boolean') throw new TsbuildError('INVALID_ARGUMENT', `read ${path}: rootlessNetworks.allowHostLoopback is not true or false`);
  return value === true;
}

/** Spawns the holder (through PREFIX: a new user namespace's `unshare`, or none) and waits until it is ready. */
async function startHolder(store: Pick<Store, 'root'>, prefix: readonly string[]): Promise<HolderState> {
  const apiSocket = await apiSocketPath();
  const argv = [...prefix, process.execPath, holderScript, apiSocket, ...((await allowHostLoopback(store.root)) ? ['--allow-host-loopback'] : [])];
  const child = spawn(argv[0] ?? process.execPath, argv.slice(1), {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    // The holder lives on its own: it must hold no directory, terminal or session of its starter's.
    cwd: '/',
  });
  const ready = await new Promise<{ keeperPid?: number; error?: string }>((done) => {
    let output = '';
    let errors = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const found = /^ready (\d+)\n/.exec(output);
      if (found !== null) done({ keeperPid: Number(found[1]) });
    });
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.on('error', (error) => done({ error: error.message }));
    child.on('exit', (code) => done({ error: errors.trim() || `exited with status ${code ?? 'unknown'}` }));
  });
  child.stdout.destroy();
  child.stderr.destroy();
  child.unref();
  if (ready.keeperPid === undefined || child.pid === undefined) {
    await removeApiSocket(apiSocket);
    throw new TsbuildError('RUNTIME', `start the rootless network namespace: ${ready.error ?? 'no process'}`);
  }
  // `unshare` without --fork execs: its pid is the holder's.
  const state: HolderState = {
    pid: child.pid,
    startTime: (await processStartTime(child.pid)) ?? '',
    keeperPid: ready.keeperPid,
    keeperStartTime: (await processStartTime(ready.keeperPid)) ?? '',
    apiSocket,
  };
  const temporary = `${statePath(store.root)}.${temporaryName('netns')}`;
  await writeFile(temporary, `${JSON.stringify(state)}\n`, { mode: 0o600 });
  await rename(temporary, statePath(store.root));
  return state;
}

/** Stops the holder (its slirp4netns and namespace go with it) and forgets it. Call under the network lock. */
export async function stopRootlessNamespace(store: Pick<Store, 'root'>): Promise<void> {
  const state = await readState(store.root);
  if (state !== undefined && (await processStartTime(state.pid)) === state.startTime) {
    try {
      process.kill(state.pid, 'SIGTERM');
    } catch {
      // Gone meanwhile.
    }
    for (let waited = 0; waited < 5000 && ((await processStartTime(state.pid)) === state.startTime || (await processStartTime(state.keeperPid)) === state.keeperStartTime); waited += 20) {
      await new Promise((wake) => setTimeout(wake, 20));
    }
  }
  if (state !== undefined) await removeApiSocket(state.apiSocket);
  await rm(join(networksDirectory(store), 'xtables.lock'), { force: true });
  await rm(statePath(store.root), { force: true });
}

/** One request to slirp4netns's API socket; its reply's error, if any. */
export async function slirpRequest(socket: string, request: Record<string, unknown>): Promise<{ return?: Record<string, unknown>; error?: { desc?: string } }> {
  const reply = await new Promise<string>((done, reject) => {
    const connection = createConnection(socket);
    let text = '';
    connection.on('connect', () => connection.end(JSON.stringify(request)));
    connection.on('data', (chunk: Buffer) => (text += chunk.toString()));
    connection.on('end', () => done(text));
    connection.on('error', reject);
  });
  return JSON.parse(reply) as { return?: Record<string, unknown>; error?: { desc?: string } };
}

/** Forwards PORT (its host port chosen already) from the host to the namespace's address, same port; the forward's ID. */
export async function addNamespaceForward(store: Store, port: PortSpec): Promise<number> {
  const state = await rootlessHolder(store);
  if (state === undefined) throw new TsbuildError('INTERNAL', 'publish port: the rootless network namespace is not running');
  const reply = await slirpRequest(state.apiSocket, {
    execute: 'add_hostfwd',
    arguments: { proto: port.protocol, host_addr: port.hostIp ?? '0.0.0.0', host_port: port.hostPort, guest_addr: rootlessNamespaceAddress, guest_port: port.hostPort },
  });
  const id = reply.return?.id;
  if (reply.error !== undefined || typeof id !== 'number') {
    const reason = reply.error?.desc ?? JSON.stringify(reply);
    if (/in use|EADDRINUSE/i.test(reason)) throw portTakenError(port.hostIp ?? '0.0.0.0', port.hostPort);
    throw new TsbuildError('RUNTIME', `publish port ${port.hostIp ?? '0.0.0.0'}:${port.hostPort}: ${reason}`);
  }
  return id;
}

/** Removes host forwards by ID (those of a container); nothing when the namespace is gone with them. */
export async function removeNamespaceForwards(store: Store, ids: readonly number[]): Promise<void> {
  const state = await rootlessHolder(store);
  if (state === undefined) return;
  for (const id of ids) await slirpRequest(state.apiSocket, { execute: 'remove_hostfwd', arguments: { id } });
}
