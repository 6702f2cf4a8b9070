/**
 * What the host's kernel is told: bridges, veth pairs and network namespaces through iproute2
 * (`ip`), NAT and isolation through iptables (the nf_tables or legacy backend, whichever the
 * machine's `iptables` is). Every rule tsbuild adds carries a comment naming the network or
 * container it is for, so that it is found and removed by that name alone.
 *
 * "The host" is a `NetworkSide`: root's is the machine's own network namespace; an ordinary
 * user's is the store's rootless network namespace (rootless-netns.ts), which every command here
 * enters through `nsenter` — the same commands, run somewhere else.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TsbuildError, messageOf } from '../../common/index.js';
import { acquireLock, type FileLock } from '../../store/index.js';
import { formatAddress, formatSubnet, macOf, type Subnet } from './address.js';
import type { BridgeSettings } from './bridge-options.js';

const searchPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface CommandResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Where bridges, veths and rules are made. */
export interface NetworkSide {
  /** The argv prefix that runs a command there; empty: in this process's own namespaces. */
  readonly enter: readonly string[];
  /** `/proc/PID/net` of a process there (links and routes, read without a process); undefined: this process's. */
  readonly procNet?: string;
  /** Serializes what every user of the side shares (tsbuild's chains, the choice of a subnet). */
  lock(): Promise<FileLock>;
  /** Variables for its commands (legacy iptables's lock file, which an ordinary user cannot make in /run). */
  readonly environment?: Readonly<Record<string, string>>;
}

/** Runs FILE with ARGS (and INPUT on its stdin) on SIDE; never throws for a non-zero status. */
export function command(side: NetworkSide, file: string, args: readonly string[], input?: string): Promise<CommandResult> {
  const argv = [...side.enter, file, ...args];
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0] ?? file, argv.slice(1), { env: { ...process.env, PATH: `${process.env.PATH ?? ''}:${searchPath}`, ...side.environment }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') {
        reject(new TsbuildError('RUNTIME', `run ${file}: ${messageOf(error)}`, { cause: error }));
        return;
      }
      resolve({ status: error === null ? 0 : Number(error.code), stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Like `command`, failing with WHAT when the status is not 0. */
export async function mustRun(side: NetworkSide, what: string, file: string, args: readonly string[], input?: string): Promise<string> {
  const result = await command(side, file, args, input);
  if (result.status !== 0) throw new TsbuildError('RUNTIME', `${what}: ${result.stderr.trim().split('\n').pop() ?? `${file} exited ${result.status}`}`);
  return result.stdout;
}

/**
 * Serializes what every store on the host shares: the choice of a free subnet, and the chains
 * tsbuild jumps to from the host's own. Under /run: it concerns this boot only.
 */
export function hostLock(): Promise<FileLock> {
  return mkdir('/run/tsbuild', { recursive: true, mode: 0o755 }).then(() => acquireLock('/run/tsbuild/network.lock', { timeoutMs: 60_000, staleMs: 60_000 }));
}

/** The machine's own network namespace, root's. */
export const hostSide: NetworkSide = { enter: [], lock: hostLock };

/**
 * The IPv4 subnets the host routes already (its own networks, other bridges, docker's), from
 * /proc/net/route: reading it costs no process.
 */
export async function routedSubnets(side: NetworkSide = hostSide): Promise<Subnet[]> {
  const text = await readFile(`${side.procNet ?? '/proc/net'}/route`, 'utf8').catch(() => '');
  const found: Subnet[] = [];
  // Destination and mask are in hexadecimal, in the host's (little-endian) byte order.
  const value = (hex: string): number => Number.parseInt(hex.match(/../g)?.reverse().join('') ?? '0', 16);
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const destination = fields[1];
    const maskText = fields[7];
    if (destination === undefined || maskText === undefined) continue;
    const prefix = value(maskText).toString(2).replace(/0+$/, '').length;
    if (prefix === 0) continue;
    found.push({ base: value(destination), prefix });
  }
  return found;
}

export function linkExists(side: NetworkSide, name: string): boolean {
  if (side.procNet === undefined) return existsSync(`/sys/class/net/${name}`);
  // sysfs shows the namespace of whoever mounted it: another namespace's links are read from /proc.
  let text: string;
  try {
    text = readFileSync(`${side.procNet}/dev`, 'utf8');
  } catch {
    return false;
  }
  return text.split('\n').some((line) => line.trimStart().startsWith(`${name}:`));
}

/**
 * Runs a shell script with ARGS as $1…: several ip and iptables commands in one process cost
 * one fork of this (large) process instead of one each.
 */
export async function script(side: NetworkSide, what: string, text: string, args: readonly string[] = []): Promise<string> {
  return mustRun(side, what, 'sh', ['-ec', text, 'sh', ...args]);
}

export async function removeLink(side: NetworkSide, name: string): Promise<void> {
  if (!linkExists(side, name)) return;
  const result = await command(side, 'ip', ['link', 'del', 'dev', name]);
  if (result.status !== 0 && linkExists(side, name)) throw new TsbuildError('RUNTIME', `remove ${name}: ${result.stderr.trim()}`);
}

export interface VethOptions {
  /** Where the namespace is bound; made here when missing. */
  readonly namespace: string;
  readonly hostName: string;
  /** The interface's name in the container (eth0, eth1, …). */
  readonly name: string;
  readonly bridge: string;
  readonly address: number;
  readonly subnet: Subnet;
  /** The default route's; none for an internal network. */
  readonly gateway?: number;
  readonly mac: string;
  /** The network's MTU (`-o com.docker.network.driver.mtu`), for both ends of the pair. */
  readonly mtu?: number;
}

/**
 * A network namespace kept by a bind mount of it at NAMESPACE (util-linux `unshare --net=FILE`)
 * with its loopback up, when missing; and a veth pair, one end on the bridge, the other in the
 * namespace with its address and route. tsbuild's networks are IPv4 only: IPv6 is disabled on
 * the container's end before it comes up, as docker does since 26.0.2, so it takes no link-local
 * or router-advertised address and joins no IPv6 multicast group (moby CVE-2024-32473); a kernel
 * without IPv6 has nothing to disable.
 */
export async function createVeth(side: NetworkSide, options: VethOptions): Promise<void> {
  await mkdir(dirname(options.namespace), { recursive: true, mode: 0o700 });
  const inside = [
    `link set ${options.name} address ${options.mac}`,
    `addr add ${formatAddress(options.address)}/${options.subnet.prefix} dev ${options.name}`,
    `link set ${options.name} up`,
    ...(options.gateway === undefined ? [] : [`route add default via ${formatAddress(options.gateway)} dev ${options.name}`]),
  ].join('\n');
  // The pair is made from inside the namespace, its host end sent out to the namespace of this
  // script's shell ($$): the container's end is configured by the same `ip`, and a namespace made
  // now is entered once, by the unshare that makes it. Five processes where there were ten.
  const mtu = options.mtu === undefined ? '' : ` mtu ${options.mtu}`;
  const configure = `ip link add "$1"${mtu} type veth peer name "$2"${mtu} netns "$3"
conf=/proc/sys/net/ipv6/conf/$1/disable_ipv6; if [ -e "$conf" ]; then echo 1 > "$conf"; fi
printf "%s\\n" "$4" | ip -batch -`;
  await script(
    side,
    `connect ${options.namespace} to ${options.bridge}`,
    `ns=$1
if [ -e "$ns" ]; then
  nsenter --net="$ns" sh -ec '${configure}' sh "$3" "$2" "$$" "$5"
else
  (umask 077; : > "$ns")
  unshare --net="$ns" sh -ec 'ip link set lo up
${configure}' sh "$3" "$2" "$$" "$5"
fi
ip link set "$2" master "$4" up`,
    [options.namespace, options.hostName, options.name, options.bridge, inside],
  );
}

/** Unbinds the namespace at PATH: it goes, with its end of every veth pair (and so the pair), once no process is in it. */
export async function removeNamespace(path: string): Promise<void> {
  if (!existsSync(path)) return;
  await command(hostSide, 'umount', [path]);
  await rm(path, { force: true });
}

/** The chains tsbuild's rules live in, and the jumps to them from the host's. */
const chains = {
  forward: 'TSBUILD-FORWARD',
  postrouting: 'TSBUILD-POSTROUTING',
  dnat: 'TSBUILD-DNAT',
} as const;

export function networkTag(id: string): string {
  return `tsbuild-net-${id.slice(0, 12)}`;
}

export function containerTag(id: string): string {
  return `tsbuild-ctr-${id.slice(0, 12)}`;
}

function restoreText(tables: Readonly<Record<string, readonly string[]>>): string {
  return Object.entries(tables)
    .filter(([, rules]) => rules.length > 0)
    .map(([table, rules]) => `*${table}\n${rules.join('\n')}\nCOMMIT\n`)
    .join('');
}

/** Applies rules in iptables-restore's format, without flushing what is there. */
async function restore(side: NetworkSide, tables: Readonly<Record<string, readonly string[]>>): Promise<void> {
  const text = restoreText(tables);
  if (text !== '') await mustRun(side, 'add iptables rules', 'iptables-restore', ['-w', '--noflush'], text);
}

/**
 * A network's bridge, up with its gateway's address, and its rules, as docker 28's: what its
 * containers send out accepted (and masqueraded), and into it only replies and the connections
 * a published port's DNAT made, from wherever they come (the host's other interfaces, another
 * network's containers); an internal network's traffic stays on its bridge. tsbuild's chains
 * and the jumps to them are made when missing (under the host lock). On failure, the bridge is
 * removed.
 */
export async function createBridge(side: NetworkSide, id: string, bridge: string, subnet: Subnet, gateway: number, settings: BridgeSettings & { readonly internal: boolean }): Promise<void> {
  const { internal } = settings;
  const tag = ['-m', 'comment', '--comment', networkTag(id)].join(' ');
  // Without inter-container communication, what one container sends another on the bridge is
  // dropped, as docker's `-i br -o br -j DROP`; the bridge must then pass its frames to iptables
  // (br_netfilter), which docker's daemon loads too.
  const icc = `-A ${chains.forward} -i ${bridge} -o ${bridge} ${tag} -j ${settings.icc ? 'ACCEPT' : 'DROP'}`;
  const forward = internal
    ? [...(settings.icc ? [] : [icc]), `-A ${chains.forward} -i ${bridge} ! -o ${bridge} ${tag} -j DROP`, `-A ${chains.forward} -o ${bridge} ! -i ${bridge} ${tag} -j DROP`]
    : [
        // First in the chain, whatever other networks' rules come before this one's: new
        // connections into the bridge from anywhere but itself are dropped (docker's `! -i br -o br
        // -j DROP`), which isolates the networks from each other and from routed traffic, unless a
        // published port's DNAT made them (docker accepts its published ports before that rule).
        `-I ${chains.forward} 1 -o ${bridge} ! -i ${bridge} -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT ${tag} -j DROP`,
        icc,
        `-A ${chains.forward} -i ${bridge} ${tag} -j ACCEPT`,
        `-A ${chains.forward} -o ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED,DNAT ${tag} -j ACCEPT`,
      ];
  const nat = internal || !settings.masquerade ? [] : [`-A ${chains.postrouting} -s ${formatSubnet(subnet)} ! -o ${bridge} ${tag} -j MASQUERADE`];
  // tsbuild's chains and the jumps to them, where missing, go in the same restore as the rules.
  const saved = await savedRules(side);
  const has = (table: string, line: string): boolean => saved.some((rule) => rule.table === table && rule.line === line);
  const jumps = (table: string, from: string, to: string): boolean => saved.some((rule) => rule.table === table && rule.line.startsWith(`-A ${from} `) && rule.line.endsWith(`-j ${to}`));
  const setup: Record<string, string[]> = { filter: [], nat: [] };
  for (const [table, chain] of [['filter', chains.forward], ['nat', chains.postrouting], ['nat', chains.dnat]] as const) {
    if (!has(table, `:${chain}`)) setup[table]?.push(`:${chain} - [0:0]`);
  }
  if (!jumps('filter', 'FORWARD', chains.forward)) setup.filter?.push(`-I FORWARD 1 -j ${chains.forward}`);
  if (!jumps('nat', 'POSTROUTING', chains.postrouting)) setup.nat?.push(`-I POSTROUTING 1 -j ${chains.postrouting}`);
  if (!jumps('nat', 'PREROUTING', chains.dnat)) setup.nat?.push(`-I PREROUTING 1 -m addrtype --dst-type LOCAL -j ${chains.dnat}`);
  if (!jumps('nat', 'OUTPUT', chains.dnat)) setup.nat?.push(`-I OUTPUT 1 ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j ${chains.dnat}`);
  await script(
    side,
    `create bridge ${bridge}`,
    // A MAC of its own: a bridge otherwise takes its ports' lowest, which changes as containers come
    // and go, and the containers' ARP caches keep the old one until they probe again.
    `ip link add "$1" address "$4" ${settings.mtu === undefined ? '' : `mtu ${settings.mtu} `}type bridge
trap 'ip link del "$1" 2>/dev/null' EXIT
printf 'addr add %s dev %s\\nlink set %s up\\n' "$2" "$1" "$1" | ip -batch -
${settings.icc ? '' : 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables || { echo "enable_icc=false: the kernel does not pass bridged traffic to iptables (no br_netfilter)" >&2; exit 1; }'}
printf '%s' "$3" | iptables-restore -w --noflush
${internal ? '' : 'echo 1 > /proc/sys/net/ipv4/ip_forward'}
trap - EXIT`,
    [bridge, `${formatAddress(gateway)}/${subnet.prefix}`, restoreText({ filter: [...(setup.filter ?? []), ...forward], nat: [...(setup.nat ?? []), ...nat] }), macOf(gateway)],
  );
}

export interface DnatRule {
  readonly hostIp?: string;
  readonly hostPort: number;
  readonly protocol: 'tcp' | 'udp';
  readonly address: string;
  readonly containerPort: number;
  readonly bridge: string;
}

/** Published ports' DNAT rules, tagged with the container's ID. */
export async function addDnatRules(side: NetworkSide, containerId: string, rules: readonly DnatRule[]): Promise<void> {
  const tag = `-m comment --comment ${containerTag(containerId)}`;
  await restore(side, {
    nat: rules.map((rule) => `-A ${chains.dnat} ${rule.hostIp === undefined ? '' : `-d ${rule.hostIp}/32 `}! -i ${rule.bridge} -p ${rule.protocol} -m ${rule.protocol} --dport ${rule.hostPort} ${tag} -j DNAT --to-destination ${rule.address}:${rule.containerPort}`),
  });
}

interface SavedRule {
  readonly table: string;
  /** As iptables-save prints it: `:CHAIN` for a chain (counters left out), `-A CHAIN …` for a rule. */
  readonly line: string;
}

/** Every table's chains and rules, from one iptables-save. */
async function savedRules(side: NetworkSide): Promise<SavedRule[]> {
  const text = await mustRun(side, 'list iptables rules', 'iptables-save', []);
  const rules: SavedRule[] = [];
  let table = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    else if (line.startsWith(':')) rules.push({ table, line: line.split(' ')[0] ?? line });
    else if (line.startsWith('-A ')) rules.push({ table, line });
  }
  return rules;
}

/** Removes every rule carrying TAG (and then, with LINK, that link), in one restore. */
export async function removeRules(side: NetworkSide, tag: string, link?: string): Promise<void> {
  const tables: Record<string, string[]> = {};
  for (const rule of await savedRules(side)) {
    if (rule.line.startsWith('-A ') && rule.line.split(/\s+/).includes(tag)) (tables[rule.table] ??= []).push(`-D${rule.line.slice(2)}`);
  }
  const text = restoreText(tables);
  if (text === '' && link === undefined) return;
  // /proc/net, not /sys/class/net: it shows the namespace the script runs in. Deleting a bridge
  // waits out the kernel's grace periods (40 ms here), so it runs beside the rules' removal: the
  // rules name the link, and neither needs the other gone first.
  await script(
    side,
    `remove rules ${tag}`,
    [
      'link=',
      'if [ -n "$2" ] && grep -q "^ *$2:" /proc/net/dev; then ip link del "$2" & link=$!; fi',
      '[ -z "$1" ] || printf \'%s\' "$1" | iptables-restore -w --noflush',
      '[ -z "$link" ] || wait "$link"',
    ].join('\n'),
    [text, link ?? ''],
  );
}

/** The rules carrying TAG (for checks and tests). */
export async function rulesTagged(tag: string, side: NetworkSide = hostSide): Promise<string[]> {
  return (await savedRules(side)).filter((rule) => rule.line.split(/\s+/).includes(tag)).map((rule) => `${rule.table} ${rule.line}`);
}
