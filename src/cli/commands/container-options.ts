/**
 * The flags `run` and `create` share, with docker's names, and their translation into what
 * `createContainer` takes.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Option, type Command } from 'commander';

import { TsbuildError, checkStopSignal, messageOf, normalizePlatform, parseByteSize, parseGoDuration, parsePlatform, parsePortRange, type Platform } from '../../common/index.js';
import { DaemonError } from '../io.js';
import { withProxyEnvironment } from '../docker-proxies.js';
import {
  lookupEnv,
  parseEnvFile,
  parseLogConfig,
  parseMacAddress,
  parseMountFlag,
  parsePortSpec,
  parseThrottleBpsDevice,
  parseThrottleIOpsDevice,
  parseTmpfsFlag,
  parseUlimit,
  parseVolumeFlag,
  parseWeightDevice,
  type BlockIODevices,
  type CreateContainerOptions,
  type DeviceRequest,
  type MountRequest, type HealthcheckConfig, type ResourceUpdate, type RestartPolicy } from '../../runtime/index.js';
import { collect, defaultPlatform, keyValueMap } from '../common-options.js';

export interface ContainerFlags {
  readonly rm?: boolean;
  readonly interactive?: boolean;
  readonly tty?: boolean;
  readonly env: string[];
  readonly envFile: string[];
  readonly workdir?: string;
  readonly user?: string;
  readonly entrypoint?: string;
  readonly network?: string;
  readonly runtime?: string;
  readonly init?: boolean;
  readonly root?: string;
  readonly name?: string;
  readonly hostname?: string;
  readonly readOnly?: boolean;
  readonly memory?: string;
  readonly pidsLimit?: string;
  readonly cpus?: string;
  readonly cpuShares?: string;
  readonly cpuPeriod?: string;
  readonly cpuQuota?: string;
  readonly cpusetCpus?: string;
  readonly cpusetMems?: string;
  readonly memorySwap?: string;
  readonly memoryReservation?: string;
  readonly memorySwappiness?: string;
  readonly oomKillDisable?: boolean;
  readonly blkioWeight?: string;
  readonly blkioWeightDevice: string[];
  readonly deviceReadBps: string[];
  readonly deviceWriteBps: string[];
  readonly deviceReadIops: string[];
  readonly deviceWriteIops: string[];
  readonly restart?: string;
  readonly stopSignal?: string;
  readonly stopTimeout?: string;
  readonly label: string[];
  readonly labelFile: string[];
  readonly quiet?: boolean;
  readonly logDriver?: string;
  readonly logOpt: string[];
  readonly healthCmd?: string;
  readonly healthInterval?: string;
  readonly healthTimeout?: string;
  readonly healthRetries?: string;
  readonly healthStartPeriod?: string;
  readonly healthcheck?: boolean;
  readonly publish: string[];
  readonly publishAll?: boolean;
  readonly expose: string[];
  readonly volumesFrom: string[];
  readonly ip?: string;
  readonly macAddress?: string;
  readonly volume: string[];
  readonly mount: string[];
  readonly tmpfs: string[];
  readonly networkAlias: string[];
  readonly capAdd: string[];
  readonly capDrop: string[];
  readonly privileged?: boolean;
  readonly addHost: string[];
  readonly dns: string[];
  readonly dnsSearch: string[];
  readonly dnsOption: string[];
  readonly groupAdd: string[];
  readonly ulimit: string[];
  readonly securityOpt: string[];
  readonly shmSize?: string;
  readonly platform?: string;
  readonly cidfile?: string;
  readonly pull: string;
  readonly device: string[];
  readonly sysctl: string[];
  readonly pid?: string;
  readonly ipc?: string;
  readonly uts?: string;
  readonly cgroupns?: string;
  readonly userns?: string;
  readonly domainname?: string;
  readonly oomScoreAdj?: string;
  readonly annotation: string[];
  readonly healthStartInterval?: string;
  readonly link: string[];
  readonly cgroupParent?: string;
  readonly deviceCgroupRule: string[];
  readonly kernelMemory?: string;
  readonly isolation?: string;
  readonly volumeDriver?: string;
  readonly gpus?: string;
  readonly storageOpt: string[];
  readonly ip6?: string;
  readonly linkLocalIp: string[];
  readonly cpuRtPeriod?: string;
  readonly cpuRtRuntime?: string;
}

export function addContainerOptions(command: Command): Command {
  command.on('option:dns-opt', (value: string) => {
    command.setOptionValue('dnsOption', [...((command.getOptionValue('dnsOption') as string[] | undefined) ?? []), value]);
  });
  return command
    .option('--rm', 'remove the container when it exits')
    .option('-i, --interactive', 'keep stdin open and pass it to the container')
    .option('-t, --tty', 'give the container a terminal')
    .option('-e, --env <K=V>', 'set an environment variable; K alone takes it from this environment (repeatable)', collect, [])
    .option('--env-file <file>', 'read environment variables from a file (repeatable)', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user name or uid, and group name or gid')
    .option('--entrypoint <command>', "replace the image's entrypoint ('' for none)")
    .option('--name <name>', 'name the container')
    .option('-h, --hostname <name>', "the container's hostname (default: the first 12 digits of its ID)")
    .option('--network <network>', "bridge (the default network), none (loopback only), host, a network's name, container:NAME")
    .option('--network-alias <alias>', 'another name on the network (repeatable)', collect, [])
    .option('-p, --publish <[ip:][host:]container[/proto]>', 'publish a port or a range (8000-8001:80-81) (repeatable)', collect, [])
    .option('-P, --publish-all', "publish the image's exposed ports")
    .option('--ip <address>', "the container's IPv4 address on its user network (one created with --subnet)")
    .option('--mac-address <mac>', "the container's MAC address on its network (02:42:ac:11:00:02)")
    .option('--volumes-from <container>', "mount the volumes of another container, at the same places (CONTAINER[:ro|:rw]; repeatable)", collect, [])
    .option('--expose <port>', 'expose a port or a range of ports (PORT[/PROTOCOL], START-END[/PROTOCOL]; repeatable)', collect, [])
    .option('-v, --volume <source:target[:ro]>', 'mount a volume or a host path (repeatable)', collect, [])
    .option('--mount <type=…,source=…,target=…>', 'mount a volume, a host path or a tmpfs (repeatable)', collect, [])
    .option('--tmpfs <path[:options]>', 'mount a tmpfs (repeatable)', collect, [])
    .option('--read-only', "mount the container's root read-only")
    .option('--init', 'run the command under an init that forwards signals and reaps orphans')
    .option('-m, --memory <bytes>', 'memory limit (b, k, m, g), where cgroups allow it')
    .option('--memory-swap <bytes>', 'memory and swap together (-1: unlimited swap; default twice --memory), where cgroups allow it')
    .option('--memory-reservation <bytes>', 'memory soft limit, where cgroups allow it')
    .option('--memory-swappiness <n>', "how readily the kernel swaps the container's memory out (0-100), where cgroups allow it")
    .option('--oom-kill-disable', 'the kernel does not kill the container when it reaches its memory limit, where cgroups allow it')
    .option('--blkio-weight <n>', 'relative block I/O weight (10-1000), where the kernel allows it')
    .option('--blkio-weight-device <path:weight>', "a device's block I/O weight (10-1000; repeatable), where the kernel allows it", collect, [])
    .option('--device-read-bps <path:rate>', 'limit reads from a device, in bytes per second (kb, mb, gb; repeatable)', collect, [])
    .option('--device-write-bps <path:rate>', 'limit writes to a device, in bytes per second (kb, mb, gb; repeatable)', collect, [])
    .option('--device-read-iops <path:rate>', 'limit reads from a device, in operations per second (repeatable)', collect, [])
    .option('--device-write-iops <path:rate>', 'limit writes to a device, in operations per second (repeatable)', collect, [])
    .option('--pids-limit <n>', 'process limit, where cgroups allow it')
    .option('--cpus <number>', 'CPUs the container may use (1.5: one and a half), where cgroups allow it')
    .option('-c, --cpu-shares <weight>', 'relative CPU weight (default 1024), where cgroups allow it')
    .option('--cpu-period <microseconds>', 'the CFS period of --cpu-quota')
    .option('--cpu-quota <microseconds>', 'the CFS quota per --cpu-period')
    .option('--cpuset-cpus <list>', 'CPUs the container may run on (0-3, 0,1), where cgroups allow it')
    .option('--cpuset-mems <list>', 'memory nodes the container may use (0-3, 0,1), where cgroups allow it')
    .option('--restart <policy>', 'no, on-failure[:N], always or unless-stopped', 'no')
    .option('--stop-signal <signal>', "signal stop sends (default: the image's StopSignal, or SIGTERM)")
    .option('--stop-timeout <seconds>', 'seconds stop waits before SIGKILL (default 10)')
    .option('-l, --label <key=value>', 'set a label (repeatable)', collect, [])
    .option('-q, --quiet', 'say nothing while pulling the image')
    .option('--log-driver <driver>', "where the container's output goes: json-file (the default), local, or none")
    .option('--log-opt <key=value>', 'a log driver option: max-size=SIZE (rotate at it), max-file=N (files kept) (repeatable)', collect, [])
    .option('--label-file <file>', 'read labels from a file of KEY=VALUE lines (repeatable)', collect, [])
    .option('--health-cmd <command>', 'command to check health (run by sh -c)')
    .option('--health-interval <duration>', 'time between checks (e.g. 30s)')
    .option('--health-timeout <duration>', 'longest a check may run')
    .option('--health-retries <n>', 'consecutive failures before unhealthy')
    .option('--health-start-period <duration>', 'failures during this start period do not count')
    .option('--no-healthcheck', "disable the image's HEALTHCHECK")
    .option('--cap-add <capability>', 'add a Linux capability (NET_ADMIN, CAP_SYS_TIME, ALL; repeatable)', collect, [])
    .option('--cap-drop <capability>', 'drop a Linux capability (ALL drops every one; repeatable)', collect, [])
    .option('--privileged', 'every capability, nothing of /proc and /sys masked, every device node usable')
    .option('--add-host <host:ip>', 'add a line to /etc/hosts (repeatable)', collect, [])
    .option('--dns <ip>', "a nameserver for /etc/resolv.conf instead of the host's (repeatable)", collect, [])
    .option('--dns-search <domain>', "a search domain for /etc/resolv.conf instead of the host's; . for none (repeatable)", collect, [])
    .option('--dns-option <option>', "a resolver option for /etc/resolv.conf, such as ndots:2, instead of the host's (repeatable)", collect, [])
    // docker's older name for it, hidden in its help as here.
    .addOption(new Option('--dns-opt <option>').hideHelp())
    .option('--group-add <group>', 'add a supplementary group: a name of the image or a gid (repeatable)', collect, [])
    .option('--ulimit <name=soft[:hard]>', 'a resource limit, as nofile=1024:2048 (repeatable)', collect, [])
    .option('--shm-size <bytes>', 'size of /dev/shm (b, k, m, g; default 64m)')
    .option('--platform <os/arch[/variant]>', "the image's platform: its manifest from an index, or pulled for it (this machine's by default)")
    .option('--sysctl <key=value>', 'a namespaced kernel parameter: net.*, fs.mqueue.*, kernel.shm*, kernel.msg*, kernel.sem (repeatable)', collect, [])
    .option('--device <host[:container[:rwm]]>', "give the container one of this machine's device nodes (repeatable)", collect, [])
    .option('--pid <mode>', "PID namespace: host shares this machine's (default: the container's own)")
    .option('--ipc <mode>', "IPC namespace: host shares this machine's; private or shareable, its own (default)")
    .option('--uts <mode>', "UTS namespace (hostname): host shares this machine's (default: the container's own)")
    .option('--cgroupns <mode>', "cgroup namespace: host shares this machine's, private its own (default: host on cgroup v1, private on v2)")
    .option('--userns <mode>', 'user namespace: host (no remapping; the only mode without a daemon)')
    .option('--domainname <name>', "the container's NIS domain name")
    .option('--oom-score-adj <n>', "adjust the container's OOM score (-1000 to 1000)")
    .option('--annotation <key=value>', 'an annotation passed to the OCI runtime (repeatable)', collect, [])
    .option('--link <name[:alias]>', "another container's address in /etc/hosts under its name or ALIAS (repeatable)", collect, [])
    .option('--cgroup-parent <path>', "the cgroup the container's cgroups are made under (default: tsbuild's own)")
    .option('--device-cgroup-rule <rule>', "a rule of the device cgroup, TYPE MAJOR:MINOR ACCESS as 'c 1:3 rwm' (repeatable)", collect, [])
    .option('--kernel-memory <bytes>', 'accepted and ignored, as docker 26 (kernel memory limits are gone from the kernel)')
    .option('--isolation <technology>', 'container isolation: default (the only one on Linux)')
    .option('--volume-driver <driver>', "the driver of the container's volumes: local (the only one)")
    .option('--gpus <request>', 'GPU devices to add (no GPU driver here: the start fails as docker without one)')
    .option('--storage-opt <key=value>', 'storage driver options (refused: overlay over xfs with pquota is needed, as in docker) (repeatable)', collect, [])
    .option('--ip6 <address>', "the container's IPv6 address (needs a user network with an IPv6 subnet, which tsbuild does not make)")
    .option('--link-local-ip <address>', "a link-local address of the container's endpoint (repeatable)", collect, [])
    .option('--cpu-rt-period <microseconds>', "the real-time scheduler's period, where cgroups allow it")
    .option('--cpu-rt-runtime <microseconds>', "the real-time scheduler's runtime per period, where cgroups allow it")
    .option('--health-start-interval <duration>', 'time between checks during the start period (default 5s)')
    .option('--pull <policy>', 'pull the image: always, missing (when the store lacks it) or never', 'missing')
    .option('--cidfile <file>', "write the container's ID to this file (which must not exist)")
    .option('--security-opt <option>', "seccomp=unconfined (no seccomp filter; docker's default profile otherwise), no-new-privileges (repeatable)", collect, [])
    .option('--runtime <name>', 'OCI runtime: shim (default), crun, runc or a path');
}

/** `--pid`, `--ipc`, `--uts`: the namespaces shared with the host, the values checked as docker checks them. */
export function hostNamespacesOf(flags: Pick<ContainerFlags, 'pid' | 'ipc' | 'uts'>): ('pid' | 'ipc' | 'uts')[] {
  const shared: ('pid' | 'ipc' | 'uts')[] = [];
  const own: Readonly<Record<'pid' | 'ipc' | 'uts', readonly string[]>> = { pid: [''], ipc: ['', 'private', 'shareable'], uts: [''] };
  for (const kind of ['pid', 'ipc', 'uts'] as const) {
    const value = flags[kind];
    if (value === undefined || own[kind].includes(value)) continue;
    if (value === 'host') shared.push(kind);
    else throw new TsbuildError('INVALID_ARGUMENT', `invalid --${kind}: ${JSON.stringify(value)}: host${kind === 'ipc' ? ', private or shareable' : ''} (a container's namespace to join is not supported)`);
  }
  return shared;
}

/** `--shm-size`, as docker checks it. */
function parseShmSize(text: string): number {
  const bytes = parseByteSize(text);
  if (bytes <= 0) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${text}" for "--shm-size" flag: the size must be greater than 0`);
  return bytes;
}

/**
 * `--platform`: the image's platform (docker's forms, normalized): its manifest is taken from an
 * index, or pulled for it; undefined for this machine's. Another platform's binaries run as the
 * kernel runs them: under a binfmt_misc emulator when one is registered.
 */
export function platformOf(flags: Pick<ContainerFlags, 'platform'>): Platform | undefined {
  const value = flags.platform ?? defaultPlatform();
  return value === undefined ? undefined : normalizePlatform(parsePlatform(value));
}

/** `--pull`: whether the image is pulled always, when missing, or never, checked as docker checks it. */
export function pullPolicy(flags: Pick<ContainerFlags, 'pull'>): 'always' | 'missing' | 'never' {
  if (flags.pull === 'always' || flags.pull === 'missing' || flags.pull === 'never') return flags.pull;
  throw new TsbuildError('INVALID_ARGUMENT', `invalid pull option: '${flags.pull}': must be one of "always", "missing" or "never"`);
}

/** `--cidfile`: docker refuses a file that is there, before anything is made. */
export async function claimCidfile(file: string | undefined): Promise<((id: string) => Promise<void>) | undefined> {
  if (file === undefined) return undefined;
  if (await stat(file).then(() => true, () => false)) throw new TsbuildError('INVALID_ARGUMENT', `Container ID file found, make sure the other container isn't running or delete ${file}`);
  return async (id) => writeFile(file, id, { flag: 'wx' });
}

/** The resource flags `run`, `create` and `update` share. */
export type ResourceFlags = Pick<ContainerFlags, 'memory' | 'memorySwap' | 'memoryReservation' | 'pidsLimit' | 'cpus' | 'cpuShares' | 'cpuPeriod' | 'cpuQuota' | 'cpusetCpus' | 'cpusetMems' | 'cpuRtPeriod' | 'cpuRtRuntime'>;

/** The resources asked by the flags given, as the runtime takes them (each absent when not given). */
export function resourceOptions(flags: ResourceFlags): ResourceUpdate {
  return {
    ...(flags.memory === undefined ? {} : { memory: parseMemory(flags.memory) }),
    ...(flags.pidsLimit === undefined ? {} : { pidsLimit: integer('--pids-limit', flags.pidsLimit) }),
    ...(flags.cpus === undefined ? {} : { nanoCpus: parseCpus(flags.cpus) }),
    ...(flags.cpuShares === undefined ? {} : { cpuShares: integer('--cpu-shares', flags.cpuShares) }),
    ...(flags.cpuPeriod === undefined ? {} : { cpuPeriod: integer('--cpu-period', flags.cpuPeriod) }),
    ...(flags.cpuQuota === undefined ? {} : { cpuQuota: integer('--cpu-quota', flags.cpuQuota) }),
    ...(flags.cpusetCpus === undefined ? {} : { cpusetCpus: flags.cpusetCpus }),
    ...(flags.memorySwap === undefined ? {} : { memorySwap: flags.memorySwap.trim() === '-1' ? -1 : parseMemorySize(flags.memorySwap, '--memory-swap') }),
    ...(flags.memoryReservation === undefined ? {} : { memoryReservation: parseMemorySize(flags.memoryReservation, '--memory-reservation') }),
    ...(flags.cpusetMems === undefined ? {} : { cpusetMems: flags.cpusetMems }),
    ...(flags.cpuRtPeriod === undefined ? {} : { cpuRealtimePeriod: integer('--cpu-rt-period', flags.cpuRtPeriod) }),
    ...(flags.cpuRtRuntime === undefined ? {} : { cpuRealtimeRuntime: integer('--cpu-rt-runtime', flags.cpuRtRuntime) }),
  };
}

/** `--cpus`: a decimal number of CPUs, as docker checks it against the machine's. */
function parseCpus(text: string): number {
  const value = Number(text);
  if (!/^\d*\.?\d+$/.test(text.trim()) || !Number.isFinite(value)) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${text}" for "--cpus" flag: failed to parse ${text} as a rational number`);
  const available = availableParallelism();
  if (value < 0.01 || value > available) throw new TsbuildError('INVALID_ARGUMENT', `range of CPUs is from 0.01 to ${available}.00, as there are only ${available} CPUs available`);
  return Math.round(value * 1e9);
}

/** docker's memory sizes: a number with an optional b, k, m or g (powers of 1024); refused as its flag library refuses FLAG's value. */
function parseMemorySize(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(text.trim());
  if (match === null) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument ${JSON.stringify(text)} for ${JSON.stringify(flag)} flag: invalid size: '${text}'`);
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match[2] ?? '').toLowerCase()] ?? 1;
  return Math.floor(Number(match[1]) * unit);
}

/** `--memory`: a size of at least docker's 6 MB. */
export function parseMemory(text: string): number {
  const bytes = parseMemorySize(text, '-m, --memory');
  if (bytes > 0 && bytes < 6 * 1024 * 1024) throw new TsbuildError('INVALID_ARGUMENT', 'Minimum memory limit allowed is 6MB');
  return bytes;
}

/**
 * `--restart NAME[:COUNT]` with docker's rules and words, in its order: the form first (COUNT an
 * integer), then `--rm` with any policy but `no` (AUTOREMOVE), then the policy itself (a known
 * name; a count only for on-failure, and not negative). `no:0` and `always:0` are accepted, as
 * docker's.
 */
export function parseRestartPolicy(text: string, autoRemove = false): RestartPolicy {
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  const count = colon < 0 ? '' : text.slice(colon + 1);
  if (colon === 0) throw new TsbuildError('INVALID_ARGUMENT', 'invalid restart policy format: no policy provided before colon');
  const maximum = count === '' ? 0 : /^[+-]?\d+$/.test(count) ? Number(count) : Number.NaN;
  if (!Number.isSafeInteger(maximum)) throw new TsbuildError('INVALID_ARGUMENT', 'invalid restart policy format: maximum retry count must be an integer');
  if (autoRemove && name !== '' && name !== 'no') throw new TsbuildError('INVALID_ARGUMENT', 'Conflicting options: --restart and --rm');
  if (name === '' || name === 'no' || name === 'always' || name === 'unless-stopped') {
    if (maximum !== 0) throw new TsbuildError('INVALID_ARGUMENT', "invalid restart policy: maximum retry count can only be used with 'on-failure'");
    return { name: name === '' ? 'no' : name, maximumRetryCount: 0 };
  }
  if (name === 'on-failure') {
    if (maximum < 0) throw new TsbuildError('INVALID_ARGUMENT', 'invalid restart policy: maximum retry count cannot be negative');
    return { name, maximumRetryCount: maximum };
  }
  throw new TsbuildError('INVALID_ARGUMENT', `invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
}

function nanoseconds(flag: string, text: string): number {
  const value = parseGoDuration(text);
  if (typeof value === 'string' || value < 0) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${text}" for "${flag}" flag: ${typeof value === 'string' ? value : 'negative'}`);
  return value;
}

function integer(flag: string, text: string): number {
  const value = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(value)) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${text}" for "${flag}" flag: not an integer`);
  return value;
}

export async function environment(flags: Pick<ContainerFlags, 'env' | 'envFile'>): Promise<string[]> {
  // As the docker CLI: the files' variables first, then -e's, later ones winning.
  const result: string[] = [];
  for (const file of flags.envFile) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new TsbuildError('INVALID_ARGUMENT', `read env file ${file}: ${messageOf(error)}`, { cause: error });
    }
    result.push(...parseEnvFile(text, process.env));
  }
  for (const entry of flags.env) {
    if (entry === '' || entry.startsWith('=')) throw new TsbuildError('INVALID_ARGUMENT', `invalid environment variable: ${entry}`);
    result.push(entry.includes('=') ? entry : lookupEnv(entry, process.env));
  }
  return result;
}

/** A new container's environment: `environment`'s, then the proxies of docker's client configuration it does not set. */
export async function containerEnvironment(flags: Pick<ContainerFlags, 'env' | 'envFile'>): Promise<string[]> {
  return withProxyEnvironment(await environment(flags));
}

/**
 * `--expose 80`, `80/udp`, `8000-8010/tcp`: the `port/protocol` keys of docker's ExposedPorts,
 * read as docker's CLI reads them (go-connections' SplitProtoPort and ParsePortRange): any
 * 16-bit port, 0 too, a protocol as written, what follows a second `-` ignored.
 */
export function parseExposeFlag(value: string): string[] {
  if (value.includes(':')) throw new TsbuildError('INVALID_ARGUMENT', `invalid port format for --expose: ${value}`);
  const parts = value.split('/');
  const [port, protocol] = value === '' || parts[0] === '' ? ['', ''] : [parts[0] ?? '', parts.length === 1 || parts[1] === '' ? 'tcp' : (parts[1] ?? 'tcp')];
  let first: number;
  let last: number;
  try {
    [first, last] = parsePortRange(port);
  } catch (error) {
    throw new TsbuildError('INVALID_ARGUMENT', `invalid range format for --expose: ${value}, error: ${messageOf(error)}`);
  }
  const ports: string[] = [];
  for (let number = first; number <= last; number++) ports.push(`${number}/${protocol}`);
  return ports;
}

/**
 * What docker's client warns of while it reads the flags, before anything is pulled or made:
 * `--volume-driver` with `--mount` (of any type), whose volumes take their driver from the
 * mount's own `volume-driver`.
 */
export function flagWarnings(flags: Pick<ContainerFlags, 'volumeDriver' | 'mount'>): string[] {
  return flags.volumeDriver !== undefined && flags.volumeDriver !== '' && flags.mount.length > 0
    ? ['`--volume-driver` is ignored for volumes specified via `--mount`. Use `--mount type=volume,volume-driver=...` instead.']
    : [];
}

/** -v, --mount and --tmpfs, in that order, as requests the runtime prepares. */
export function mountRequests(flags: Pick<ContainerFlags, 'volume' | 'mount' | 'tmpfs'>): MountRequest[] {
  return [...flags.volume.map((spec) => parseVolumeFlag(spec)), ...flags.mount.map((spec) => parseMountFlag(spec)), ...flags.tmpfs.map((spec) => parseTmpfsFlag(spec))];
}

/** Whether FLAGS ask for something only a container with a record (not the foreground `run --rm`) has. */
export function needsRecord(flags: ContainerFlags): boolean {
  return (
    flags.name !== undefined ||
    flags.hostname !== undefined ||
    flags.readOnly === true ||
    flags.memory !== undefined ||
    flags.pidsLimit !== undefined ||
    flags.cpus !== undefined ||
    flags.cpuShares !== undefined ||
    flags.cpuPeriod !== undefined ||
    flags.cpuQuota !== undefined ||
    flags.cpusetCpus !== undefined ||
    flags.memorySwap !== undefined ||
    flags.memoryReservation !== undefined ||
    flags.memorySwappiness !== undefined ||
    flags.oomKillDisable === true ||
    flags.blkioWeight !== undefined ||
    flags.macAddress !== undefined ||
    flags.blkioWeightDevice.length > 0 ||
    flags.deviceReadBps.length > 0 ||
    flags.deviceWriteBps.length > 0 ||
    flags.deviceReadIops.length > 0 ||
    flags.deviceWriteIops.length > 0 ||
    flags.cpusetMems !== undefined ||
    (flags.restart ?? 'no') !== 'no' ||
    flags.stopSignal !== undefined ||
    flags.stopTimeout !== undefined ||
    flags.label.length > 0 ||
    flags.labelFile.length > 0 ||
    flags.logDriver !== undefined ||
    flags.logOpt.length > 0 ||
    flags.healthCmd !== undefined ||
    flags.healthcheck === false ||
    flags.capAdd.length > 0 ||
    flags.capDrop.length > 0 ||
    flags.privileged === true ||
    flags.addHost.length > 0 ||
    flags.dns.length > 0 ||
    flags.dnsSearch.length > 0 ||
    flags.dnsOption.length > 0 ||
    flags.groupAdd.length > 0 ||
    flags.ulimit.length > 0 ||
    flags.securityOpt.length > 0 ||
    flags.shmSize !== undefined ||
    flags.cidfile !== undefined ||
    // Checked where their errors are reported as docker's (status 125).
    flags.device.length > 0 ||
    flags.sysctl.length > 0 ||
    flags.pid !== undefined ||
    flags.ipc !== undefined ||
    flags.uts !== undefined ||
    flags.cgroupns !== undefined ||
    flags.userns !== undefined ||
    flags.domainname !== undefined ||
    flags.oomScoreAdj !== undefined ||
    flags.annotation.length > 0 ||
    flags.healthStartInterval !== undefined ||
    flags.link.length > 0 ||
    flags.cgroupParent !== undefined ||
    flags.deviceCgroupRule.length > 0 ||
    flags.kernelMemory !== undefined ||
    flags.isolation !== undefined ||
    flags.volumeDriver !== undefined ||
    flags.gpus !== undefined ||
    flags.storageOpt.length > 0 ||
    flags.ip6 !== undefined ||
    flags.linkLocalIp.length > 0 ||
    flags.cpuRtPeriod !== undefined ||
    flags.cpuRtRuntime !== undefined
  );
}

/** `--cgroupns`, `--userns`: docker's CLI checks (status 125), in its words. */
function namespaceModes(flags: Pick<ContainerFlags, 'cgroupns' | 'userns'>): { cgroupnsMode?: 'host' | 'private'; usernsMode?: 'host' } {
  if (flags.cgroupns !== undefined && flags.cgroupns !== '' && flags.cgroupns !== 'host' && flags.cgroupns !== 'private') throw new TsbuildError('INVALID_ARGUMENT', '--cgroupns: invalid CGROUP mode.');
  // docker's CLI takes `host` and a container's (`container:NAME`, never usable); a daemon with
  // --userns-remap is needed for anything but host, and there is no daemon.
  if (flags.userns !== undefined && flags.userns !== '' && flags.userns !== 'host') throw new TsbuildError('INVALID_ARGUMENT', '--userns: invalid USER mode.');
  return {
    ...(flags.cgroupns === 'host' || flags.cgroupns === 'private' ? { cgroupnsMode: flags.cgroupns } : {}),
    ...(flags.userns === 'host' ? { usernsMode: 'host' as const } : {}),
  };
}

function healthcheck(flags: ContainerFlags): HealthcheckConfig | undefined {
  if (flags.healthcheck === false) {
    if (flags.healthCmd !== undefined) throw new TsbuildError('INVALID_ARGUMENT', '--no-healthcheck conflicts with --health-* options');
    return { test: ['NONE'] };
  }
  if (flags.healthCmd === undefined) return undefined;
  return {
    test: ['CMD-SHELL', flags.healthCmd],
    ...(flags.healthStartInterval === undefined ? {} : { startInterval: nanoseconds('--health-start-interval', flags.healthStartInterval) }),
    ...(flags.healthInterval === undefined ? {} : { interval: nanoseconds('--health-interval', flags.healthInterval) }),
    ...(flags.healthTimeout === undefined ? {} : { timeout: nanoseconds('--health-timeout', flags.healthTimeout) }),
    ...(flags.healthStartPeriod === undefined ? {} : { startPeriod: nanoseconds('--health-start-period', flags.healthStartPeriod) }),
    ...(flags.healthRetries === undefined ? {} : { retries: integer('--health-retries', flags.healthRetries) }),
  };
}

/** `--label-file`s' lines (blank ones and `#` comments skipped, as docker's ReadKVStrings), then `--label`s. */
async function labels(entries: readonly string[], files: readonly string[] = []): Promise<Record<string, string>> {
  const fromFiles: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new TsbuildError('INVALID_ARGUMENT', `read label file ${file}: ${messageOf(error)}`, { cause: error });
    }
    for (const line of text.split(/\r?\n/)) {
      const trimmed = line.trimStart();
      if (trimmed !== '' && !trimmed.startsWith('#')) fromFiles.push(line);
    }
  }
  const result: Record<string, string> = {};
  for (const entry of [...fromFiles, ...entries]) {
    const at = entry.indexOf('=');
    const key = at < 0 ? entry : entry.slice(0, at);
    if (key === '') throw new TsbuildError('INVALID_ARGUMENT', `invalid label '${entry}': empty name`);
    result[key] = at < 0 ? '' : entry.slice(at + 1);
  }
  return result;
}

/** The block I/O flags, read as docker's CLI reads them; nothing when none is given. */
function blockIOOptions(flags: ContainerFlags): { blockIODevices?: BlockIODevices } {
  const devices: BlockIODevices = {
    ...(flags.blkioWeightDevice.length === 0 ? {} : { weightDevice: flags.blkioWeightDevice.map((text) => parseWeightDevice('--blkio-weight-device', text)) }),
    ...(flags.deviceReadBps.length === 0 ? {} : { readBps: flags.deviceReadBps.map((text) => parseThrottleBpsDevice('--device-read-bps', text)) }),
    ...(flags.deviceWriteBps.length === 0 ? {} : { writeBps: flags.deviceWriteBps.map((text) => parseThrottleBpsDevice('--device-write-bps', text)) }),
    ...(flags.deviceReadIops.length === 0 ? {} : { readIOps: flags.deviceReadIops.map((text) => parseThrottleIOpsDevice('--device-read-iops', text)) }),
    ...(flags.deviceWriteIops.length === 0 ? {} : { writeIOps: flags.deviceWriteIops.map((text) => parseThrottleIOpsDevice('--device-write-iops', text)) }),
  };
  return Object.keys(devices).length === 0 ? {} : { blockIODevices: devices };
}

/** What `createContainer` takes from the flags (everything but the store, image and streams). */
export async function createOptions(flags: ContainerFlags, args: readonly string[]): Promise<Omit<CreateContainerOptions, 'store' | 'image' | 'autoRemove'>> {
  const health = healthcheck(flags);
  // docker's daemon checks a log driver and its options when it makes the container.
  let logConfig: ReturnType<typeof parseLogConfig>;
  try {
    logConfig = parseLogConfig(flags.logDriver, flags.logOpt);
  } catch (error) {
    throw new DaemonError(messageOf(error));
  }
  // As docker's daemon: a signal it cannot name is refused when the container is made, not when it is stopped.
  if (flags.stopSignal !== undefined) {
    try {
      checkStopSignal(flags.stopSignal);
    } catch (error) {
      throw new DaemonError(messageOf(error));
    }
  }
  // docker's CLI checks the address before it asks its daemon (since 25.0).
  if (flags.macAddress !== undefined && flags.macAddress !== '' && parseMacAddress(flags.macAddress) === undefined) {
    throw new TsbuildError('INVALID_ARGUMENT', `${flags.macAddress} is not a valid mac address`);
  }
  const modes = namespaceModes(flags);
  const cgroupHost = modes.cgroupnsMode === 'host';
  return {
    args,
    ...(flags.entrypoint === undefined ? {} : { entrypoint: flags.entrypoint }),
    env: await containerEnvironment(flags),
    ...(flags.workdir === undefined ? {} : { workdir: flags.workdir }),
    ...(flags.user === undefined ? {} : { user: flags.user }),
    ...(flags.name === undefined ? {} : { name: flags.name }),
    ...(flags.hostname === undefined ? {} : { hostname: flags.hostname }),
    ...(flags.network === undefined ? {} : { network: flags.network }),
    ...(flags.networkAlias.length === 0 ? {} : { networkAliases: flags.networkAlias }),
    ...(flags.publish.length === 0 ? {} : { publish: flags.publish.flatMap(parsePortSpec) }),
    ...(flags.publishAll === true ? { publishAll: true } : {}),
    ...(flags.expose.length === 0 ? {} : { expose: flags.expose.flatMap(parseExposeFlag) }),
    ...(flags.volumesFrom.length === 0 ? {} : { volumesFrom: flags.volumesFrom }),
    ...(flags.ip === undefined ? {} : { ip: flags.ip }),
    ...(flags.macAddress === undefined ? {} : { macAddress: flags.macAddress }),
    ...(flags.init === true ? { init: true } : {}),
    tty: flags.tty === true,
    openStdin: flags.interactive === true,
    readOnly: flags.readOnly === true,
    volumeRequests: mountRequests(flags),
    // As docker keeps them apart from --mount: -v with a source (anonymous ones are Config.Volumes), and --tmpfs.
    binds: flags.volume.filter((spec) => {
      const request = parseVolumeFlag(spec);
      return request.kind === 'bind' || (request.kind === 'volume' && request.name !== undefined);
    }),
    tmpfs: Object.fromEntries(flags.tmpfs.map((text) => [parseTmpfsFlag(text).target, text.includes(':') ? text.slice(text.indexOf(':') + 1) : ''])),
    ...resourceOptions(flags),
    ...(flags.memorySwappiness === undefined ? {} : { memorySwappiness: integer('--memory-swappiness', flags.memorySwappiness) }),
    ...(flags.oomKillDisable === true ? { oomKillDisable: true } : {}),
    ...(flags.blkioWeight === undefined ? {} : { blkioWeight: integer('--blkio-weight', flags.blkioWeight) }),
    ...blockIOOptions(flags),
    restart: parseRestartPolicy(flags.restart ?? 'no', flags.rm === true),
    ...(flags.stopSignal === undefined ? {} : { stopSignal: flags.stopSignal }),
    ...(flags.stopTimeout === undefined ? {} : { stopTimeout: integer('--stop-timeout', flags.stopTimeout) }),
    labels: await labels(flags.label, flags.labelFile),
    ...(logConfig === undefined ? {} : { logConfig }),
    ...(health === undefined ? {} : { healthcheck: health }),
    ...(flags.runtime === undefined ? {} : { runtime: flags.runtime }),
    capAdd: flags.capAdd,
    capDrop: flags.capDrop,
    ...(flags.privileged === true ? { privileged: true } : {}),
    extraHosts: flags.addHost,
    ...(flags.dns.length === 0 ? {} : { dns: flags.dns }),
    ...(flags.dnsSearch.length === 0 ? {} : { dnsSearch: flags.dnsSearch }),
    ...(flags.dnsOption.length === 0 ? {} : { dnsOptions: flags.dnsOption }),
    groupAdd: flags.groupAdd,
    ulimits: flags.ulimit.map(parseUlimit),
    securityOpt: flags.securityOpt,
    ...(flags.shmSize === undefined ? {} : { shmSize: parseShmSize(flags.shmSize) }),
    ...(hostNamespacesOf(flags).length === 0 ? {} : { hostNamespaces: hostNamespacesOf(flags) }),
    ...(flags.device.length === 0 ? {} : { devices: flags.device }),
    ...(flags.sysctl.length === 0 ? {} : { sysctls: flags.sysctl }),
    ...(cgroupHost ? { hostNamespaces: [...hostNamespacesOf(flags), 'cgroup' as const] } : {}),
    ...modes,
    ...(flags.domainname === undefined ? {} : { domainname: flags.domainname }),
    ...(flags.oomScoreAdj === undefined ? {} : { oomScoreAdj: integer('--oom-score-adj', flags.oomScoreAdj) }),
    ...(flags.annotation.length === 0 ? {} : { annotations: keyValueMap(flags.annotation) }),
    ...(flags.link.length === 0 ? {} : { links: flags.link }),
    ...moreHostOptions(flags),
  };
}

/**
 * `--gpus` as docker's CLI reads it: `all`, a count, or CSV fields count=, device=, driver=,
 * capabilities= and options= ("device=0,1" quoted), gpu always among the capabilities.
 */
function gpuRequest(text: string): DeviceRequest {
  const fields = (text.match(/"[^"]*"|[^,]+/g) ?? []).map((field) => field.replace(/"/g, ''));
  let count = 0;
  let driver = '';
  let deviceIds: string[] | null = null;
  const capabilities = ['gpu'];
  const options: Record<string, string> = {};
  for (const field of fields) {
    const [key = '', value = ''] = field.includes('=') ? [field.slice(0, field.indexOf('=')), field.slice(field.indexOf('=') + 1)] : ['count', field];
    if (key === 'count') count = value === 'all' ? -1 : /^\d+$/.test(value) ? Number(value) : Number.NaN;
    else if (key === 'device') deviceIds = value.split(',');
    else if (key === 'driver') driver = value;
    else if (key === 'capabilities') capabilities.push(...value.split(',').filter((capability) => capability !== 'gpu'));
    else if (key === 'options') for (const option of value.split(',')) options[option.split('=')[0] ?? ''] = option.split('=').slice(1).join('=');
    else throw new TsbuildError('INVALID_ARGUMENT', `invalid argument ${JSON.stringify(text)} for "--gpus" flag: unexpected key '${key}' in '${field}'`);
    if (Number.isNaN(count)) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument ${JSON.stringify(text)} for "--gpus" flag: invalid count (${value}): value must be either "all" or an integer`);
  }
  return { Driver: driver, Count: count, DeviceIDs: deviceIds, Capabilities: [capabilities], Options: options };
}

/** docker's device cgroup rule: TYPE (a, b or c), MAJOR:MINOR (numbers or *), ACCESS (r, w, m). */
const deviceCgroupRule = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/**
 * `--cgroup-parent`, `--device-cgroup-rule`, `--kernel-memory`, `--isolation`, `--volume-driver`,
 * `--gpus`, `--storage-opt`, `--ip6`, `--link-local-ip`: checked as docker's CLI and daemon
 * check them, in their words.
 */
function moreHostOptions(flags: ContainerFlags): Partial<CreateContainerOptions> {
  for (const rule of flags.deviceCgroupRule) {
    if (!deviceCgroupRule.test(rule)) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument ${JSON.stringify(rule)} for "--device-cgroup-rule" flag: invalid device cgroup format '${rule}'`);
  }
  // Parsed as docker's CLI parses it, then dropped: docker 26's daemon ignores it (API 1.42 on).
  if (flags.kernelMemory !== undefined) parseMemorySize(flags.kernelMemory, '--kernel-memory');
  if (flags.isolation !== undefined && flags.isolation !== '' && flags.isolation.toLowerCase() !== 'default') {
    throw new DaemonError(`Invalid isolation: ${JSON.stringify(flags.isolation)} - linux only supports 'default'`);
  }
  if (flags.storageOpt.some((option) => !option.includes('='))) throw new TsbuildError('INVALID_ARGUMENT', 'invalid storage option.');
  // docker's daemon's refusals, in its words (run's ends them with a period).
  if (flags.storageOpt.length > 0) throw new DaemonError("--storage-opt is supported only for overlay over xfs with 'pquota' mount option");
  return {
    ...(flags.cgroupParent === undefined || flags.cgroupParent === '' ? {} : { cgroupParent: flags.cgroupParent }),
    ...(flags.deviceCgroupRule.length === 0 ? {} : { deviceCgroupRules: flags.deviceCgroupRule }),
    ...(flags.isolation === undefined || flags.isolation === '' ? {} : { isolation: flags.isolation }),
    ...(flags.volumeDriver === undefined || flags.volumeDriver === '' ? {} : { volumeDriver: flags.volumeDriver }),
    ...(flags.gpus === undefined ? {} : { deviceRequests: [gpuRequest(flags.gpus)] }),
    ...(flags.ip6 === undefined ? {} : { ip6: flags.ip6 }),
    ...(flags.linkLocalIp.length === 0 ? {} : { linkLocalIps: flags.linkLocalIp }),
  };
}
