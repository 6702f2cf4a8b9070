/**
 * Containers that outlive their run: `create` makes the record and the bundle, `start` hands
 * the container to a monitor process of its own (monitor.ts), and the other commands act on
 * it through the record, under its lock, and through requests the monitor takes on SIGUSR2.
 */
import { spawn } from 'node:child_process';
import { access, constants as fsConstants, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { closeSync, existsSync, openSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism, hostname as hostHostname } from 'node:os';
import { join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TsbuildError, isTsbuildError, messageOf, uniqueHex } from '../common/index.js';
import { unpackLayers, type Store } from '../store/index.js';
import {
  containerDirectory,
  currentOwner,
  newContainerId,
  ownerAlive,
  processStartTime,
  initContainerLayer,
  readContainerRecord,
  writableLayerSize,
  removeContainerDirectory,
  sharesNamespace,
  writeContainerRecord,
  type ContainerOwner,
  type AttachConfig,
  type ContainerLink,
  type DeviceRequest,
  type ContainerRecord,
  type HealthcheckConfig,
  type MonitorRequest,
  type RestartPolicy,
} from './container.js';
import { failedStartPath, findContainer, listContainerRecords, lockNames, observeState, removeContainerLock, updateContainer } from './container-store.js';
import { containerHooks } from './container-hooks.js';
import { selectRuntime } from './oci-runtime.js';
import { containerCommand, containerConfigEnv, containerEnvironment, ensureWorkingDirectory, exposedPorts, findOrPull, otherPlatformWarning, runFailureStatus, writeEtcFiles, type ContainerOptions } from './run.js';
import { defaultCgroupnsMode, privateNetworkSysctls, type ContainerDevice, type ContainerSpec, type HostNamespace, type MountSpec } from './spec.js';
import type { ResourceUpdate } from './container-update.js';
import { lookupGroup, lookupUser } from './user.js';
import { addHostLine, checkDnsServers, containerCapabilities, rlimitsOf, securityOptOf, type SecurityOptions } from './security-options.js';
import { prepareMounts, releaseContainerVolumes, type MountRequest } from './volumes/index.js';
import { volumesFromRequests } from './volumes-from.js';
import type { LogConfig } from './container-log.js';
import { supportedBlockIODevices, type BlockIODevices } from './blkio.js';
import { detachContainer, parseMacAddress, exposedPortSpecs, hostNetworkPortsWarning, portsToPublish, removeLinkHostsEntry } from './network/index.js';
import { containerCgroupPath, freezeContainer, releaseContainerCgroups, thawContainer } from './freezer.js';
import { recordContainerEvent, signalNumber } from './events.js';

/** What `create` takes: the process's options, its security and its resources (`update` changes the latter). */
export interface CreateContainerOptions extends ContainerOptions, SecurityOptions, ResourceUpdate {
  readonly openStdin?: boolean;
  /** `--mac-address`: its interface's MAC on its first network, in any of net.ParseMAC's 48-bit forms. */
  readonly macAddress?: string;
  /** docker's Config.Attach* and StdinOnce, for inspect; absent: all false. */
  readonly attach?: AttachConfig;
  /** `--memory-swappiness` (0-100; -1: the host's), `--oom-kill-disable`, `--blkio-weight` (10-1000; 0: none). */
  readonly memorySwappiness?: number;
  readonly oomKillDisable?: boolean;
  readonly blkioWeight?: number;
  /** `--blkio-weight-device`, `--device-read-bps`, `--device-write-bps`, `--device-read-iops`, `--device-write-iops`. */
  readonly blockIODevices?: BlockIODevices;
  /** Bytes of /dev/shm. */
  readonly shmSize?: number;
  /** `--sysctl KEY=VALUE`, as given. */
  readonly sysctls?: readonly string[];
  /** `--device HOST[:CONTAINER[:PERMISSIONS]]`, as given. */
  readonly devices?: readonly string[];
  /** Namespaces shared with the host (`--pid host`, `--ipc host`, `--uts host`, `--cgroupns host`). */
  readonly hostNamespaces?: readonly HostNamespace[];
  /** `--cgroupns` as given (docker's CgroupnsMode): `host` or `private`. */
  readonly cgroupnsMode?: 'host' | 'private';
  /** `--userns host`: no user namespace remapping (docker's UsernsMode), the only mode without a daemon's remap. */
  readonly usernsMode?: 'host';
  /** `--domainname`: docker's Config.Domainname, the container's NIS domain name. */
  readonly domainname?: string;
  /** `--oom-score-adj` (-1000..1000). */
  readonly oomScoreAdj?: number;
  /** `--annotation KEY=VALUE`: passed to the OCI runtime, docker's HostConfig.Annotations. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** `--link NAME[:ALIAS]`, as given. */
  readonly links?: readonly string[];
  /** `--cgroup-parent`, `--device-cgroup-rule`s (checked), `--isolation`, `--volume-driver`, `--gpus`, as given. */
  readonly cgroupParent?: string;
  readonly deviceCgroupRules?: readonly string[];
  readonly isolation?: string;
  readonly volumeDriver?: string;
  readonly deviceRequests?: readonly DeviceRequest[];
  /** `--ip6`, `--link-local-ip`s, as given. */
  readonly ip6?: string;
  readonly linkLocalIps?: readonly string[];
  readonly restart?: RestartPolicy;
  readonly logConfig?: LogConfig;
  readonly stopSignal?: string;
  /** Seconds. */
  readonly stopTimeout?: number;
  readonly labels?: Readonly<Record<string, string>>;
  /** Replaces the image's HEALTHCHECK (`['NONE']` disables it). */
  readonly healthcheck?: HealthcheckConfig;
  /** Extra OCI mounts (volumes, binds, tmpfs), after the defaults. */
  readonly mounts?: readonly MountSpec[];
  /** -v, --mount and --tmpfs: volumes made or taken, binds and tmpfs, prepared at create. */
  readonly volumeRequests?: readonly MountRequest[];
  /** The -v flags with a source (a host path or a volume's name), as given: docker's HostConfig.Binds. */
  readonly binds?: readonly string[];
  /** --tmpfs: path → options as given, docker's HostConfig.Tmpfs. */
  readonly tmpfs?: Readonly<Record<string, string>>;
  /** A network namespace to join instead of what `network` says. */
  readonly networkNamespace?: string;
  readonly portBindings?: Readonly<Record<string, readonly { readonly HostIp: string; readonly HostPort: string }[]>>;
}

export interface CreatedContainer {
  readonly record: ContainerRecord;
  /** What was asked and cannot be applied here (docker prints these as WARNING lines). */
  readonly warnings: readonly string[];
}

/** docker's rule for container names. */
const validName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

const adjectives = ['admiring', 'brave', 'clever', 'dreamy', 'eager', 'festive', 'gallant', 'happy', 'jolly', 'keen', 'lucid', 'modest', 'nifty', 'quirky', 'serene', 'tender', 'vibrant', 'wizardly', 'youthful', 'zealous'];
const surnames = ['albattani', 'babbage', 'curie', 'darwin', 'euclid', 'fermat', 'galileo', 'hopper', 'jepsen', 'kepler', 'lovelace', 'meitner', 'newton', 'noether', 'pascal', 'ritchie', 'shannon', 'thompson', 'turing', 'wozniak'];

function generatedName(taken: ReadonlySet<string>): string {
  for (let attempt = 0; ; attempt++) {
    const pick = (list: readonly string[]): string => list[Math.floor(Math.random() * list.length)] ?? 'container';
    const name = `${pick(adjectives)}_${pick(surnames)}${attempt > 10 ? `${attempt}` : ''}`;
    if (!taken.has(name)) return name;
  }
}

async function writable(path: string): Promise<boolean> {
  return access(path, fsConstants.W_OK).then(
    () => true,
    () => false,
  );
}

/** Where a cgroup v1 controller (or the unified hierarchy) can be written by this process. */
export async function cgroupWritable(controller: 'memory' | 'pids' | 'cpu' | 'cpuset'): Promise<boolean> {
  return (await writable(`/sys/fs/cgroup/${controller}`)) || ((await writable('/sys/fs/cgroup/cgroup.subtree_control')) && (await writable('/sys/fs/cgroup/cgroup.procs')));
}

/**
 * `--link NAME[:ALIAS]` as docker takes them: on the default bridge the linked container must
 * exist (its address goes in /etc/hosts at each start); on a user network it is only an alias,
 * looked for at the start.
 */
async function linksOf(store: Store, given: readonly string[], network: string): Promise<ContainerLink[]> {
  const links: ContainerLink[] = [];
  for (const text of given) {
    const [container = '', alias, ...rest] = text.split(':');
    if (container === '' || alias === '' || rest.length > 0) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${text}" for "--link" flag: bad format for links: ${text}`);
    const name = container.replace(/^\//, '');
    if (sharesNamespace(network)) throw new TsbuildError('INVALID_ARGUMENT', network === 'host' ? 'conflicting options: host type networking can\'t be used with links. This would result in undefined behavior' : 'conflicting options: container type network can\'t be used with links. This would result in undefined behavior');
    if (network === 'default' || network === 'bridge') {
      try {
        await findContainer(store, name);
      } catch (error) {
        throw new TsbuildError('NOT_FOUND', `could not get container for ${name}: No such container: ${name}`, { cause: error });
      }
    }
    links.push({ container: name, alias: alias ?? name });
  }
  return links;
}

/**
 * `--annotation`s, refused as docker's daemon refuses them; tsbuild's own keys (`org.tsbuild.*`:
 * the root's overlay options, the compiled seccomp filter) are not the caller's to give.
 */
function checkAnnotations(annotations: Readonly<Record<string, string>>): void {
  for (const key of Object.keys(annotations)) {
    if (key === '') throw new TsbuildError('INVALID_ARGUMENT', 'invalid Annotations: the empty string is not permitted as an annotation key');
    if (key.startsWith('org.tsbuild.')) throw new TsbuildError('INVALID_ARGUMENT', `invalid Annotations: ${key}: the org.tsbuild. keys are tsbuild's own`);
  }
}

/**
 * `--ip6` and `--link-local-ip`, refused as docker's daemon refuses the endpoint's settings: an
 * IPv6 address needs a user network with an IPv6 subnet, which tsbuild's networks never have.
 */
function checkEndpointSettings(options: Pick<CreateContainerOptions, 'ip6' | 'linkLocalIps' | 'network'>): void {
  const network = options.network === undefined || options.network === 'default' ? 'bridge' : options.network;
  const errors = (options.linkLocalIps ?? []).filter((address) => isIP(address) === 0).map((address) => `invalid link-local IP address: ${address}`);
  if (options.ip6 !== undefined) {
    if (isIP(options.ip6) !== 6) errors.push(`invalid IPv6 address: ${options.ip6}`);
    errors.push(network === 'bridge' || network === 'host' || network === 'none' ? 'user specified IP address is supported on user defined networks only' : 'user specified IP address is supported only when connecting to networks with user configured subnets');
  }
  if (errors.length === 0) return;
  throw new TsbuildError('INVALID_ARGUMENT', `invalid config for network ${network}: invalid endpoint settings:\n${errors.length === 1 ? (errors[0] ?? '') : errors.map((error) => `* ${error}`).join('\n')}`);
}

/**
 * `--volume-driver`: `local` is the only driver, as a docker daemon without plugins has; another
 * is refused when a volume would be made with it: a -v one (named first, as docker 26 reports),
 * an anonymous -v one or one of the image's VOLUMEs (under a random name, as docker's daemon
 * names them). --mount's volumes do not take it (docker's client warns that it ignores it there).
 */
function checkVolumeDriver(options: Pick<CreateContainerOptions, 'volumeDriver' | 'volumeRequests' | 'binds'>, imageVolumes: readonly string[] = []): void {
  const driver = options.volumeDriver ?? '';
  if (driver === '' || driver === 'local') return;
  // The -v ones: named ones are in binds, anonymous ones have no name.
  const named = (options.binds ?? []).map((bind) => bind.split(':')[0] ?? '').filter((source) => source !== '' && !source.startsWith('/') && !source.startsWith('.'));
  const anonymous = imageVolumes.length > 0 || (options.volumeRequests ?? []).some((request) => request.kind === 'volume' && request.name === undefined && request.mountFlag !== true);
  const name = named[0] ?? (anonymous ? uniqueHex(32) : undefined);
  if (name !== undefined) throw new TsbuildError('NOT_FOUND', `create ${name}: error looking up volume plugin ${driver}: plugin ${JSON.stringify(driver)} not found`);
}

/** The image's HEALTHCHECK with docker's field names, in nanoseconds. */
function imageHealthcheck(config: { Test?: readonly string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number } | undefined): HealthcheckConfig | undefined {
  if (config?.Test === undefined || config.Test.length === 0) return undefined;
  return {
    test: config.Test,
    ...(config.Interval === undefined ? {} : { interval: config.Interval }),
    ...(config.Timeout === undefined ? {} : { timeout: config.Timeout }),
    ...(config.StartPeriod === undefined ? {} : { startPeriod: config.StartPeriod }),
    ...(config.StartInterval === undefined ? {} : { startInterval: config.StartInterval }),
    ...(config.Retries === undefined ? {} : { retries: config.Retries }),
  };
}

/**
 * `docker create`: the record, the container's writable layer (its working directory made),
 * the files bound on /etc and the OCI spec (`spec.json`, turned into config.json at each start
 * with what the hooks add). Nothing is left when it fails.
 */
export async function createContainer(options: CreateContainerOptions): Promise<CreatedContainer> {
  if (options.name !== undefined && !validName.test(options.name)) {
    throw new TsbuildError('INVALID_ARGUMENT', `Invalid container name (${options.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  if (options.workdir !== undefined && !options.workdir.startsWith('/')) {
    throw new TsbuildError('INVALID_ARGUMENT', `the working directory '${options.workdir}' is invalid, it needs to be an absolute path`);
  }
  // Checked before anything is made: a bad value leaves nothing behind.
  const capabilities = await containerCapabilities(options.capAdd ?? [], options.capDrop ?? [], options.privileged === true);
  for (const entry of options.extraHosts ?? []) addHostLine(entry);
  checkDnsServers(options.dns ?? []);
  const dnsGiven = (options.dns ?? []).length + (options.dnsSearch ?? []).length + (options.dnsOptions ?? []).length > 0;
  if (dnsGiven && options.network?.startsWith('container:') === true) throw new TsbuildError('INVALID_ARGUMENT', 'conflicting options: dns and the network mode');
  const securityOpt = securityOptOf(options.securityOpt ?? []);
  const cgroupnsMode = options.cgroupnsMode ?? defaultCgroupnsMode();
  const hostNamespaces = [...(options.hostNamespaces ?? []), ...(cgroupnsMode === 'host' && options.hostNamespaces?.includes('cgroup') !== true ? ['cgroup' as const] : [])];
  const devices = await Promise.all((options.devices ?? []).map(deviceOf));
  const sysctls = sysctlsOf(options.sysctls ?? [], { hostNetwork: options.network === 'host', hostIpc: hostNamespaces.includes('ipc'), hostUts: hostNamespaces.includes('uts') });
  if (hostNamespaces.includes('uts') && options.hostname !== undefined) throw new TsbuildError('INVALID_ARGUMENT', 'conflicting options: hostname and the UTS mode');
  if (hostNamespaces.includes('pid') && (process.getuid?.() ?? 0) !== 0) {
    // A new /proc needs a PID namespace its user namespace owns; the host's is not a rootless one's.
    throw new TsbuildError('INVALID_ARGUMENT', '--pid host: not available to an unprivileged user (the host\'s /proc cannot be mounted in a user namespace)');
  }
  if (options.oomScoreAdj !== undefined && (options.oomScoreAdj < -1000 || options.oomScoreAdj > 1000)) {
    throw new TsbuildError('INVALID_ARGUMENT', `Invalid value ${options.oomScoreAdj}, range for oom score adj is [-1000, 1000]`);
  }
  checkAnnotations(options.annotations ?? {});
  checkRealtime(options);
  checkEndpointSettings(options);
  checkVolumeDriver(options);
  if (options.domainname !== undefined && hostNamespaces.includes('uts')) throw new TsbuildError('INVALID_ARGUMENT', 'conflicting options: domainname and the UTS mode');
  const links = await linksOf(options.store, options.links ?? [], options.network ?? 'default');
  const restart = options.restart ?? { name: 'no', maximumRetryCount: 0 };
  if (options.autoRemove && restart.name !== 'no') throw new TsbuildError('INVALID_ARGUMENT', 'Conflicting options: --restart and --rm');
  const runtimeName = options.runtime === undefined || options.runtime === 'shim' ? 'runtime-shim' : options.runtime;
  // Fails early, before anything is made, when the runtime-shim is not built.
  selectRuntime(runtimeName);
  const { store } = options;
  // Fails early, before anything is made, when the name is taken.
  if (options.name !== undefined) await assertNameFree(store, options.name);
  const { name: imageName, image } = await findOrPull(options);
  const fullImageConfig = await image.config();
  const imageConfig = fullImageConfig.config;
  checkVolumeDriver(options, Object.keys(imageConfig?.Volumes ?? {}));
  const args = containerCommand(imageConfig, options);
  const workdir = posix.normalize(options.workdir ?? (imageConfig?.WorkingDir === undefined || imageConfig.WorkingDir === '' ? '/' : imageConfig.WorkingDir));
  if (!workdir.startsWith('/')) throw new TsbuildError('INVALID_ARGUMENT', `the working directory '${workdir}' is invalid, it needs to be an absolute path`);
  const layers = await image.layers();
  // As run's: an interrupt stops the unpack at its next chunk (a small layer may be a bomb).
  const lower = await unpackLayers(store, layers.map((layer) => layer.descriptor()), layers.map((layer) => layer.diffID()), options.signal === undefined ? {} : { signal: options.signal });
  options.signal?.throwIfAborted();

  const anonymousMounts = (options.volumeRequests ?? []).flatMap((request) => (request.kind === 'volume' && request.name === undefined && request.mountFlag === true ? [request.target] : []));
  const warnings: string[] = [];
  if (options.network === 'host' && (options.publish ?? []).length > 0) warnings.push(hostNetworkPortsWarning);
  let memory = options.memory ?? 0;
  let pidsLimit = options.pidsLimit ?? 0;
  let { memorySwap, memoryReservation } = memoryLimits(memory, options);
  if ((memory > 0 || memoryReservation > 0) && !(await cgroupWritable('memory'))) {
    warnings.push('Your kernel does not support memory limit capabilities or the cgroup is not mounted (or not writable here). Limitation discarded.');
    memory = 0;
    memorySwap = 0;
    memoryReservation = 0;
  }
  if (pidsLimit > 0 && !(await cgroupWritable('pids'))) {
    warnings.push('Your kernel does not support pids limit capabilities or the cgroup is not mounted (or not writable here). PIDs limit discarded.');
    pidsLimit = 0;
  }
  const tuning = await memoryTuning(options, memory, warnings);
  const blockIODevices = options.blockIODevices === undefined ? {} : await supportedBlockIODevices(options.blockIODevices, warnings);
  let cpu = cpuLimits(options);
  if (cpu !== undefined && !(await cgroupWritable('cpu'))) {
    warnings.push('Your kernel does not support CPU CFS scheduler or the cgroup is not mounted (or not writable here). CPU limits discarded.');
    cpu = undefined;
  }
  let cpuset = await cpusetOf(options);
  if (cpuset !== undefined && !(await cgroupWritable('cpuset'))) {
    warnings.push('Your kernel does not support cpuset or the cgroup is not mounted (or not writable here). Cpuset discarded.');
    cpuset = undefined;
  }
  // After the settings' warnings, as moby's create gives it.
  const platformWarning = options.platform === undefined ? otherPlatformWarning(fullImageConfig) : undefined;
  if (platformWarning !== undefined) warnings.push(platformWarning);

  const id = await newContainerId();
  const network = options.network ?? 'default';
  const exposed = exposedPorts(imageConfig?.ExposedPorts, options);
  const publish = portsToPublish(options.publish ?? [], options.publishAll === true ? exposedPortSpecs(exposed) : []);
  const hostname = options.hostname ?? (network === 'host' || hostNamespaces.includes('uts') ? hostHostname() : id.slice(0, 12));
  const tty = options.tty === true;
  const userSpec = options.user ?? imageConfig?.User ?? '';
  const directory = containerDirectory(store, id);
  const healthcheck = options.healthcheck ?? imageHealthcheck(imageConfig?.Healthcheck);
  const names = await lockNames(store);
  let record: ContainerRecord;
  try {
    const taken = new Set((await listContainerRecords(store)).map((existing) => existing.name).filter((name): name is string => name !== undefined));
    if (options.name !== undefined && taken.has(options.name)) throw nameInUse(options.name, (await findContainer(store, options.name)).id);
    await mkdir(directory, { recursive: true, mode: 0o700 });
    record = {
      id,
      created: new Date().toISOString(),
      image: { ...(imageName === undefined ? {} : { name: imageName }), manifest: image.descriptor().digest, id: (await image.manifest()).config.digest },
      path: args[0] ?? '',
      args: args.slice(1),
      name: options.name ?? generatedName(taken),
      config: {
        hostname,
        env: [],
        workingDir: workdir,
        user: userSpec,
        tty,
        openStdin: options.openStdin === true,
        ...(options.attach === undefined ? {} : { attach: options.attach }),
        network,
        ...(options.networkAliases === undefined || options.networkAliases.length === 0 ? {} : { networkAliases: [...options.networkAliases] }),
        ...(Object.keys(exposed).length === 0 ? {} : { exposedPorts: Object.keys(exposed) }),
        ...(options.ip === undefined ? {} : { ipAddress: options.ip }),
        ...(options.linkLocalIps === undefined ? {} : { linkLocalIps: [...options.linkLocalIps] }),
        ...(options.macAddress === undefined || options.macAddress === '' ? {} : { macAddress: checkedMacAddress(options.macAddress) }),
        // As given (a path keeps its directory): the monitor starts the same runtime from it.
        runtime: runtimeName,
        image: options.image,
        ...(options.entrypoint !== undefined ? { entrypoint: options.entrypoint === '' ? [] : [options.entrypoint] } : imageConfig?.Entrypoint == null ? {} : { entrypoint: imageConfig.Entrypoint }),
        ...(options.args !== undefined && options.args.length > 0 ? { cmd: options.args } : options.entrypoint === undefined && imageConfig?.Cmd != null ? { cmd: imageConfig.Cmd } : {}),
        labels: { ...(imageConfig?.Labels ?? {}), ...(options.labels ?? {}) },
        ...(options.stopSignal !== undefined ? { stopSignal: options.stopSignal } : imageConfig?.StopSignal === undefined ? {} : { stopSignal: imageConfig.StopSignal }),
        ...(options.stopTimeout === undefined ? {} : { stopTimeout: options.stopTimeout }),
        ...(healthcheck === undefined ? {} : { healthcheck }),
        ...(options.domainname === undefined || options.domainname === '' ? {} : { domainname: options.domainname }),
      },
      hostConfig: {
        cgroupnsMode,
        ...(options.cgroupParent === undefined ? {} : { cgroupParent: options.cgroupParent }),
        ...(options.deviceCgroupRules === undefined ? {} : { deviceCgroupRules: [...options.deviceCgroupRules] }),
        ...(options.isolation === undefined ? {} : { isolation: options.isolation }),
        ...(options.volumeDriver === undefined ? {} : { volumeDriver: options.volumeDriver }),
        ...(options.deviceRequests === undefined ? {} : { deviceRequests: options.deviceRequests }),
        ...(options.usernsMode === undefined ? {} : { usernsMode: options.usernsMode }),
        ...(options.oomScoreAdj === undefined || options.oomScoreAdj === 0 ? {} : { oomScoreAdj: options.oomScoreAdj }),
        // Sorted by key, as docker's JSON writes its map.
        ...(links.length === 0 ? {} : { links }),
        ...(options.annotations === undefined || Object.keys(options.annotations).length === 0 ? {} : { annotations: Object.fromEntries(Object.entries(options.annotations).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) }),
        restartPolicy: restart,
        ...(options.logConfig === undefined ? {} : { logConfig: options.logConfig }),
        init: options.init === true,
        readonlyRootfs: options.readOnly === true,
        memory,
        ...(memorySwap === 0 ? {} : { memorySwap }),
        ...(memoryReservation === 0 ? {} : { memoryReservation }),
        ...tuning,
        ...(Object.keys(blockIODevices).length === 0 ? {} : { blockIODevices }),
        pidsLimit,
        ...(cpu === undefined ? {} : cpuHostConfig(options)),
        ...(cpuset?.cpus === undefined ? {} : { cpusetCpus: cpuset.cpus }),
        ...(cpuset?.mems === undefined ? {} : { cpusetMems: cpuset.mems }),
        ...(options.shmSize === undefined ? {} : { shmSize: options.shmSize }),
        ...(hostNamespaces.length === 0 ? {} : { hostNamespaces }),
        ...(devices.length === 0 ? {} : { devices }),
        ...(Object.keys(sysctls).length === 0 ? {} : { sysctls }),
        mounts: [...(options.mounts ?? [])],
        ...(options.networkNamespace === undefined ? {} : { networkNamespace: options.networkNamespace }),
        ...(options.portBindings === undefined ? {} : { portBindings: options.portBindings }),
        ...(publish.length === 0 ? {} : { publish }),
        ...(options.publishAll === true ? { publishAll: true } : {}),
        ...(options.binds === undefined || options.binds.length === 0 ? {} : { binds: [...options.binds] }),
        ...(anonymousMounts.length === 0 ? {} : { anonymousMounts: [...anonymousMounts] }),
        ...(options.tmpfs === undefined || Object.keys(options.tmpfs).length === 0 ? {} : { tmpfs: { ...options.tmpfs } }),
        ...(options.capAdd === undefined || options.capAdd.length === 0 ? {} : { capAdd: [...options.capAdd] }),
        ...(options.capDrop === undefined || options.capDrop.length === 0 ? {} : { capDrop: [...options.capDrop] }),
        ...(options.privileged === true ? { privileged: true } : {}),
        ...(options.extraHosts === undefined || options.extraHosts.length === 0 ? {} : { extraHosts: [...options.extraHosts] }),
        ...(options.groupAdd === undefined || options.groupAdd.length === 0 ? {} : { groupAdd: [...options.groupAdd] }),
        ...(options.ulimits === undefined || options.ulimits.length === 0 ? {} : { ulimits: [...options.ulimits] }),
        ...(options.securityOpt === undefined || options.securityOpt.length === 0 ? {} : { securityOpt: [...options.securityOpt] }),
        ...(options.dns === undefined || options.dns.length === 0 ? {} : { dns: [...options.dns] }),
        ...(options.dnsSearch === undefined || options.dnsSearch.length === 0 ? {} : { dnsSearch: [...options.dnsSearch] }),
        ...(options.dnsOptions === undefined || options.dnsOptions.length === 0 ? {} : { dnsOptions: [...options.dnsOptions] }),
      },
      ...(lower === undefined ? {} : { lower }),
      restartCount: 0,
      autoRemove: options.autoRemove,
      owner: await currentOwner(),
      state: { status: 'created' },
    };
    await writeContainerRecord(store, record);
  } finally {
    await names.release();
  }
  try {
    let imageRoot = lower;
    if (imageRoot === undefined) {
      // An image without layers: overlayfs still wants a lower directory.
      imageRoot = join(directory, 'empty');
      await mkdir(imageRoot, { mode: 0o755 });
      record = { ...record, lower: imageRoot };
    }
    const imageVolumes = Object.keys(imageConfig?.Volumes ?? {});
    const requests = [...(await volumesFromRequests(store, options.volumesFrom ?? [], options.volumeRequests ?? [])), ...(options.volumeRequests ?? [])];
    if (requests.length > 0 || imageVolumes.length > 0) {
      // The container's folder exists from here: the volumes' use records count from now on.
      const prepared = await prepareMounts({ store, container: id, requests, imageVolumes, root: imageRoot });
      const hostConfig = record.hostConfig;
      if (hostConfig !== undefined) record = { ...record, hostConfig: { ...hostConfig, mounts: [...prepared.mounts, ...hostConfig.mounts] } };
    }
    const upper = join(directory, 'upper');
    await Promise.all([mkdir(join(directory, 'rootfs'), { mode: 0o755 }), mkdir(upper, { mode: 0o755 }), mkdir(join(directory, 'work'), { mode: 0o700 })]);
    initContainerLayer(imageRoot, upper);
    const user = await lookupUser(imageRoot, userSpec);
    const added = await Promise.all((options.groupAdd ?? []).map((group) => lookupGroup(imageRoot as string, group)));
    await ensureWorkingDirectory(imageRoot, upper, workdir);
    const env = containerEnvironment(imageConfig?.Env, options.env ?? [], { hostname, tty, home: user.home });
    const rlimits = rlimitsOf(options.ulimits ?? []);
    const spec: ContainerSpec = {
      args,
      env,
      cwd: workdir,
      user: { uid: user.uid, gid: user.gid, additionalGids: [...new Set([user.gid, ...user.additionalGids, ...added])] },
      hostname,
      rootfs: join(directory, 'rootfs'),
      readonlyRootfs: options.readOnly === true,
      capabilities,
      ...(options.privileged === true ? { unmasked: true, allDevices: true } : {}),
      ...(securityOpt.seccomp ? {} : { seccomp: false }),
      ...(securityOpt.noNewPrivileges ? { noNewPrivileges: true } : {}),
      ...(rlimits === undefined ? {} : { rlimits }),
      mounts: await writeEtcFiles(directory, hostname, network, undefined, options),
      network: network === 'none' ? 'none' : 'host',
      terminal: tty,
      ...(options.init === true ? { init: true } : {}),
      ...(memory > 0 ? { memoryLimit: memory } : {}),
      ...(memory > 0 && memorySwap !== 0 ? { memorySwap } : {}),
      ...(memoryReservation > 0 ? { memoryReservation } : {}),
      ...tuning,
      ...(pidsLimit > 0 ? { pidsLimit } : {}),
      ...(cpu === undefined && cpuset === undefined ? {} : { cpu: { ...cpu, ...cpuset } }),
      ...(options.shmSize === undefined ? {} : { shmSize: options.shmSize }),
      ...(hostNamespaces.length === 0 ? {} : { hostNamespaces }),
      ...(devices.length === 0 ? {} : { devices }),
      ...(options.privileged === true ? {} : { dockerDevices: true }),
      ...(options.deviceCgroupRules === undefined ? {} : { deviceRules: options.deviceCgroupRules.map(deviceRuleOf) }),
      ...(options.cgroupParent === undefined ? {} : { cgroupsPath: `/${containerCgroupPath(id, options.cgroupParent)}` }),
      // docker's defaults for a network namespace of its own (not in inspect's HostConfig), then --sysctl's.
      sysctls: { ...privateNetworkSysctls(network), ...sysctls },
      ...(options.domainname === undefined || options.domainname === '' ? {} : { domainname: options.domainname }),
      ...(options.oomScoreAdj === undefined || options.oomScoreAdj === 0 ? {} : { oomScoreAdj: options.oomScoreAdj }),
      ...(options.annotations === undefined || Object.keys(options.annotations).length === 0 ? {} : { annotations: options.annotations }),
      // The monitor mounts the overlay: in the user namespace of a rootless tsbuild it is root.
      rootless: false,
    };
    await writeFile(join(directory, 'spec.json'), `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o600 });
    // docker's Config.Volumes: the image's VOLUMEs and the anonymous volumes asked for with -v (`-v /data`); --mount's are in HostConfig.Mounts.
    const anonymous = (options.volumeRequests ?? []).flatMap((request) => (request.kind === 'volume' && request.name === undefined && request.mountFlag !== true ? [request.target] : []));
    const volumes = [...new Set([...imageVolumes, ...anonymous])];
    record = { ...record, config: { ...record.config, env, configEnv: containerConfigEnv(imageConfig?.Env, options.env ?? []), ...(volumes.length === 0 ? {} : { volumes }) } };
    await writeContainerRecord(store, record);
    return { record, warnings };
  } catch (error) {
    await releaseContainerVolumes(store, id, { removeAnonymous: true }).catch(() => undefined);
    await removeContainerDirectory(directory).catch(() => undefined);
    throw error;
  }
}

/** `--mac-address`, refused in docker's words when it is no 48-bit MAC address; kept as given. */
function checkedMacAddress(text: string): string {
  if (parseMacAddress(text) === undefined) throw new TsbuildError('INVALID_ARGUMENT', `${text} is not a valid mac address`);
  return text;
}

function nameInUse(name: string, id: string): TsbuildError {
  return new TsbuildError('CLOBBER', `Conflict. The container name "/${name}" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`);
}

async function assertNameFree(store: Store, name: string): Promise<void> {
  const holder = (await listContainerRecords(store)).find((record) => record.name === name);
  if (holder !== undefined) throw nameInUse(name, holder.id);
}

/** The spec written by `create`, with the mounts and network namespace the container is given now. */
export function specForStart(spec: ContainerSpec, record: ContainerRecord, extra: { readonly mounts?: readonly MountSpec[]; readonly networkNamespace?: string; readonly loopbackOnly?: boolean } = {}): ContainerSpec {
  const networkNamespace = extra.networkNamespace ?? record.hostConfig?.networkNamespace;
  return {
    ...spec,
    mounts: [...(spec.mounts ?? []), ...(record.hostConfig?.mounts ?? []), ...(extra.mounts ?? [])],
    ...(extra.loopbackOnly === true ? { network: 'none' as const } : networkNamespace === undefined ? {} : { network: { path: networkNamespace } }),
  };
}

export interface StartContainerOptions {
  /** argv of the monitor process, the container's ID appended (the CLI's own hidden command). */
  readonly monitorCommand: readonly string[];
  readonly environment?: NodeJS.ProcessEnv;
}

/** The record once the container runs (its first process started) or ended; rejects when it could not run. */
export async function startContainer(store: Store, nameOrId: string, options: StartContainerOptions): Promise<ContainerRecord> {
  const found = await findContainer(store, nameOrId);
  // `--gpus`: docker's daemon finds no driver for the request when none is installed, as here.
  const request = found.hostConfig?.deviceRequests?.[0];
  if (request !== undefined) throw new TsbuildError('RUNTIME', `could not select device driver ${JSON.stringify(request.Driver)} with capabilities: [${request.Capabilities.map((set) => `[${set.join(' ')}]`).join(' ')}]`);
  // Times in records are ISO strings to the millisecond: an end in the same millisecond counts.
  const requested = Date.now() - 1;
  let spawned = false;
  await updateContainer(store, found.id, async (record) => {
    const observed = await observeState(record);
    if (observed.running || observed.status === 'restarting') return undefined;
    if (observed.status === 'dead') throw new TsbuildError('RUNTIME', `start container ${nameOrId}: its monitor died while it ran; remove it with rm -f`);
    // Another start got there first: its monitor is starting the container.
    if (record.state.monitor !== undefined && (await ownerAlive(record.state.monitor))) {
      spawned = true;
      return undefined;
    }
    const [command, ...args] = options.monitorCommand;
    if (command === undefined) throw new TsbuildError('INTERNAL', 'start container: no monitor command');
    const log = openSync(join(containerDirectory(store, record.id), 'monitor.log'), 'a', 0o600);
    let pid: number | undefined;
    try {
      // Its own session (setsid): the monitor outlives this process and its terminal.
      const child = spawn(command, [...args, record.id], { detached: true, stdio: ['ignore', log, log], env: options.environment ?? process.env });
      child.unref();
      pid = child.pid;
    } finally {
      closeSync(log);
    }
    if (pid === undefined) throw new TsbuildError('RUNTIME', `start container ${nameOrId}: the monitor could not be started`);
    spawned = true;
    const { error: _error, pid: _pid, requests: _requests, ...state } = record.state;
    return { ...record, state: { ...state, monitor: { pid, startTime: (await processStartTime(pid)) ?? '' }, stoppedByUser: false } };
  });
  if (!spawned) return readContainerRecord(store, found.id).then((record) => record ?? found);
  return waitForStart(store, found.id, nameOrId, requested);
}

/**
 * Whether the start asked for at REQUESTED (ms since the epoch) is over without the container
 * running: it ended since (an earlier end is the last run's), waits to restart, or its process
 * could not start (a container that never ran stays created, with the error this start's
 * monitor recorded after startContainer cleared the last one).
 */
function startEnded(record: ContainerRecord, requested: number): boolean {
  const { status, error, finishedAt } = record.state;
  if (status === 'restarting') return true;
  if (status === 'created') return error !== undefined && error !== '';
  return status === 'exited' && finishedAt !== undefined && Date.parse(finishedAt) >= requested;
}

/**
 * A start's failure, with the status docker's CLI gives it: 126 and 127 for the command;
 * a setup failure (its daemon's 128) by its words, as the CLI's toStatusError reads them (a
 * volume's missing device: "no such file or directory", 127); 125 otherwise.
 */
export function startError(error: string, exitCode: number | undefined): TsbuildError {
  const status = exitCode === 126 || exitCode === 127 ? exitCode : runFailureStatus(new TsbuildError('RUNTIME', error));
  return new TsbuildError('RUNTIME', error, { cause: { exitCode: status } });
}

/** Until the container runs, or its start ended (`startEnded`). */
async function waitForStart(store: Store, id: string, nameOrId: string, requested: number): Promise<ContainerRecord> {
  const deadline = Date.now() + 60_000;
  let last: ContainerRecord | undefined;
  for (;;) {
    const record = await readContainerRecord(store, id);
    // A --rm container may be gone already: it ran and ended.
    if (record === undefined) return removedWhileStarting(store, id, nameOrId, last);
    last = record;
    const { status, pid, error } = record.state;
    if (status === 'running' && pid !== undefined) return record;
    if (startEnded(record, requested)) {
      // A --rm container's monitor leaves the error beside the record too: taken once it is gone.
      if (record.autoRemove && error !== undefined && error !== '' && Date.now() < deadline) {
        await sleep(10);
        continue;
      }
      if (error !== undefined && error !== '') throw startError(error, record.state.exitCode);
      return record;
    }
    if (record.state.monitor === undefined || !(await ownerAlive(record.state.monitor))) {
      const after = await readContainerRecord(store, id);
      // Gone: a --rm container that ran and was removed by its monitor.
      if (after === undefined) return removedWhileStarting(store, id, nameOrId, record);
      if (startEnded(after, requested)) {
        if (after.state.error !== undefined && after.state.error !== '') throw startError(after.state.error, after.state.exitCode);
        return after;
      }
      throw new TsbuildError('RUNTIME', `start container ${nameOrId}: its monitor ended before it ran (see ${join(containerDirectory(store, id), 'monitor.log')})`);
    }
    if (Date.now() > deadline) throw new TsbuildError('RUNTIME', `start container ${nameOrId}: not running after 60 seconds`);
    await sleep(10);
  }
}

/**
 * The error a --rm container's monitor left when the container could not run, and removed it:
 * taken (read and deleted), for the one command that waits for that start.
 */
export async function takeFailedStart(store: Store, id: string): Promise<{ readonly error: string; readonly exitCode: number } | undefined> {
  const path = failedStartPath(store, id);
  const failed = await readFile(path, 'utf8').then(
    (text) => JSON.parse(text) as { error: string; exitCode: number },
    () => undefined,
  );
  await rm(path, { force: true });
  return failed;
}

/** A --rm container removed by its monitor before its start was seen: its error, if it could not run. */
async function removedWhileStarting(store: Store, id: string, nameOrId: string, last: ContainerRecord | undefined): Promise<ContainerRecord> {
  const failed = await takeFailedStart(store, id);
  if (failed !== undefined) throw startError(failed.error, failed.exitCode);
  if (last === undefined) throw new TsbuildError('NOT_FOUND', `start container ${nameOrId}: it ended and was removed`);
  return last;
}

/** Hands REQUEST to the container's monitor; resolves once it took it. */
async function requestMonitor(store: Store, record: ContainerRecord, request: MonitorRequest, stoppedByUser: boolean): Promise<boolean> {
  const updated = await updateContainer(store, record.id, (current) =>
    current.state.monitor === undefined ? undefined : { ...current, state: { ...current.state, requests: [...(current.state.requests ?? []), request], ...(stoppedByUser ? { stoppedByUser: true } : {}) } },
  );
  const monitor = updated.state.monitor;
  if (monitor === undefined || !(await ownerAlive(monitor))) return false;
  try {
    process.kill(monitor.pid, 'SIGUSR2');
  } catch {
    return false;
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const current = await readContainerRecord(store, record.id);
    if (current === undefined || !(current.state.requests ?? []).some((pending) => pending.id === request.id)) return true;
    if (current.state.monitor === undefined || !(await ownerAlive(current.state.monitor))) return false;
    await sleep(10);
  }
  throw new TsbuildError('RUNTIME', `signal container ${record.name ?? record.id}: its monitor did not answer`);
}

/** Until the container's monitor is gone (it ended for good), or the deadline. */
async function waitForMonitorExit(store: Store, id: string, deadline: number): Promise<void> {
  for (;;) {
    const record = await readContainerRecord(store, id);
    if (record === undefined) return;
    const monitor = record.state.monitor;
    if (monitor === undefined || !(await ownerAlive(monitor))) return;
    if (Date.now() > deadline) throw new TsbuildError('RUNTIME', `stop container ${record.name ?? id}: still running`);
    await sleep(20);
  }
}

export function normalizeSignal(signal: string): string {
  const upper = signal.toUpperCase();
  if (/^\d+$/.test(upper)) return upper;
  return upper.startsWith('SIG') ? upper : `SIG${upper}`;
}

/** `docker pause`: every process of the running container frozen (cgroup freezer). */
export async function pauseContainer(store: Store, nameOrId: string, options: { readonly holder?: ContainerOwner } = {}): Promise<ContainerRecord> {
  const found = await findContainer(store, nameOrId);
  return updateContainer(store, found.id, async (record) => {
    const observed = await observeState(record);
    if (observed.status === 'paused') throw new TsbuildError('INVALID_ARGUMENT', `container ${record.id} is already paused`);
    if (!observed.running || record.state.pid === undefined) throw new TsbuildError('INVALID_ARGUMENT', `container ${record.id} is not running`);
    // The holder first: a command killed between the freeze and the record's write leaves a
    // container the next look thaws.
    const { pausedBy: _pausedBy, ...state } = record.state;
    const frozen = { ...record, state: { ...state, paused: true, ...(options.holder === undefined ? {} : { pausedBy: options.holder }) } };
    if (options.holder !== undefined) await writeContainerRecord(store, frozen);
    try {
      await freezeContainer(record.id, record.state.pid, record.hostConfig?.cgroupParent);
    } catch (error) {
      // Nothing stays frozen when the freeze fails: neither does the record say so.
      if (options.holder !== undefined) await writeContainerRecord(store, record);
      throw error;
    }
    return frozen;
  });
}

/** `docker unpause`. */
export async function unpauseContainer(store: Store, nameOrId: string): Promise<ContainerRecord> {
  const found = await findContainer(store, nameOrId);
  return updateContainer(store, found.id, async (record) => {
    const observed = await observeState(record);
    if (observed.status !== 'paused') throw new TsbuildError('INVALID_ARGUMENT', `Container ${record.id} is not paused`);
    await thawContainer(record.id, record.hostConfig?.cgroupParent);
    const { paused: _paused, pausedBy: _pausedBy, ...state } = record.state;
    return { ...record, state };
  });
}

/** A paused container resumed, so that a signal (stop, kill, rm -f) reaches its processes. */
async function resumeForSignal(store: Store, record: ContainerRecord): Promise<void> {
  if (record.state.paused !== true) return;
  await unpauseContainer(store, record.id).catch((error: unknown) => {
    if (!(error instanceof TsbuildError && error.code === 'INVALID_ARGUMENT')) throw error;
  });
}

/**
 * The record once a start in progress is over: a monitor that lives while the record says
 * neither running nor restarting is starting the container (or ending for good). Until it has
 * done so a stop or a removal would not reach what it starts, which would then outlive them
 * (docker's daemon holds the container's lock through a start).
 */
async function startSettled(store: Store, record: ContainerRecord): Promise<ContainerRecord> {
  const deadline = Date.now() + 60_000;
  let current = record;
  for (;;) {
    const { status, monitor } = current.state;
    if (status === 'running' || status === 'restarting' || monitor === undefined || Date.now() > deadline || !(await ownerAlive(monitor))) return current;
    await sleep(20);
    const next = await readContainerRecord(store, record.id);
    if (next === undefined) return current;
    current = next;
  }
}

/** `docker stop`: the stop signal, then SIGKILL after the timeout; the restart policy no longer applies. */
export async function stopContainer(store: Store, nameOrId: string, options: { readonly timeoutSeconds?: number; readonly signal?: string } = {}): Promise<ContainerRecord> {
  const record = await startSettled(store, await findContainer(store, nameOrId));
  const observed = await observeState(record);
  if (!observed.running && observed.status !== 'restarting') return record;
  await resumeForSignal(store, record);
  const timeoutSeconds = options.timeoutSeconds ?? record.config.stopTimeout ?? 10;
  const signal = normalizeSignal(options.signal ?? record.config.stopSignal ?? 'SIGTERM');
  await recordContainerEvent(store.root, record, 'kill', { signal: signalNumber(signal) });
  await requestMonitor(store, record, { id: uniqueHex(8), kind: 'stop', signal, timeoutSeconds }, true);
  await waitForMonitorExit(store, record.id, Date.now() + (timeoutSeconds < 0 ? 3600 : timeoutSeconds) * 1000 + 30_000);
  const stopped = (await readContainerRecord(store, record.id)) ?? record;
  await recordContainerEvent(store.root, stopped, 'stop');
  return stopped;
}

/** `docker kill`: a signal (SIGKILL by default) to the container's first process. */
export async function killContainer(store: Store, nameOrId: string, signal = 'SIGKILL'): Promise<ContainerRecord> {
  const record = await findContainer(store, nameOrId);
  const observed = await observeState(record);
  if (!observed.running && observed.status !== 'restarting') throw new TsbuildError('INVALID_ARGUMENT', `cannot kill container: ${nameOrId}: container ${record.id} is not running`);
  const name = normalizeSignal(signal);
  await resumeForSignal(store, record);
  await recordContainerEvent(store.root, record, 'kill', { signal: signalNumber(name) });
  await requestMonitor(store, record, { id: uniqueHex(8), kind: 'kill', signal: name }, name === 'SIGKILL');
  return record;
}

/** Ends what is left of a container whose monitor died: its first process (the whole pid namespace with it). */
function killOrphan(record: ContainerRecord): void {
  for (const pid of [record.state.pid, record.state.runtimePid]) {
    if (pid === undefined || pid <= 0) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

/** `docker rm [-f] [-v]`. */
export async function removeContainer(store: Store, nameOrId: string, options: { readonly force?: boolean; readonly volumes?: boolean } = {}): Promise<ContainerRecord> {
  const record = await startSettled(store, await findContainer(store, nameOrId));
  const observed = await observeState(record);
  if (observed.running || observed.status === 'restarting' || observed.monitorDied) {
    if (options.force !== true) {
      throw new TsbuildError('INVALID_ARGUMENT', `cannot remove container "/${record.name ?? record.id}": container is ${observed.status}: stop the container before removing or force remove`);
    }
    await resumeForSignal(store, record);
    if (observed.monitorDied) killOrphan(record);
    else {
      await recordContainerEvent(store.root, record, 'kill', { signal: signalNumber('SIGKILL') });
      await requestMonitor(store, record, { id: uniqueHex(8), kind: 'kill', signal: 'SIGKILL' }, true).catch(() => false);
      await waitForMonitorExit(store, record.id, Date.now() + 30_000);
    }
  }
  const hooksOptions = { volumes: options.volumes === true };
  await updateContainer(store, record.id, async (current) => {
    for (const hook of containerHooks()) await hook.remove?.(current, hooksOptions);
    // As docker: the volumes made for it without a name go with `rm -v`; the others stay.
    await releaseContainerVolumes(store, record.id, { removeAnonymous: options.volumes === true });
    // Its monitor detaches it when it ends; one that died could not.
    await detachContainer(store, record.id);
    await removeContainerDirectory(containerDirectory(store, record.id));
    return undefined;
  }).catch((error: unknown) => {
    // Removed meanwhile by its own monitor (--rm): what was asked is done.
    if (!(error instanceof TsbuildError && error.code === 'NOT_FOUND')) throw error;
  });
  await removeContainerLock(store, record.id);
  await releaseContainerCgroups(record.id, record.hostConfig?.cgroupParent);
  return record;
}

/** `docker rename`. */
export async function renameContainer(store: Store, nameOrId: string, newName: string): Promise<void> {
  if (!validName.test(newName)) throw new TsbuildError('INVALID_ARGUMENT', `Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  const names = await lockNames(store);
  try {
    const record = await findContainer(store, nameOrId);
    if (record.name === newName) throw new TsbuildError('INVALID_ARGUMENT', `Renaming a container with the same name as its current name`);
    await assertNameFree(store, newName).catch((error: unknown) => {
      // docker's daemon says what it was doing before the conflict.
      throw isTsbuildError(error, 'CLOBBER') ? new TsbuildError('CLOBBER', `Error when allocating new name: ${error.message}`) : error;
    });
    await updateContainer(store, record.id, (current) => ({ ...current, name: newName }));
  } finally {
    await names.release();
  }
}

/** `docker wait`: the exit code once the container ended. */
export async function waitContainer(store: Store, nameOrId: string, signal?: AbortSignal): Promise<number> {
  const { id } = await findContainer(store, nameOrId);
  for (;;) {
    signal?.throwIfAborted();
    const record = await readContainerRecord(store, id);
    if (record === undefined) return 0;
    const observed = await observeState(record);
    if (observed.status === 'exited' || observed.status === 'dead') return record.state.exitCode ?? (observed.status === 'dead' ? 137 : 0);
    await sleep(50);
  }
}

/**
 * `container prune`: every container that does not run (and SELECT takes, a `--filter`), removed;
 * their IDs and what their writable layers held, as docker's daemon reports the space reclaimed.
 */
export async function pruneContainers(store: Store, select?: (record: ContainerRecord) => boolean): Promise<{ readonly removed: string[]; readonly bytesFreed: number }> {
  const removed: string[] = [];
  let bytesFreed = 0;
  for (const record of await listContainerRecords(store)) {
    if (record.hostConfig === undefined || (select !== undefined && !select(record))) continue;
    const observed = await observeState(record);
    if (observed.status !== 'exited' && observed.status !== 'created') continue;
    const size = await writableLayerSize(store, record.id).catch(() => 0);
    await removeContainer(store, record.id);
    removed.push(record.id);
    bytesFreed += size;
  }
  return { removed, bytesFreed };
}

/**
 * `--device HOST[:CONTAINER[:PERMISSIONS]]` as docker takes it: HOST must be a device node (its
 * type and numbers are read now, for the device cgroup), CONTAINER defaults to HOST, the
 * permissions to `rwm`.
 */
async function deviceOf(text: string): Promise<ContainerDevice> {
  const [hostPath = '', second, third, ...rest] = text.split(':');
  const permissions = third ?? (second !== undefined && /^[rwm]+$/.test(second) ? second : 'rwm');
  const path = second !== undefined && !/^[rwm]+$/.test(second) ? second : hostPath;
  if (rest.length > 0 || !hostPath.startsWith('/') || !path.startsWith('/') || !/^[rwm]+$/.test(permissions)) {
    throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${text}" for "--device" flag: bad format for path: ${text}`);
  }
  const info = await stat(hostPath, { bigint: true }).catch((error: unknown) => {
    throw new TsbuildError('INVALID_ARGUMENT', `error gathering device information while adding custom device "${hostPath}": ${messageOf(error)}`);
  });
  if (!info.isCharacterDevice() && !info.isBlockDevice()) throw new TsbuildError('INVALID_ARGUMENT', `error gathering device information while adding custom device "${hostPath}": not a device node`);
  const rdev = info.rdev;
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { hostPath, path: posix.normalize(path), type: info.isCharacterDevice() ? 'c' : 'b', major, minor, access: permissions };
}

/** The IPC namespace's sysctls docker takes; `fs.mqueue.*` too. */
const ipcSysctls = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

/**
 * `--sysctl KEY=VALUE` as docker checks it: only parameters of a namespace the container has of
 * its own (IPC, UTS, network), never one it shares with the host.
 */
function sysctlsOf(entries: readonly string[], shared: { readonly hostNetwork: boolean; readonly hostIpc: boolean; readonly hostUts: boolean }): Record<string, string> {
  const sysctls: Record<string, string> = {};
  for (const entry of entries) {
    const at = entry.indexOf('=');
    const key = at < 0 ? '' : entry.slice(0, at).trim();
    if (key === '' || !/^[a-z0-9_]+(\.[a-zA-Z0-9_*-]+)+$/.test(key)) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${entry}" for "--sysctl" flag: sysctl '${entry}' is not in the form key=value`);
    const ipc = ipcSysctls.has(key) || key.startsWith('fs.mqueue.');
    const uts = key === 'kernel.domainname' || key === 'kernel.hostname';
    const net = key.startsWith('net.');
    if (!ipc && !uts && !net) throw new TsbuildError('INVALID_ARGUMENT', `sysctl '${key}' is not allowed: it is not namespaced`);
    if ((ipc && shared.hostIpc) || (uts && shared.hostUts) || (net && shared.hostNetwork)) {
      throw new TsbuildError('INVALID_ARGUMENT', `sysctl '${key}' is not allowed in the host's ${ipc ? 'IPC' : uts ? 'UTS' : 'network'} namespace`);
    }
    sysctls[key] = entry.slice(at + 1);
  }
  return sysctls;
}

/**
 * `--memory-swap` and `--memory-reservation` as docker's daemon takes them: memory and swap
 * together default to twice the memory, may not be less than it, and need it; a reservation is
 * at least 6 MB and no more than the memory.
 */
function memoryLimits(memory: number, options: Pick<CreateContainerOptions, 'memorySwap' | 'memoryReservation'>): { memorySwap: number; memoryReservation: number } {
  let memorySwap = options.memorySwap ?? 0;
  const memoryReservation = options.memoryReservation ?? 0;
  if (memory > 0 && memorySwap === 0) memorySwap = memory * 2;
  if (memory > 0 && memorySwap > 0 && memorySwap < memory) throw new TsbuildError('INVALID_ARGUMENT', 'Minimum memoryswap limit should be larger than memory limit, see usage');
  if (memory === 0 && memorySwap > 0) throw new TsbuildError('INVALID_ARGUMENT', 'You should always set the Memory limit when using Memoryswap limit, see usage');
  if (memoryReservation > 0 && memoryReservation < 6 * 1024 * 1024) throw new TsbuildError('INVALID_ARGUMENT', 'Minimum memory reservation allowed is 6MB');
  if (memory > 0 && memoryReservation > 0 && memory < memoryReservation) throw new TsbuildError('INVALID_ARGUMENT', 'Minimum memory limit can not be less than memory reservation limit, see usage');
  return { memorySwap, memoryReservation };
}

/**
 * `--memory-swappiness`, `--oom-kill-disable` and `--blkio-weight` as docker's daemon takes them
 * (verifyPlatformContainerResources): out of range refused in its words, and where this host's
 * cgroups have no such file (cgroup v2 has neither swappiness nor the OOM switch; blkio weight
 * needs the CFQ or BFQ scheduler), discarded with its warning.
 */
async function memoryTuning(options: Pick<CreateContainerOptions, 'memorySwappiness' | 'oomKillDisable' | 'blkioWeight'>, memory: number, warnings: string[]): Promise<{ memorySwappiness?: number; oomKillDisable?: boolean; blkioWeight?: number }> {
  const swappiness = options.memorySwappiness ?? -1;
  const weight = options.blkioWeight ?? 0;
  if (swappiness !== -1 && (swappiness < 0 || swappiness > 100)) throw new TsbuildError('INVALID_ARGUMENT', `Invalid value: ${swappiness}, valid memory swappiness range is 0-100`);
  if (weight > 0 && (weight < 10 || weight > 1000)) throw new TsbuildError('INVALID_ARGUMENT', 'Range of blkio weight is from 10 to 1000');
  const tuning: { memorySwappiness?: number; oomKillDisable?: boolean; blkioWeight?: number } = {};
  if (swappiness !== -1) {
    if (await writable('/sys/fs/cgroup/memory/memory.swappiness')) tuning.memorySwappiness = swappiness;
    else warnings.push('Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.');
  }
  if (options.oomKillDisable === true) {
    if (await writable('/sys/fs/cgroup/memory/memory.oom_control')) {
      tuning.oomKillDisable = true;
      if (memory === 0) warnings.push('OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.');
    } else warnings.push('Your kernel does not support OomKillDisable. OomKillDisable discarded.');
  }
  if (weight > 0) {
    const files = ['/sys/fs/cgroup/blkio/blkio.weight', '/sys/fs/cgroup/blkio/blkio.bfq.weight', '/sys/fs/cgroup/io.bfq.weight', '/sys/fs/cgroup/tsbuild/io.bfq.weight', '/sys/fs/cgroup/tsbuild/io.weight'];
    if ((await Promise.all(files.map(writable))).some(Boolean)) tuning.blkioWeight = weight;
    else warnings.push('Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
  }
  return tuning;
}

/** The numbers a cpuset list names (`0-3,5`), as docker's ParseUintList reads it; undefined when it is not one. */
function cpusetList(text: string): Set<number> | undefined {
  const numbers = new Set<number>();
  for (const part of text.split(',')) {
    const range = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (range === null) return undefined;
    const first = Number(range[1]);
    const last = range[2] === undefined ? first : Number(range[2]);
    if (last < first || last > 8192) return undefined;
    for (let n = first; n <= last; n++) numbers.add(n);
  }
  return numbers;
}

/** What cpuset's FILE of the hierarchy's root lists (what a container may ask for), else ALTERNATIVE. */
async function availableCpuset(file: string, alternative: string): Promise<string> {
  return ((await readFile(`/sys/fs/cgroup/cpuset/${file}`, 'utf8').catch(() => '')) || (await readFile(`/sys/fs/cgroup/${file}`, 'utf8').catch(() => '')) || alternative).trim();
}

/**
 * `--cpuset-cpus` and `--cpuset-mems` checked as docker's daemon checks them: lists it can read
 * (Invalid value X for cpuset cpus), naming only CPUs and memory nodes the machine has;
 * undefined when neither is asked.
 */
export async function cpusetOf(options: Pick<CreateContainerOptions, 'cpusetCpus' | 'cpusetMems'>): Promise<{ cpus?: string; mems?: string } | undefined> {
  const asked = [
    ['cpus', options.cpusetCpus, 'cpuset.effective_cpus', `0-${Math.max(0, availableParallelism() - 1)}`, 'CPUs'],
    ['mems', options.cpusetMems, 'cpuset.effective_mems', '0', 'memory nodes'],
  ] as const;
  const result: { cpus?: string; mems?: string } = {};
  for (const [key, value, file, alternative, what] of asked) {
    if (value === undefined || value === '') continue;
    const wanted = cpusetList(value);
    if (wanted === undefined) throw new TsbuildError('INVALID_ARGUMENT', `Invalid value ${value} for cpuset ${key}`);
    const available = await availableCpuset(file, alternative);
    const present = cpusetList(available) ?? new Set<number>();
    if ([...wanted].some((n) => !present.has(n))) throw new TsbuildError('INVALID_ARGUMENT', `Requested ${what} are not available - requested ${value}, available: ${available}`);
    result[key] = value;
  }
  return Object.keys(result).length === 0 ? undefined : result;
}

/**
 * The CFS limits of `--cpus` (a quota of that many periods of 100 ms, as docker sets it),
 * `--cpu-quota`/`--cpu-period` and `--cpu-shares`; undefined when none is asked. docker refuses
 * `--cpus` with `--cpu-quota` or `--cpu-period`.
 */
export function cpuLimits(options: Pick<CreateContainerOptions, 'nanoCpus' | 'cpuShares' | 'cpuPeriod' | 'cpuQuota' | 'cpuRealtimePeriod' | 'cpuRealtimeRuntime'>): { quota?: number; period?: number; shares?: number; realtimePeriod?: number; realtimeRuntime?: number } | undefined {
  const nano = options.nanoCpus ?? 0;
  if (nano > 0 && ((options.cpuQuota ?? 0) > 0 || (options.cpuPeriod ?? 0) > 0)) {
    throw new TsbuildError('INVALID_ARGUMENT', 'Conflicting options: Nano CPUs and CPU Period cannot both be set');
  }
  const period = nano > 0 ? 100_000 : options.cpuPeriod;
  const quota = nano > 0 ? Math.round((nano * 100_000) / 1e9) : options.cpuQuota;
  const limits = {
    ...(quota === undefined || quota <= 0 ? {} : { quota }),
    ...(period === undefined || period <= 0 ? {} : { period }),
    ...(options.cpuShares === undefined || options.cpuShares <= 0 ? {} : { shares: options.cpuShares }),
    ...(options.cpuRealtimePeriod === undefined || options.cpuRealtimePeriod <= 0 ? {} : { realtimePeriod: options.cpuRealtimePeriod }),
    ...(options.cpuRealtimeRuntime === undefined || options.cpuRealtimeRuntime === 0 ? {} : { realtimeRuntime: options.cpuRealtimeRuntime }),
  };
  return Object.keys(limits).length === 0 ? undefined : limits;
}

type CpuField = 'nanoCpus' | 'cpuShares' | 'cpuPeriod' | 'cpuQuota' | 'cpuRealtimePeriod' | 'cpuRealtimeRuntime';

function cpuHostConfig(options: Pick<CreateContainerOptions, CpuField>): Partial<Record<CpuField, number>> {
  const kept: Partial<Record<CpuField, number>> = {};
  for (const name of ['nanoCpus', 'cpuShares', 'cpuPeriod', 'cpuQuota', 'cpuRealtimePeriod', 'cpuRealtimeRuntime'] as const) {
    const value = options[name];
    if (value !== undefined && (value > 0 || (name === 'cpuRealtimeRuntime' && value !== 0))) kept[name] = value;
  }
  return kept;
}

/**
 * docker's daemon's checks of --cpu-rt-period and --cpu-rt-runtime: a kernel with the cpu
 * cgroup's real-time files (v1 with CONFIG_RT_GROUP_SCHED; v2 has none), and a runtime within the period.
 */
export function checkRealtime(update: Pick<ResourceUpdate, 'cpuRealtimePeriod' | 'cpuRealtimeRuntime'>): void {
  if (((update.cpuRealtimePeriod ?? 0) !== 0 || (update.cpuRealtimeRuntime ?? 0) !== 0) && !existsSync('/sys/fs/cgroup/cpu/cpu.rt_period_us')) {
    throw new TsbuildError('INVALID_ARGUMENT', 'Your kernel does not support CPU real-time scheduler');
  }
  if ((update.cpuRealtimePeriod ?? 0) > 0 && (update.cpuRealtimeRuntime ?? 0) > (update.cpuRealtimePeriod ?? 0)) {
    throw new TsbuildError('INVALID_ARGUMENT', 'cpu real-time runtime cannot be higher than cpu real-time period');
  }
}

/** A checked `--device-cgroup-rule` ('c 1:3 rwm') as the runtime spec's linux.resources.devices rule. */
function deviceRuleOf(rule: string): { allow: true; type: string; major?: number; minor?: number; access: string } {
  const [type = 'a', numbers = '*:*', access = 'rwm'] = rule.split(' ');
  const [major = '*', minor = '*'] = numbers.split(':');
  return { allow: true, type, ...(major === '*' ? {} : { major: Number(major) }), ...(minor === '*' ? {} : { minor: Number(minor) }), access };
}

/**
 * `rm --link PARENT/ALIAS`: the link ALIAS of container PARENT removed, the containers kept, as
 * docker's daemon does it (its rmLink): a container's own name is no link to remove. A running
 * PARENT's /etc/hosts loses the link's line at once (its environment keeps the link's variables).
 */
export async function removeContainerLink(store: Store, name: string): Promise<void> {
  const trimmed = name.replace(/^\/+/, '');
  const slash = trimmed.lastIndexOf('/');
  if (slash < 0) {
    await findContainer(store, trimmed);
    throw new TsbuildError('CONFLICT', 'Conflict, cannot remove the default link name of the container');
  }
  const alias = trimmed.slice(slash + 1);
  const missing = new TsbuildError('NOT_FOUND', `No such container: ${trimmed}`);
  const parent = await findContainer(store, trimmed.slice(0, slash)).catch(() => {
    throw missing;
  });
  const removed = (parent.hostConfig?.links ?? []).find((link) => link.alias === alias);
  if (removed === undefined) throw missing;
  await updateContainer(store, parent.id, (current) => {
    if (current.hostConfig === undefined) return undefined;
    const { links = [], ...hostConfig } = current.hostConfig;
    const kept = links.filter((link) => link.alias !== alias);
    return { ...current, hostConfig: { ...hostConfig, ...(kept.length === 0 ? {} : { links: kept }) } };
  });
  if ((await observeState(parent)).running) await removeLinkHostsEntry(store, parent, removed);
}
