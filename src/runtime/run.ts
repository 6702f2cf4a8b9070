/**
 * `tsbuild run` in the foreground: an image's container made, run through an OCI runtime with
 * the caller's streams attached, and removed, as `docker run --rm` does it.
 */
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { hostname as hostHostname } from 'node:os';
import { join, posix, relative } from 'node:path';
import { TsbuildError, formatPlatform, hostMaximumPlatform, hostPlatform, imagePlatform, isTsbuildError, messageOf, parseReference, platformMatches, type ContainerConfig, type Descriptor, type ImageConfig, type ImageReference, type Platform } from '../common/index.js';
import { findImage, storeImage, unpackLayers, type Image, type Store } from '../store/index.js';
import {
  containerDirectory,
  currentOwner,
  prepareContainerRoot,
  newContainerId,
  removeAbandonedContainers,
  removeContainerDirectory,
  writeContainerRecord,
  type ContainerRecord,
  type NetworkMode,
} from './container.js';
import { attachContainer, detachContainer, exposedPortSpecs, portsToPublish, publishPorts, type NetworkAttachment, type PortProxies, type PortSpec } from './network/index.js';
import { releaseContainerCgroups } from './freezer.js';
import { selectRuntime, type AttachedStreams, type ShimError } from './oci-runtime.js';
import { defaultCgroupnsMode, privateNetworkSysctls, type ContainerSpec, type MountSpec } from './spec.js';
import { ConsoleSocket, TerminalCopy, type TerminalSize } from './terminal.js';
import { lookupUser, resolvePathInRoot, type ContainerUserEntry } from './user.js';
import { mountVolumes, prepareMounts, type MountRequest, type PreparedMounts } from './volumes/index.js';
import { volumesFromRequests } from './volumes-from.js';
import { addHostLine, resolvConfWith, type SecurityOptions } from './security-options.js';
import { recordContainerChange, recordContainerEvent, recordVolumeMounts } from './events.js';

/** What `run` and `create` both take. */
export interface ContainerOptions {
  readonly store: Store;
  /** The image as the user named it: a reference, an image ID (or a prefix of one), a digest. */
  readonly image: string;
  /**
   * Called when the image is not in the store, to fetch it (the CLI says so and pulls, as
   * `docker run` does); the image is looked up again after. Without it, a missing image fails.
   */
  readonly pull?: (reference: ImageReference) => Promise<void>;
  /** `--pull always`: `pull` is called for a reference even when the store has the image. */
  readonly pullAlways?: boolean;
  /**
   * `--platform`: the image's manifest for it (from an index); an image of one manifest for
   * another platform is taken as missing, and pulled for this one, as docker's CLI does. This
   * machine's when undefined.
   */
  readonly platform?: Platform;
  /** Replace the image's Cmd when not empty. */
  readonly args?: readonly string[];
  /** `--entrypoint`: replaces the image's Entrypoint and drops its Cmd; `''` leaves none. */
  readonly entrypoint?: string;
  /** `K=V` set; `K` alone removes K (what `-e K` gives when K is not in the caller's environment). */
  readonly env?: readonly string[];
  /** Absolute; created when missing, as docker does. Default: the image's WorkingDir, or `/`. */
  readonly workdir?: string;
  /** `name`, `uid`, `name:group`, `uid:gid`. Default: the image's User, or root. */
  readonly user?: string;
  /** `none`, `host`, `bridge` (the default), a network's name or ID, `container:NAME`. */
  readonly network?: NetworkMode;
  /** `--read-only`: the container's root filesystem mounted read-only. */
  readonly readOnly?: boolean;
  /** `--name`: how the other containers of its user networks call it. */
  readonly name?: string;
  /** `--hostname`. Default: the ID's first 12 digits (the host's name with the host's network). */
  readonly hostname?: string;
  /** `--network-alias`. */
  readonly networkAliases?: readonly string[];
  /** `-p`. */
  readonly publish?: readonly PortSpec[];
  /** `-P`: the image's exposed ports (and `expose`'s), each to a free port of the host. */
  readonly publishAll?: boolean;
  /** `--expose`: more exposed ports (`9000/tcp`), beside the image's. */
  readonly expose?: readonly string[];
  /** `--ip`: the container's address on its user network. */
  readonly ip?: string;
  /** `--volumes-from CONTAINER[:ro|:rw]`: the volumes and binds of other containers, at their places. */
  readonly volumesFrom?: readonly string[];
  /**
   * `--init`: the command runs under a minimal init that forwards signals and reaps orphans. A
   * command that is PID 1 itself ignores every signal it has no handler for (SIGTERM included).
   */
  readonly init?: boolean;
  /** A pseudo-terminal as the container's stdin, stdout and stderr (`-t`). */
  readonly tty?: boolean;
  /** `--rm`. Containers that outlive their run come with `ps` and `rm`; until then it must be set. */
  readonly autoRemove: boolean;
  /** `runtime-shim` (default, also `shim`), `crun`, `runc`, or a path. */
  readonly runtime?: string;
  /** Stops the preparation (the container is not started, nothing is left). */
  readonly signal?: AbortSignal;
}

export interface RunContainerOptions extends ContainerOptions {
  /** `-v`, `--mount`, `--tmpfs`; the image's VOLUMEs not covered get anonymous volumes. */
  readonly mounts?: readonly MountRequest[];
  /** The terminal's size at start, with `tty`. */
  readonly terminalSize?: TerminalSize;
  /** With `tty`, stdin and stdout are copied to and from the terminal, and stderr gets the runtime's errors only. */
  readonly stdio: AttachedStreams;
  /** Called once the runtime runs, with what can be done to the container meanwhile. */
  readonly onStart?: (container: RunningContainer) => void;
  /** What docker's daemon would warn of as it creates the container (the CLI prints `WARNING: …`). */
  readonly onWarning?: (message: string) => void;
}

export interface RunningContainer {
  readonly id: string;
  /** Sends SIGNAL to the container's process (through the runtime, which forwards it). */
  kill(signal: NodeJS.Signals): void;
  /** Resizes the container's terminal (with `tty`). */
  resize(size: TerminalSize): void;
}

export interface RunContainerResult {
  readonly id: string;
  /** The container process's exit status; 128+N when a signal N ended it. */
  readonly status: number;
}

const defaultPath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The process's argv from the image's Entrypoint and Cmd and the run's, with docker's rules. */
export function containerCommand(image: ContainerConfig | undefined, options: { readonly entrypoint?: string; readonly args?: readonly string[] }): string[] {
  const args = options.args ?? [];
  const command =
    options.entrypoint !== undefined
      ? [...(options.entrypoint === '' ? [] : [options.entrypoint]), ...args]
      : [...(image?.Entrypoint ?? []), ...(args.length > 0 ? args : (image?.Cmd ?? []))];
  if (command.length === 0) throw new TsbuildError('INVALID_ARGUMENT', 'no command specified');
  return command;
}

function keyOf(entry: string): string {
  const equals = entry.indexOf('=');
  return equals < 0 ? entry : entry.slice(0, equals);
}

/** BASE with each of ADDED replacing the entry of its name in place, or appended after. */
export function overrideEnvironment(base: readonly string[], added: readonly string[]): string[] {
  const result = [...base];
  for (const entry of added) {
    const position = result.findIndex((existing) => keyOf(existing) === keyOf(entry));
    if (position >= 0) result[position] = entry;
    else result.push(entry);
  }
  return result;
}

/**
 * docker's Config.Env of a container (its daemon's merge of the run's config with the image's):
 * the run's variables as given, a bare `K` included, then the image's the run did not name.
 * HOSTNAME, TERM and HOME are the process's only: inspect and commit never show them.
 */
export function containerConfigEnv(imageEnv: readonly string[] | undefined, runEnv: readonly string[]): string[] {
  const runKeys = new Set(runEnv.map(keyOf));
  return [...runEnv, ...(imageEnv ?? []).filter((entry) => !runKeys.has(keyOf(entry)))];
}

/**
 * The process's environment as docker builds it: PATH, HOSTNAME (and TERM with a terminal)
 * first, overridden in place or followed by the run's variables, then the image's the run did
 * not set; a bare `K` removes K; HOME from the user's passwd entry when nothing set it.
 */
export function containerEnvironment(imageEnv: readonly string[] | undefined, runEnv: readonly string[], context: { readonly hostname: string; readonly tty: boolean; readonly home: string }): string[] {
  const config = containerConfigEnv(imageEnv, runEnv);
  const result = overrideEnvironment([defaultPath, `HOSTNAME=${context.hostname}`, ...(context.tty ? ['TERM=xterm'] : [])], config);
  const set = result.filter((entry) => entry.includes('='));
  if (!set.some((entry) => keyOf(entry) === 'HOME')) set.push(`HOME=${context.home}`);
  return set;
}

/**
 * `--env-file`: one `K=V` per line, taken as it is; `K` alone takes K from ENVIRONMENT (and
 * removes it when unset there); blank lines and `#` comments skipped, as the docker CLI reads it.
 */
export function parseEnvFile(text: string, environment: Readonly<Record<string, string | undefined>>): string[] {
  const result: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const key = keyOf(line);
    if (key === '') throw new TsbuildError('INVALID_ARGUMENT', `poorly formatted environment: no variable name on line '${line}'`);
    if (/\s/.test(key)) throw new TsbuildError('INVALID_ARGUMENT', `poorly formatted environment: variable '${key}' contains whitespaces`);
    result.push(line.includes('=') ? line : lookupEnv(line, environment));
  }
  return result;
}

/**
 * The ports a container exposes, as docker's Config.ExposedPorts: the image's, `--expose`'s,
 * and those `-p` publishes.
 */
export function exposedPorts(image: Readonly<Record<string, unknown>> | undefined, options: Pick<ContainerOptions, 'expose' | 'publish'>): Record<string, object> {
  const ports: Record<string, object> = {};
  for (const key of [...Object.keys(image ?? {}), ...(options.expose ?? []), ...(options.publish ?? []).map((spec) => `${spec.containerPort}/${spec.protocol}`)]) ports[key] = {};
  return ports;
}

/** `-e K`: K's value in ENVIRONMENT, or `K` alone (which removes it) when it has none. */
export function lookupEnv(key: string, environment: Readonly<Record<string, string | undefined>>): string {
  const value = environment[key];
  return value === undefined ? key : `${key}=${value}`;
}

/**
 * The exit status docker gives a run that failed: 127 when the command is not found, 126 when
 * it cannot be executed, 125 when the container could not run at all.
 */
export function runFailureStatus(error: unknown): number {
  if (!isTsbuildError(error, 'RUNTIME')) return 125;
  const cause = error.cause as ShimError | undefined;
  if (cause !== undefined && typeof cause === 'object' && cause.syscall === 'execve') {
    if (cause.errno === 2 || cause.errno === 20) return 127;
    if (cause.errno === 13 || cause.errno === 21) return 126;
    return 125;
  }
  // Other runtimes' words, matched as the docker CLI matches them.
  const text = error.message.toLowerCase();
  if (/executable file .*not found|no such file or directory/.test(text)) return 127;
  if (/permission denied|is a directory|open executable/.test(text)) return 126;
  return 125;
}

/** The image to run, from the store or fetched through `pull`. */
export async function findOrPull(options: Pick<RunContainerOptions, 'store' | 'image' | 'pull' | 'pullAlways' | 'platform'>): Promise<{ name?: string; image: Image }> {
  if (options.pullAlways === true && options.pull !== undefined) {
    // An image ID or a prefix of one names nothing a registry has: it is used as it is.
    const reference = /^(sha256:)?[0-9a-f]{6,64}$/.test(options.image) ? undefined : parseReference(options.image);
    if (reference !== undefined) await options.pull(reference);
  }
  let found = await findImage(options.store, options.image);
  let image = found === undefined ? undefined : await imageFor(options, found.descriptor);
  if (image === undefined) {
    // A name that is no reference is refused as such, as docker's CLI refuses it before it looks.
    const reference = parseReference(options.image);
    if (options.pull === undefined) {
      throw found === undefined ? new TsbuildError('NOT_FOUND', `run: unable to find image '${options.image}' locally`) : await platformMismatch(options, found.descriptor);
    }
    // The CLI has said `Unable to find image … locally`; the pull's own error follows it, as docker's.
    await options.pull(reference);
    found = await findImage(options.store, options.image);
    if (found === undefined) throw new TsbuildError('NOT_FOUND', `run: image '${options.image}' not found after pulling it`);
    image = await imageFor(options, found.descriptor);
    if (image === undefined) throw await platformMismatch(options, found.descriptor);
  }
  return { ...(found?.name === undefined ? {} : { name: found.name }), image };
}

/** The image DESCRIPTOR names for the wanted platform; undefined only when a platform was asked for and it is another's alone. */
async function imageFor(options: Pick<ContainerOptions, 'store' | 'image' | 'platform'>, descriptor: Descriptor): Promise<Image | undefined> {
  let image: Image;
  try {
    image = await storeImage(options.store, descriptor, options.platform);
  } catch (error) {
    if (!isTsbuildError(error)) throw error;
    // An index without the platform asked for: as missing, for a pull to complete.
    if (options.platform !== undefined && error.code === 'NOT_FOUND') return undefined;
    throw new TsbuildError(error.code, `run: image '${options.image}': ${error.message}`, { cause: error });
  }
  if (options.platform === undefined) return image;
  return platformMatches(imagePlatform(await image.config()), options.platform) ? image : undefined;
}

/**
 * docker's warning for an image run with no --platform that is another platform's than this
 * machine's (which runs it anyway: the kernel, or an emulator, decides), as moby's create says it.
 */
export function otherPlatformWarning(config: Pick<ImageConfig, 'os' | 'architecture' | 'variant'>): string | undefined {
  if (config.architecture === '' || config.os === '') return undefined;
  const platform = imagePlatform(config);
  // The plain host platform first: most images are, and it needs no look at the processor.
  if (platformMatches(platform, hostPlatform())) return undefined;
  const host = hostMaximumPlatform();
  if (platformMatches(platform, host)) return undefined;
  return `The requested image's platform (${formatPlatform(platform)}) does not match the detected host platform (${formatPlatform(host)}) and no specific platform was requested`;
}

/** Docker's words for an image in the store that is another platform's. */
async function platformMismatch(options: Pick<ContainerOptions, 'store' | 'image' | 'platform'>, descriptor: Descriptor): Promise<TsbuildError> {
  const actual = await storeImage(options.store, descriptor).then(
    async (image) => formatPlatform(imagePlatform(await image.config())),
    () => 'another platform',
  );
  return new TsbuildError('NOT_FOUND', `image with reference ${options.image} was found but does not match the specified platform: wanted ${formatPlatform(options.platform ?? hostPlatform())}, actual: ${actual}`);
}

const defaultHosts = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters'];

/** /etc/hostname, /etc/hosts and /etc/resolv.conf, written in DIRECTORY and bound over the image's. */
export async function writeEtcFiles(directory: string, hostname: string, network: NetworkMode, attachment?: NetworkAttachment, given: Pick<SecurityOptions, 'extraHosts' | 'dns' | 'dnsSearch' | 'dnsOptions'> = {}): Promise<MountSpec[]> {
  const extraHosts = given.extraHosts ?? [];
  const hosts = join(directory, 'hosts');
  const resolv = join(directory, 'resolv.conf');
  const hostnameFile = join(directory, 'hostname');
  await writeFile(hostnameFile, `${hostname}\n`);
  // `--add-host` lines come after the defaults, as docker writes them.
  const extra = extraHosts.map(addHostLine);
  if (network === 'host') {
    const own = await readFile('/etc/hosts', 'utf8').catch(() => `${defaultHosts.join('\n')}\n`);
    await writeFile(hosts, extra.length === 0 ? own : `${own.endsWith('\n') || own === '' ? own : `${own}\n`}${extra.join('\n')}\n`);
  } else {
    await writeFile(hosts, `${[...defaultHosts, ...extra, ...(attachment === undefined || attachment.namespace === 'host' ? [`127.0.1.1\t${hostname}`] : attachment.hostsEntries)].join('\n')}\n`);
  }
  // As docker with the host's network: the host's resolvers as they are.
  const base = attachment?.resolvConf ?? (await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
  await writeFile(resolv, resolvConfWith(base, given, attachment?.embeddedDns === true));
  return [
    { destination: '/etc/resolv.conf', type: 'bind', source: resolv, options: ['rbind', 'rw'] },
    { destination: '/etc/hostname', type: 'bind', source: hostnameFile, options: ['rbind', 'rw'] },
    { destination: '/etc/hosts', type: 'bind', source: hosts, options: ['rbind', 'rw'] },
  ];
}

/**
 * Docker creates a missing working directory (root's, 0755); one that is not a directory is an
 * error. VIEW is the container's root as it will see it (the mounted overlay, or, rootless, the
 * image's layers, which the runtime mounts later); what is missing is made in MAKE_IN (the same
 * mounted root, or the container's upper layer, where each directory made over one of the
 * image's takes its mode).
 */
export async function ensureWorkingDirectory(view: string, makeIn: string, workdir: string): Promise<void> {
  const notDirectory = (cause?: unknown): TsbuildError => new TsbuildError('INVALID_ARGUMENT', `create working directory ${workdir}: not a directory`, { cause });
  const host = await resolvePathInRoot(view, workdir);
  try {
    const info = await stat(host).catch(() => undefined);
    if (info?.isDirectory() === true) return;
    if (info !== undefined) throw notDirectory();
    if (makeIn === view) {
      await mkdir(host, { recursive: true, mode: 0o755 });
      return;
    }
    const parts = relative(view, host).split('/');
    for (let depth = 1; depth <= parts.length; depth++) {
      const below = await stat(join(view, ...parts.slice(0, depth))).catch(() => undefined);
      if (below !== undefined && !below.isDirectory()) throw notDirectory();
      const made = join(makeIn, ...parts.slice(0, depth));
      await mkdir(made).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
      await chmod(made, below === undefined ? 0o755 : below.mode & 0o7777);
    }
  } catch (error) {
    if (isTsbuildError(error)) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw notDirectory(error);
    throw new TsbuildError('RUNTIME', `create working directory ${workdir}: ${messageOf(error)}`, { cause: error });
  }
}

/**
 * The values of TASKS once every one has settled, or the first failure among them: what the
 * others made meanwhile is then in place for the caller to undo.
 */
async function allSettledOrThrow<T extends readonly unknown[]>(...tasks: { readonly [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(tasks);
  for (const result of results) if (result.status === 'rejected') throw result.reason;
  return results.map((result) => (result as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/** Runs a container of an image in the foreground and removes it; resolves to its exit status. */
export async function runContainer(options: RunContainerOptions): Promise<RunContainerResult> {
  if (!options.autoRemove) throw new TsbuildError('INVALID_ARGUMENT', 'run: only --rm containers can be run for now (ps, start and rm come later)');
  const workdirOption = options.workdir;
  if (workdirOption !== undefined && !workdirOption.startsWith('/')) {
    throw new TsbuildError('INVALID_ARGUMENT', `the working directory '${workdirOption}' is invalid, it needs to be an absolute path`);
  }
  const runtimeName = options.runtime === undefined || options.runtime === 'shim' ? 'runtime-shim' : options.runtime;
  const runtime = selectRuntime(runtimeName);
  const rootless = (process.getuid?.() ?? 0) !== 0;
  if (rootless && runtime.name !== 'runtime-shim') {
    // The container's root is an overlay only its own namespaces may mount, which the shim does.
    throw new TsbuildError('RUNTIME', `run: as an unprivileged user, containers run through the default runtime only for now, not ${runtime.name}`);
  }
  const { store } = options;
  // Side by side, as none needs another: the directories and mounts of runs killed before they
  // could clean up (removed by the next run), the image, the new container's ID and its owner.
  const [, { name, image }, id, owner] = await Promise.all([removeAbandonedContainers(store), findOrPull(options), newContainerId(), currentOwner()]);
  const fullImageConfig = await image.config();
  const imageConfig = fullImageConfig.config;
  const platformWarning = options.platform === undefined ? otherPlatformWarning(fullImageConfig) : undefined;
  if (platformWarning !== undefined) options.onWarning?.(platformWarning);
  const args = containerCommand(imageConfig, options);
  const workdir = posix.normalize(workdirOption ?? (imageConfig?.WorkingDir === undefined || imageConfig.WorkingDir === '' ? '/' : imageConfig.WorkingDir));
  if (!workdir.startsWith('/')) throw new TsbuildError('INVALID_ARGUMENT', `the working directory '${workdir}' is invalid, it needs to be an absolute path`);
  options.signal?.throwIfAborted();
  const layers = await image.layers();
  // An interrupt stops the unpack at its next chunk, its half-made snapshot removed: a layer of a
  // few MiB may hold terabytes of zeros.
  const lower = await unpackLayers(store, layers.map((layer) => layer.descriptor()), layers.map((layer) => layer.diffID()), options.signal === undefined ? {} : { signal: options.signal });
  options.signal?.throwIfAborted();

  const network = options.network ?? 'bridge';
  const hostname = options.hostname ?? (network === 'host' ? hostHostname() : id.slice(0, 12));
  const tty = options.tty === true;
  const userSpec = options.user ?? imageConfig?.User ?? '';
  const directory = containerDirectory(store, id);
  await mkdir(directory, { recursive: true, mode: 0o700 });
  let consoleSocket: ConsoleSocket | undefined;
  let terminal: TerminalCopy | undefined;
  let ran = false;
  let prepared: PreparedMounts | undefined;
  let unmountDevices: (() => Promise<void>) | undefined;
  let attachment: NetworkAttachment | undefined;
  let proxies: PortProxies | undefined;
  try {
    const base: ContainerRecord = {
      id,
      created: new Date().toISOString(),
      image: { ...(name === undefined ? {} : { name }), manifest: image.descriptor().digest, id: (await image.manifest()).config.digest },
      path: args[0] ?? '',
      args: args.slice(1),
      // As given (a path keeps its directory): the monitor starts the same runtime from it.
      config: {
        hostname,
        env: [],
        workingDir: workdir,
        user: userSpec,
        tty,
        openStdin: options.stdio.stdin !== undefined,
        // Every stream attached, as docker's run without -a.
        attach: { stdin: options.stdio.stdin !== undefined, stdout: true, stderr: true, stdinOnce: options.stdio.stdin !== undefined },
        network,
        runtime: runtimeName,
      },
      autoRemove: options.autoRemove,
      owner,
      state: { status: 'created' },
    };
    await writeContainerRecord(store, base);
    // Its streams are this process's from the start, as docker's CLI attaches before it starts one.
    await recordContainerEvent(store.root, base, 'attach');
    const publish = portsToPublish(options.publish ?? [], options.publishAll === true ? exposedPortSpecs(exposedPorts(imageConfig?.ExposedPorts, options)) : []);
    // The network and the root are made side by side, and both are awaited before a failure of
    // either is thrown, so that `finally` undoes whatever each made.
    const networkReady = async (): Promise<{ attached: NetworkAttachment; etcMounts: MountSpec[] }> => {
      const attached = await attachContainer(store, {
        containerId: id,
        ...(options.name === undefined ? {} : { name: options.name }),
        hostname,
        network,
        aliases: options.networkAliases ?? [],
        ...(options.ip === undefined ? {} : { ip: options.ip }),
        ports: publish,
      });
      attachment = attached;
      proxies = await publishPorts(attached.ports);
      return { attached, etcMounts: await writeEtcFiles(directory, hostname, network, attached) };
    };
    const rootReady = async (): Promise<{ rootfs: string; overlay: string | undefined; user: ContainerUserEntry; covered: PreparedMounts }> => {
      let empty: string | undefined;
      if (lower === undefined) {
        // An image without layers: overlayfs still wants a lower directory.
        empty = join(directory, 'empty');
        await mkdir(empty, { mode: 0o755 });
      }
      const imageRoot = lower ?? empty ?? directory;
      const { rootfs, upper, overlay } = await prepareContainerRoot(directory, imageRoot, { volatile: options.autoRemove, rootless });
      // Rootless, the overlay is not mounted yet: its content is still the image's.
      const view = overlay === undefined ? rootfs : imageRoot;
      const user = await lookupUser(view, userSpec);
      await ensureWorkingDirectory(view, overlay === undefined ? rootfs : upper, workdir);
      const requests = [...(await volumesFromRequests(store, options.volumesFrom ?? [], options.mounts ?? [])), ...(options.mounts ?? [])];
      prepared = await prepareMounts({ store, container: id, requests, imageVolumes: Object.keys(imageConfig?.Volumes ?? {}), root: view });
      unmountDevices = await mountVolumes(store, id, prepared.volumes);
      return { rootfs, overlay, user, covered: prepared };
    };
    const [{ attached, etcMounts }, { rootfs, overlay, user, covered }] = await allSettledOrThrow(networkReady(), rootReady());
    const env = containerEnvironment(imageConfig?.Env, options.env ?? [], { hostname, tty, home: user.home });
    options.signal?.throwIfAborted();
    const spec: ContainerSpec = {
      args,
      env,
      cwd: workdir,
      // As docker's getUser: the primary group first, then the groups listing the user.
      user: { uid: user.uid, gid: user.gid, additionalGids: [user.gid, ...user.additionalGids] },
      hostname,
      rootfs,
      ...(options.readOnly === true ? { readonlyRootfs: true } : {}),
      mounts: [...covered.mounts, ...etcMounts.filter((mount) => !covered.covers(mount.destination))],
      network: attached.namespace,
      sysctls: privateNetworkSysctls(network),
      terminal: tty,
      ...(tty && options.terminalSize !== undefined ? { consoleSize: options.terminalSize } : {}),
      ...(options.init === true ? { init: true } : {}),
      rootless,
      ...(overlay === undefined ? {} : { rootfsOverlay: overlay }),
      ...(defaultCgroupnsMode() === 'host' ? { hostNamespaces: ['cgroup' as const] } : {}),
      // This process is all that watches the container (no monitor of its own, unlike a run
      // with a record): killed, even with SIGKILL, it takes the container with it rather than
      // leave it running with nothing to wait for it, log it or remove it.
      killWithCaller: true,
      dockerDevices: true,
    };
    await runtime.prepare(directory, spec);
    options.signal?.throwIfAborted();

    // runc takes a console socket only when it detaches: in the foreground it makes the pty
    // itself and copies it to its own stdin and stdout, which are then this process's terminal.
    const runtimeCopiesTerminal = tty && runtime.name === 'runc';
    if (tty && !runtimeCopiesTerminal) consoleSocket = ConsoleSocket.open();
    let runtimePid: number | undefined;
    let exited = false;
    const pidFile = join(directory, 'pid');
    const running = runtime.run(directory, id, {
      stdio: runtimeCopiesTerminal ? 'inherit' : tty ? { stderr: options.stdio.stderr } : options.stdio,
      ...(runtimeCopiesTerminal ? { stderr: options.stdio.stderr } : {}),
      ...(consoleSocket === undefined ? {} : { consoleSocket: consoleSocket.path }),
      ownSession: true,
      logFile: join(directory, 'runtime.log'),
      pidFile,
      onSpawn: (pid) => {
        runtimePid = pid;
      },
    });
    const finished = running.finally(() => {
      exited = true;
    });
    // Awaited below; a failure meanwhile must not count as unhandled.
    finished.catch(() => undefined);
    const runningRecord: ContainerRecord = { ...base, config: { ...base.config, env, configEnv: containerConfigEnv(imageConfig?.Env, options.env ?? []) }, state: { status: 'running', ...(runtimePid === undefined ? {} : { runtimePid }), startedAt: new Date().toISOString() } };
    await recordVolumeMounts(store.root, id, covered.mounts, 'mount');
    // The container's first process, once the runtime wrote it: `exec` and `top` need it.
    const record = writeContainerRecord(store, runningRecord).then(async () => {
      while (!exited) {
        const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
        if (Number.isSafeInteger(pid) && pid > 0) {
          await writeContainerRecord(store, { ...runningRecord, state: { ...runningRecord.state, pid } });
          return;
        }
        // The runtime's exit ends the wait at once: a short command would otherwise wait out
        // the interval before its removal could start.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 10);
          void finished.catch(() => undefined).finally(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    });
    record.catch(() => undefined);
    options.onStart?.({
      id,
      kill(signal) {
        if (runtimePid === undefined || exited) return;
        try {
          process.kill(runtimePid, signal);
        } catch {
          // Gone already: its exit is on its way.
        }
      },
      resize(size) {
        terminal?.resize(size);
      },
    });
    if (consoleSocket !== undefined) {
      const master = await consoleSocket.receive(() => exited);
      if (master !== undefined) terminal = new TerminalCopy(master, options.stdio.stdin, options.stdio.stdout ?? options.stdio.stderr, options.terminalSize);
    }
    const result = await finished;
    await record;
    // Its record is removed, not rewritten, once it ended: the end is told as the monitor tells it.
    await recordVolumeMounts(store.root, id, covered.mounts, 'unmount');
    await recordContainerChange(store.root, runningRecord, { ...runningRecord, state: { ...runningRecord.state, status: 'exited', exitCode: result.status, finishedAt: new Date().toISOString() } });
    if (terminal !== undefined) {
      // The rest of the output is in the pty: it ends once the container's side is closed.
      const copied = terminal;
      await Promise.race([copied.done, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    }
    ran = true;
    return { id, status: result.status };
  } finally {
    terminal?.close();
    consoleSocket?.close();
    await proxies?.close();
    // A runtime killed before its own cleanup leaves the container's (empty) cgroups.
    await releaseContainerCgroups(id);
    // Only a namespace of its own has anything to undo (attachContainer undoes its own failures).
    if (attachment?.address !== undefined) {
      await detachContainer(store, id).catch((error: unknown) => {
        if (ran) throw error;
      });
    }
    // A failure to clean up is reported, unless the run failed already: that one says more.
    try {
      await removeContainerDirectory(directory).catch((error: unknown) => {
        if (ran) throw error;
      });
    } finally {
      await unmountDevices?.().catch((error: unknown) => {
        if (ran) throw error;
      });
      // docker's --rm takes the container's anonymous volumes with it; named ones stay.
      await prepared?.release({ removeAnonymous: options.autoRemove }).catch((error: unknown) => {
        if (ran) throw error;
      });
    }
  }
}
