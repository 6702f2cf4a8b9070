/**
 * docker run's options on what a container's processes may do: `--cap-add`, `--cap-drop`,
 * `--privileged`, `--group-add`, `--ulimit`, and the extra `/etc/hosts` lines of `--add-host`,
 * checked as docker checks them, and turned into the spec the runtime is given.
 */
import { isIP } from 'node:net';
import { TsbuildError } from '../common/index.js';
import { capabilityNames, defaultCapabilities, heldCapabilities } from './spec.js';

/** The options as given, as `create` takes them and the record's HostConfig keeps them (docker's CapAdd…). */
export interface SecurityOptions {
  readonly capAdd?: readonly string[];
  readonly capDrop?: readonly string[];
  /** Every capability, nothing of /proc masked, every device node usable. */
  readonly privileged?: boolean;
  /** `--add-host`: `name:ip` (or `name=ip`). */
  readonly extraHosts?: readonly string[];
  /** `--group-add`: group names (of the image's /etc/group) or ids. */
  readonly groupAdd?: readonly string[];
  readonly ulimits?: readonly Ulimit[];
  /** `--security-opt`: `seccomp=unconfined`, `no-new-privileges[=true|false]` (also with `:`). */
  readonly securityOpt?: readonly string[];
  /** `--dns`, `--dns-search`, `--dns-option`: what the container's /etc/resolv.conf says instead of the host's. */
  readonly dns?: readonly string[];
  readonly dnsSearch?: readonly string[];
  readonly dnsOptions?: readonly string[];
}

/** `--dns` values, checked as docker checks them: IP addresses only. */
export function checkDnsServers(servers: readonly string[]): void {
  for (const server of servers) if (isIP(server) === 0) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${server}" for "--dns" flag: ${server} is not an ip address`);
}

/**
 * BASE (a resolv.conf) with docker's `--dns*` overrides, as moby's resolvconf.Build writes the
 * result: nameservers, then search (`--dns-search .` for none), then options; what is not
 * overridden is kept from BASE. With an EMBEDDED responder (user networks) the nameserver stays
 * the responder, which answers the network's names.
 */
export function resolvConfWith(base: string, settings: Pick<SecurityOptions, 'dns' | 'dnsSearch' | 'dnsOptions'>, embedded: boolean): string {
  const dns = settings.dns ?? [];
  const search = settings.dnsSearch ?? [];
  const options = settings.dnsOptions ?? [];
  if (dns.length === 0 && search.length === 0 && options.length === 0) return base;
  const words = (pattern: RegExp): string[][] => base.split('\n').filter((line) => pattern.test(line)).map((line) => line.trim().split(/\s+/).slice(1));
  const servers = embedded || dns.length === 0 ? words(/^\s*nameserver\s/).map((entry) => entry[0] ?? '').filter((entry) => entry !== '') : dns;
  // The last search or domain line decides, as the resolver reads the file.
  const domains = search.length > 0 ? (search.length === 1 && search[0] === '.' ? [] : search) : (words(/^\s*(search|domain)\s/).at(-1) ?? []);
  const kept = options.length > 0 ? options : words(/^\s*options\s/).flat();
  return [...servers.map((server) => `nameserver ${server}`), ...(domains.length === 0 ? [] : [`search ${domains.join(' ')}`]), ...(kept.length === 0 ? [] : [`options ${kept.join(' ')}`])].map((line) => `${line}\n`).join('');
}

export interface Ulimit {
  /** docker's name: `nofile`, `nproc`, `core`… */
  readonly name: string;
  readonly soft: number;
  readonly hard: number;
}

/** `--ulimit` names and the rlimit each sets (docker's table). */
const ulimitResources: Readonly<Record<string, string>> = {
  as: 'RLIMIT_AS',
  core: 'RLIMIT_CORE',
  cpu: 'RLIMIT_CPU',
  data: 'RLIMIT_DATA',
  fsize: 'RLIMIT_FSIZE',
  locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK',
  msgqueue: 'RLIMIT_MSGQUEUE',
  nice: 'RLIMIT_NICE',
  nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC',
  rss: 'RLIMIT_RSS',
  rtprio: 'RLIMIT_RTPRIO',
  rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING',
  stack: 'RLIMIT_STACK',
};

/** `CAP_NET_ADMIN`, `net_admin`, `NET_ADMIN` → `CAP_NET_ADMIN`; `ALL` stays. */
function capabilityName(given: string): string {
  const upper = given.trim().toUpperCase();
  if (upper === 'ALL') return upper;
  const bare = upper.startsWith('CAP_') ? upper.slice(4) : upper;
  if (!capabilityNames.includes(bare)) throw new TsbuildError('INVALID_ARGUMENT', `invalid capability: unknown capability: "CAP_${bare}"`);
  return `CAP_${bare}`;
}

/**
 * The capabilities of a container, as docker's TweakCapabilities makes them: the default set
 * (or every held one with ALL added, or none with ALL dropped), then the drops, then the adds;
 * `--privileged` gives every capability this process holds.
 */
export async function containerCapabilities(add: readonly string[], drop: readonly string[], privileged: boolean): Promise<string[]> {
  const held = await heldCapabilities();
  if (privileged) return held;
  const adds = add.map(capabilityName);
  const drops = drop.map(capabilityName);
  const chosen = new Set<string>(adds.includes('ALL') ? held : drops.includes('ALL') ? [] : defaultCapabilities);
  for (const name of drops) chosen.delete(name);
  for (const name of adds) if (name !== 'ALL') chosen.add(name);
  // A capability this process lacks cannot be handed on: the runtime would fail to set it.
  return [...chosen].filter((name) => held.includes(name));
}

/**
 * What `--security-opt` entries ask of the container, checked as docker checks them. A seccomp
 * profile of one's own is not taken (only docker's default, or none); AppArmor and SELinux,
 * which this runtime does not apply, take only the values that turn them off.
 */
export function securityOptOf(entries: readonly string[]): { seccomp: boolean; noNewPrivileges: boolean } {
  let seccomp = true;
  let noNewPrivileges = false;
  for (const entry of entries) {
    const separator = /[=:]/.exec(entry)?.index ?? -1;
    const key = separator < 0 ? entry : entry.slice(0, separator);
    const value = separator < 0 ? undefined : entry.slice(separator + 1);
    if (key === 'no-new-privileges' && (value === undefined || value === 'true' || value === 'false')) {
      noNewPrivileges = value !== 'false';
    } else if (key === 'seccomp' && value === 'unconfined') {
      seccomp = false;
    } else if (key === 'seccomp' && value !== undefined && value !== '') {
      throw new TsbuildError('INVALID_ARGUMENT', `invalid --security-opt: ${entry}: a seccomp profile file is not supported, only seccomp=unconfined (docker's default profile applies otherwise)`);
    } else if ((key === 'apparmor' && value === 'unconfined') || (key === 'label' && value === 'disable')) {
      continue;
    } else {
      throw new TsbuildError('INVALID_ARGUMENT', `invalid --security-opt: ${JSON.stringify(entry)}`);
    }
  }
  return { seccomp, noNewPrivileges };
}

/** `--ulimit NAME=SOFT[:HARD]`. */
export function parseUlimit(text: string): Ulimit {
  const match = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(text.trim());
  if (match === null) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${text}" for "--ulimit" flag: invalid ulimit argument: ${text}`);
  const name = match[1] as string;
  if (ulimitResources[name] === undefined) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${text}" for "--ulimit" flag: invalid ulimit type: ${name}`);
  const soft = Number(match[2]);
  const hard = match[3] === undefined ? soft : Number(match[3]);
  if (soft > hard) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${text}" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { name, soft, hard };
}

/** The spec's rlimits for ULIMITS: those alone, the others the caller's (as moby writes only --ulimit's). */
export function rlimitsOf(ulimits: readonly Ulimit[]): Record<string, { soft: number; hard: number }> | undefined {
  if (ulimits.length === 0) return undefined;
  return ulimitRlimits(ulimits);
}

/** ULIMITS alone, by their runtime-spec names. */
export function ulimitRlimits(ulimits: readonly Ulimit[]): Record<string, { soft: number; hard: number }> {
  const rlimits: Record<string, { soft: number; hard: number }> = {};
  // -1 is "unlimited", as docker takes it.
  const value = (limit: number): number => (limit < 0 ? Number.MAX_SAFE_INTEGER : limit);
  for (const ulimit of ulimits) rlimits[ulimitResources[ulimit.name] as string] = { soft: value(ulimit.soft), hard: value(ulimit.hard) };
  return rlimits;
}

/** `--add-host NAME:IP` (or `NAME=IP`) as the `/etc/hosts` line docker writes: `IP\tNAME`. */
export function addHostLine(text: string): string {
  const separator = text.includes('=') ? text.indexOf('=') : text.indexOf(':');
  const name = separator < 0 ? '' : text.slice(0, separator).trim();
  const address = separator < 0 ? '' : text.slice(separator + 1).trim().replace(/^\[(.*)\]$/, '$1');
  if (name === '' || /\s/.test(name)) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${text}" for "--add-host" flag: invalid argument "${text}" for add-host`);
  if (isIP(address) === 0) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${text}" for "--add-host" flag: invalid IP address in add-host: "${address}"`);
  return `${address}\t${name}`;
}
