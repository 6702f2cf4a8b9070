/**
 * IPv4 subnets, addresses and published ports as docker's command line writes them: pure
 * functions, no host state.
 */
import { TsbuildError, parsePortMappingSpec } from '../../common/index.js';

export interface Subnet {
  /** The network address as a number. */
  readonly base: number;
  readonly prefix: number;
}

export function parseAddress(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((part) => /^\d{1,3}$/.test(part) && Number(part) <= 255)) return undefined;
  return parts.reduce((value, part) => value * 256 + Number(part), 0);
}

export function formatAddress(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff - (2 ** (32 - prefix) - 1));
}

/**
 * A CIDR block as written: its address, and the block it names with the host bits dropped (as
 * docker reads 10.1.2.3/24 as 10.1.2.0/24); undefined when TEXT is no IPv4 CIDR block.
 */
function parseCidr(text: string): { address: number; block: Subnet } | undefined {
  const [addressText, prefixText] = text.split('/');
  const address = addressText === undefined ? undefined : parseAddress(addressText);
  const prefix = Number(prefixText);
  if (address === undefined || prefixText === undefined || !/^\d{1,2}$/.test(prefixText) || prefix > 32) return undefined;
  return { address, block: { base: Math.floor(address / 2 ** (32 - prefix)) * 2 ** (32 - prefix), prefix } };
}

export function parseSubnet(text: string): Subnet {
  const cidr = parseCidr(text);
  if (cidr === undefined) throw new TsbuildError('INVALID_ARGUMENT', `invalid subnet ${text}: invalid CIDR block notation`);
  if (cidr.block.prefix > 30 || cidr.block.prefix < 8) throw new TsbuildError('INVALID_ARGUMENT', `invalid subnet ${text}: an IPv4 CIDR from /8 to /30 is needed`);
  return cidr.block;
}

/**
 * `network create --subnet`: TEXT as parseSubnet reads it, refused in docker 26's words when it
 * has host bits set (`10.1.2.3/24`: it should be 10.1.2.0/24), where older dockers dropped them.
 */
export function parseRequestedSubnet(text: string): Subnet {
  const subnet = parseSubnet(text);
  if (parseCidr(text)?.address !== subnet.base) throw new TsbuildError('INVALID_ARGUMENT', `invalid subnet ${text}: it should be ${formatSubnet(subnet)}`);
  return subnet;
}

/**
 * `network create --ip-range`: the addresses of SUBNET its containers are given, a CIDR block
 * inside it; refused in docker 26's words (every fault found, one per line, as its daemon).
 */
export function parseRequestedRange(text: string, subnet: Subnet): Subnet {
  const cidr = parseCidr(text);
  if (cidr === undefined) throw new TsbuildError('INVALID_ARGUMENT', `invalid ip-range ${text}: invalid CIDR block notation`);
  const range = cidr.block;
  const faults: string[] = [];
  if (range.prefix < subnet.prefix) faults.push(`invalid ip-range ${text}: CIDR block is bigger than its parent subnet ${formatSubnet(subnet)}`);
  if (range.base !== cidr.address) faults.push(`invalid ip-range ${text}: it should be ${formatSubnet(range)}`);
  if (!overlaps(subnet, range)) faults.push(`invalid ip-range ${text}: parent subnet ${formatSubnet(subnet)} doesn't contain ip-range`);
  if (faults.length > 0) throw new TsbuildError('INVALID_ARGUMENT', faults.join('\n'));
  return range;
}

export function formatSubnet(subnet: Subnet): string {
  return `${formatAddress(subnet.base)}/${subnet.prefix}`;
}

export function subnetSize(subnet: Subnet): number {
  return 2 ** (32 - subnet.prefix);
}

export function contains(subnet: Subnet, address: number): boolean {
  return address >= subnet.base && address < subnet.base + subnetSize(subnet);
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return contains(a, b.base) || contains(b, a.base);
}

/** The MAC address docker gives ADDRESS: 02:42 and its four bytes. */
export function macOf(address: number): string {
  return `02:42:${[24, 16, 8, 0].map((shift) => (Math.floor(address / 2 ** shift) % 256).toString(16).padStart(2, '0')).join(':')}`;
}

/**
 * `--mac-address` as Go's net.ParseMAC reads a 48-bit address (`02:42:ac:11:00:02`,
 * `02-42-ac-11-00-02`, `0242.ac11.0002`, any case), in the form `ip link` takes (lowercase,
 * colons); undefined for anything else.
 */
export function parseMacAddress(text: string): string | undefined {
  const pairs = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$/i.test(text) ? text.split(/[:-]/) : /^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/i.test(text) ? text.replace(/\./g, '').match(/../g) : null;
  return pairs === null ? undefined : pairs.join(':').toLowerCase();
}

/** Kept for a mask in dotted form where a tool wants one. */
export function netmask(prefix: number): string {
  return formatAddress(mask(prefix));
}

/**
 * The lowest address of SUBNET (of its RANGE, `--ip-range`, when given) that is neither the
 * network's nor its broadcast, the gateway or one of USED; undefined when none is left.
 */
export function allocateAddress(subnet: Subnet, gateway: number, used: ReadonlySet<number>, range: Subnet = subnet): number | undefined {
  // The subnet's own address and its broadcast are never given, inside a range or not.
  const first = Math.max(subnet.base + 1, range.base);
  const end = Math.min(subnet.base + subnetSize(subnet) - 1, range.base + subnetSize(range));
  for (let address = first; address < end; address++) {
    if (address !== gateway && !used.has(address)) return address;
  }
  return undefined;
}

/**
 * docker's default pools, 172.17-31.0.0/16 then 192.168.0-240.0/20, for the default bridge; a
 * user network's pool leaves out 172.17.0.0/16, which docker's daemon holds for its default
 * bridge (scripts reach the host at 172.17.0.1), so user networks start at 172.18.0.0/16 even
 * while the default bridge, made only when a container uses it, has no subnet yet.
 */
export function defaultPool(forDefaultNetwork = true): Subnet[] {
  const pool: Subnet[] = [];
  for (let second = forDefaultNetwork ? 17 : 18; second <= 31; second++) pool.push({ base: (172 * 256 + second) * 65536, prefix: 16 });
  for (let third = 0; third < 256; third += 16) pool.push({ base: ((192 * 256 + 168) * 256 + third) * 256, prefix: 20 });
  return pool;
}

export type Protocol = 'tcp' | 'udp';

export interface PortSpec {
  /** Undefined: every address of the host. */
  readonly hostIp?: string;
  /** 0: a free port chosen when published. */
  readonly hostPort: number;
  /**
   * `-p 8000-8010:80`: the last of the host ports the one published is chosen from (the first
   * free one, as docker's port allocator takes them); undefined for a single host port.
   */
  readonly hostPortEnd?: number;
  readonly containerPort: number;
  readonly protocol: Protocol;
}

/**
 * `-p [IP:][HOST:]CONTAINER[/PROTO]`, as docker reads it (go-connections' ParsePortSpec, in its
 * words): one spec for each container port of a range (`8000-8001:80-81` is two), host port 0
 * (or none) chosen when published, a host range with a single container port one to choose from.
 * tsbuild publishes IPv4 TCP and UDP only: an IPv6 address or sctp is refused here, where docker
 * refuses them when the container starts.
 */
export function parsePortSpec(spec: string): PortSpec[] {
  const { ip, hostPorts, containerPorts, proto } = parsePortMappingSpec(spec);
  if (proto === 'sctp') throw new TsbuildError('INVALID_ARGUMENT', `invalid protocol 'sctp' in '${spec}': tcp or udp`);
  if (ip !== '' && parseAddress(ip) === undefined) throw new TsbuildError('INVALID_ARGUMENT', `invalid IP address '${ip}' in '${spec}': IPv4 only`);
  if (containerPorts[0] === 0) throw new TsbuildError('INVALID_ARGUMENT', `Invalid containerPort: ${containerPorts[0]}`);
  const hostIp = ip === '' || ip === '0.0.0.0' ? {} : { hostIp: ip };
  const count = containerPorts[1] - containerPorts[0] + 1;
  const specs: PortSpec[] = [];
  for (let index = 0; index < count; index++) {
    const containerPort = containerPorts[0] + index;
    if (hostPorts === undefined) specs.push({ ...hostIp, hostPort: 0, containerPort, protocol: proto });
    else if (count === 1 && hostPorts[1] !== hostPorts[0]) specs.push({ ...hostIp, hostPort: hostPorts[0], hostPortEnd: hostPorts[1], containerPort, protocol: proto });
    else specs.push({ ...hostIp, hostPort: hostPorts[0] === 0 ? 0 : hostPorts[0] + index, containerPort, protocol: proto });
  }
  return specs;
}

/**
 * What a container publishes: PUBLISH (`-p`), then with `-P` each port of EXPOSED that no `-p`
 * binds already (docker's daemon gives -P only ports without a binding: `-p 8080:8080 -P` of an
 * image exposing 8080 publishes it once, on 8080).
 */
export function portsToPublish(publish: readonly PortSpec[], exposed: readonly PortSpec[]): PortSpec[] {
  const bound = new Set(publish.map((spec) => `${spec.containerPort}/${spec.protocol}`));
  return [...publish, ...exposed.filter((spec) => !bound.has(`${spec.containerPort}/${spec.protocol}`))];
}

/** docker's warning for `-p` with `--network host`, whose ports are the host's already. */
export const hostNetworkPortsWarning = 'Published ports are discarded when using host network mode';

/** The image's ExposedPorts (`80/tcp`), for `-P`. */
export function exposedPortSpecs(exposed: Readonly<Record<string, unknown>> | undefined): PortSpec[] {
  return Object.keys(exposed ?? {}).flatMap((key) => {
    const [number = '', protocol = 'tcp'] = key.split('/');
    return parsePortSpec(`${number}/${protocol}`);
  });
}
