import { constants as osConstants } from 'node:os';
import { Option, type Command } from 'commander';
import { TsbuildError, familiarReference, isTsbuildError, type ImageReference, type Platform } from '../../common/index.js';
import type { RegistryClient } from '../../registry/index.js';
import { hostNetworkPortsWarning, parsePortSpec, runContainer, runFailureStatus, type AttachConfig, type RunningContainer } from '../../runtime/index.js';
import type { Store } from '../../store/index.js';
import { ExitError, clientSide, runError, type CliIo } from '../io.js';
import { isUserNetwork, runInUserNamespace } from '../rootless.js';
import { addRootOption, storeFromOptions } from '../store-options.js';
import { addContainerOptions, containerEnvironment, platformOf, mountRequests, needsRecord, parseExposeFlag, pullPolicy, type ContainerFlags } from './container-options.js';
import { addInsecureRegistryOption, collect } from '../common-options.js';

/** The signals docker's CLI passes on to the container (its sig-proxy). */
export const forwardedSignals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

interface RunFlags extends ContainerFlags {
  readonly detach?: boolean;
  readonly attach: string[];
  /** `--sig-proxy` (docker's default true); `--sig-proxy=false` gives false. */
  readonly sigProxy?: boolean;
  readonly detachKeys?: string;
  readonly insecureRegistry: string[];
}

/**
 * docker's `--sig-proxy`, a flag true by default: `--sig-proxy=false` (or `=0`, `=f`…) reaches
 * commander as the hidden `--no-sig-proxy` (src/cli/go-bool-flags.ts).
 */
export function addSigProxyOption(command: Command, description: string): Command {
  return command.option('--sig-proxy', description).addOption(new Option('--no-sig-proxy').hideHelp());
}

export type AttachedStream = 'stdin' | 'stdout' | 'stderr';

/**
 * `-a STREAM`s as docker's CLI checks them (any case; none given attaches all three), and the
 * streams attached; docker's words and status for a stream it does not know, or with -d.
 * COMMAND names the command in the hint (`run`, `create`).
 */
export function attachedStreams(io: CliIo, values: readonly string[], detach: boolean, command = 'run'): ReadonlySet<AttachedStream> {
  const streams = new Set<AttachedStream>();
  for (const value of values) {
    const stream = value.toLowerCase();
    if (stream !== 'stdin' && stream !== 'stdout' && stream !== 'stderr') {
      // A flag's value: docker's CLI says it as it says any flag error, status 125.
      io.stderr.write(`invalid argument ${JSON.stringify(value)} for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR\nSee 'tsbuild ${command} --help'.\n`);
      throw new ExitError(125);
    }
    streams.add(stream);
  }
  if (streams.size > 0 && detach) {
    io.stderr.write('Conflicting options: -a and -d\n');
    throw new ExitError(1);
  }
  return streams.size > 0 ? streams : new Set<AttachedStream>(['stdin', 'stdout', 'stderr']);
}

/**
 * docker's Config.AttachStdin/Stdout/Stderr and StdinOnce, as its CLI sets them: the streams
 * `-a` named (stdout and stderr when none), stdin too with -i, StdinOnce with -i and stdin
 * attached; nothing with -d.
 */
export function attachConfig(values: readonly string[], options: { readonly interactive: boolean; readonly detach: boolean }): AttachConfig {
  if (options.detach) return { stdin: false, stdout: false, stderr: false, stdinOnce: false };
  const named = new Set(values.map((value) => value.toLowerCase()));
  const stdin = named.has('stdin') || options.interactive;
  return { stdin, stdout: named.size === 0 || named.has('stdout'), stderr: named.size === 0 || named.has('stderr'), stdinOnce: stdin && options.interactive };
}

/** The pull `run` and `create` do for an image not in the store, with docker's words. */
export function imageFetcher(
  io: CliIo,
  flags: { readonly insecureRegistry: string[]; readonly pull?: string; readonly quiet?: boolean },
  store: Store,
  signal: AbortSignal,
  platform?: Platform,
): { fetch: ((reference: ImageReference) => Promise<void>) | undefined; pullAlways: boolean; close: () => Promise<void> } {
  const policy = pullPolicy({ pull: flags.pull ?? 'missing' });
  let client: RegistryClient | undefined;
  return {
    pullAlways: policy === 'always',
    fetch: policy === 'never' ? undefined : async (reference) => {
      // `-q`: the pull says nothing.
      const say = (text: string): void => void (flags.quiet === true ? undefined : io.stderr.write(text));
      if (policy === 'missing') say(`Unable to find image '${familiarReference(reference)}' locally\n`);
      // The registry client (undici) is loaded only when an image is pulled: most runs need none.
      const [{ pull }, { registryClient }, { TransferProgress, afterPullingFrom }] = await Promise.all([import('../../registry/index.js'), import('./registry-options.js'), import('./transfer-progress.js')]);
      client = registryClient(flags);
      const progress = flags.quiet === true ? undefined : new TransferProgress(io, 'pull');
      const result = await pull({ reference, store, client, ...(platform === undefined ? {} : { platform }), onProgress: afterPullingFrom(reference, say, progress?.listener), signal });
      progress?.finish();
      say(`Digest: ${result.digest}\nStatus: ${result.referenceUpdated ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarReference(reference)}\n`);
    },
    async close() {
      await client?.close();
    },
  };
}

/**
 * `tsbuild run`: the one command that gives its process's own stdin, terminal and signals to
 * something else (the container), so it reaches past the injected streams for them; its output
 * still goes to `io`.
 */
export function registerRun(program: Command, io: CliIo): void {
  // The container's arguments follow the image: `run busybox ls -l` must leave -l to ls.
  program.enablePositionalOptions();
  const command = addContainerOptions(
    program
      .command('run')
      .description('run a command in a new container of an image')
      .argument('<image>', 'image reference, ID or digest')
      .argument('[args...]', "command and arguments (default: the image's)")
      .passThroughOptions()
      // docker's -h is the hostname.
      .helpOption('--help', 'display help for command')
      .option('-d, --detach', 'run in the background and print the container ID')
      .option('-a, --attach <stream>', 'attach to STDIN, STDOUT or STDERR only (repeatable; default all three)', collect, []),
  );
  addSigProxyOption(command, 'pass the signals tsbuild receives on to the container (default true; not with a terminal)');
  command.option('--detach-keys <keys>', 'the keys that detach, leaving the container running (default detachKeys of docker\'s config.json, else ctrl-p,ctrl-q)');
  addRootOption(addInsecureRegistryOption(command)).action(async (image: string, args: string[], flags: RunFlags) => {
    const inner = await runInUserNamespace(flags.root, { userNetwork: isUserNetwork(flags.network) });
    if (inner !== undefined) throw new ExitError(inner);
    // Only a container with a record has its output apart from what is attached (its log), and
    // a monitor of its own that it may be left to: detached from (-i's detach keys) or left by
    // this process (--sig-proxy=false: a signal ends this process alone, as docker's CLI).
    if (flags.detach === true || flags.rm !== true || needsRecord(flags) || flags.attach.length > 0 || flags.interactive === true || flags.sigProxy === false || flags.detachKeys !== undefined) {
      // Loaded only here: the foreground `run --rm` starts without it.
      const { runWithRecord } = await import('./containers.js');
      await runWithRecord(io, image, args, flags);
      return;
    }
    // Here without -i: the container's stdin is empty, and a terminal (-t) its output alone.
    const tty = flags.tty === true;
    let container: RunningContainer | undefined;
    let pendingSignal: NodeJS.Signals | undefined;
    const abort = new AbortController();
    const onSignal = (signal: NodeJS.Signals): void => {
      if (container !== undefined) container.kill(signal);
      else {
        pendingSignal ??= signal;
        abort.abort(new TsbuildError('RUNTIME', `run: interrupted by ${signal}`));
      }
    };
    const stdout = process.stdout;
    const onResize = (): void => container?.resize({ rows: stdout.rows, columns: stdout.columns });
    let fetcher: ReturnType<typeof imageFetcher> | undefined;
    try {
      for (const signal of forwardedSignals) process.on(signal, onSignal);
      // The flags and files docker's CLI reads itself: their errors are its own.
      const { env, mounts, publish, expose, platform } = await clientSide(async () => ({
        platform: platformOf(flags),
        env: await containerEnvironment(flags),
        mounts: mountRequests(flags),
        publish: flags.publish.flatMap(parsePortSpec),
        expose: flags.expose.flatMap(parseExposeFlag),
      }));
      const store = await storeFromOptions(flags);
      fetcher = imageFetcher(io, flags, store, abort.signal, platform);
      if (tty && stdout.isTTY) stdout.on('resize', onResize);
      if (flags.network === 'host' && flags.publish.length > 0) io.stderr.write(`WARNING: ${hostNetworkPortsWarning}\n`);
      const result = await runContainer({
        store,
        image,
        ...(fetcher.fetch === undefined ? {} : { pull: fetcher.fetch }),
        pullAlways: fetcher.pullAlways,
        ...(platform === undefined ? {} : { platform }),
        args,
        ...(flags.entrypoint === undefined ? {} : { entrypoint: flags.entrypoint }),
        env,
        ...(flags.workdir === undefined ? {} : { workdir: flags.workdir }),
        ...(flags.user === undefined ? {} : { user: flags.user }),
        ...(flags.network === undefined ? {} : { network: flags.network }),
        ...(flags.name === undefined ? {} : { name: flags.name }),
        ...(flags.hostname === undefined ? {} : { hostname: flags.hostname }),
        networkAliases: flags.networkAlias,
        publish,
        ...(flags.publishAll === true ? { publishAll: true } : {}),
        ...(expose.length === 0 ? {} : { expose }),
        ...(flags.volumesFrom.length === 0 ? {} : { volumesFrom: flags.volumesFrom }),
        ...(flags.ip === undefined ? {} : { ip: flags.ip }),
        mounts,
        ...(flags.readOnly === true ? { readOnly: true } : {}),
        tty,
        ...(flags.init === true ? { init: true } : {}),
        ...(tty && stdout.isTTY ? { terminalSize: { rows: stdout.rows, columns: stdout.columns } } : {}),
        autoRemove: true,
        ...(flags.runtime === undefined ? {} : { runtime: flags.runtime }),
        stdio: { stdout: io.stdout, stderr: io.stderr },
        onWarning: (message) => io.stderr.write(`WARNING: ${message}\n`),
        signal: abort.signal,
        onStart: (running) => {
          container = running;
          if (pendingSignal !== undefined) running.kill(pendingSignal);
        },
      });
      if (result.status !== 0) throw new ExitError(result.status);
    } catch (error) {
      if (error instanceof ExitError) throw error;
      if (pendingSignal !== undefined && container === undefined) throw new ExitError(128 + osConstants.signals[pendingSignal]);
      if (!isTsbuildError(error)) throw error;
      // docker's statuses: 125 when the container could not run, 126 and 127 for its command.
      const status = runFailureStatus(error);
      io.stderr.write(runError(error, status));
      throw new ExitError(status);
    } finally {
      for (const signal of forwardedSignals) process.removeListener(signal, onSignal);
      stdout.removeListener('resize', onResize);
      await fetcher?.close();
    }
  });
}
