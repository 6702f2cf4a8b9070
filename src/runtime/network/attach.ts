/**
 * Containers on networks: `attachContainer` gives a container its network namespace before it
 * starts (bound at `<root>/networks/netns/<id>`, with one veth per network on that network's
 * bridge, published ports as DNAT rules) and the /etc/hosts lines and /etc/resolv.conf it
 * needs; `detachContainer` undoes all of it from the store's records alone, so any process may
 * call it (the one that ran the container, a later `rm`, the next run after a crash).
 * `publishPorts` runs the userland proxies (loopback cannot be DNATed) in the calling process,
 * which must live as long as the container.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TsbuildError, isTsbuildError } from '../../common/index.js';
import type { Store } from '../../store/index.js';
import { newContainerId, processStartTime, readContainerRecord } from '../container.js';
import { userNamespaceSize } from '../spec.js';
import { recordEvent } from '../events.js';
import { allocateAddress, contains, defaultPool, formatAddress, formatSubnet, macOf, overlaps, parseAddress, parseRequestedRange, parseRequestedSubnet, parseSubnet, subnetSize, type PortSpec, type Subnet } from './address.js';
import {
  addDnatRules,
  containerTag,
  createBridge,
  createVeth,
  hostSide,
  linkExists,
  networkTag,
  removeLink,
  removeNamespace,
  removeRules,
  routedSubnets,
  type NetworkSide,
} from './host.js';
import { bridgeSettings } from './bridge-options.js';
import { checkPortFree, chooseHostPort, type PublishedPort } from './ports.js';
import {
  addNamespaceForward,
  ensureRootlessNamespace,
  removeNamespaceForwards,
  rootlessNameserver,
  rootlessSide,
  rootlessSlirpSubnet,
  stopRootlessNamespace,
} from './rootless-netns.js';
import { slirpAddress, slirpGateway, slirpNameserver, slirpSubnet, startUserModeNetwork, stopUserModeNetwork } from './rootless.js';
import { responderAlive, startResponder, stopResponder } from './responder.js';
import {
  defaultNetworkName,
  deleteNetworkRecord,
  findNetwork,
  listNetworks,
  namespacePath,
  withNetworkLock,
  writeNames,
  writeNetwork,
  type Endpoint,
  type NetworkRecord,
} from './state.js';

export const builtinNetworks = ['none', 'host'] as const;

/** Whether this process can make bridges and rules: root in the host's user namespace. */
export function canManageNetworks(): boolean {
  return (process.getuid?.() ?? 0) === 0 && userNamespaceSize() === undefined;
}

export interface CreateNetworkOptions {
  readonly name: string;
  readonly subnet?: string;
  readonly gateway?: string;
  readonly ipRange?: string;
  readonly auxAddresses?: Readonly<Record<string, string>>;
  readonly ipamDriver?: string;
  readonly ipamOptions?: Readonly<Record<string, string>>;
  readonly internal?: boolean;
  readonly labels?: Readonly<Record<string, string>>;
  readonly attachable?: boolean;
  /** `-o`: the bridge driver's options (see bridge-options.ts). */
  readonly options?: Readonly<Record<string, string>>;
}

/** 64 hex digits, as a container's ID. */
const newId = newContainerId;

function checkName(name: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new TsbuildError('INVALID_ARGUMENT', `invalid network name '${name}': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
}

/** A subnet of the pool (the default network's, or user networks') that no route of the host and no network of the store overlaps. */
async function freeSubnet(taken: readonly Subnet[], forDefaultNetwork: boolean): Promise<Subnet> {
  const routed = [...(await routedSubnets()), ...taken];
  const free = defaultPool(forDefaultNetwork).find((candidate) => !routed.some((used) => overlaps(candidate, used)));
  if (free === undefined) throw new TsbuildError('RUNTIME', 'create network: no free subnet left in the default pools; give one with --subnet');
  return free;
}

/** Whether SUBNET overlaps no route of the host and none of TAKEN. */
async function isFree(subnet: Subnet, taken: readonly Subnet[]): Promise<boolean> {
  return ![...(await routedSubnets()), ...taken].some((used) => overlaps(subnet, used));
}

function storeSubnets(networks: readonly NetworkRecord[], except: string): Subnet[] {
  return networks.filter((network) => network.id !== except && network.subnet !== undefined).map((network) => parseSubnet(network.subnet ?? ''));
}

/**
 * Where the store's bridges and rules are: the host's namespace as root; an ordinary user's
 * rootless namespace, started when START and not running (undefined when not running otherwise).
 */
async function networkSide(store: Store, start: true): Promise<NetworkSide>;
async function networkSide(store: Store, start: false): Promise<NetworkSide | undefined>;
async function networkSide(store: Store, start: boolean): Promise<NetworkSide | undefined> {
  if (canManageNetworks()) return hostSide;
  return start ? ensureRootlessNamespace(store) : rootlessSide(store);
}

/**
 * Makes NETWORK's bridge and rules on SIDE when missing (the default network's on first use,
 * with a subnet free at that moment; a rootless network's again after its namespace was
 * stopped, with the subnet it was given at its creation); returns the record with its subnet
 * and gateway.
 */
async function ensureBridge(store: Store, side: NetworkSide, network: NetworkRecord): Promise<NetworkRecord> {
  if (network.subnet !== undefined && linkExists(side, network.bridge)) return network;
  const lock = await side.lock();
  try {
    // A bridge the record does not know the subnet of: its maker was killed after the bridge was
    // made (the script making it runs on without it) and before the record said so. Its address
    // and rules are nobody's: it goes, and is made again as the record will say.
    if (network.subnet === undefined && linkExists(side, network.bridge)) await removeBridge(side, network);
    let subnet: Subnet;
    const kept = network.subnetGiven || side !== hostSide;
    if (network.subnet !== undefined && kept) {
      subnet = parseSubnet(network.subnet);
      // The rootless namespace routes nothing of the host's but slirp4netns's own network (refused at creation).
      const clash = side === hostSide ? (await routedSubnets()).find((used) => overlaps(used, subnet)) : undefined;
      if (clash !== undefined) throw new TsbuildError('RUNTIME', `create network ${network.name}: subnet ${network.subnet} overlaps ${formatSubnet(clash)}, which the host routes already`);
    } else {
      // The default network's: the one it was given (and `network inspect` showed), while it is still free.
      const taken = storeSubnets(await listNetworks(store), network.id);
      const recorded = network.subnet === undefined ? undefined : parseSubnet(network.subnet);
      subnet = recorded !== undefined && (await isFree(recorded, taken)) ? recorded : await freeSubnet(taken, network.isDefault);
    }
    const gateway = kept && network.gateway !== undefined ? (parseAddress(network.gateway) ?? subnet.base + 1) : subnet.base + 1;
    await createBridge(side, network.id, network.bridge, subnet, gateway, { ...bridgeSettings(network.options), internal: network.internal });
    const updated: NetworkRecord = { ...network, subnet: formatSubnet(subnet), gateway: formatAddress(gateway) };
    await writeNetwork(store, updated);
    return updated;
  } finally {
    await lock.release();
  }
}

/** Removes NETWORK's bridge and rules (the record stays). */
async function removeBridge(side: NetworkSide, network: NetworkRecord): Promise<void> {
  await removeRules(side, networkTag(network.id), network.bridge);
}

async function ensureDefaultNetwork(store: Store): Promise<NetworkRecord> {
  const found = await findNetwork(store, defaultNetworkName);
  if (found?.subnet !== undefined) return found;
  const id = found?.id ?? (await newId());
  // Its subnet and gateway, shown by `network inspect bridge` before any container used it, as
  // docker's daemon chooses them when it starts: the first of the pool free now (the bridge
  // keeps it while it stays free), or, rootless, slirp4netns's network.
  const subnet = canManageNetworks() ? await freeSubnet(storeSubnets(await listNetworks(store), id), true) : slirpSubnet;
  const gateway = canManageNetworks() ? formatAddress(subnet.base + 1) : slirpGateway;
  if (found !== undefined) {
    const updated: NetworkRecord = { ...found, subnet: formatSubnet(subnet), gateway };
    await writeNetwork(store, updated);
    return updated;
  }
  const record: NetworkRecord = {
    id,
    name: defaultNetworkName,
    created: new Date().toISOString(),
    driver: 'bridge',
    internal: false,
    labels: {},
    isDefault: true,
    subnetGiven: false,
    bridge: `tsb-${id.slice(0, 10)}`,
    subnet: formatSubnet(subnet),
    gateway,
    endpoints: {},
  };
  await writeNetwork(store, record);
  return record;
}

/** The store's networks, the default one included (made in the store, not on the host, when missing). */
export async function networks(store: Store): Promise<NetworkRecord[]> {
  if (!(await listNetworks(store)).some((network) => network.name === defaultNetworkName && network.subnet !== undefined)) await withNetworkLock(store, () => ensureDefaultNetwork(store).then(() => undefined));
  return listNetworks(store);
}

/** `--subnet` (and whether `--gateway` may go without it), refused in docker 26's words. */
function requestedSubnet(options: CreateNetworkOptions): Subnet | undefined {
  if (options.subnet === undefined) {
    if (options.gateway !== undefined || options.ipRange !== undefined) throw new TsbuildError('INVALID_ARGUMENT', 'every ip-range or gateway must have a corresponding subnet');
    return undefined;
  }
  try {
    return parseRequestedSubnet(options.subnet);
  } catch (error) {
    // docker's daemon says its configuration checks so, on a line of their own.
    throw error instanceof TsbuildError ? new TsbuildError(error.code, `invalid network config:\n${error.message}`, { cause: error }) : error;
  }
}

/** `--ip-range` in SUBNET, refused in docker 26's words. */
function requestedRange(subnet: Subnet, text: string): Subnet {
  try {
    return parseRequestedRange(text, subnet);
  } catch (error) {
    throw error instanceof TsbuildError ? new TsbuildError(error.code, `invalid network config:\n${error.message}`, { cause: error }) : error;
  }
}

/** `--gateway` in SUBNET (its first host address when not given), refused in docker 26's words. */
function requestedGateway(subnet: Subnet, text: string | undefined): number {
  if (text === undefined) return subnet.base + 1;
  const gateway = parseAddress(text);
  if (gateway === undefined || !contains(subnet, gateway)) throw new TsbuildError('INVALID_ARGUMENT', `no matching subnet for gateway ${text}`);
  // The network's own address and its broadcast are taken before any gateway, by docker's IPAM.
  if (gateway === subnet.base || gateway === subnet.base + subnetSize(subnet) - 1) throw new TsbuildError('INVALID_ARGUMENT', `failed to allocate gateway (${text}): Address already in use`);
  return gateway;
}

/** `network create`: the record, the bridge and its rules. */
export async function createNetwork(store: Store, options: CreateNetworkOptions): Promise<NetworkRecord> {
  checkName(options.name);
  // docker's daemon's words: host and none are its own, the default bridge a network like others.
  if ((builtinNetworks as readonly string[]).includes(options.name)) throw new TsbuildError('INVALID_ARGUMENT', `operation is not permitted on predefined ${options.name} network`);
  if (options.name === defaultNetworkName) throw new TsbuildError('INVALID_ARGUMENT', `network with name ${options.name} already exists`);
  const { bridgeName } = bridgeSettings(options.options);
  const rootless = !canManageNetworks();
  const subnet = requestedSubnet(options);
  if (rootless && subnet !== undefined && overlaps(subnet, parseSubnet(rootlessSlirpSubnet))) {
    throw new TsbuildError('INVALID_ARGUMENT', `network create: subnet ${formatSubnet(subnet)} overlaps ${rootlessSlirpSubnet}, the user-mode network stack's`);
  }
  const gateway = subnet === undefined ? undefined : requestedGateway(subnet, options.gateway);
  const range = subnet === undefined || options.ipRange === undefined ? undefined : requestedRange(subnet, options.ipRange);
  // docker's CLI: an auxiliary address must be one of the subnet's (none without one).
  for (const address of Object.values(options.auxAddresses ?? {})) {
    const value = parseAddress(address);
    if (subnet === undefined || value === undefined || !contains(subnet, value)) throw new TsbuildError('INVALID_ARGUMENT', `no matching subnet for aux-address ${address}`);
  }
  if (options.ipamDriver !== undefined && options.ipamDriver !== 'default') throw new TsbuildError('NOT_FOUND', `plugin ${JSON.stringify(options.ipamDriver)} not found`);
  return withNetworkLock(store, async () => {
    const all = await listNetworks(store);
    if (all.some((network) => network.name === options.name)) throw new TsbuildError('INVALID_ARGUMENT', `network with name ${options.name} already exists`);
    if (bridgeName !== undefined) {
      const holder = all.find((network) => network.bridge === bridgeName);
      if (holder !== undefined) throw new TsbuildError('CONFLICT', `bridge name ${bridgeName} is network ${holder.name}'s already`);
      // Never a link of the host's: tsbuild removes its bridge with the network, and would take the host's with it.
      if (!rootless && linkExists(hostSide, bridgeName)) throw new TsbuildError('CONFLICT', `bridge name ${bridgeName}: a link of that name exists on the host`);
    }
    if (subnet !== undefined && all.some((network) => network.subnet !== undefined && overlaps(parseSubnet(network.subnet), subnet))) {
      // docker's IPAM, for a subnet another of its networks holds.
      throw new TsbuildError('CONFLICT', 'Pool overlaps with other one on this address space');
    }
    const id = await newId();
    // Rootless, the bridge is made when a container first joins (in the rootless namespace, which
    // runs only while containers use it): the subnet is chosen now, and kept.
    const chosen = subnet ?? (rootless ? await freeSubnet(storeSubnets(all, id), false) : undefined);
    const record: NetworkRecord = {
      id,
      name: options.name,
      created: new Date().toISOString(),
      driver: 'bridge',
      internal: options.internal === true,
      labels: { ...options.labels },
      isDefault: false,
      ...(chosen === undefined ? {} : { subnet: formatSubnet(chosen), gateway: formatAddress(gateway ?? chosen.base + 1) }),
      ...(range === undefined ? {} : { ipRange: formatSubnet(range) }),
      ...(options.auxAddresses === undefined || Object.keys(options.auxAddresses).length === 0 ? {} : { auxAddresses: { ...options.auxAddresses } }),
      ...(options.ipamOptions === undefined || Object.keys(options.ipamOptions).length === 0 ? {} : { ipamOptions: { ...options.ipamOptions } }),
      subnetGiven: subnet !== undefined,
      bridge: bridgeName ?? `tsb-${id.slice(0, 10)}`,
      ...(options.attachable === true ? { attachable: true } : {}),
      ...(options.options === undefined || Object.keys(options.options).length === 0 ? {} : { options: { ...options.options } }),
      endpoints: {},
    };
    await writeNetwork(store, record);
    try {
      const made = rootless ? record : await ensureBridge(store, hostSide, record);
      await writeNames(store, made);
      await recordEvent(store.root, 'network', 'create', made.id, { name: made.name, type: 'bridge' });
      return made;
    } catch (error) {
      await deleteNetworkRecord(store, id);
      throw error;
    }
  });
}

/** `network rm`: refused while containers use it, and for the default and built-in ones. */
export async function removeNetwork(store: Store, reference: string): Promise<NetworkRecord> {
  if ((builtinNetworks as readonly string[]).includes(reference) || reference === defaultNetworkName) {
    throw new TsbuildError('INVALID_ARGUMENT', `${reference} is a pre-defined network and cannot be removed`);
  }
  await releaseAbandonedEndpoints(store);
  return withNetworkLock(store, async () => {
    const network = await findNetwork(store, reference);
    if (network === undefined) throw new TsbuildError('NOT_FOUND', `network ${reference} not found`);
    if (network.isDefault) throw new TsbuildError('INVALID_ARGUMENT', `${network.name} is a pre-defined network and cannot be removed`);
    if (Object.keys(network.endpoints).length > 0) throw new TsbuildError('INVALID_ARGUMENT', `error while removing network: network ${network.name} id ${network.id} has active endpoints`);
    await stopResponder(network.responder);
    // Rootless, nothing of the network exists while its namespace is not running.
    const side = await networkSide(store, false);
    if (side !== undefined) await removeBridge(side, network);
    await deleteNetworkRecord(store, network.id);
    await recordEvent(store.root, 'network', 'destroy', network.id, { name: network.name, type: 'bridge' });
    return network;
  });
}

/** `network prune`: every user network without containers; the names of those removed. */
export async function pruneNetworks(store: Store, select?: (network: NetworkRecord) => boolean): Promise<string[]> {
  await releaseAbandonedEndpoints(store);
  const removed: string[] = [];
  for (const network of await listNetworks(store)) {
    if (network.isDefault || Object.keys(network.endpoints).length > 0 || (select !== undefined && !select(network))) continue;
    try {
      await removeNetwork(store, network.id);
      removed.push(network.name);
    } catch (error) {
      // Joined by a container meanwhile: it stays, as docker's prune leaves networks in use.
      if (!isTsbuildError(error, 'INVALID_ARGUMENT')) throw error;
    }
  }
  return removed;
}

export interface AttachOptions {
  readonly containerId: string;
  /** The container's name, for the other containers of its user networks. */
  readonly name?: string;
  readonly hostname: string;
  /** `none`, `host`, `bridge` (the default network), a network's name or ID, or `container:NAME`. */
  readonly network?: string;
  /** `--network-alias`: more names on the (user) network. */
  readonly aliases?: readonly string[];
  /** `--dns`: where a user network's responder forwards the container's other queries. */
  readonly dns?: readonly string[];
  /** `--ip`: the container's address on its (user) network. */
  readonly ip?: string;
  /** `--mac-address` (lowercase, colons): its interface's on its first network, instead of the one its address gives. */
  readonly mac?: string;
  /** `-p` and `-P`'s ports. */
  readonly ports?: readonly PortSpec[];
}

export interface NetworkAttachment {
  /** The namespace the container joins; `none`: one of its own, loopback only; `host`: the host's. */
  readonly namespace: 'none' | 'host' | { readonly path: string };
  /** /etc/hosts lines for the container itself (`ADDRESS\tHOSTNAME`). */
  readonly hostsEntries: readonly string[];
  /** /etc/resolv.conf's content; undefined: the host's as it is. */
  readonly resolvConf?: string;
  /** resolv.conf names the network's own responder (user networks): `--dns` does not replace it. */
  readonly embeddedDns?: boolean;
  /** Published ports, with the host ports chosen for those given as 0; for `publishPorts`. */
  readonly ports: readonly PublishedPort[];
  /** The address on the first network, if any; set when `detachContainer` has something to undo. */
  readonly address?: string;
  /** Rootless: the ports forwarded by the user-mode network stack (with the host ports chosen). */
  readonly publishedPorts?: readonly PortSpec[];
}

function parseNetworkOption(text: string | undefined): { kind: 'none' } | { kind: 'host' } | { kind: 'container'; container: string } | { kind: 'network'; name: string } {
  if (text === 'none') return { kind: 'none' };
  if (text === 'host') return { kind: 'host' };
  if (text?.startsWith('container:') === true) return { kind: 'container', container: text.slice('container:'.length) };
  return { kind: 'network', name: text === undefined || text === 'default' ? defaultNetworkName : text };
}

/** Whether PATH is a namespace bound in this process's mount namespace (not the empty file under it). */
function boundHere(path: string): boolean {
  try {
    return statSync(path).dev !== statSync(dirname(path)).dev;
  } catch {
    return false;
  }
}

/**
 * Where the namespace of container ID is, for this process: its bind (root's, or made by this
 * process), else the container's first process's (rootless, the bind is in the mount namespace of
 * the process that attached it); undefined when neither is there.
 */
async function reachableNamespace(store: Store, id: string): Promise<string | undefined> {
  const path = namespacePath(store, id);
  if (canManageNetworks() ? existsSync(path) : boundHere(path)) return path;
  const pid = (await readContainerRecord(store, id))?.state.pid;
  return pid !== undefined && (await processStartTime(pid)) !== undefined ? `/proc/${pid}/ns/net` : undefined;
}

/** The namespace of a container of this store by ID, ID prefix or name; undefined when it has none. */
async function containerNamespace(store: Store, reference: string): Promise<{ id: string; path: string } | undefined> {
  for (const network of await listNetworks(store)) {
    for (const endpoint of Object.values(network.endpoints)) {
      if (endpoint.name === reference || endpoint.containerId.startsWith(reference)) {
        const path = await reachableNamespace(store, endpoint.containerId);
        return path === undefined ? undefined : { id: endpoint.containerId, path };
      }
    }
  }
  return undefined;
}

/** `--ip` where docker's IPAM takes none: the default network, a network whose subnet it chose. */
function refuseAddressRequest(network: NetworkRecord): void {
  if (network.isDefault) throw new TsbuildError('INVALID_ARGUMENT', 'user specified IP address is supported on user defined networks only');
  if (!network.subnetGiven) throw new TsbuildError('INVALID_ARGUMENT', 'user specified IP address is supported only when connecting to networks with user configured subnets');
}

/**
 * `--ip`: the address asked for, as docker's IPAM gives it: inside the subnet, neither the
 * network's nor the broadcast address, nor one in use. joinNetwork has refused networks that
 * take no address request (refuseAddressRequest) before making their bridge.
 */
function requestedAddress(network: NetworkRecord, subnet: Subnet, gateway: number, used: ReadonlySet<number>, ip: string): number {
  const address = parseAddress(ip);
  if (address === undefined) throw new TsbuildError('INVALID_ARGUMENT', `invalid IPv4 address: ${ip}`);
  if (address <= subnet.base || address >= subnet.base + subnetSize(subnet) - 1 || address === gateway) {
    throw new TsbuildError('INVALID_ARGUMENT', `invalid address ${ip}: it does not belong to any of this network's subnets (${network.subnet ?? ''}), or is reserved`);
  }
  if (used.has(address)) throw new TsbuildError('INVALID_ARGUMENT', `Address already in use: ${ip}`);
  return address;
}

async function containerEndpoints(store: Store, containerId: string): Promise<Endpoint[]> {
  return (await listNetworks(store)).flatMap((network) => (network.endpoints[containerId] === undefined ? [] : [network.endpoints[containerId]]));
}

/**
 * Records the container's endpoint on NETWORK (its bridge up): an address, its names for the
 * responder (started when it is the first to need it).
 */
async function addEndpoint(
  store: Store,
  side: NetworkSide,
  found: NetworkRecord,
  container: { id: string; name?: string; aliases: readonly string[]; publishes?: boolean; dns?: readonly string[]; ip?: string; mac?: string },
): Promise<{ network: NetworkRecord; endpoint: Endpoint; side: NetworkSide }> {
  const subnet = parseSubnet(found.subnet ?? '');
  const gateway = parseAddress(found.gateway ?? '') ?? subnet.base + 1;
  const used = new Set([...Object.values(found.endpoints).map((existing) => existing.address), ...Object.values(found.auxAddresses ?? {})].map((address) => parseAddress(address) ?? 0));
  const range = found.ipRange === undefined ? subnet : parseSubnet(found.ipRange);
  const address = container.ip === undefined ? allocateAddress(subnet, gateway, used, range) : requestedAddress(found, subnet, gateway, used, container.ip);
  if (address === undefined) throw new TsbuildError('RUNTIME', `connect to network ${found.name}: no address left in ${found.ipRange ?? found.subnet ?? ''}`);
  const index = (await containerEndpoints(store, container.id)).length;
  const made: Endpoint = {
    containerId: container.id,
    ...(container.name === undefined ? {} : { name: container.name }),
    aliases: [...container.aliases],
    address: formatAddress(address),
    mac: container.mac ?? macOf(address),
    hostVeth: `tsbv${container.id.slice(0, 8)}${found.id.slice(0, 3)}`,
    interfaceName: `eth${index}`,
    ...(container.publishes === true ? { publishes: true } : {}),
    ...(container.dns === undefined || container.dns.length === 0 ? {} : { dns: [...container.dns] }),
  };
  let updated: NetworkRecord = { ...found, endpoints: { ...found.endpoints, [container.id]: made } };
  await writeNetwork(store, updated);
  if (!updated.isDefault) {
    await writeNames(store, updated);
    if (!(await responderAlive(updated.responder))) {
      // Rootless, the host's resolvers are slirp4netns's to reach (loopback ones too).
      const where = side === hostSide ? { enter: [] } : { enter: side.enter, upstreams: [rootlessNameserver] };
      updated = { ...updated, responder: await startResponder(store, updated, where) };
      await writeNetwork(store, updated);
    }
  }
  return { network: updated, endpoint: made, side };
}

/**
 * Puts the container on NETWORK: an address, a veth on the bridge whose other end is in
 * NAMESPACE (made when missing), its names for the responder (started when it is the first to
 * need it). Rootless, the store's rootless namespace is started first when not running.
 */
async function joinNetwork(
  store: Store,
  reference: string,
  container: { id: string; name?: string; aliases: readonly string[]; publishes?: boolean; dns?: readonly string[]; ip?: string; mac?: string },
  namespace: string,
): Promise<{ network: NetworkRecord; endpoint: Endpoint; side: NetworkSide }> {
  const { network, endpoint, side } = await withNetworkLock(store, async () => {
    let found = reference === defaultNetworkName ? await ensureDefaultNetwork(store) : await findNetwork(store, reference);
    if (found === undefined) throw new TsbuildError('NOT_FOUND', `network ${reference} not found`);
    if (found.endpoints[container.id] !== undefined) throw new TsbuildError('INVALID_ARGUMENT', `endpoint with name ${container.name ?? container.id.slice(0, 12)} already exists in network ${found.name}`);
    if (found.isDefault && container.aliases.length > 0) throw new TsbuildError('INVALID_ARGUMENT', 'network-scoped aliases are supported only for user-defined networks');
    // Refused before the bridge is made, which the default network's would otherwise keep with no container on it.
    if (container.ip !== undefined) refuseAddressRequest(found);
    const side = await networkSide(store, true);
    const bridgeWasUp = found.subnet !== undefined && linkExists(side, found.bridge);
    found = await ensureBridge(store, side, found);
    try {
      return await addEndpoint(store, side, found, container);
    } catch (error) {
      // The default network's bridge lives while containers use it: one made for this container goes with it.
      if (found.isDefault && !bridgeWasUp && Object.keys(found.endpoints).length === 0) {
        await removeBridge(side, found);
        const { subnet: _subnet, gateway: _gateway, ...rest } = found;
        await writeNetwork(store, rest);
      }
      throw error;
    }
  });
  const subnet = parseSubnet(network.subnet ?? '');
  const { mtu } = bridgeSettings(network.options);
  try {
    await createVeth(side, {
      namespace,
      hostName: endpoint.hostVeth,
      name: endpoint.interfaceName,
      bridge: network.bridge,
      address: parseAddress(endpoint.address) ?? 0,
      subnet,
      ...(network.internal || endpoint.interfaceName !== 'eth0' ? {} : { gateway: parseAddress(network.gateway ?? '') ?? subnet.base + 1 }),
      mac: endpoint.mac,
      ...(mtu === undefined ? {} : { mtu }),
    });
  } catch (error) {
    // The address goes back (a container being connected stays on its other networks).
    await leaveNetwork(store, network.id, container.id).catch(() => undefined);
    throw error;
  }
  await recordEvent(store.root, 'network', 'connect', network.id, { container: container.id, name: network.name, type: 'bridge' });
  return { network, endpoint, side };
}

/**
 * Takes the container off NETWORK_ID: its endpoint, its veth, the responder when it was the
 * last; rootless, the rootless namespace when it was the last container on any network.
 */
async function leaveNetwork(store: Store, networkId: string, containerId: string): Promise<void> {
  await withNetworkLock(store, async () => {
    const all = await listNetworks(store);
    const network = all.find((candidate) => candidate.id === networkId);
    const endpoint = network?.endpoints[containerId];
    if (network === undefined || endpoint === undefined) return;
    const side = await sideToUndo(store);
    if (side !== undefined) await removeLink(side, endpoint.hostVeth);
    const endpoints = { ...network.endpoints };
    delete endpoints[containerId];
    let updated: NetworkRecord = { ...network, endpoints };
    if (Object.keys(endpoints).length === 0) {
      if (network.responder !== undefined) {
        await stopResponder(network.responder);
        const { responder: _stopped, ...rest } = updated;
        updated = rest;
      }
      if (network.isDefault && side !== undefined) {
        // The default network's bridge lives while containers use it; its subnet is chosen again.
        await removeBridge(side, network);
        const { subnet: _subnet, gateway: _gateway, ...rest } = updated;
        updated = rest;
      }
    }
    await writeNetwork(store, updated);
    if (!updated.isDefault) await writeNames(store, updated);
    await recordEvent(store.root, 'network', 'disconnect', network.id, { container: containerId, name: network.name, type: 'bridge' });
    const remaining = all.reduce((count, candidate) => count + Object.keys(candidate.id === networkId ? endpoints : candidate.endpoints).length, 0);
    if (!canManageNetworks() && remaining === 0) await stopRootlessNamespace(store);
  });
}

/**
 * The side to undo a container's network on; rootless, undefined when the namespace is not
 * running (all it held is gone with it), or cannot be entered from here (the records are still
 * released: what is left in it goes when it stops).
 */
async function sideToUndo(store: Store): Promise<NetworkSide | undefined> {
  try {
    return await networkSide(store, false);
  } catch {
    return undefined;
  }
}

/**
 * The container's resolv.conf: the responder on user networks; on the default network the
 * host's, without its loopback resolvers (which the container cannot reach), as docker does.
 */
async function resolvConfFor(network: NetworkRecord): Promise<string> {
  const host = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  const lines = host.split('\n');
  if (!network.isDefault) {
    const search = lines.filter((line) => /^\s*(search|domain)\s/.test(line));
    return `nameserver ${network.gateway ?? ''}\n${search.map((line) => `${line}\n`).join('')}options ndots:0\n`;
  }
  const kept = lines.filter((line) => !/^\s*nameserver\s+(127\.|::1\s*$)/.test(line));
  if (kept.some((line) => /^\s*nameserver\s/.test(line))) return kept.join('\n');
  return `${kept.join('\n').trimEnd()}\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n`.replace(/^\n/, '');
}

/**
 * Gives a container its network before it starts. On failure, nothing is left. With `none` and
 * `host` nothing is made; `container:NAME` joins that container's namespace.
 */
export async function attachContainer(store: Store, options: AttachOptions): Promise<NetworkAttachment> {
  // A run killed before it could clean up left its namespace and endpoints: whichever run comes next removes them.
  await releaseAbandonedEndpoints(store);
  const choice = parseNetworkOption(options.network);
  const ports = options.ports ?? [];
  // docker 26 publishes nothing with host (saying so when the container is made) or none, and refuses ports with container:.
  if (choice.kind === 'container' && ports.length > 0) throw new TsbuildError('INVALID_ARGUMENT', 'conflicting options: port publishing and the container type network mode');
  if (choice.kind === 'none' || choice.kind === 'host') return { namespace: choice.kind, hostsEntries: [], ports: [] };
  if (choice.kind === 'container') {
    const joined = await containerNamespace(store, choice.container);
    if (joined === undefined) throw new TsbuildError('NOT_FOUND', `no such container with a network namespace: ${choice.container}`);
    return { namespace: { path: joined.path }, hostsEntries: [], ports: [] };
  }
  if (!canManageNetworks() && choice.name === defaultNetworkName) {
    // Rootless: no bridge can be made on the host; the default network is a user-mode stack of the container's own.
    const path = namespacePath(store, options.containerId);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    try {
      const forwarded = await startUserModeNetwork(path, ports, options.mac);
      return {
        namespace: { path },
        hostsEntries: [`${slirpAddress}\t${options.hostname}`],
        resolvConf: `nameserver ${slirpNameserver}\n`,
        // Forwarded by slirp4netns already: nothing for publishPorts to hold.
        ports: [],
        publishedPorts: forwarded,
        address: slirpAddress,
      };
    } catch (error) {
      await detachContainer(store, options.containerId).catch(() => undefined);
      throw error;
    }
  }
  if (options.aliases !== undefined && options.aliases.length > 0 && choice.name === defaultNetworkName) {
    throw new TsbuildError('INVALID_ARGUMENT', 'network-scoped aliases are supported only for user-defined networks');
  }
  const path = namespacePath(store, options.containerId);
  try {
    const { network, endpoint, side } = await joinNetwork(
      store,
      choice.name,
      {
        id: options.containerId,
        ...(options.name === undefined ? {} : { name: options.name }),
        aliases: options.aliases ?? [],
        publishes: ports.length > 0,
        ...(options.dns === undefined ? {} : { dns: options.dns }),
        ...(options.ip === undefined ? {} : { ip: options.ip }),
        ...(options.mac === undefined ? {} : { mac: options.mac }),
      },
      path,
    );
    // A port published without a host address binds to the network's host_binding_ipv4, if it has one.
    const binding = bridgeSettings(network.options).hostBindingIpv4;
    const bound = binding === undefined ? ports : ports.map((port) => (port.hostIp === undefined ? { ...port, hostIp: binding } : port));
    if (side !== hostSide) {
      const forwarded = await forwardPorts(store, side, network, endpoint, bound);
      return { namespace: { path }, hostsEntries: [`${endpoint.address}\t${options.hostname}`], resolvConf: await resolvConfFor(network), embeddedDns: !network.isDefault, ports: [], publishedPorts: forwarded, address: endpoint.address };
    }
    const published: PublishedPort[] = [];
    for (const port of bound) published.push({ ...(await chooseHostPort(port, published)), address: endpoint.address });
    if (published.length > 0) {
      await addDnatRules(
        hostSide,
        options.containerId,
        published.map((port) => ({ ...(port.hostIp === undefined ? {} : { hostIp: port.hostIp }), hostPort: port.hostPort, protocol: port.protocol, address: endpoint.address, containerPort: port.containerPort, bridge: network.bridge })),
      );
    }
    return { namespace: { path }, hostsEntries: [`${endpoint.address}\t${options.hostname}`], resolvConf: await resolvConfFor(network), embeddedDns: !network.isDefault, ports: published, address: endpoint.address };
  } catch (error) {
    await detachContainer(store, options.containerId).catch(() => undefined);
    throw error;
  }
}

/**
 * Rootless: PORTS forwarded by the namespace's slirp4netns from the host to the namespace (SIDE),
 * and there by DNAT rules to the container (slirp4netns reaches only its own namespace's address);
 * the forwards' IDs are kept on the endpoint for `detachContainer`. The ports with the host
 * ports chosen.
 */
async function forwardPorts(store: Store, side: NetworkSide, network: NetworkRecord, endpoint: Endpoint, ports: readonly PortSpec[]): Promise<PortSpec[]> {
  if (ports.length === 0) return [];
  const forwarded: PortSpec[] = [];
  const ids: number[] = [];
  try {
    for (const port of ports) {
      const chosen = await chooseHostPort(port, forwarded);
      // slirp4netns says only that it failed: a port in use is told apart first.
      if (port.hostPort !== 0) await checkPortFree(chosen);
      ids.push(await addNamespaceForward(store, chosen));
      forwarded.push(chosen);
    }
  } finally {
    // Kept even when one failed: detachContainer removes those made.
    await withNetworkLock(store, async () => {
      const current = (await listNetworks(store)).find((candidate) => candidate.id === network.id);
      const own = current?.endpoints[endpoint.containerId];
      if (current !== undefined && own !== undefined) await writeNetwork(store, { ...current, endpoints: { ...current.endpoints, [endpoint.containerId]: { ...own, forwards: ids } } });
    });
  }
  // In the namespace, the forwarded port is the host's: the rule needs no address (slirp4netns listens on it).
  await addDnatRules(
    side,
    endpoint.containerId,
    forwarded.map((port) => ({ hostPort: port.hostPort, protocol: port.protocol, address: endpoint.address, containerPort: port.containerPort, bridge: network.bridge })),
  );
  return forwarded;
}

/** Takes the container off every network, removes its rules and its namespace. Idempotent. */
export async function detachContainer(store: Store, containerId: string): Promise<void> {
  const joined = (await listNetworks(store)).filter((network) => network.endpoints[containerId] !== undefined);
  const forwards = joined.flatMap((network) => network.endpoints[containerId]?.forwards ?? []);
  if (forwards.length > 0) await removeNamespaceForwards(store, forwards);
  if (joined.some((network) => network.endpoints[containerId]?.publishes === true)) {
    const side = await sideToUndo(store);
    if (side !== undefined) await removeRules(side, containerTag(containerId));
  }
  // The namespace first: its veths go with it, and need no command each.
  await stopUserModeNetwork(namespacePath(store, containerId));
  await removeNamespace(namespacePath(store, containerId));
  for (const network of joined) await leaveNetwork(store, network.id, containerId);
}

/** `network connect`: a running container joins one more network. */
export async function connectContainer(store: Store, reference: string, container: string, aliases: readonly string[] = [], ip?: string, ownNamespace?: { id: string; path: string; name?: string }): Promise<void> {
  // A container's /proc/PID/ns/net was found alive; this process may not see it (another user of the container's), nsenter's `ip` does.
  // OWNNAMESPACE: that of a container on no network (loopback alone), which no endpoint leads to.
  const joined = (await containerNamespace(store, container)) ?? ownNamespace;
  if (joined === undefined || (!joined.path.startsWith('/proc/') && !existsSync(joined.path))) throw new TsbuildError('NOT_FOUND', `no such container with a network namespace: ${container}`);
  const name = (await containerEndpoints(store, joined.id)).find((endpoint) => endpoint.name !== undefined)?.name ?? ownNamespace?.name;
  const network = await findNetwork(store, reference);
  if (network === undefined) throw new TsbuildError('NOT_FOUND', `network ${reference} not found`);
  await joinNetwork(store, network.name, { id: joined.id, ...(name === undefined ? {} : { name }), aliases, ...(ip === undefined ? {} : { ip }) }, joined.path);
}

/**
 * Joins the container ID, whose namespace NAMESPACE its first network's attachment made, to
 * another of its networks (those `network connect` gave it while it was not running).
 */
export async function joinAnotherNetwork(store: Store, reference: string, container: { id: string; name?: string; aliases: readonly string[]; ip?: string }, namespace: string): Promise<void> {
  await joinNetwork(store, reference, container, namespace);
}

/** `network disconnect`. */
export async function disconnectContainer(store: Store, reference: string, container: string): Promise<void> {
  const network = await findNetwork(store, reference);
  if (network === undefined) throw new TsbuildError('NOT_FOUND', `network ${reference} not found`);
  const endpoint = Object.values(network.endpoints).find((candidate) => candidate.name === container || candidate.containerId.startsWith(container));
  if (endpoint === undefined) throw new TsbuildError('NOT_FOUND', `container ${container} is not connected to the network ${network.name}`);
  await leaveNetwork(store, network.id, endpoint.containerId);
}

/**
 * Detaches containers whose directory is gone (a run killed before it could clean up): their
 * endpoints, veths, rules and namespace.
 */
export async function releaseAbandonedEndpoints(store: Store): Promise<void> {
  const gone = new Set<string>();
  for (const network of await listNetworks(store)) {
    for (const id of Object.keys(network.endpoints)) if (!existsSync(join(store.root, 'containers', id))) gone.add(id);
  }
  for (const id of gone) await detachContainer(store, id).catch(() => undefined);
}
