/**
 * IPv4 subnets, addresses and published ports as docker's command line writes them: pure
 * functions, no host state.
 */
import { TsbuildError } from '../../common/index.js';

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

export function parseSubnet(text: string): Subnet {
  const [address, prefixText] = text.split('/');
  const value = address === undefined ? undefined : parseAddress(address);
  const prefix = Number(prefixText);
  if (value === undefined || prefixText === undefined || !/^\d{1,2}$/.test(prefixText) || prefix > 30 || prefix < 8) {
    throw new TsbuildError('INVALID_ARGUMENT', `invalid subnet ${text}: an IPv4 CIDR from /8 to /30 is needed`);
  }
  // As docker: the host bits are dropped (10.1.2.3/24 is 10.1.2.0/24).
  return { base: Math.floor(value / 2 ** (32 - prefix)) * 2 ** (32 - prefix), prefix };
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

/** Kept for a mask in dotted form where a tool wants one. */
export function netmask(prefix: number): string {
  return formatAddress(mask(prefix));
}

/**
 * The lowest address of SUBNET that is neither the network's nor its broadcast, the gateway or
 * one of USED; undefined when the subnet is full.
 */
export function allocateAddress(subnet: Subnet, gateway: number, used: ReadonlySet<number>): number | undefined {
  for (let address = subnet.base + 1; address < subnet.base + subnetSize(subnet) - 1; address++) {
    if (address !== gateway && !used.has(address)) return address;
  }
  return undefined;
}

/** docker's default pools: 172.17-31.0.0/16, then 192.168.0-240.0/20. */
export function defaultPool(): Subnet[] {
  const pool: Subnet[] = [];
  for (let second = 17; second <= 31; second++) pool.push({ base: (172 * 256 + second) * 65536, prefix: 16 });
  for (let third = 0; third < 256; third += 16) pool.push({ base: ((192 * 256 + 168) * 256 + third) * 256, prefix: 20 });
  return pool;
}

export type Protocol = 'tcp' | 'udp';

export interface PortSpec {
  /** Undefined: every address of the host. */
  readonly hostIp?: string;
  /** 0: a free port chosen when published. */
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: Protocol;
}

function port(text: string, what: string, spec: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > 65535) throw new TsbuildError('INVALID_ARGUMENT', `invalid ${what} port '${text}' in '${spec}'`);
  return value;
}

/** `-p [IP:][HOST:]CONTAINER[/tcp|udp]` of one port, as docker reads it (`parsePortSpecs` takes ranges). */
export function parsePortSpec(spec: string): PortSpec {
  const slash = spec.lastIndexOf('/');
  const protocolText = slash < 0 ? 'tcp' : spec.slice(slash + 1);
  if (protocolText !== 'tcp' && protocolText !== 'udp') throw new TsbuildError('INVALID_ARGUMENT', `invalid protocol '${protocolText}' in '${spec}': tcp or udp`);
  const rest = slash < 0 ? spec : spec.slice(0, slash);
  const parts = rest.split(':');
  let hostIp: string | undefined;
  let hostPort = '';
  let containerPort: string;
  if (parts.length === 1) containerPort = parts[0] ?? '';
  else if (parts.length === 2) [hostPort, containerPort] = [parts[0] ?? '', parts[1] ?? ''];
  else if (parts.length === 3) [hostIp, hostPort, containerPort] = [parts[0] ?? '', parts[1] ?? '', parts[2] ?? ''];
  else throw new TsbuildError('INVALID_ARGUMENT', `invalid port specification '${spec}'`);
  if (hostIp !== undefined) {
    if (hostIp === '' || hostIp === '0.0.0.0') hostIp = undefined;
    else if (parseAddress(hostIp) === undefined) throw new TsbuildError('INVALID_ARGUMENT', `invalid IP address '${hostIp}' in '${spec}'`);
  }
  return {
    ...(hostIp === undefined ? {} : { hostIp }),
    hostPort: hostPort === '' ? 0 : port(hostPort, 'host', spec),
    containerPort: port(containerPort, 'container', spec),
    protocol: protocolText,
  };
}

/**
 * `-p` with ranges as docker reads it (go-connections' ParsePortSpec): `8000-8001:80-81` is one
 * spec per pair, `80-81` (or `IP::80-81`) one per container port with a free host port each.
 * docker's daemon also takes a host range for one container port (a free port of the range);
 * that is refused here, not published elsewhere.
 */
export function parsePortSpecs(spec: string): PortSpec[] {
  const slash = spec.lastIndexOf('/');
  const rest = slash < 0 ? spec : spec.slice(0, slash);
  const suffix = slash < 0 ? '' : spec.slice(slash);
  const parts = rest.split(':');
  const containerText = parts.at(-1) ?? '';
  const hostText = parts.length >= 2 ? (parts.at(-2) ?? '') : '';
  if (!containerText.includes('-') && !hostText.includes('-')) return [parsePortSpec(spec)];
  const range = (text: string, what: string): [number, number] => {
    if (!text.includes('-')) return [port(text, what, spec), port(text, what, spec)];
    const [first = '', last = '', ...more] = text.split('-');
    const start = port(first, what, spec);
    const end = port(last, what, spec);
    if (more.length > 0 || end < start) throw new TsbuildError('INVALID_ARGUMENT', `invalid range specified for port: ${text}`);
    return [start, end];
  };
  const [containerStart, containerEnd] = range(containerText, 'container');
  const hostRange = hostText === '' ? undefined : range(hostText, 'host');
  if (hostRange !== undefined && hostRange[1] - hostRange[0] !== containerEnd - containerStart) {
    if (containerEnd !== containerStart) throw new TsbuildError('INVALID_ARGUMENT', `invalid ranges specified for container and host Ports: ${containerText} and ${hostText}`);
    throw new TsbuildError('INVALID_ARGUMENT', `a host port range for one container port is not supported: '${spec}' (give one host port)`);
  }
  const prefix = parts.length === 3 ? `${parts[0] ?? ''}:` : '';
  return Array.from({ length: containerEnd - containerStart + 1 }, (_, offset) =>
    parsePortSpec(`${prefix}${hostRange === undefined ? (parts.length === 3 ? ':' : '') : `${hostRange[0] + offset}:`}${containerStart + offset}${suffix}`),
  );
}

/** The image's ExposedPorts (`80/tcp`), for `-P`. */
export function exposedPortSpecs(exposed: Readonly<Record<string, unknown>> | undefined): PortSpec[] {
  return Object.keys(exposed ?? {}).map((key) => {
    const [number = '', protocol = 'tcp'] = key.split('/');
    return parsePortSpec(`${number}/${protocol}`);
  });
}
