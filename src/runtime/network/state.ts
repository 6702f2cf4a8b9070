/**
 * Networks in the store: one record each, `<root>/networks/<id>.json`, holding the network's
 * settings, its bridge, the addresses given to containers (its endpoints) and its DNS
 * responder's process. Every change is made under the store's network lock
 * (`<root>/networks/lock`), so that no address is given twice.
 */
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import { TsbuildError, messageOf } from '../../common/index.js';
import { acquireLock, temporaryName, type Store } from '../../store/index.js';

export interface Endpoint {
  readonly containerId: string;
  /** The container's name (`--name`), when it has one. */
  readonly name?: string;
  readonly aliases: readonly string[];
  readonly address: string;
  readonly mac: string;
  /** The host's end of the veth pair. */
  readonly hostVeth: string;
  /** The interface's name in the container. */
  readonly interfaceName: string;
  /** Whether ports of the container are published (DNAT rules tagged with its ID). */
  readonly publishes?: boolean;
  /** Rootless: slirp4netns's host forwards for the container's published ports, by ID. */
  readonly forwards?: readonly number[];
  /** `--dns`: the resolvers the network's responder forwards this container's other queries to. */
  readonly dns?: readonly string[];
}

export interface ResponderProcess {
  readonly pid: number;
  readonly startTime: string;
}

export interface NetworkRecord {
  readonly id: string;
  readonly name: string;
  /** ISO 8601. */
  readonly created: string;
  readonly driver: 'bridge';
  readonly internal: boolean;
  readonly labels: Readonly<Record<string, string>>;
  /** Docker's default bridge (`bridge`): no names, and its bridge lives while containers use it. */
  readonly isDefault: boolean;
  /** CIDR; the default network's is chosen when its bridge is made (one free on the host). */
  readonly subnet?: string;
  readonly gateway?: string;
  /** `--ip-range`: the CIDR block of SUBNET its containers' addresses are given from. */
  readonly ipRange?: string;
  /** `--aux-address NAME=IP`: addresses of SUBNET kept for devices outside, never given to a container. */
  readonly auxAddresses?: Readonly<Record<string, string>>;
  /** `--ipam-opt`: shown, as docker's default IPAM driver keeps them (it reads none). */
  readonly ipamOptions?: Readonly<Record<string, string>>;
  /** Whether SUBNET was asked for (kept when the bridge goes) or picked (chosen again). */
  readonly subnetGiven: boolean;
  /** The Linux bridge's name: `tsb-` and 10 hex digits of the ID. */
  readonly bridge: string;
  /** `network create --attachable`: shown, as docker does; a bridge takes any container. */
  readonly attachable?: boolean;
  /** The driver options of `network create -o`, as given (see bridgeOptions). */
  readonly options?: Readonly<Record<string, string>>;
  readonly endpoints: Readonly<Record<string, Endpoint>>;
  readonly responder?: ResponderProcess;
}

export const defaultNetworkName = 'bridge';

export function networksDirectory(store: Pick<Store, 'root'>): string {
  return join(store.root, 'networks');
}

/** Where a container's network namespace is bound. */
export function namespacePath(store: Store, containerId: string): string {
  return join(networksDirectory(store), 'netns', containerId);
}

/** The names the network's responder answers, `<root>/networks/<id>.names` (JSON). */
export function namesPath(store: Store, id: string): string {
  return join(networksDirectory(store), `${id}.names`);
}

function recordPath(store: Store, id: string): string {
  return join(networksDirectory(store), `${id}.json`);
}

/** Runs ACTION under the store's network lock. */
export async function withNetworkLock<T>(store: Pick<Store, 'root'>, action: () => Promise<T>): Promise<T> {
  await mkdir(networksDirectory(store), { recursive: true, mode: 0o700 });
  const lock = await acquireLock(join(networksDirectory(store), 'lock'), { timeoutMs: 120_000, staleMs: 120_000 });
  try {
    return await action();
  } finally {
    await lock.release();
  }
}

export async function listNetworks(store: Pick<Store, 'root'>): Promise<NetworkRecord[]> {
  let names: string[];
  try {
    names = await readdir(networksDirectory(store));
  } catch {
    return [];
  }
  const records: NetworkRecord[] = [];
  for (const name of names.filter((entry) => /^[0-9a-f]{64}\.json$/.test(entry)).sort()) {
    try {
      records.push(JSON.parse(await readFile(join(networksDirectory(store), name), 'utf8')) as NetworkRecord);
    } catch {
      // Removed meanwhile.
    }
  }
  return records.sort((a, b) => a.created.localeCompare(b.created));
}

/** A network by name, full ID or ID prefix, as docker looks them up (name first). */
export async function findNetwork(store: Store, reference: string): Promise<NetworkRecord | undefined> {
  const all = await listNetworks(store);
  const byName = all.find((network) => network.name === reference);
  if (byName !== undefined) return byName;
  const byId = all.filter((network) => network.id.startsWith(reference.toLowerCase()));
  if (byId.length > 1) throw new TsbuildError('INVALID_ARGUMENT', `network ${reference} is ambiguous (${byId.length} matches found on ID prefix)`);
  return byId[0];
}

export async function getNetwork(store: Store, reference: string): Promise<NetworkRecord> {
  const found = await findNetwork(store, reference);
  if (found === undefined) throw new TsbuildError('NOT_FOUND', `network ${reference} not found`);
  return found;
}

export async function writeNetwork(store: Store, record: NetworkRecord): Promise<void> {
  const path = recordPath(store, record.id);
  const temporary = `${path}.${temporaryName('network')}`;
  try {
    await writeFile(temporary, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new TsbuildError('INTERNAL', `write network record ${path}: ${messageOf(error)}`, { cause: error });
  }
}

export async function deleteNetworkRecord(store: Store, id: string): Promise<void> {
  await rm(recordPath(store, id), { force: true });
  await rm(namesPath(store, id), { force: true });
}

/**
 * The names the responder of NETWORK answers: each endpoint's name, aliases and short ID, each
 * also followed by the network's name (`web.mynet`), as docker's embedded DNS resolves
 * `NAME.NETWORK` within that network.
 */
export function networkNames(network: NetworkRecord): Record<string, string> {
  const names: Record<string, string> = {};
  for (const endpoint of Object.values(network.endpoints)) {
    for (const name of [endpoint.containerId.slice(0, 12), ...(endpoint.name === undefined ? [] : [endpoint.name]), ...endpoint.aliases]) {
      names[name.toLowerCase()] = endpoint.address;
      names[`${name}.${network.name}`.toLowerCase()] = endpoint.address;
    }
  }
  return names;
}

/**
 * The resolvers each container of NETWORK was given (`--dns`), by its address: where the
 * responder forwards the names it does not hold for that container. None on an internal network,
 * whose queries never leave it. The responder speaks IPv4 only, so IPv6 resolvers are left out.
 */
export function networkUpstreams(network: NetworkRecord): Record<string, readonly string[]> {
  const upstreams: Record<string, readonly string[]> = {};
  if (network.internal) return upstreams;
  for (const endpoint of Object.values(network.endpoints)) {
    const servers = (endpoint.dns ?? []).filter((server) => isIPv4(server));
    if (servers.length > 0) upstreams[endpoint.address] = servers;
  }
  return upstreams;
}

export async function writeNames(store: Store, network: NetworkRecord): Promise<void> {
  const path = namesPath(store, network.id);
  const temporary = `${path}.${temporaryName('names')}`;
  await writeFile(temporary, JSON.stringify({ names: networkNames(network), upstreams: networkUpstreams(network) }), { mode: 0o644 });
  await rename(temporary, path);
}
