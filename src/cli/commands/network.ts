import { createHash } from 'node:crypto';
import type { Command } from 'commander';
import { TsbuildError } from '../../common/index.js';
import { connectContainerNetwork, createNetwork, disconnectContainerNetwork, findContainer, getNetwork, networks, pruneNetworks, removeNetwork, type NetworkRecord } from '../../runtime/index.js';
import { dockerTable, formatGoTime } from '../format.js';
import { formatListTemplate } from '../go-template.js';
import { networkShape } from '../inspect-shapes.js';
import { ExitError, daemonError, type CliIo } from '../io.js';
import { listFormat } from '../docker-config.js';
import { printInspected } from './inspect-output.js';
import type { Store } from '../../store/index.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';
import { collect, collectFilter, keyValueMap } from '../common-options.js';
import { pruneSelection } from '../prune-filter.js';

/** The built-in networks that are no bridge of tsbuild's: listed as docker lists them, with IDs of their own. */
const builtins: readonly { name: string; driver: string }[] = [
  { name: 'host', driver: 'host' },
  { name: 'none', driver: 'null' },
];

export function builtinId(name: string): string {
  return createHash('sha256').update(`tsbuild network ${name}`).digest('hex');
}

/** The ID docker would give a container's endpoint on a network: stable, so that `network inspect` and `inspect` agree. */
export function endpointId(networkId: string, containerId: string): string {
  return createHash('sha256').update(`${networkId}/${containerId}`).digest('hex');
}

/** `network inspect`'s object, with docker's field names. */
export function inspectNetwork(network: NetworkRecord): Record<string, unknown> {
  const prefix = network.subnet?.split('/')[1] ?? '';
  return {
    Name: network.name,
    Id: network.id,
    Created: network.created,
    Scope: 'local',
    Driver: network.driver,
    EnableIPv6: false,
    // docker 26: IPAM options `{}` for a network `network create` made, null for the default bridge.
    IPAM: {
      Driver: 'default',
      Options: network.isDefault ? null : { ...network.ipamOptions },
      Config: network.subnet === undefined ? [] : [{ Subnet: network.subnet, ...(network.ipRange === undefined ? {} : { IPRange: network.ipRange }), Gateway: network.gateway, ...(network.auxAddresses === undefined ? {} : { AuxiliaryAddresses: network.auxAddresses }) }],
    },
    Internal: network.internal,
    Attachable: network.attachable === true,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: Object.fromEntries(
      Object.values(network.endpoints).map((endpoint) => [
        endpoint.containerId,
        { Name: endpoint.name ?? endpoint.containerId.slice(0, 12), EndpointID: endpointId(network.id, endpoint.containerId), MacAddress: endpoint.mac, IPv4Address: `${endpoint.address}/${prefix}`, IPv6Address: '' },
      ]),
    ),
    // As docker: the options `network create -o` gave; the default bridge's are the daemon's.
    Options: network.isDefault ? { 'com.docker.network.bridge.default_bridge': 'true', 'com.docker.network.bridge.name': network.bridge } : { ...network.options },
    Labels: network.labels,
  };
}

/** The network NAME (a name, an ID or its prefix, or a built-in's) as `network inspect` prints it. */
export async function inspectNetworkNamed(store: Store, name: string): Promise<Record<string, unknown>> {
  await networks(store);
  const builtin = builtins.find((candidate) => candidate.name === name || builtinId(candidate.name).startsWith(name));
  return builtin === undefined ? inspectNetwork(await getNetwork(store, name)) : builtinRecord(builtin.name, builtin.driver);
}

function builtinRecord(name: string, driver: string): Record<string, unknown> {
  return { Name: name, Id: builtinId(name), Created: '0001-01-01T00:00:00Z', Scope: 'local', Driver: driver, EnableIPv6: false, IPAM: { Driver: 'default', Options: null, Config: null }, Internal: false, Attachable: false, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false, Containers: {}, Options: {}, Labels: {} };
}

/** Whether REFERENCE names the built-in network NAME (by name or ID prefix). */
function isBuiltin(reference: string, name: string): boolean {
  return reference === name || (reference.length > 0 && builtinId(name).startsWith(reference));
}

/** docker's refusals for `network connect` of a container in or to the built-in modes. */
function checkConnectModes(reference: string, mode: string): void {
  if (mode === 'host' || mode.startsWith('container:')) throw new TsbuildError('INVALID_ARGUMENT', 'container sharing network namespace with another container or host cannot be connected to any other network');
  if (isBuiltin(reference, 'host')) throw new TsbuildError('INVALID_ARGUMENT', 'container cannot be disconnected from host network or connected to host network');
  if (isBuiltin(reference, 'none') || mode === 'none') throw new TsbuildError('INVALID_ARGUMENT', 'container cannot be connected to multiple networks with one of the networks in private (none) mode');
}

/**
 * `network disconnect` from a built-in network: refused from the host's, as docker; from none,
 * nothing to do (docker takes it off none, which leaves it as it was: loopback only). Says
 * whether REFERENCE was a built-in network.
 */
function disconnectBuiltin(reference: string, record: { readonly id: string; readonly config: { readonly network: string } }): boolean {
  const builtin = ['host', 'none'].find((name) => isBuiltin(reference, name));
  if (builtin === undefined) return false;
  if (record.config.network !== builtin) throw new TsbuildError('NOT_FOUND', `container ${record.id} is not connected to the network ${builtin}`);
  if (builtin === 'host') throw new TsbuildError('INVALID_ARGUMENT', 'container cannot be disconnected from host network or connected to host network');
  return true;
}

interface FilteredNetwork {
  readonly ID: string;
  readonly Name: string;
  readonly Driver: string;
  readonly Scope: string;
  readonly Labels: Readonly<Record<string, string>>;
  readonly builtin: boolean;
  readonly containers: number;
}

/**
 * `network ls --filter`, as docker's daemon filters networks: values of one key are
 * alternatives, keys must all hold; id= and name= are regular expressions found anywhere in
 * the ID or name, driver= and scope= exact, label= a key or key=value, type= custom or builtin,
 * dangling= networks no container uses (user networks only).
 */
function networkFilter(filters: readonly string[]): (network: FilteredNetwork) => boolean {
  const byKey = new Map<string, string[]>();
  for (const filter of filters) {
    const equals = filter.indexOf('=');
    if (equals < 0) throw new TsbuildError('INVALID_ARGUMENT', `bad format of filter (expected name=value): ${filter}`);
    const key = filter.slice(0, equals);
    const value = filter.slice(equals + 1);
    if (!['driver', 'id', 'label', 'name', 'scope', 'type', 'dangling'].includes(key)) throw new TsbuildError('INVALID_ARGUMENT', `invalid filter '${key}'`);
    if (key === 'type' && value !== 'custom' && value !== 'builtin') throw new TsbuildError('INVALID_ARGUMENT', `invalid filter: 'type'='${value}'`);
    if (key === 'dangling' && !['true', 'false', '1', '0'].includes(value)) throw new TsbuildError('INVALID_ARGUMENT', `invalid filter 'dangling=${value}'`);
    if (key === 'id' || key === 'name') {
      try {
        new RegExp(value);
      } catch (error) {
        throw new TsbuildError('INVALID_ARGUMENT', `invalid filter '${key}=${value}': ${(error as Error).message}`);
      }
    }
    byKey.set(key, [...(byKey.get(key) ?? []), value]);
  }
  const matches = (value: string, network: FilteredNetwork, key: string): boolean => {
    switch (key) {
      case 'driver':
        return network.Driver === value;
      case 'scope':
        return network.Scope === value;
      case 'id':
        return new RegExp(value).test(network.ID);
      case 'name':
        return new RegExp(value).test(network.Name);
      case 'label': {
        const equals = value.indexOf('=');
        return equals < 0 ? value in network.Labels : network.Labels[value.slice(0, equals)] === value.slice(equals + 1);
      }
      case 'type':
        return (value === 'builtin') === network.builtin;
      default:
        return (value === 'true' || value === '1') === (!network.builtin && network.containers === 0);
    }
  };
  return (network) => [...byKey].every(([key, values]) => values.some((value) => matches(value, network, key)));
}

/** docker's column titles for the fields of `network ls`'s rows. */
const networkHeaders: Readonly<Record<string, string>> = { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', Internal: 'INTERNAL', Labels: 'LABELS', CreatedAt: 'CREATED AT' };

export function registerNetwork(program: Command, io: CliIo): void {
  const network = program.command('network').description('manage the networks containers run on');
  addRootOption(
    network
      .command('create')
      .description('create a network: a bridge of its own, with NAT outbound unless --internal')
      .argument('<name>')
      .option('--subnet <cidr>', 'the IPv4 subnet (default: one free on the host)')
      .option('--gateway <ip>', "the bridge's address in the subnet (default: the first)")
      .option('--ip-range <cidr>', "the block of the subnet containers' addresses come from (--ip may still ask for one outside it)")
      .option('--aux-address <name=ip>', 'an address of the subnet kept for a device outside, never given to a container (repeatable)', collect, [])
      .option('--ipam-driver <driver>', 'default only', 'default')
      .option('--ipam-opt <key=value>', 'an option of the IPAM driver, kept and shown (repeatable)', collect, [])
      .option('--ipv6', 'refused: IPv4 only')
      .option('--internal', 'no access outside the network')
      .option('-d, --driver <driver>', 'bridge only', 'bridge')
      .option('--label <key=value>', 'a label (repeatable)', collect, [])
      .option('-o, --opt <key=value>', "the bridge driver's options: com.docker.network.driver.mtu, com.docker.network.bridge.name, .enable_icc, .enable_ip_masquerade, .host_binding_ipv4 (repeatable)", collect, [])
      .option('--attachable', 'let standalone containers join (every bridge network does)'),
  ).action(async (name: string, options: RootOption & { subnet?: string; gateway?: string; ipRange?: string; auxAddress: string[]; ipamDriver: string; ipamOpt: string[]; ipv6?: boolean; internal?: boolean; driver: string; label: string[]; opt: string[]; attachable?: boolean }) => {
    if (options.driver !== 'bridge') throw new TsbuildError('INVALID_ARGUMENT', `network create: driver ${options.driver} is not supported (bridge only)`);
    if (options.ipv6 === true) throw new TsbuildError('INVALID_ARGUMENT', "network create --ipv6: tsbuild's networks are IPv4 only");
    const store = await storeFromOptions(options);
    const made = await createNetwork(store, {
      name,
      ...(options.subnet === undefined ? {} : { subnet: options.subnet }),
      ...(options.gateway === undefined ? {} : { gateway: options.gateway }),
      ...(options.ipRange === undefined ? {} : { ipRange: options.ipRange }),
      auxAddresses: keyValueMap(options.auxAddress),
      ipamDriver: options.ipamDriver,
      ipamOptions: keyValueMap(options.ipamOpt),
      internal: options.internal === true,
      labels: keyValueMap(options.label),
      options: keyValueMap(options.opt),
      attachable: options.attachable === true,
    });
    io.stdout.write(`${made.id}\n`);
  });
  addRootOption(
    network
      .command('ls')
      .alias('list')
      .description('list networks')
      .option('-q, --quiet', 'print only network IDs')
      .option('--no-trunc', 'show network IDs whole')
      .option('--format <format>', 'table, json (one JSON object per line) or a Go template such as {{.Name}}; networksFormat of docker\'s config.json by default')
      .option('-f, --filter <key=value>', 'driver=, id=, label=K[=V], name=, scope=, type=custom|builtin, dangling=true|false (repeatable)', collectFilter, []),
  ).action(async (options: RootOption & { quiet?: boolean; trunc: boolean; format?: string; filter: string[] }) => {
    const accept = networkFilter(options.filter);
    const store = await storeFromOptions(options);
    const rows = [
      ...(await networks(store)).map((record) => ({ ID: record.id, Name: record.name, Driver: record.driver, Scope: 'local', Internal: record.internal, Labels: record.labels, created: record.created as string | undefined, builtin: record.isDefault, containers: Object.keys(record.endpoints).length })),
      ...builtins.map((builtin) => ({ ID: builtinId(builtin.name), Name: builtin.name, Driver: builtin.driver, Scope: 'local', Internal: false, Labels: {}, created: '0001-01-01T00:00:00Z' as string | undefined, builtin: true, containers: 0 })),
    ]
      .filter(accept)
      .sort((a, b) => a.Name.localeCompare(b.Name))
      .map(({ builtin: _builtin, containers: _containers, ...row }) => row);
    const id = (full: string): string => (options.trunc ? full.slice(0, 12) : full);
    if (options.quiet === true) {
      for (const row of rows) io.stdout.write(`${id(row.ID)}\n`);
      return;
    }
    // docker's network row, every field a string; `json` is that row with its keys sorted, as `{{json .}}` writes docker's.
    const listed = (row: (typeof rows)[number]): Record<string, string> => ({
      CreatedAt: row.created === undefined ? '' : formatGoTime(Date.parse(row.created)),
      Driver: row.Driver,
      ID: id(row.ID),
      IPv6: 'false',
      Internal: String(row.Internal),
      Labels: Object.entries(row.Labels).map(([key, value]) => `${key}=${value}`).join(','),
      Name: row.Name,
      Scope: row.Scope,
    });
    const format = await listFormat(options.format, 'networksFormat');
    if (format === 'json') {
      for (const row of rows) io.stdout.write(`${JSON.stringify(listed(row))}\n`);
      return;
    }
    if (format !== 'table') {
      const contexts = rows.map((row) => ({ ...listed(row), Label: (key: unknown) => (row.Labels as Readonly<Record<string, string>>)[String(key)] ?? '' }));
      io.stdout.write(formatListTemplate(format, contexts, networkHeaders, '*network.networkContext'));
      return;
    }
    const table = [['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], ...rows.map((row) => [id(row.ID), row.Name, row.Driver, row.Scope])];
    io.stdout.write(dockerTable(table));
  });
  addRootOption(network.command('rm').alias('remove').description('remove networks').argument('<network...>').option('-f, --force', 'do not fail for a network that does not exist')).action(async (names: string[], options: RootOption & { force?: boolean }) => {
    const store = await storeFromOptions(options);
    let failed = false;
    for (const name of names) {
      try {
        await removeNetwork(store, name);
        io.stdout.write(`${name}\n`);
      } catch (error) {
        if (!(error instanceof TsbuildError)) throw error;
        // docker 26's -f: a network that is not there is passed over without a word.
        if (options.force === true && error.code === 'NOT_FOUND') continue;
        io.stderr.write(daemonError(error.message));
        failed = true;
      }
    }
    // Each failure said its own line, as docker's; nothing more is said.
    if (failed) throw new ExitError(1);
  });
  addRootOption(network.command('inspect').description('show networks in detail (JSON)').argument('<network...>').option('-f, --format <template>', 'a Go template such as {{.IPAM.Config}}')).action(async (names: string[], options: RootOption & { format?: string }) => {
    const store = await storeFromOptions(options);
    await printInspected(io, names, options.format, async (name) => ({ document: await inspectNetworkNamed(store, name), shape: networkShape }));
  });
  addRootOption(
    network
      .command('connect')
      .description('connect a container to a network (one that does not run: at its next start)')
      .argument('<network>')
      .argument('<container>')
      .option('--alias <alias>', 'another name on the network (repeatable)', collect, [])
      .option('--ip <address>', 'its IPv4 address on the network (one created with --subnet)'),
  ).action(async (name: string, container: string, options: RootOption & { alias: string[]; ip?: string }) => {
    const store = await storeFromOptions(options);
    // The container is looked for first, as docker's daemon does: one that is not there is said in its words.
    const record = await findContainer(store, container);
    checkConnectModes(name, record.config.network);
    // A container that does not run is connected at its next start, as docker's.
    await connectContainerNetwork(store, name, record.id, { aliases: options.alias, ...(options.ip === undefined ? {} : { ip: options.ip }) });
  });
  addRootOption(network.command('disconnect').description('disconnect a container from a network').argument('<network>').argument('<container>')).action(async (name: string, container: string, options: RootOption) => {
    const store = await storeFromOptions(options);
    const record = await findContainer(store, container);
    if (disconnectBuiltin(name, record)) return;
    await disconnectContainerNetwork(store, name, record.id);
  });
  addRootOption(
    network
      .command('prune')
      .description('remove every network no container uses')
      .option('-f, --force', 'do not ask (tsbuild never asks)')
      .option('--filter <filter>', 'until=TIME (created before it: RFC 3339, Unix time or a duration such as 24h), label=K[=V], label!=K[=V] (repeatable)', collect, []),
  ).action(async (options: RootOption & { filter: string[] }) => {
    const select = pruneSelection('prune networks', options.filter);
    const removed = await pruneNetworks(await storeFromOptions(options), select);
    if (removed.length > 0) io.stdout.write(`Deleted Networks:\n${removed.map((name) => `${name}\n`).join('')}`);
  });
}
