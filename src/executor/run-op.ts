/**
 * RUN: the command in a sandbox through the OCI runtime, on a writable snapshot of the stage's
 * root filesystem, as BuildKit's exec op runs it: hostname `buildkitsandbox` (or the build's),
 * generated /etc/hosts and /etc/resolv.conf mounted over the image's, Docker's default
 * capabilities, the stage's environment and the ARGs in effect, its WORKDIR (made when missing)
 * and USER; its `--mount`s (run-mounts.ts), `--network`, and `--security=insecure` when the build
 * allows it.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { chmod, lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TsbuildError, isTsbuildError, mkdirInRoot, resolveInRoot, uniqueHex, type Platform } from '../common/index.js';
import type { LayerRef } from '../cache/index.js';
import type { ExecKeyInput, ProxyEnv } from '../planner/index.js';
import type { ResolvedInstruction } from '../planner/index.js';
import { defaultCapabilities, hardLimit, heldCapabilities, overrideEnvironment, type MountSpec, type OciRuntime } from '../runtime/index.js';
import { shellCommand, type ConfigState } from './image-config.js';
import { StepCanceled, type StepHandle } from './progress.js';
import type { Snapshotter } from './snapshots.js';
import { resolveUser } from './user.js';
import { planMounts, type MountSources } from './run-mounts.js';
import { SecretRedactor } from './redact.js';
import { emulationHint } from './emulation.js';

/** BuildKit's executor's hostname when the build names none. */
export const defaultHostname = 'buildkitsandbox';

type RunInstruction = Extract<ResolvedInstruction, { kind: 'RUN' }>;

export interface RunEnvironment {
  readonly hostsFile: string;
  /** resolv.conf of a step with a network of its own, or on the host's that did not ask for it (BuildKit's resolv.conf). */
  readonly resolvConf: string;
  /** resolv.conf of a step that asked for the host's network (BuildKit's resolv-host.conf). */
  readonly resolvConfHost: string;
  /** A directory of the build's own for bundles and inline files. */
  readonly scratch: string;
}

export interface RunExecution {
  readonly snapshots: Snapshotter;
  readonly runtime: OciRuntime;
  readonly layers: readonly LayerRef[];
  readonly step: StepHandle;
  readonly sourceDateEpoch: number | undefined;
  /** Aborted when another step of the build fails: the step's process is killed, and the step canceled. */
  readonly canceled?: AbortSignal;
}

export interface RunPlan {
  readonly keyInput: ExecKeyInput;
  readonly createdBy: string;
  execute(execution: RunExecution): Promise<LayerRef | undefined>;
}

/**
 * The stubs of the files BuildKit mounts over: an image that lacks them gets them only for the
 * step, as its mount stub cleaner removes them (and the parents it made for them) afterwards.
 */
const sandboxStubs = ['/etc/hosts', '/etc/resolv.conf'];

/**
 * Where the runtime mounts proc, the /dev tmpfs and sysfs. runc makes those missing in the image
 * as directories (0755, root's, under dockerd's umask 022) that no stub cleaner removes: the RUN
 * that first runs on a root without them (a scratch stage given a shell) keeps them in its
 * layer, empty, with the time it ran. What the runtime mounts inside them (/dev/pts, /dev/shm,
 * /dev/mqueue, /sys/fs/cgroup) is made in the tmpfs or the sysfs, never in a layer.
 */
const runtimeMountPoints = ['/proc', '/dev', '/sys'];

/** A heredoc that is the whole command: `RUN <<EOF` (BuildKit's MustParseHeredoc). */
export const loneHeredoc = /^[0-9]*<<-?\s*(["']?)[A-Za-z_][A-Za-z0-9_]*\1$/;

/**
 * BuildKit's runCommandString: `|2 A=1 B=2 /bin/sh -c make` when ARGs are in effect, one pair per
 * ARG declaration of the stage (a name declared twice is there twice), each with the value the
 * name has when the step runs (an ENV of the same name wins), or else the declaration's.
 */
function runCommandString(args: readonly string[], instruction: RunInstruction, env: ReadonlyMap<string, string>): string {
  const buildEnv = instruction.args.map((arg) => `${arg.key}=${env.get(arg.key) ?? arg.value ?? ''}`);
  return [...(buildEnv.length > 0 ? [`|${buildEnv.length}`, ...buildEnv] : []), ...args].join(' ');
}

/**
 * BuildKit gives a RUN no rlimits of its own (its spec's are reset), so the step inherits the
 * builder's, and the builder, a Go program, raised its open-files soft limit to the hard one
 * when it started: a RUN may open as many files as the hard limit allows.
 */
function buildProcessNofile(): { soft: number; hard: number } {
  const hard = hardLimit('RLIMIT_NOFILE');
  const limit = hard === undefined || !Number.isFinite(hard) ? 1024 * 1024 : hard;
  return { soft: limit, hard: limit };
}

function sandboxKey(options: RunSandboxOptions | undefined): ExecKeyInput['sandbox'] {
  if (options === undefined) return undefined;
  const ulimits = Object.entries(options.rlimits ?? {}).map(([name, limit]) => `${name}=${limit.soft}:${limit.hard}`);
  const key = {
    ...((options.extraHosts ?? []).length === 0 ? {} : { extraHosts: options.extraHosts }),
    ...(options.hostname === undefined ? {} : { hostname: options.hostname }),
    ...(ulimits.length === 0 ? {} : { ulimits }),
    ...(options.shmSize === undefined ? {} : { shmSize: options.shmSize }),
  };
  return Object.keys(key).length === 0 ? undefined : key;
}

interface InlineScript {
  readonly name: string;
  readonly data: string;
}

/** The command line after heredocs and the shell, as dispatchRun makes it. */
function commandLine(instruction: RunInstruction, config: ConfigState): { args: string[]; script: InlineScript | undefined } {
  let args = [...instruction.cmdLine];
  let script: InlineScript | undefined;
  const files = instruction.files;
  if (files.length > 0) {
    const first = files[0];
    if (args.length !== 1 || !instruction.shellForm || first === undefined) {
      throw new TsbuildError('DOCKERFILE_PARSE', `parsing produced an invalid run command: ${JSON.stringify(args)}`);
    }
    if (loneHeredoc.test((args[0] ?? '').trim())) {
      const data = first.chomp ? first.data.replace(/^\t+/gm, '') : first.data;
      // Whether the document is a script is asked of it as written: a `<<-` one whose shebang
      // is indented by tabs runs through the shell, as under BuildKit, though it loses the tabs.
      if (first.data.startsWith('#!')) {
        script = { name: first.name, data };
        args = [`/dev/pipes/${first.name}`];
      } else {
        args = [data];
      }
    } else {
      args = [[args[0], ...files.map((file) => `\n${file.data}${file.name}`)].join('')];
    }
  }
  if (instruction.shellForm) args = shellCommand(config, args);
  return { args, script };
}

/** What a build gives every RUN's sandbox besides BuildKit's defaults (docker build's flags). */
export interface RunSandboxOptions {
  /** `--add-host`: `/etc/hosts` lines, `IP\tNAME`. */
  readonly extraHosts?: readonly string[];
  /** The sandbox's hostname instead of `buildkitsandbox` (the build argument BUILDKIT_SANDBOX_HOSTNAME). */
  readonly hostname?: string;
  /** `--ulimit`: rlimits by their runtime-spec names, over the open-files limit BuildKit gives. */
  readonly rlimits?: Readonly<Record<string, { readonly soft: number; readonly hard: number }>>;
  /** `--shm-size`, bytes. */
  readonly shmSize?: number;
}

export interface RunOptions {
  /** The stage's platform, for what a program of another one needs to start. */
  readonly platform?: Platform;
  readonly sandbox: () => Promise<RunEnvironment>;
  readonly sandboxOptions?: RunSandboxOptions;
  /** The network of a step that asks for `default`. */
  readonly defaultNetwork: 'host' | 'none';
  /** The build asked for the host's network (`--network host`): BuildKit's steps then ask for it too. */
  readonly hostNetworkAsked?: boolean;
  /** Entitlements the build was started with (`--allow`): `security.insecure`, `network.host`. */
  readonly allow: ReadonlySet<string>;
  readonly mounts: MountSources;
  /** Proxy settings from the build args, given to the process but kept out of the step's key. */
  readonly proxy?: ProxyEnv;
}

/**
 * The variables BuildKit's executor adds for the proxy build args (each in upper and lower
 * case), after the step's own, in the order of its ProxyEnv.
 */
export function proxyEnvironment(proxy: ProxyEnv | undefined): string[] {
  if (proxy === undefined) return [];
  const names: ReadonlyArray<readonly [keyof ProxyEnv, string]> = [
    ['httpProxy', 'HTTP_PROXY'],
    ['httpsProxy', 'HTTPS_PROXY'],
    ['ftpProxy', 'FTP_PROXY'],
    ['noProxy', 'NO_PROXY'],
    ['allProxy', 'ALL_PROXY'],
  ];
  const env: string[] = [];
  for (const [field, name] of names) {
    const value = proxy[field];
    if (value !== undefined && value !== '') env.push(`${name}=${value}`, `${name.toLowerCase()}=${value}`);
  }
  return env;
}

export async function runStep(instruction: RunInstruction, config: ConfigState, options: RunOptions): Promise<RunPlan> {
  if (instruction.security === 'insecure' && !options.allow.has('security.insecure')) {
    // BuildKit's entitlements: the build must have been started allowing it.
    throw new TsbuildError('INVALID_ARGUMENT', 'RUN --security=insecure: entitlement security.insecure is not allowed (start the build with --allow security.insecure)');
  }
  if (instruction.network === 'host' && !options.allow.has('network.host')) {
    // BuildKit checks each step's host network against the build's entitlements, whatever the
    // default network of the other steps is (ValidateEntitlements).
    throw new TsbuildError('INVALID_ARGUMENT', 'RUN --network=host: entitlement network.host is not allowed (start the build with --allow network.host or --network host)');
  }
  const { args, script } = commandLine(instruction, config);
  const cwd = config.workingDir === undefined || config.workingDir === '' ? '/' : config.workingDir;
  const mountPlan = await planMounts(instruction.mounts, cwd, options.mounts);
  const pairs = instruction.env.pairs();
  const ownEnv = pairs.map(([key, value]) => `${key}=${value}`);
  // SSH_AUTH_SOCK names the first agent socket unless the step sets it itself.
  const env = [...ownEnv, ...mountPlan.env.filter((entry) => !ownEnv.some((own) => own.startsWith(`${entry.split('=')[0] ?? ''}=`)))];
  const user = config.user ?? '';
  const network = instruction.network === 'none' ? 'none' : instruction.network === 'host' ? 'host' : options.defaultNetwork;
  // BuildKit's NetMode_HOST: a step that asked for the host's network, or whose build did.
  const askedHostNetwork = instruction.network === 'host' || (instruction.network !== 'none' && options.hostNetworkAsked === true);
  const sandbox = sandboxKey(options.sandboxOptions);
  const keyInput: ExecKeyInput = {
    args,
    env,
    cwd,
    user,
    network,
    security: instruction.security,
    mounts: [...(script === undefined ? [] : [{ type: 'inline', name: script.name, data: script.data }]), ...mountPlan.keys],
    ...(sandbox === undefined ? {} : { sandbox }),
  };
  return {
    keyInput,
    createdBy: `RUN ${runCommandString(args, instruction, new Map(pairs))} # buildkit`,
    async execute(execution: RunExecution): Promise<LayerRef | undefined> {
      const environment = await options.sandbox();
      // A canceled build stops unpacking the base (it may hold terabytes of zeros) and is canceled.
      const active = await execution.snapshots.prepare(execution.layers, execution.canceled).catch((error: unknown) => {
        throw execution.canceled?.aborted === true ? new StepCanceled() : error;
      });
      const bundle = join(environment.scratch, `run-${uniqueHex(6)}`);
      let releaseMounts: (() => Promise<void>) | undefined;
      try {
        const rootfs = active.path;
        const created: string[] = [];
        // Where the sandbox will make it: links of the image followed inside the root, as the
        // runtime resolves a mount's destination.
        const missing = async (path: string): Promise<string | undefined> => {
          const resolved = await resolveInRoot(active.lower, path);
          return (await lstat(resolved).then(() => true, () => false)) ? undefined : resolved.slice(active.lower.length);
        };
        for (const path of sandboxStubs) {
          const stub = await missing(path);
          if (stub !== undefined) created.push(stub);
        }
        for (const path of runtimeMountPoints) {
          // Made here rather than by the runtime, so that the layer holds what runc's would
          // whatever this process's umask, and the same bytes rootful and rootless. One that is
          // there but not a directory is left for the runtime to refuse, as runc does.
          if ((await missing(path)) !== undefined) await mkdirInRoot(rootfs, path, { mode: 0o755, uid: 0, gid: 0 });
        }
        // No USER is root with root's groups (its own, and those listing it), as BuildKit runs it.
        const identity = await resolveUser(rootfs, user);
        // BuildKit makes the working directory when the image lacks it, owned by the user, with
        // moby's MkdirAllAndChown: 0755 even below a default ACL.
        await mkdirInRoot(rootfs, cwd, { mode: 0o755, uid: identity.uid, gid: identity.gid, exactMode: true });
        // resolv.conf before hosts, in BuildKit's order and with its options (its
        // generateMountOpts, withROBind): a RUN reading /proc/mounts sees them so.
        const sandboxFileOptions = ['rbind', 'ro', 'nosuid', 'noexec', 'nodev'];
        const mounts: MountSpec[] = [
          { destination: '/etc/resolv.conf', source: askedHostNetwork ? environment.resolvConfHost : environment.resolvConf, options: sandboxFileOptions },
          { destination: '/etc/hosts', source: environment.hostsFile, options: sandboxFileOptions },
        ];
        await mkdir(bundle, { mode: 0o700 });
        const prepared = await mountPlan.prepare(rootfs, active.lower, bundle);
        releaseMounts = prepared.release;
        created.push(...prepared.created);
        mounts.push(...prepared.mounts);
        if (script !== undefined) {
          const scriptPath = join(bundle, 'inline', script.name);
          await mkdir(join(bundle, 'inline'), { mode: 0o755 });
          await writeFile(scriptPath, script.data);
          await chmod(scriptPath, 0o755);
          mounts.push({ destination: `/dev/pipes/${script.name}`, source: scriptPath, options: ['rbind', 'ro'] });
        }
        await execution.runtime.prepare(bundle, {
          args,
          // BuildKit appends the proxy variables to the step's environment (a declared ARG of
          // the same name is replaced, not repeated); they are not part of the step's key.
          env: overrideEnvironment([...env, ...prepared.env], proxyEnvironment(options.proxy)),
          cwd,
          user: { uid: identity.uid, gid: identity.gid, ...(identity.additionalGids.length === 0 ? {} : { additionalGids: identity.additionalGids }) },
          hostname: options.sandboxOptions?.hostname ?? defaultHostname,
          rootfs,
          mounts,
          killWithCaller: true,
          network,
          rlimits: { RLIMIT_NOFILE: buildProcessNofile(), ...options.sandboxOptions?.rlimits },
          ...(options.sandboxOptions?.shmSize === undefined ? {} : { shmSize: options.sandboxOptions.shmSize }),
          ...(instruction.security === 'insecure' ? { capabilities: await heldCapabilities(), unmasked: true, allDevices: true } : { capabilities: defaultCapabilities }),
        });
        const redactor = new SecretRedactor(prepared.secrets);
        const show = (stream: 'stdout' | 'stderr', data: Buffer): void => {
          if (data.length > 0) execution.step.log(stream, data);
        };
        const failed = `process ${JSON.stringify(args.join(' '))} did not complete successfully`;
        const container = `tsbuild-${uniqueHex(8)}`;
        let result;
        let running = true;
        let runtimePid: number | undefined;
        const stop = (): void => void killWhileRunning(execution.runtime, container, () => runtimePid, () => running);
        // Read afresh each time: the signal changes while the step runs.
        const canceled = (): boolean => execution.canceled?.aborted === true;
        if (canceled()) throw new StepCanceled();
        execution.canceled?.addEventListener('abort', stop, { once: true });
        try {
          result = await execution.runtime.run(bundle, container, {
            stdio: 'pipe',
            onOutput: (stream, chunk) => show(stream, redactor.push(stream, chunk)),
            onSpawn: (pid) => {
              runtimePid = pid;
            },
          });
        } catch (error) {
          if (canceled()) throw new StepCanceled();
          // A program that could not start (missing, not executable, no interpreter): named by
          // its command, as BuildKit names a step that failed, not by the container's inner name.
          const prefix = `run container ${container}: `;
          if (isTsbuildError(error, 'RUNTIME') && error.message.startsWith(prefix)) {
            const hint = /exec format error/i.test(error.message) && options.platform !== undefined ? await emulationHint(options.platform) : undefined;
            throw new TsbuildError('RUNTIME', `${failed}: ${error.message.slice(prefix.length)}${hint === undefined ? '' : `; ${hint}`}`, { cause: error.cause ?? error });
          }
          throw error;
        } finally {
          running = false;
          execution.canceled?.removeEventListener('abort', stop);
          for (const stream of ['stdout', 'stderr'] as const) show(stream, redactor.flush(stream));
        }
        if (canceled()) throw new StepCanceled();
        if (result.status !== 0) {
          throw new TsbuildError('RUNTIME', `${failed}: exit code: ${result.status}`);
        }
        return await active.commit({ created, ...(execution.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: execution.sourceDateEpoch }) });
      } finally {
        await active.discard();
        // The config holds secrets given as environment variables: it goes with the bundle.
        await rm(bundle, { recursive: true, force: true });
        await releaseMounts?.();
      }
    },
  };
}

/**
 * Kills a step's container until its run ends. A runtime that keeps state for the run (runc,
 * crun) kills it by name; the runtime-shim's run keeps none, and forwards no SIGKILL, so the
 * container's first process, the runtime's child, is killed itself: its pid namespace goes with it.
 */
async function killWhileRunning(runtime: OciRuntime, container: string, runtimePid: () => number | undefined, running: () => boolean): Promise<void> {
  while (running()) {
    try {
      await runtime.kill(container, 'KILL');
      return;
    } catch {
      const pid = runtimePid();
      if (pid !== undefined && killChildren(pid)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Sends SIGKILL to every child of PID (of any of its threads); whether there was one. */
function killChildren(pid: number): boolean {
  let killed = false;
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  for (const thread of threads) {
    let children: string;
    try {
      children = readFileSync(`/proc/${pid}/task/${thread}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const child of children.split(' ').filter((word) => word !== '')) {
      try {
        process.kill(Number(child), 'SIGKILL');
        killed = true;
      } catch {
        // Gone meanwhile.
      }
    }
  }
  return killed;
}
