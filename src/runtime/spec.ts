/**
 * A small typed description of a container, and the OCI runtime config (config.json) made
 * from it, with Docker's defaults for what the description leaves out.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { readFile } from 'node:fs/promises';
import { userNamespaceSize } from '../common/index.js';
import { compileSeccompFilter, defaultSeccompProfile } from './seccomp.js';
import type { OciBlockIO } from './blkio.js';

// Read where the store and the layer writer ask it too (which overlay attributes are marks).
export { userNamespaceSize };

export interface IdMapping {
  readonly containerID: number;
  readonly hostID: number;
  readonly size: number;
}

export interface MountSpec {
  readonly destination: string;
  readonly type?: string;
  readonly source?: string;
  readonly options?: readonly string[];
}

export interface ContainerDevice {
  readonly hostPath: string;
  readonly path: string;
  readonly type: 'c' | 'b';
  readonly major: number;
  readonly minor: number;
  /** `r`, `w`, `m` as docker's permissions say. */
  readonly access: string;
}

export type NamespaceType = 'pid' | 'mount' | 'ipc' | 'uts' | 'network' | 'user' | 'cgroup';

export interface ContainerSpec {
  readonly args: readonly string[];
  readonly env?: readonly string[];
  readonly cwd?: string;
  readonly user?: { readonly uid: number; readonly gid: number; readonly additionalGids?: readonly number[]; readonly umask?: number };
  readonly hostname?: string;
  /** `domainname` (docker's `--domainname`), set in the container's UTS namespace. */
  readonly domainname?: string;
  /** `process.oomScoreAdj` (docker's `--oom-score-adj`). */
  readonly oomScoreAdj?: number;
  /** The caller's OCI annotations (docker's `--annotation`); tsbuild's own `org.tsbuild.*` win over them. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Absolute path of the root filesystem. */
  readonly rootfs: string;
  readonly readonlyRootfs?: boolean;
  /** Added after the defaults (proc, dev, devpts, shm, mqueue, sysfs). */
  readonly mounts?: readonly MountSpec[];
  /** `none`: a network namespace with loopback only; `host`: the host's. Default `none`. */
  readonly network?: 'none' | 'host' | { readonly path: string };
  /** Namespaces joined rather than made (`{ network: '/proc/123/ns/net' }`). */
  readonly joinNamespaces?: Partial<Record<NamespaceType, string>>;
  /** Namespaces neither made nor joined: the host's own (docker's `--pid host`, `--ipc host`, `--uts host`, `--cgroupns host`). */
  readonly hostNamespaces?: readonly HostNamespace[];
  /** Default: Docker's default set. */
  readonly capabilities?: readonly string[];
  /**
   * Nothing masked or read-only under /proc and /sys (BuildKit's `--security=insecure`, docker's
   * `--privileged`); the capabilities are given apart.
   */
  readonly unmasked?: boolean;
  /**
   * docker's default seccomp profile for the container's capabilities (`linux.seccomp`, and
   * compiled for the runtime-shim); false: none, as docker's `seccomp=unconfined`. Default:
   * confined unless `unmasked` (a privileged container is unconfined, as in docker).
   */
  readonly seccomp?: boolean;
  readonly noNewPrivileges?: boolean;
  /** Soft and hard limits by name (`RLIMIT_NOFILE`); clamped to the caller's hard limits. */
  readonly rlimits?: Readonly<Record<string, { readonly soft: number; readonly hard: number }>>;
  readonly terminal?: boolean;
  /** The terminal's size when the process starts (with `terminal`). */
  readonly consoleSize?: { readonly rows: number; readonly columns: number };
  /** Bytes. Ignored rootless (no delegated cgroup). */
  readonly memoryLimit?: number;
  /** Memory and swap together, bytes (-1: unlimited swap), and the soft limit: docker's --memory-swap and --memory-reservation. */
  readonly memorySwap?: number;
  readonly memoryReservation?: number;
  /** docker's --memory-swappiness (0-100), --oom-kill-disable and --blkio-weight (10-1000): cgroup v1's memory.swappiness, memory.oom_control and blkio weight. */
  readonly memorySwappiness?: number;
  readonly oomKillDisable?: boolean;
  readonly blkioWeight?: number;
  /** `linux.resources.blockIO`'s per-device weights and throttles (`ociBlockIO`). Ignored rootless. */
  readonly blockIO?: OciBlockIO;
  /** `linux.sysctl`: namespaced kernel parameters, written in the container's namespaces. */
  readonly sysctls?: Readonly<Record<string, string>>;
  /** Size of /dev/shm in bytes (default 64 MiB, as docker). */
  readonly shmSize?: number;
  readonly pidsLimit?: number;
  /** CFS bandwidth (`--cpus`, `--cpu-quota`, `--cpu-period`) and weight (`--cpu-shares`), as runc takes them. Ignored rootless. */
  readonly cpu?: { readonly quota?: number; readonly period?: number; readonly shares?: number; readonly cpus?: string; readonly mems?: string; readonly realtimePeriod?: number; readonly realtimeRuntime?: number };
  /** PID 1 reaps orphans and forwards signals (as `docker run --init`). */
  readonly init?: boolean;
  /**
   * The container dies with the process that started the runtime, even when that one is killed
   * with SIGKILL (annotation `org.tsbuild.kill-with-parent`, read by the runtime-shim): a
   * build's step, which nothing would wait for once its build is gone.
   */
  readonly killWithCaller?: boolean;
  /**
   * Every device node opens, those made with mknod or shipped in the image included (BuildKit's
   * `--security=insecure`): a `linux.resources.devices` rule allowing all. Otherwise only the
   * spec's own devices do (a device cgroup in crun and runc, nodev mounts in the shim).
   */
  readonly allDevices?: boolean;
  /**
   * Host device nodes given to the container (`--device`): each bound at its path, and allowed
   * by the device cgroup where crun and runc keep one.
   */
  readonly devices?: readonly ContainerDevice[];
  /** docker's `--device-cgroup-rule`s: more rules of the device cgroup, after the devices'. */
  readonly deviceRules?: readonly { readonly allow: boolean; readonly type: string; readonly major?: number; readonly minor?: number; readonly access: string }[];
  /** docker's device rules (`dockerDeviceRules`) first, before the devices' and DEVICERULES, in moby's order: a container's, not a build step's. */
  readonly dockerDevices?: boolean;
  /** `linux.cgroupsPath` (`/PARENT/ID`, docker's `--cgroup-parent`); absent: the runtime's own place. */
  readonly cgroupsPath?: string;
  /**
   * Run as an unprivileged user: a user namespace mapping the caller to root, with the whole
   * subordinate range when newuidmap is usable. Default: when the caller is not root.
   */
  readonly rootless?: boolean;
  /**
   * Overlay options (`lowerdir=…,upperdir=…,workdir=…`) the runtime-shim mounts on `rootfs` in
   * the container's own mount namespace (annotation `org.tsbuild.rootfs.overlay`): the writable
   * root of a rootless container, which its caller cannot mount on the host. Other runtimes
   * ignore it.
   */
  readonly rootfsOverlay?: string;
  /** Rootless id maps other than the caller's own (`rootlessMappings()`). */
  readonly idMappings?: { readonly uid: readonly IdMapping[]; readonly gid: readonly IdMapping[] };
}

/** Capability names as the runtime spec writes them without CAP_, in the kernel's order (bit N is the Nth). */
export const capabilityNames: readonly string[] = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT',
  'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE',
  'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ',
  'PERFMON', 'BPF', 'CHECKPOINT_RESTORE',
];

/**
 * Every capability this process may hand on (those of its bounding set): what BuildKit's
 * `--security=insecure` and docker's `--privileged` grant; a process can be given none its
 * runtime lacks.
 */
export async function heldCapabilities(): Promise<string[]> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const bounding = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  const mask = bounding === undefined ? (1n << BigInt(capabilityNames.length)) - 1n : BigInt(`0x${bounding}`);
  return capabilityNames.filter((_, bit) => (mask >> BigInt(bit)) & 1n).map((name) => `CAP_${name}`);
}

/** Docker's default capability set (moby's oci/caps/defaults.go). */
export const defaultCapabilities: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/**
 * docker's device cgroup for a container (moby's default spec): every device denied, then those
 * any container may make (mknod) and those it may use. Where the runtime applies it (a v1 host,
 * as root), a node made with mknod opens as in docker's containers when it is one of these, and
 * fails with EPERM otherwise; elsewhere the runtime-shim's nodev mounts stand in for it.
 */
const dockerDeviceRules: NonNullable<ContainerSpec['deviceRules']> = [
  { allow: false, type: 'a', access: 'rwm' },
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  ...(
    [
      [1, 3],
      [1, 8],
      [1, 7],
      [5, 0],
      [1, 5],
      [1, 9],
      [5, 1],
      [136, undefined],
      [5, 2],
      [10, 200],
    ] as const
  ).map(([major, minor]) => ({ allow: true, type: 'c', major, ...(minor === undefined ? {} : { minor }), access: 'rwm' })),
];

/** Docker's masked and read-only paths. */
export const defaultMaskedPaths: readonly string[] = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats',
  '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
export const defaultReadonlyPaths: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const defaultPath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The caller's hard limit of a resource, from /proc/self/limits (Node has no getrlimit). */
export function hardLimit(resource: string): number | undefined {
  const names: Readonly<Record<string, string>> = {
    RLIMIT_NOFILE: 'Max open files', RLIMIT_NPROC: 'Max processes', RLIMIT_CORE: 'Max core file size', RLIMIT_STACK: 'Max stack size',
    RLIMIT_MEMLOCK: 'Max locked memory', RLIMIT_AS: 'Max address space', RLIMIT_CPU: 'Max cpu time', RLIMIT_FSIZE: 'Max file size',
  };
  const label = names[resource];
  if (label === undefined) return undefined;
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(label));
  const hard = line?.slice(label.length).trim().split(/\s+/)[1];
  return hard === undefined || hard === 'unlimited' ? Number.POSITIVE_INFINITY : Number(hard);
}

export interface SubordinateRange {
  readonly start: number;
  readonly count: number;
}

/** The caller's first range in /etc/subuid or /etc/subgid (or a file like them), by name or number. */
export function subordinateRange(file: string, user: { readonly username: string; readonly uid: number } = userInfo()): SubordinateRange | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if ((owner === user.username || owner === String(user.uid)) && start !== undefined && count !== undefined) return { start: Number(start), count: Number(count) };
  }
  return undefined;
}

function commandExists(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * USER's subordinate uid and gid ranges, when /etc/subuid, /etc/subgid, newuidmap and newgidmap
 * let it map them; undefined when it can map only its own ids.
 */
function mappableSubordinateRanges(user: { readonly username: string; readonly uid: number } = userInfo()): { uid: SubordinateRange; gid: SubordinateRange } | undefined {
  const uid = subordinateRange('/etc/subuid', user);
  const gid = subordinateRange('/etc/subgid', user);
  if (uid === undefined || gid === undefined || !commandExists('newuidmap') || !commandExists('newgidmap')) return undefined;
  return { uid, gid };
}

/** uid and gid maps for a rootless container: the caller as root, plus its subordinate range. */
export function rootlessMappings(): { uid: IdMapping[]; gid: IdMapping[] } {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const ranges = mappableSubordinateRanges();
  if (ranges !== undefined) {
    return {
      uid: [{ containerID: 0, hostID: uid, size: 1 }, { containerID: 1, hostID: ranges.uid.start, size: ranges.uid.count }],
      gid: [{ containerID: 0, hostID: gid, size: 1 }, { containerID: 1, hostID: ranges.gid.start, size: ranges.gid.count }],
    };
  }
  return { uid: [{ containerID: 0, hostID: uid, size: 1 }], gid: [{ containerID: 0, hostID: gid, size: 1 }] };
}

/**
 * util-linux `unshare` options for the user namespace of rootlessMappings(), for USER (the
 * caller): the user as root and, when /etc/subuid, /etc/subgid, newuidmap and newgidmap allow,
 * its whole subordinate range from id 1, as RootlessKit and podman map it. `--map-auto` with
 * `--map-root-user` maps the range from id 0 and cuts root's id out of it, which leaves the
 * range's last id unmapped (65536 of the usual 65536-id range: a chown to it fails with EINVAL).
 * The `outer,inner,count` form is read by every unshare that has --map-users (2.38 and later).
 */
export function rootlessUnshareOptions(user: { readonly username: string; readonly uid: number } = userInfo()): string[] {
  const ranges = mappableSubordinateRanges(user);
  if (ranges === undefined) return ['--map-root-user'];
  return ['--map-root-user', `--map-users=${ranges.uid.start},1,${ranges.uid.count}`, `--map-groups=${ranges.gid.start},1,${ranges.gid.count}`];
}

/**
 * The cgroup namespace a container gets without --cgroupns: docker's daemon's default, the
 * host's on cgroup v1 (its own on v2, where the namespace shows the container's own tree).
 * Rootless, its own everywhere: the cgroup file system mounts only in a cgroup namespace the
 * container's user namespace owns.
 */
export function defaultCgroupnsMode(): 'host' | 'private' {
  const rootless = (process.getuid?.() ?? 0) !== 0 || userNamespaceSize() !== undefined;
  return rootless || existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'private' : 'host';
}

/** A namespace a container may share with the host. */
export type HostNamespace = 'pid' | 'ipc' | 'uts' | 'cgroup';

/**
 * The sysctls docker's daemon gives a container with a network namespace of its own (moby's
 * WithSysctls, for every network mode but host and container:NAME): ports below 1024 open to any
 * user (ip_unprivileged_port_start 0) and ping without CAP_NET_RAW (ping_group_range for every
 * group), the latter not where tsbuild runs in a user namespace, as moby leaves it out there.
 * Each only where the kernel has it; a --sysctl of the same name replaces it.
 */
export function privateNetworkSysctls(networkMode: string): Record<string, string> {
  if (networkMode === 'host' || networkMode.startsWith('container:')) return {};
  const sysctls: Record<string, string> = {};
  const inUserNamespace = (process.getuid?.() ?? 0) !== 0 || userNamespaceSize() !== undefined;
  if (!inUserNamespace && existsSync('/proc/sys/net/ipv4/ping_group_range')) sysctls['net.ipv4.ping_group_range'] = '0 2147483647';
  if (existsSync('/proc/sys/net/ipv4/ip_unprivileged_port_start')) sysctls['net.ipv4.ip_unprivileged_port_start'] = '0';
  return sysctls;
}

/** The OCI runtime config for a container (runtime-spec 1.0.2). */
export function generateConfig(spec: ContainerSpec): Record<string, unknown> {
  const rootless = spec.rootless ?? (process.getuid?.() ?? 0) !== 0;
  // Inside a user namespace of tsbuild's own (rootless tsbuild), the process is root over the ids
  // it has: no namespace of users is needed, and the runtime binds the devices it cannot make;
  // but sysfs can be mounted only in a network namespace that namespace owns.
  const ownNamespace = rootless || userNamespaceSize() !== undefined;
  const capabilities = [...(spec.capabilities ?? defaultCapabilities)];
  // None given, the process keeps its caller's limits, as docker's containers keep those of the
  // daemon that started them (moby writes only --ulimit's, or its default-ulimits, into the spec).
  const rlimits = Object.entries(spec.rlimits ?? {}).map(([type, limit]) => {
    // Root here lacks CAP_SYS_RESOURCE: asking above the caller's hard limit would fail.
    const ceiling = hardLimit(type) ?? Number.POSITIVE_INFINITY;
    const hard = Math.min(limit.hard, ceiling);
    return { type, hard, soft: Math.min(limit.soft, hard) };
  });
  const network = spec.network ?? 'none';
  const join = spec.joinNamespaces ?? {};
  const namespaces: { type: NamespaceType; path?: string }[] = [];
  for (const type of ['pid', 'ipc', 'uts', 'mount', 'cgroup'] as const) {
    if (type !== 'mount' && spec.hostNamespaces?.includes(type) === true) continue;
    namespaces.push(join[type] === undefined ? { type } : { type, path: join[type] });
  }
  if (typeof network === 'object') namespaces.push({ type: 'network', path: network.path });
  else if (network === 'none') namespaces.push(join.network === undefined ? { type: 'network' } : { type: 'network', path: join.network });
  if (rootless) namespaces.push(join.user === undefined ? { type: 'user' } : { type: 'user', path: join.user });
  const mappings = rootless && join.user === undefined ? (spec.idMappings ?? rootlessMappings()) : undefined;
  const sysfsAccess = spec.unmasked === true ? 'rw' : 'ro';
  const sysfsOptions = ownNamespace && network !== 'none' ? ['rbind', 'nosuid', 'noexec', 'nodev', sysfsAccess] : ['nosuid', 'noexec', 'nodev', sysfsAccess];
  const mounts = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(rootless ? [] : ['gid=5'])] },
    // The host's IPC namespace comes with its /dev/shm, as docker's --ipc host binds it.
    spec.hostNamespaces?.includes('ipc') === true
      ? { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'nosuid', 'noexec', 'nodev'] }
      : { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${spec.shmSize === undefined ? '65536k' : String(spec.shmSize)}`] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    ownNamespace && network !== 'none' ? { destination: '/sys', type: 'none', source: '/sys', options: sysfsOptions } : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: sysfsOptions },
    // docker's and BuildKit's: the container's own cgroups (its cgroup namespace's), where
    // programs look for the limits they run under.
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', sysfsAccess] },
    ...(spec.mounts ?? []).map((m) => ({ destination: m.destination, type: m.type ?? 'bind', source: m.source ?? '', options: [...(m.options ?? ['rbind', 'rw'])] })),
    // The host's node itself, as a rootless docker gives a device: no node is made.
    ...(spec.devices ?? []).map((device) => ({ destination: device.path, type: 'bind', source: device.hostPath, options: ['bind', 'nosuid', 'noexec'] })),
  ];
  const deviceRules = [
    ...(spec.dockerDevices === true ? dockerDeviceRules : []),
    ...(spec.devices ?? []).map((device) => ({ allow: true, type: device.type, major: device.major, minor: device.minor, access: device.access })),
    ...(spec.deviceRules ?? []),
  ];
  const memoryTuned = spec.memoryLimit !== undefined || spec.memoryReservation !== undefined || spec.memorySwappiness !== undefined || spec.oomKillDisable === true;
  const user = spec.user ?? { uid: 0, gid: 0 };
  const seccomp = (spec.seccomp ?? spec.unmasked !== true) ? defaultSeccompProfile(capabilities) : undefined;
  const annotations: Record<string, string> = {
    ...spec.annotations,
    ...(spec.init === true ? { 'org.tsbuild.init': 'true', 'run.oci.init': 'true' } : {}),
    ...(spec.rootfsOverlay === undefined ? {} : { 'org.tsbuild.rootfs.overlay': spec.rootfsOverlay }),
    ...(spec.killWithCaller === true ? { 'org.tsbuild.kill-with-parent': 'true' } : {}),
    ...(seccomp === undefined ? {} : { 'org.tsbuild.seccomp': compileSeccompFilter(seccomp).toString('hex') }),
  };
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: spec.terminal ?? false,
      ...(spec.terminal === true && spec.consoleSize !== undefined ? { consoleSize: { height: spec.consoleSize.rows, width: spec.consoleSize.columns } } : {}),
      user: { uid: user.uid, gid: user.gid, ...(user.additionalGids === undefined ? {} : { additionalGids: [...user.additionalGids] }), ...(user.umask === undefined ? {} : { umask: user.umask }) },
      args: [...spec.args],
      env: [...(spec.env ?? [defaultPath])],
      cwd: spec.cwd ?? '/',
      capabilities: { bounding: capabilities, effective: capabilities, permitted: capabilities, inheritable: [], ambient: [] },
      rlimits,
      noNewPrivileges: spec.noNewPrivileges ?? false,
      ...(spec.oomScoreAdj === undefined ? {} : { oomScoreAdj: spec.oomScoreAdj }),
    },
    root: { path: spec.rootfs, readonly: spec.readonlyRootfs ?? false },
    hostname: spec.hostname ?? '',
    ...(spec.domainname === undefined || spec.domainname === '' ? {} : { domainname: spec.domainname }),
    mounts,
    ...(Object.keys(annotations).length === 0 ? {} : { annotations }),
    linux: {
      namespaces,
      ...(mappings === undefined ? {} : { uidMappings: mappings.uid, gidMappings: mappings.gid }),
      ...(spec.cgroupsPath === undefined ? {} : { cgroupsPath: spec.cgroupsPath }),
      // Rootless: no cgroup is delegated to the caller on these hosts, and runc refuses a config
      // asking for limits it cannot apply.
      ...(rootless || (!memoryTuned && spec.pidsLimit === undefined && spec.cpu === undefined && spec.blkioWeight === undefined && spec.blockIO === undefined && spec.allDevices !== true && deviceRules.length === 0)
        ? {}
        : {
            resources: {
              ...(!memoryTuned
                ? {}
                : {
                    memory: {
                      ...(spec.memoryLimit === undefined ? {} : { limit: spec.memoryLimit }),
                      ...(spec.memorySwap === undefined ? {} : { swap: spec.memorySwap }),
                      ...(spec.memoryReservation === undefined ? {} : { reservation: spec.memoryReservation }),
                      ...(spec.memorySwappiness === undefined ? {} : { swappiness: spec.memorySwappiness }),
                      ...(spec.oomKillDisable === true ? { disableOOMKiller: true } : {}),
                    },
                  }),
              ...(spec.pidsLimit === undefined ? {} : { pids: { limit: spec.pidsLimit } }),
              ...(spec.blkioWeight === undefined && spec.blockIO === undefined ? {} : { blockIO: { ...(spec.blkioWeight === undefined ? {} : { weight: spec.blkioWeight }), ...spec.blockIO } }),
              ...(spec.cpu === undefined ? {} : { cpu: { ...spec.cpu } }),
              ...(spec.allDevices === true ? { devices: [{ allow: true, access: 'rwm' }] } : deviceRules.length === 0 ? {} : { devices: deviceRules }),
            },
          }),
      ...(seccomp === undefined ? {} : { seccomp }),
      ...(spec.sysctls === undefined || Object.keys(spec.sysctls).length === 0 ? {} : { sysctl: { ...spec.sysctls } }),
      maskedPaths: spec.unmasked === true ? [] : [...defaultMaskedPaths],
      readonlyPaths: spec.unmasked === true ? [] : [...defaultReadonlyPaths],
    },
  };
}
