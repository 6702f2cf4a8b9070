/**
 * Containers in the store: one directory each under `<root>/containers/<id>/`, holding the record
 * (`container.json`), the OCI bundle (`config.json`), the files bound on /etc/hostname, /etc/hosts
 * and /etc/resolv.conf, and the writable layer (`upper/`, `work/`) of the overlay mounted on
 * `rootfs/` over the image's unpacked layers.
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { mkdir, open, readFile, readdir, readlink, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TsbuildError, messageOf, treeSize, type Digest } from '../common/index.js';
import { temporaryName, type Store } from '../store/index.js';
import { overlayOptions, runtimeAddon, unmount } from './native.js';
import { rootlessUnshareOptions, userNamespaceSize, type ContainerDevice, type HostNamespace, type MountSpec } from './spec.js';
import type { PortSpec } from './network/address.js';
import type { LogConfig } from './container-log.js';
import type { SecurityOptions } from './security-options.js';
import { recordContainerChange, recordContainerRemoved } from './events.js';
import { initLayerBytes, writeInitLayer } from './init-layer.js';
import type { BlockIODevices } from './blkio.js';

/**
 * docker's words: `dead` is a container whose monitor died while it ran (its process may still
 * run, but nothing holds its output, exit status or restart policy any more).
 */
export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'dead';

/** `--restart`: docker's policies; `maximumRetryCount` counts with `on-failure` only (0: no limit). */
export interface RestartPolicy {
  readonly name: 'no' | 'on-failure' | 'always' | 'unless-stopped';
  readonly maximumRetryCount: number;
}

export interface HealthResult {
  /** ISO 8601. */
  readonly start: string;
  readonly end: string;
  readonly exitCode: number;
  readonly output: string;
}

export interface HealthState {
  readonly status: 'starting' | 'healthy' | 'unhealthy';
  readonly failingStreak: number;
  /** The last results, oldest first (docker keeps 5). */
  readonly log: readonly HealthResult[];
}

/** docker's HealthConfig with durations in nanoseconds; `['NONE']` disables the image's. */
export interface HealthcheckConfig {
  readonly test: readonly string[];
  readonly interval?: number;
  readonly timeout?: number;
  readonly startPeriod?: number;
  /** Time between checks during the start period (docker 25's StartInterval). */
  readonly startInterval?: number;
  readonly retries?: number;
}

/**
 * How a container runs beyond its process: what `docker inspect` shows as HostConfig. The
 * volumes and networks code fill `mounts`, `networkNamespace` and `portBindings`; the monitor
 * hands them to the OCI spec every time it starts the container. `--cap-add`, `--privileged`
 * and the like are kept as given (SecurityOptions).
 */
export interface HostConfig extends SecurityOptions {
  readonly restartPolicy: RestartPolicy;
  /** `--log-driver`, `--log-opt`; absent: json-file, never rotated (docker's defaults). */
  readonly logConfig?: LogConfig;
  readonly init: boolean;
  readonly readonlyRootfs: boolean;
  /** Bytes; 0 unlimited. */
  readonly memory: number;
  /** 0 unlimited. */
  readonly pidsLimit: number;
  /** `--cpus` as docker keeps it (billionths of a CPU), `--cpu-shares`, `--cpu-period`, `--cpu-quota`. */
  readonly nanoCpus?: number;
  readonly cpuShares?: number;
  readonly cpuPeriod?: number;
  readonly cpuQuota?: number;
  /** `--memory-swap` (memory and swap together; -1 unlimited) and `--memory-reservation`, bytes. */
  readonly memorySwap?: number;
  readonly memoryReservation?: number;
  /** `--memory-swappiness` (0-100), `--oom-kill-disable`, `--blkio-weight` (10-1000), where the host applies them. */
  readonly memorySwappiness?: number;
  readonly oomKillDisable?: boolean;
  readonly blkioWeight?: number;
  /** `--blkio-weight-device`, `--device-read-bps` and the other throttles, by path, where the host applies them. */
  readonly blockIODevices?: BlockIODevices;
  /** `--cpuset-cpus`, `--cpuset-mems`: CPU and memory node lists, as given. */
  readonly cpusetCpus?: string;
  readonly cpusetMems?: string;
  /** Bytes of /dev/shm (`--shm-size`); docker's 64 MiB when absent. */
  readonly shmSize?: number;
  /** `--sysctl`: namespaced kernel parameters. */
  readonly sysctls?: Readonly<Record<string, string>>;
  /** `--device`: host device nodes given to the container. */
  readonly devices?: readonly ContainerDevice[];
  /** `--pid host`, `--ipc host`, `--uts host`: the namespaces shared with the host. */
  readonly hostNamespaces?: readonly HostNamespace[];
  /** Extra OCI mounts after the defaults and /etc/{hostname,hosts,resolv.conf} (volumes, binds, tmpfs). */
  readonly mounts: readonly MountSpec[];
  /** A network namespace to join (`/var/run/netns/NAME`, `/proc/PID/ns/net`), instead of `network`'s. */
  readonly networkNamespace?: string;
  /** `-p`, as docker keeps them: "80/tcp" → [{ HostIp, HostPort }]. */
  readonly portBindings?: Readonly<Record<string, readonly { readonly HostIp: string; readonly HostPort: string }[]>>;
  /** `-p` and `-P` as asked; the ports chosen for them are in portBindings once it runs. */
  readonly publish?: readonly PortSpec[];
  /** `-P` was given (docker's PublishAllPorts). */
  readonly publishAll?: boolean;
  /** docker's Binds: the -v flags with a source, as given. */
  readonly binds?: readonly string[];
  /** The targets of --mount's volumes given no source: docker's HostConfig.Mounts shows them without one. */
  readonly anonymousMounts?: readonly string[];
  /** docker's Tmpfs: --tmpfs's paths and their options, as given. */
  readonly tmpfs?: Readonly<Record<string, string>>;
  /** `--cgroupns`, or the host's default when made (`defaultCgroupnsMode`); absent in older records: the container's own. */
  readonly cgroupnsMode?: 'host' | 'private';
  /** `--userns host`. */
  readonly usernsMode?: 'host';
  /** `--oom-score-adj`. */
  readonly oomScoreAdj?: number;
  /** `--annotation`s. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** `--link NAME[:ALIAS]`: the linked container's name as given and the alias it gets (its name when none). */
  readonly links?: readonly ContainerLink[];
  /** `--cgroup-parent`, as given: the container's cgroups are PARENT/ID in each hierarchy. */
  readonly cgroupParent?: string;
  /** `--device-cgroup-rule`s, as given ('c 1:3 rwm'). */
  readonly deviceCgroupRules?: readonly string[];
  /** `--isolation default`, `--volume-driver local`, as given. */
  readonly isolation?: string;
  readonly volumeDriver?: string;
  /** `--gpus`: docker's DeviceRequests, kept as it keeps them; no driver here satisfies one at the start. */
  readonly deviceRequests?: readonly DeviceRequest[];
  /** `--cpu-rt-period`, `--cpu-rt-runtime`: microseconds, the cpu cgroup's real-time share. */
  readonly cpuRealtimePeriod?: number;
  readonly cpuRealtimeRuntime?: number;
}

/** docker's DeviceRequest (`--gpus`), with its field names. */
export interface DeviceRequest {
  readonly Driver: string;
  readonly Count: number;
  readonly DeviceIDs: readonly string[] | null;
  readonly Capabilities: readonly (readonly string[])[];
  readonly Options: Readonly<Record<string, string>>;
}

export interface ContainerLink {
  readonly container: string;
  readonly alias: string;
}

export interface AttachConfig {
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  /** Its stdin closes when the attached client's ends (with -i, not -d). */
  readonly stdinOnce: boolean;
}

/** The process that answers for a container: the foreground `tsbuild run`, later a monitor. */
export interface ContainerOwner {
  readonly pid: number;
  /** /proc/PID/stat's start time, so that a reused pid is not taken for the owner. */
  readonly startTime: string;
}

export interface ContainerRecord {
  readonly id: string;
  /** ISO 8601. */
  readonly created: string;
  readonly image: { readonly name?: string; readonly manifest: Digest; readonly id: Digest };
  readonly path: string;
  readonly args: readonly string[];
  /** docker's name (without its leading `/`); containers of the foreground `run --rm` have none. */
  readonly name?: string;
  readonly config: {
    readonly hostname: string;
    /** `--domainname`. */
    readonly domainname?: string;
    /** The process's environment (with HOSTNAME, TERM and HOME), which exec starts from. */
    readonly env: readonly string[];
    /** docker's Config.Env (`containerConfigEnv`); records written before it have only `env`. */
    readonly configEnv?: readonly string[];
    readonly workingDir: string;
    readonly user: string;
    readonly tty: boolean;
    readonly openStdin: boolean;
    /**
     * docker's Config.AttachStdin, AttachStdout, AttachStderr and StdinOnce: the streams `-a`
     * named at create or run (stdout and stderr when none; stdin with -i; none with -d). As
     * docker's, only inspect shows them: `start -a` attaches stdout and stderr whatever they say.
     */
    readonly attach?: AttachConfig;
    readonly network: NetworkMode;
    /** `--network-alias`: more names on its user networks. */
    readonly networkAliases?: readonly string[];
    /** `--ip`: its address on its user network. */
    readonly ipAddress?: string;
    /** `--link-local-ip`s: docker's endpoint IPAMConfig.LinkLocalIPs. */
    readonly linkLocalIps?: readonly string[];
    /** `--mac-address` as given (docker's Config.MacAddress); its first network's interface takes it. */
    readonly macAddress?: string;
    /**
     * The networks it joins at each start, in order (the first gives its /etc/hosts entry, its
     * resolv.conf and its published ports), once `network connect` or `disconnect` changed them;
     * before that, `network` with `networkAliases` and `ipAddress` (`containerNetworks`).
     */
    readonly networks?: readonly ContainerNetwork[];
    /** docker's Config.ExposedPorts (`80/tcp`): the image's, `--expose`'s and those published. */
    readonly exposedPorts?: readonly string[];
    readonly runtime: string;
    /** As given or from the image, for `inspect`. */
    readonly entrypoint?: readonly string[];
    readonly cmd?: readonly string[];
    readonly labels?: Readonly<Record<string, string>>;
    readonly stopSignal?: string;
    /** Seconds; default 10. */
    readonly stopTimeout?: number;
    readonly healthcheck?: HealthcheckConfig;
    /** The image as the user named it. */
    readonly image?: string;
    /** docker's Config.Volumes: the image's VOLUMEs and the anonymous volumes asked for, by their paths in the container. */
    readonly volumes?: readonly string[];
  };
  /** Containers that outlive their run (create, run -d). */
  readonly hostConfig?: HostConfig;
  /** The image's unpacked layers, the overlay's lower directory. */
  readonly lower?: string;
  readonly restartCount?: number;
  /** `--rm`: removed when it exits, and by the next run when its owner died without removing it. */
  readonly autoRemove: boolean;
  readonly owner: ContainerOwner;
  readonly state: {
    readonly status: ContainerStatus;
    /** The runtime process (`run` in the foreground). */
    readonly runtimePid?: number;
    readonly exitCode?: number;
    readonly startedAt?: string;
    readonly finishedAt?: string;
    /** The container's first process, as the host sees it. */
    readonly pid?: number;
    /** Why the container could not run (the runtime's error). */
    readonly error?: string;
    readonly health?: HealthState;
    /** The monitor watching the container (or the foreground `run` acting as one). */
    readonly monitor?: ContainerOwner;
    /** `pause`: its processes are frozen (the record's status stays running, as docker's State.Running does). */
    readonly paused?: boolean;
    /**
     * The command that froze it for its own ends (`commit`) and thaws it when done: one killed
     * before that leaves the container to be thawed by the next command that lists it.
     */
    readonly pausedBy?: ContainerOwner;
    /** `stop` or `kill` asked for the end: the restart policy does not apply. */
    readonly stoppedByUser?: boolean;
    /** What other commands asked the monitor to do, taken by it on SIGUSR2. */
    readonly requests?: readonly MonitorRequest[];
  };
}

export type MonitorRequest =
  | { readonly id: string; readonly kind: 'kill'; readonly signal: string }
  | { readonly id: string; readonly kind: 'stop'; readonly signal: string; readonly timeoutSeconds: number };

/**
 * `--network` as given: `none`, `host`, `bridge` (docker's default network; the host's stack
 * for an unprivileged user), a network's name or ID, `container:NAME` (see network/).
 */
export type NetworkMode = string;

/** A network a container joins when it starts, as `network connect` asked. */
export interface ContainerNetwork {
  /** The network's name (`bridge` for docker's default network). */
  readonly name: string;
  readonly aliases: readonly string[];
  readonly ip?: string;
}

/** Whether MODE shares a namespace (none, host, another container's) instead of joining networks. */
export function sharesNamespace(mode: NetworkMode): boolean {
  return mode === 'none' || mode === 'host' || mode.startsWith('container:');
}

/** The networks RECORD's container joins at its next start (none when it shares a namespace). */
export function containerNetworks(record: Pick<ContainerRecord, 'config'>): readonly ContainerNetwork[] {
  const { config } = record;
  if (sharesNamespace(config.network)) return [];
  if (config.networks !== undefined) return config.networks;
  const name = config.network === 'default' ? 'bridge' : config.network;
  return [{ name, aliases: config.networkAliases ?? [], ...(config.ipAddress === undefined ? {} : { ip: config.ipAddress }) }];
}

export function containersDirectory(store: Store): string {
  return join(store.root, 'containers');
}

export function containerDirectory(store: Store, id: string): string {
  return join(containersDirectory(store), id);
}

/**
 * A container ID as docker makes them: 64 hex digits of the kernel's randomness (the hostname
 * is the first 12). Read from /dev/urandom: node:crypto would cost every run its loading.
 */
export async function newContainerId(): Promise<string> {
  const handle = await open('/dev/urandom', 'r');
  try {
    const bytes = Buffer.alloc(32);
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, null);
    if (bytesRead !== bytes.length) throw new TsbuildError('INTERNAL', 'read /dev/urandom: short read');
    return bytes.toString('hex');
  } finally {
    await handle.close();
  }
}

/**
 * Start time of process PID (field 22 of /proc/PID/stat), or undefined when there is no such
 * process or it has exited (a zombie its new parent has not reaped yet).
 */
export async function processStartTime(pid: number): Promise<string | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/**
 * The processes of the pid namespace whose first process is PID, as the host numbers them
 * (`top` lists them, `pause` freezes them); undefined when PID is gone.
 */
export async function namespaceProcesses(pid: number): Promise<number[] | undefined> {
  const namespace = await readlink(`/proc/${pid}/ns/pid`).catch(() => undefined);
  if (namespace === undefined) return undefined;
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if ((await readlink(`/proc/${name}/ns/pid`).catch(() => undefined)) === namespace) found.push(Number(name));
  }
  return found;
}

export async function currentOwner(): Promise<ContainerOwner> {
  return { pid: process.pid, startTime: (await processStartTime(process.pid)) ?? '' };
}

export async function ownerAlive(owner: ContainerOwner): Promise<boolean> {
  const startTime = await processStartTime(owner.pid);
  return startTime !== undefined && startTime === owner.startTime;
}

/**
 * Replaces the record atomically (temporary name, rename). Not flushed to disk: a record matters
 * while its container lives, and after a crash of the machine no container runs any more; the
 * fsyncs would cost a foreground run more than the rest of its preparation.
 */
export async function writeContainerRecord(store: Store, record: ContainerRecord): Promise<void> {
  const path = join(containerDirectory(store, record.id), 'container.json');
  const temporary = `${path}.${temporaryName('record')}`;
  // What changed is what `events` tells (its writers hold the container's lock, or made it).
  const previous = await readContainerRecord(store, record.id);
  try {
    await writeFile(temporary, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new TsbuildError('INTERNAL', `write container record ${path}: ${messageOf(error)}`, { cause: error });
  }
  await recordContainerChange(store.root, previous, record);
}

export async function readContainerRecord(store: Store, id: string): Promise<ContainerRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(containerDirectory(store, id), 'container.json'), 'utf8')) as ContainerRecord;
  } catch {
    return undefined;
  }
}

/** Mount points at or under PATH, deepest first, from this process's mount table. */
export async function mountsUnder(path: string): Promise<string[]> {
  // Made by the kernel as it is read, never waiting on a disk: read at once, without a round
  // trip through libuv's thread pool.
  const table = readFileSync('/proc/self/mountinfo', 'utf8');
  const found: string[] = [];
  for (const line of table.split('\n')) {
    // Field 5 is the mount point, with space, tab, newline and backslash octal-escaped.
    const point = line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_all, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
    if (point !== undefined && (point === path || point.startsWith(`${path}/`))) found.push(point);
  }
  return found.sort((a, b) => b.length - a.length);
}

export interface ContainerRoot {
  /** The root filesystem's path: mounted already (as root), or mounted by the runtime (rootless). */
  readonly rootfs: string;
  /** The container's writable layer. */
  readonly upper: string;
  /** Rootless: the overlay's options, for the runtime-shim to mount in the container's namespaces. */
  readonly overlay?: string;
}

/**
 * The container's writable root: an overlay of LOWER (the image's unpacked layers, shared and
 * never written) under the container's own upper directory. As root it is mounted here; an
 * unprivileged user cannot mount it on the host, so ROOTLESS leaves it to the runtime-shim,
 * inside the container's user and mount namespaces (`userxattr`: an unprivileged overlay keeps
 * its metadata in user.* attributes). VOLATILE (for containers removed when they exit) spares
 * every sync of the upper directory, the unmount's included, which otherwise costs a short run
 * tens of milliseconds; after a crash such an upper directory cannot be mounted again, which a
 * removed container never needs.
 */
export async function prepareContainerRoot(directory: string, lower: string, options: { readonly volatile?: boolean; readonly rootless?: boolean } = {}): Promise<ContainerRoot> {
  const rootfs = join(directory, 'rootfs');
  const upper = join(directory, 'upper');
  const work = join(directory, 'work');
  // In a user namespace (the container's own, or rootless tsbuild's) overlay keeps its
  // attributes as user.overlay.*.
  const userxattr = options.rootless === true || userNamespaceSize() !== undefined;
  const overlay = overlayOptions(lower, upper, work, [...(options.volatile === true ? ['volatile'] : []), ...(userxattr ? ['userxattr'] : [])]);
  await Promise.all([mkdir(rootfs, { mode: 0o755 }), mkdir(upper, { mode: 0o755 }), mkdir(work, { mode: 0o700 })]);
  initContainerLayer(lower, upper);
  if (options.rootless === true) return { rootfs, upper, overlay };
  try {
    runtimeAddon().mount('overlay', rootfs, 'overlay', 0, overlay);
  } catch (error) {
    throw new TsbuildError('RUNTIME', `mount container root ${rootfs}: ${messageOf(error)}`, { cause: error });
  }
  return { rootfs, upper };
}

/** docker's init layer in the container's writable layer UPPER over the image's root IMAGEROOT, before its overlay is mounted. */
export function initContainerLayer(imageRoot: string, upper: string): void {
  try {
    writeInitLayer(imageRoot, upper);
  } catch (error) {
    throw new TsbuildError('RUNTIME', `prepare container root ${upper}: ${messageOf(error)}`, { cause: error });
  }
}

/** The size of what a container wrote (docker's SizeRw): its writable layer without the init layer. */
export async function writableLayerSize(store: Store, id: string): Promise<number> {
  const upper = join(containerDirectory(store, id), 'upper');
  return (await treeSize(upper)) - initLayerBytes(upper);
}

/** Unmounts whatever is mounted under DIRECTORY (detached when busy), then removes it. */
export async function removeContainerDirectory(directory: string): Promise<void> {
  // Its record says what is destroyed; the store's root is two levels up (containers/ID).
  const record = await readFile(join(directory, 'container.json'), 'utf8').then(
    (text) => JSON.parse(text) as ContainerRecord,
    () => undefined,
  );
  for (const point of await mountsUnder(directory)) {
    try {
      unmount(point);
    } catch (error) {
      // Gone already (another process's cleanup got there first): nothing to do.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EINVAL' && code !== 'ENOENT') throw new TsbuildError('RUNTIME', `unmount ${point}: ${messageOf(error)}`, { cause: error });
    }
  }
  // Never remove through a mount: the lower layers would lose files (as whiteouts, at best).
  const left = await mountsUnder(directory);
  if (left.length > 0) throw new TsbuildError('RUNTIME', `remove container directory ${directory}: ${left[0] ?? ''} is still mounted`);
  try {
    // Synchronously: its callers wait for the removal before going on, and the promise API's
    // round trips through the thread pool, one or more per entry, cost a short run's removal
    // 3 ms (8.3 -> 5.1 ms, with the mount table read at once as well).
    rmSync(directory, { recursive: true, force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((process.getuid?.() ?? 0) === 0 || (code !== 'EACCES' && code !== 'EPERM')) throw error;
    await removeAsMappedRoot(directory);
  }
  if (record !== undefined) await recordContainerRemoved(join(directory, '..', '..'), record);
}

/**
 * Removes DIRECTORY in a user namespace where the caller is root and its subordinate ids are
 * mapped as in a rootless container: files the container made as other users belong to ids the
 * caller may change only there.
 */
async function removeAsMappedRoot(directory: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile('unshare', [...rootlessUnshareOptions(), 'rm', '-rf', '--', directory], (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(new TsbuildError('RUNTIME', `remove container directory ${directory}: ${stderr.trim() || error.message}`, { cause: error }));
    });
  });
}

/** A directory left without a record this long is a run that died before writing it. */
const recordlessGraceMs = 60_000;

/**
 * Removes `--rm` containers whose owner died without removing them (a `tsbuild run` killed with
 * SIGKILL): their overlay is unmounted and their directory removed, unless their runtime still
 * runs. Best effort; what cannot be removed now is left for the next run.
 */
export async function removeAbandonedContainers(store: Store): Promise<void> {
  let names: string[];
  try {
    names = await readdir(containersDirectory(store));
  } catch {
    return;
  }
  for (const id of names) {
    if (!/^[0-9a-f]{64}$/.test(id)) continue;
    const directory = containerDirectory(store, id);
    try {
      const record = await readContainerRecord(store, id);
      if (record === undefined) {
        const info = await stat(directory);
        if (Date.now() - info.mtimeMs < recordlessGraceMs) continue;
      } else {
        // Containers with a monitor are removed by it, or by the user once it died (`rm -f`).
        if (record.hostConfig !== undefined || !record.autoRemove || (await ownerAlive(record.owner))) continue;
        const runtimePid = record.state.runtimePid;
        if (runtimePid !== undefined && (await processStartTime(runtimePid)) !== undefined && record.state.status === 'running') continue;
      }
      await removeContainerDirectory(directory);
    } catch {
      // Another run removing it at the same time, or a mount that will not go: next time.
    }
  }
}
