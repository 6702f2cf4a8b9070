/**
 * Values of EXPOSE and STOPSIGNAL read as docker reads them (go-connections' nat.ParsePortSpec
 * in the version docker 26 carries, moby/sys's signal.ParseSignal), for BuildKit's dispatch and
 * for `commit --change`: both accept and refuse the same spellings.
 */
import { isIP } from 'node:net';
import { TsbuildError } from './errors.js';

/** Go's strconv.ParseUint(TEXT, 10, 16): decimal digits only (no sign, no blanks), at most 65535; its errors in its words. */
function parsePortNumber(text: string): number {
  if (!/^[0-9]+$/.test(text)) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(text)}: invalid syntax`);
  const value = Number(text);
  if (value > 65535) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(text)}: value out of range`);
  return value;
}

/**
 * go-connections' ParsePortRange: `N` or `N-M` (M not below N); only the first two parts of
 * `a-b-c` are read. Throws with Go's reason, which `--expose` shows.
 */
export function parsePortRange(text: string): readonly [number, number] {
  if (text === '') throw new Error('empty string specified for ports');
  if (!text.includes('-')) {
    const port = parsePortNumber(text);
    return [port, port];
  }
  const [first = '', second = ''] = text.split('-');
  const start = parsePortNumber(first);
  const end = parsePortNumber(second);
  if (end < start) throw new Error(`invalid range specified for port: ${text}`);
  return [start, end];
}

function portRange(text: string): readonly [number, number] | undefined {
  try {
    return parsePortRange(text);
  } catch {
    return undefined;
  }
}

/**
 * Go's net.SplitHostPort of `ip + ":"`, as the port spec's IP part is unbracketed: a bracketed
 * host loses its brackets, an unbracketed one may not hold a colon. Undefined when Go errs.
 */
function unbracketedHost(ip: string): string | undefined {
  if (ip.startsWith('[')) {
    const close = ip.indexOf(']');
    if (close !== ip.length - 1) return undefined;
    const host = ip.slice(1, close);
    return host.includes('[') || host.includes(']') ? undefined : host;
  }
  return ip.includes(':') || ip.includes('[') || ip.includes(']') ? undefined : ip;
}

/** One `[ip:][hostPort:]containerPort[/proto]` as go-connections' nat.ParsePortSpec reads it. */
export interface PortMappingSpec {
  /** The host address, brackets removed; '' when none was given. */
  readonly ip: string;
  /** The host ports, first and last; undefined when none was given. */
  readonly hostPorts?: readonly [number, number];
  readonly containerPorts: readonly [number, number];
  readonly proto: 'tcp' | 'udp' | 'sctp';
}

/**
 * `[ip:][hostPort:]containerPort[/proto]` (EXPOSE words, `run -p`) with docker's checks in its
 * order and words: ports are numbers or ranges, a host range goes with a container range of the
 * same length or with one container port (a range to pick a free one from), the protocol is
 * tcp, udp or sctp in any case (tcp when missing or empty).
 */
export function parsePortMappingSpec(spec: string): PortMappingSpec {
  const parts = spec.split(':');
  const last = parts[parts.length - 1] ?? '';
  const hostPort = parts.length >= 2 ? (parts[parts.length - 2] ?? '') : '';
  const ip = parts.length >= 3 ? parts.slice(0, -2).join(':') : '';
  const slashed = last.split('/');
  const [containerPort, protocol] = last === '' || slashed[0] === '' ? ['', ''] : [slashed[0] ?? '', slashed.length === 1 || slashed[1] === '' ? 'tcp' : (slashed[1] ?? '')];
  const host = unbracketedHost(ip);
  if (host === undefined) throw new TsbuildError('INVALID_ARGUMENT', `Invalid ip address ${ip}`);
  // Go's net.ParseIP takes no zone (`%eth0`), which node's isIP would.
  if (host !== '' && (isIP(host) === 0 || host.includes('%'))) throw new TsbuildError('INVALID_ARGUMENT', `Invalid ip address: ${host}`);
  if (containerPort === '') throw new TsbuildError('INVALID_ARGUMENT', `No port specified: ${spec}<empty>`);
  const range = portRange(containerPort);
  if (range === undefined) throw new TsbuildError('INVALID_ARGUMENT', `Invalid containerPort: ${containerPort}`);
  let hostRange: readonly [number, number] | undefined;
  if (hostPort !== '') {
    hostRange = portRange(hostPort);
    if (hostRange === undefined) throw new TsbuildError('INVALID_ARGUMENT', `Invalid hostPort: ${hostPort}`);
    if (range[1] - range[0] !== hostRange[1] - hostRange[0] && range[1] !== range[0]) {
      throw new TsbuildError('INVALID_ARGUMENT', `Invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`);
    }
  }
  const proto = protocol.toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') throw new TsbuildError('INVALID_ARGUMENT', `Invalid proto: ${protocol}`);
  return { ip: host, ...(hostRange === undefined ? {} : { hostPorts: hostRange }), containerPorts: range, proto };
}

/** The container ports one EXPOSE word names: the host part must be well formed, and is not kept. */
function exposedPortRange(spec: string): { readonly first: number; readonly last: number; readonly proto: 'tcp' | 'udp' | 'sctp' } {
  const { containerPorts, proto } = parsePortMappingSpec(spec);
  return { first: containerPorts[0], last: containerPorts[1], proto };
}

/**
 * The ports of every EXPOSE word in SPECS as config keys, each once, in the order they first
 * appear. A word given again is read once, and a port already named makes no string: a range
 * expands to up to 65,536 ports, so a line repeating `1-65535` (or spellings of it) held that
 * many strings for each word (300 words took 1 GB and 7 s), where docker's map keeps each port
 * once.
 */
export function exposedPortSet(specs: readonly string[]): string[] {
  const keys: string[] = [];
  // A port of a protocol is named once: ranges over ports already taken make no string.
  const taken = { tcp: new Uint8Array(65536), udp: new Uint8Array(65536), sctp: new Uint8Array(65536) };
  for (const spec of new Set(specs)) {
    const { first, last, proto } = exposedPortRange(spec);
    const seen = taken[proto];
    for (let port = first; port <= last; port++) {
      if (seen[port] === 1) continue;
      seen[port] = 1;
      keys.push(`${port}/${proto}`);
    }
  }
  return keys;
}

const signalNames = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL', 'PROF', 'PWR', 'QUIT',
  'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'USR1', 'USR2', 'VTALRM', 'WINCH', 'XCPU', 'XFSZ',
  'RTMIN', ...Array.from({ length: 15 }, (_, index) => `RTMIN+${index + 1}`),
  ...Array.from({ length: 14 }, (_, index) => `RTMAX-${14 - index}`), 'RTMAX',
]);

const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;

/**
 * Refuses a STOPSIGNAL docker would not parse: any non-zero integer Go's strconv.Atoi reads
 * (signs allowed, no range check beyond int64), or a Linux signal name with or without `SIG`,
 * in any case. The value is kept as written; this only says whether it is one.
 */
export function checkStopSignal(signal: string): void {
  if (/^[+-]?[0-9]+$/.test(signal)) {
    const value = BigInt(signal);
    if (value !== 0n && value >= int64Min && value <= int64Max) return;
  } else {
    const upper = signal.toUpperCase();
    if (signalNames.has(upper.startsWith('SIG') ? upper.slice(3) : upper)) return;
  }
  throw new TsbuildError('INVALID_ARGUMENT', `invalid signal: ${signal}`);
}
