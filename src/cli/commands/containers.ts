/**
 * The container commands with docker's flags and words: create, start, stop, kill, restart,
 * rm, ps, logs, exec, cp, wait, port, top, rename, `container …` (the same under docker's group
 * names, and prune), `run` of a container with a record, and the hidden `container-monitor`.
 */
import { stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { TsbuildError, goTypeName, isTsbuildError, parseGoDuration } from '../../common/index.js';
import {
  connectAttach,
  type AttachConfig,
  type AttachedClient,
  type AttachStreams,
  containerDirectory,
  writableLayerSize,
  containerNetworks,
  sharesNamespace,
  containerImage,
  copyFromContainer,
  copyToContainer,
  createContainer,
  defaultMaskedPaths,
  defaultReadonlyPaths,
  execInContainer,
  recordContainerEvent,
  findContainer,
  findNetwork,
  networks,
  killContainer,
  ownerAlive,
  type ContainerOwner,
  pauseContainer,
  unpauseContainer,
  updateContainer,
  updateContainerResources,
  listContainerRecords,
  removeAbandonedContainers,
  normalizeSignal,
  observeState,
  parseVolumeFlag,
  parseDetachKeys,
  pruneContainers,
  rawTerminalOutput,
  readContainerRecord,
  readLog,
  removeContainer,
  removeContainerLink,
  renameContainer,
  runFailureStatus,
  startContainer,
  stopContainer,
  topOfContainer,
  waitContainer,
  volumesDirectory,
  type ContainerRecord,
  type MountSpec,
  type NetworkRecord,
  type ObservedState,
  type ThrottleDevice,
} from '../../runtime/index.js';
import { listImages, type Store } from '../../store/index.js';
import { compareNatural, dockerTable, formatBytes, formatCreatedSince, formatGoTime, humanDuration, topTable } from '../format.js';
import { TemplateExecuteError, TemplateParseError, formatListTemplate, nilSlice, parseGoTemplate, sortedKeys } from '../go-template.js';
import { containerShape } from '../inspect-shapes.js';
import { ClientError, ExitError, clientSide, daemonError, errorLine, runError, type CliIo } from '../io.js';
import { detachKeysText, listFormat } from '../docker-config.js';
import { watchInterrupts } from '../interrupts.js';
import { delegateCommand } from '../program.js';
import { containersOnUserNetwork, runInMonitorNamespaces, runInUserNamespace } from '../rootless.js';
import { printInspected } from './inspect-output.js';
import { builtinId, endpointId } from './network.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';
import { tsbuildEntry } from '../version.js';
import { addContainerOptions, claimCidfile, platformOf, createOptions, environment, flagWarnings, parseRestartPolicy, resourceOptions, type ContainerFlags, type ResourceFlags } from './container-options.js';
import { addInsecureRegistryOption, collect, collectFilter } from '../common-options.js';
import { pruneSelection } from '../prune-filter.js';
import { attachConfig, attachedStreams, forwardedSignals, imageFetcher, type AttachedStream } from './run.js';
import { holdTerminal } from './attach.js';
import { confirmRemoval } from '../prompt.js';

/** argv of the monitor a container is handed to: this same tsbuild, its hidden command. */
function monitorCommand(store: Store): string[] {
  return [process.execPath, tsbuildEntry(), 'container-monitor', '--root', store.root];
}

/** The exit status a failed start stands for (127 for a command not found, as docker). */
function startFailureStatus(error: unknown): number {
  const cause = (error as { cause?: { exitCode?: unknown } } | undefined)?.cause;
  if (cause !== undefined && typeof cause.exitCode === 'number') return cause.exitCode;
  return runFailureStatus(error);
}

/**
 * Reports a TsbuildError as docker does and exits with STATUS: what its CLI refuses (status 1)
 * and what an exec's start reports alone; what its daemon refuses after `Error response from
 * daemon: `; for `run` (and `create`'s own checks of its flags) as run words it: the program's
 * name first, a closing period, and where to read the help when no container was made (125).
 */
function fail(io: CliIo, error: unknown, status: number, command?: 'run' | 'create' | 'exec'): never {
  if (error instanceof ExitError) throw error;
  if (!isTsbuildError(error)) throw error;
  if (command === 'create') {
    // docker's create: a flag its CLI cannot read is said as run says it (125); anything after
    // (a name in use, an image it cannot pull, its daemon's checks) is that error alone, status 1.
    const flagError = error instanceof ClientError || error.message.startsWith('invalid argument "');
    io.stderr.write(flagError ? runError(error, 125, command) : errorLine(error));
    throw new ExitError(flagError ? 125 : 1);
  }
  // exec's start reports its failure in the stream of the exec, which docker's CLI prints as it is.
  if (status === 1 || command === 'exec') io.stderr.write(`${error.message}\n`);
  else if (command === 'run') io.stderr.write(runError(error, status, command));
  else io.stderr.write(errorLine(error));
  throw new ExitError(status);
}


/**
 * Creates the container of run and create: the image pulled when missing (or always, with
 * `--pull always`), the flags and files docker's CLI reads itself checked first, `--cidfile`
 * written. A failure ends the command as COMMAND's would (run: 125, create: 1); an interrupt
 * with its signal's status.
 */
async function createFromFlags(
  io: CliIo,
  store: Store,
  image: string,
  args: readonly string[],
  flags: ContainerFlags & { readonly insecureRegistry: string[] },
  how: { readonly attach: AttachConfig; readonly command: 'run' | 'create' },
): Promise<ContainerRecord> {
  const abort = new AbortController();
  let fetcher: ReturnType<typeof imageFetcher> | undefined;
  const interrupts = watchInterrupts(abort);
  try {
    // The flags and files docker's CLI reads itself: their errors are its own.
    const { writeCid, options, platform } = await clientSide(async () => ({ platform: platformOf(flags), writeCid: await claimCidfile(flags.cidfile), options: await createOptions(flags, args) }));
    fetcher = imageFetcher(io, flags, store, abort.signal, platform);
    const created = await createContainer({
      store,
      image,
      ...(fetcher.fetch === undefined ? {} : { pull: fetcher.fetch }),
      pullAlways: fetcher.pullAlways,
      ...(platform === undefined ? {} : { platform }),
      ...options,
      attach: how.attach,
      autoRemove: flags.rm === true,
      signal: abort.signal,
    });
    await writeCid?.(created.record.id);
    for (const warning of created.warnings) io.stderr.write(`WARNING: ${warning}\n`);
    return created.record;
  } catch (error) {
    const interrupted = interrupts.interrupted();
    if (interrupted !== undefined) throw new ExitError(interrupted);
    return fail(io, error, how.command === 'run' ? 125 : 1, how.command);
  } finally {
    interrupts.stop();
    await fetcher?.close();
  }
}

/**
 * `run` of a container that keeps a record: detached (`-d`), or in the foreground attached to
 * its monitor as docker's CLI is to its daemon. The monitor waits for this process before the
 * first start (nothing of the output is missed) and outlives it: the detach keys leave the
 * container running, and so does this process's end (SIGKILL, or a signal with
 * `--sig-proxy=false`), the container still monitored.
 */
export async function runWithRecord(
  io: CliIo,
  image: string,
  args: readonly string[],
  flags: ContainerFlags & { readonly detach?: boolean; readonly attach?: readonly string[]; readonly sigProxy?: boolean; readonly detachKeys?: string; readonly insecureRegistry: string[] },
): Promise<void> {
  const attached: ReadonlySet<AttachedStream> = attachedStreams(io, flags.attach ?? [], flags.detach === true);
  for (const warning of flagWarnings(flags)) io.stderr.write(`WARNING: ${warning}\n`);
  // docker's CLI checks this first and ends with status 1: nothing was pulled or created.
  if (flags.detach !== true && flags.tty === true && flags.interactive === true && !process.stdin.isTTY) fail(io, new TsbuildError('INVALID_ARGUMENT', 'the input device is not a TTY'), 1);
  let detachKeys: Buffer;
  try {
    detachKeys = parseDetachKeys(await detachKeysText(flags.detachKeys, flags.detach !== true));
  } catch (error) {
    fail(io, error, 1);
  }
  const store = await storeFromOptions(flags);
  const record = await createFromFlags(io, store, image, args, flags, {
    attach: attachConfig(flags.attach ?? [], { interactive: flags.interactive === true, detach: flags.detach === true }),
    command: 'run',
  });
  if (flags.detach === true) {
    // docker's CLI prints the ID once the container is created: a script gets it (to remove the
    // container) even when its start fails.
    io.stdout.write(`${record.id}\n`);
    try {
      await startContainer(store, record.id, { monitorCommand: monitorCommand(store) });
    } catch (error) {
      fail(io, error, startFailureStatus(error), 'run');
    }
    return;
  }
  const stdin = flags.interactive === true && attached.has('stdin') ? process.stdin : undefined;
  const tty = flags.tty === true;
  const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
  // As docker's CLI: signals are passed on without a terminal (with one, ctrl-c is the container's input).
  const sigProxy = flags.sigProxy !== false && !tty;
  const onSignal = (signal: NodeJS.Signals): void => {
    void killContainer(store, record.id, signal).catch(() => undefined);
  };
  // Attached before it starts, as docker's CLI.
  await recordContainerEvent(store.root, record, 'attach');
  const started = startContainer(store, record.id, { monitorCommand: [...monitorCommand(store), '--wait-attach', String(attachWait)] });
  // Awaited below; a failure meanwhile must not count as unhandled.
  started.catch(() => undefined);
  let release: (() => void) | undefined;
  let monitor: ContainerOwner | undefined;
  try {
    const client = await attachWhenListening(
      containerDirectory(store, record.id),
      {
        ...(stdin === undefined ? {} : { stdin }),
        // What -a leaves out goes to the container's log alone.
        stdout: attached.has('stdout') ? io.stdout : discard,
        stderr: attached.has('stderr') ? io.stderr : discard,
        detachKeys,
      },
      started,
    );
    release = holdTerminal(client, { tty, raw: tty && stdin !== undefined && process.stdin.isTTY, input: stdin !== undefined });
    // The process that will record its end (and remove it with --rm).
    monitor = (await readContainerRecord(store, record.id))?.state.monitor;
    if (sigProxy) for (const signal of forwardedSignals) process.on(signal, onSignal);
    await started;
    // docker's run leaves silently with the detach keys, status 0; the container goes on.
    if ((await client.done) === 'detached') return;
    // Its status from the monitor; from the record when the connection broke first.
    const status = client.exitStatus() ?? (await waitContainer(store, record.id).catch(() => 0));
    // As docker's CLI, which waits for the container's exit (and with --rm its removal): a
    // command after this one finds it exited, or gone.
    await recordSettled(store, record.id, flags.rm === true, monitor);
    if (status !== 0) throw new ExitError(status);
  } catch (error) {
    if (!(error instanceof ExitError)) await recordSettled(store, record.id, flags.rm === true, monitor ?? (await readContainerRecord(store, record.id))?.state.monitor);
    fail(io, error, startFailureStatus(error), 'run');
  } finally {
    for (const signal of forwardedSignals) process.removeListener(signal, onSignal);
    release?.();
  }
}

/**
 * Once the container's end is recorded: with REMOVED (--rm), once MONITOR, which removes it, is
 * gone; else once the record no longer says running (the monitor writes it just after).
 */
async function recordSettled(store: Store, id: string, removed: boolean, monitor: ContainerOwner | undefined): Promise<void> {
  for (let waited = 0; waited < 30_000; waited += 10) {
    if (monitor === undefined || !(await ownerAlive(monitor))) return;
    if (!removed) {
      const now = await readContainerRecord(store, id);
      if (now === undefined || now.state.status !== 'running') return;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** How long a foreground run's monitor waits for the run to attach before it starts the container anyway (ms). */
const attachWait = 10_000;

/**
 * Connects to the container's monitor once its attach socket listens (the monitor, just
 * spawned, opens it first thing); fails with START's failure when the start fails before.
 */
async function attachWhenListening(directory: string, streams: AttachStreams, start: Promise<unknown>): Promise<AttachedClient> {
  let failed: unknown;
  let settled = false;
  start.then(
    () => (settled = true),
    (error: unknown) => {
      settled = true;
      failed = error;
    },
  );
  const deadline = Date.now() + attachWait;
  for (;;) {
    try {
      return await connectAttach(directory, streams);
    } catch (error) {
      if (failed !== undefined) throw failed;
      // Started and ended without a listener (it could not open one): nothing more to wait for.
      if (settled || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

type Registrar = (parent: Command, io: CliIo, name?: string) => void;

function defineCreate(parent: Command, io: CliIo, name = 'create'): void {
  parent.enablePositionalOptions();
  const command = addContainerOptions(
    parent
      .command(name)
      .description('create a container of an image, without starting it')
      .argument('<image>', 'image reference, ID or digest')
      .argument('[args...]', "command and arguments (default: the image's)")
      .passThroughOptions()
      .helpOption('--help', 'display help for command')
      .option('-a, --attach <stream>', 'record STDIN, STDOUT or STDERR as attached, as inspect shows it (repeatable; default STDOUT and STDERR)', collect, []),
  );
  addRootOption(addInsecureRegistryOption(command)).action(async (image: string, args: string[], flags: ContainerFlags & { attach: string[]; insecureRegistry: string[] }) => {
    attachedStreams(io, flags.attach, false, name);
    for (const warning of flagWarnings(flags)) io.stderr.write(`WARNING: ${warning}\n`);
    const inner = await runInUserNamespace(flags.root);
    if (inner !== undefined) throw new ExitError(inner);
    const store = await storeFromOptions(flags);
    const record = await createFromFlags(io, store, image, args, flags, {
      attach: attachConfig(flags.attach, { interactive: flags.interactive === true, detach: false }),
      command: 'create',
    });
    io.stdout.write(`${record.id}\n`);
  });
}

/** Copies the container's log from OFFSET to the caller's streams until it ends (`start -a`). */
async function attachToLog(io: CliIo, store: Store, id: string, fromOffset: number): Promise<void> {
  const path = join(containerDirectory(store, id), 'container.log');
  for await (const entry of readLog(path, { follow: true, fromOffset, running: () => stillRunning(store, id) })) {
    (entry.stream === 'stdout' ? io.stdout : io.stderr).write(entry.log);
  }
}

/**
 * `start -a -i`: standard input to the container through its monitor (a terminal in raw mode and
 * resized with the window, with -t); its output is read from the log meanwhile.
 */
async function attachInput(store: Store, record: ContainerRecord, detachKeys: Buffer): Promise<{ done: Promise<'ended' | 'detached'>; close(): void }> {
  const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
  const client = await connectAttach(containerDirectory(store, record.id), { stdin: process.stdin, stdout: discard, stderr: discard, detachKeys });
  const close = holdTerminal(client, { tty: record.config.tty, raw: record.config.tty && process.stdin.isTTY, input: true });
  return { done: client.done, close };
}

async function logSize(store: Store, id: string): Promise<number> {
  return stat(join(containerDirectory(store, id), 'container.log')).then(
    (info) => info.size,
    () => 0,
  );
}

/** Whether the container may still write to its log: running or restarting, its monitor alive. */
async function stillRunning(store: Store, id: string): Promise<boolean> {
  const record = await readContainerRecord(store, id);
  if (record === undefined) return false;
  const observed = await observeState(record);
  if (observed.running || observed.status === 'restarting') return true;
  // Started but not yet running: the monitor is on its way.
  return observed.status === 'created' && record.state.monitor !== undefined;
}

function defineStart(parent: Command, io: CliIo, name = 'start'): void {
  addRootOption(
    parent
      .command(name)
      .description('start one or more containers')
      .argument('<containers...>', 'names or IDs')
      .option('-a, --attach', "print the container's output and end with its exit status")
      .option('-i, --interactive', "send standard input to the container (one made with -i)")
      .option('--detach-keys <keys>', 'with -a -i, the keys that detach, leaving the container running (default detachKeys of docker\'s config.json, else ctrl-p,ctrl-q)'),
  ).action(async (containers: string[], flags: RootOption & { attach?: boolean; interactive?: boolean; detachKeys?: string }) => {
    const detachKeys = parseDetachKeys(await detachKeysText(flags.detachKeys, flags.attach === true));
    const inner = await runInUserNamespace(flags.root, { userNetwork: await containersOnUserNetwork(flags.root, containers) });
    if (inner !== undefined) throw new ExitError(inner);
    const store = await storeFromOptions(flags);
    const failed: string[] = [];
    for (const nameOrId of containers) {
      try {
        const found = await findContainer(store, nameOrId);
        const offset = await logSize(store, found.id);
        if (flags.interactive === true && found.config.tty && !process.stdin.isTTY) throw new ClientError('the input device is not a TTY');
        // As docker's CLI, which attaches before it starts the container.
        if (flags.attach === true) await recordContainerEvent(store.root, found, 'attach');
        await startContainer(store, found.id, { monitorCommand: monitorCommand(store) });
        if (flags.attach === true) {
          // The output comes from the log (nothing of it is missed); the input through the monitor.
          const input = flags.interactive === true && found.config.openStdin ? await attachInput(store, found, detachKeys) : undefined;
          try {
            const detached = input?.done.then((how) => how === 'detached');
            const ended = attachToLog(io, store, found.id, offset).then(() => false);
            if (await Promise.race([ended, ...(detached === undefined ? [] : [detached.then((yes) => (yes ? true : ended))])])) return;
          } finally {
            input?.close();
          }
          const status = await waitContainer(store, found.id);
          if (status !== 0) throw new ExitError(status);
        } else io.stdout.write(`${nameOrId}\n`);
      } catch (error) {
        if (error instanceof ExitError || !isTsbuildError(error)) throw error;
        io.stderr.write(errorLine(error));
        if (flags.attach === true) throw new ExitError(startFailureStatus(error));
        failed.push(nameOrId);
      }
    }
    // docker's closing line, its CLI's, naming those that did not start.
    if (failed.length > 0) {
      io.stderr.write(`Error: failed to start containers: ${failed.join(', ')}\n`);
      throw new ExitError(1);
    }
  });
}

/** Runs ACTION on each container named, printing its name as docker does; any failure gives 1 at the end. */
async function eachContainer(io: CliIo, containers: readonly string[], action: (nameOrId: string) => Promise<void>, options: { readonly missingIsFine?: boolean } = {}): Promise<void> {
  let failed = false;
  for (const nameOrId of containers) {
    try {
      await action(nameOrId);
      io.stdout.write(`${nameOrId}\n`);
    } catch (error) {
      if (!isTsbuildError(error)) throw error;
      io.stderr.write(errorLine(error));
      // `rm -f` of a container that is not there says so but succeeds, as docker's CLI.
      if (!(options.missingIsFine === true && isTsbuildError(error, 'NOT_FOUND'))) failed = true;
    }
  }
  if (failed) throw new ExitError(1);
}

function timeoutOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^-?\d+$/.test(text)) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${text}" for "-t, --time" flag: not an integer`);
  return value;
}

function defineStop(parent: Command, io: CliIo, name = 'stop'): void {
  addRootOption(
    parent
      .command(name)
      .description("stop containers: their stop signal, then SIGKILL after the timeout")
      .argument('<containers...>', 'names or IDs')
      .option('-t, --time <seconds>', "seconds to wait before SIGKILL (default: the container's stop timeout, 10)")
      .option('-s, --signal <signal>', "signal to send (default: the container's stop signal)"),
  ).action(async (containers: string[], flags: RootOption & { time?: string; signal?: string }) => {
    const store = await storeFromOptions(flags);
    const timeoutSeconds = timeoutOf(flags.time);
    await eachContainer(io, containers, async (nameOrId) => {
      await stopContainer(store, nameOrId, { ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }), ...(flags.signal === undefined ? {} : { signal: flags.signal }) });
    });
  });
}

function defineKill(parent: Command, io: CliIo, name = 'kill'): void {
  addRootOption(
    parent.command(name).description('send a signal to containers (SIGKILL by default)').argument('<containers...>', 'names or IDs').option('-s, --signal <signal>', 'signal to send', 'KILL'),
  ).action(async (containers: string[], flags: RootOption & { signal: string }) => {
    const store = await storeFromOptions(flags);
    const signal = normalizeSignal(flags.signal);
    // docker refuses 0, which would only probe the process.
    const valid = (/^\d+$/.test(signal) && Number(signal) > 0) || (osConstants.signals as Readonly<Record<string, number>>)[signal] !== undefined;
    await eachContainer(io, containers, async (nameOrId) => {
      // As docker's daemon: refused for each container, in its words.
      if (!valid) {
        await findContainer(store, nameOrId);
        throw new TsbuildError('INVALID_ARGUMENT', `cannot kill container: ${nameOrId}: invalid signal: ${flags.signal}`);
      }
      // docker's daemon names what it could not do first.
      await killContainer(store, nameOrId, signal).catch((error: unknown) => {
        throw isTsbuildError(error, 'NOT_FOUND') ? new TsbuildError('NOT_FOUND', `cannot kill container: ${nameOrId}: ${error.message}`, { cause: error }) : error;
      });
    });
  });
}

function definePause(parent: Command, io: CliIo, name = 'pause'): void {
  addRootOption(parent.command(name).description('freeze every process of running containers').argument('<containers...>', 'names or IDs')).action(async (containers: string[], flags: RootOption) => {
    const store = await storeFromOptions(flags);
    await eachContainer(io, containers, async (nameOrId) => {
      await pauseContainer(store, nameOrId);
    });
  });
}

function defineUnpause(parent: Command, io: CliIo, name = 'unpause'): void {
  addRootOption(parent.command(name).description('resume the processes of paused containers').argument('<containers...>', 'names or IDs')).action(async (containers: string[], flags: RootOption) => {
    const store = await storeFromOptions(flags);
    await eachContainer(io, containers, async (nameOrId) => {
      await unpauseContainer(store, nameOrId);
    });
  });
}

function defineRestart(parent: Command, io: CliIo, name = 'restart'): void {
  addRootOption(
    parent
      .command(name)
      .description('stop and start containers again')
      .argument('<containers...>', 'names or IDs')
      .option('-t, --time <seconds>', 'seconds to wait before SIGKILL')
      .option('-s, --signal <signal>', 'signal to stop with'),
  ).action(async (containers: string[], flags: RootOption & { time?: string; signal?: string }) => {
    const inner = await runInUserNamespace(flags.root, { userNetwork: await containersOnUserNetwork(flags.root, containers) });
    if (inner !== undefined) throw new ExitError(inner);
    const store = await storeFromOptions(flags);
    const timeoutSeconds = timeoutOf(flags.time);
    await eachContainer(io, containers, async (nameOrId) => {
      const stopped = await stopContainer(store, nameOrId, { ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }), ...(flags.signal === undefined ? {} : { signal: flags.signal }) });
      await startContainer(store, stopped.id, { monitorCommand: monitorCommand(store) });
    });
  });
}

function defineRm(parent: Command, io: CliIo, name = 'rm'): void {
  addRootOption(
    parent
      .command(name)
      .description('remove containers')
      .argument('<containers...>', 'names or IDs')
      .option('-f, --force', 'kill a running container first')
      .option('-v, --volumes', 'remove its anonymous volumes too')
      .option('-l, --link', 'remove the link CONTAINER/ALIAS (of --link), not a container'),
  ).action(async (containers: string[], flags: RootOption & { force?: boolean; volumes?: boolean; link?: boolean }) => {
    const store = await storeFromOptions(flags);
    await eachContainer(
      io,
      containers,
      async (nameOrId) => {
        if (flags.link === true) await removeContainerLink(store, nameOrId);
        else await removeContainer(store, nameOrId, { force: flags.force === true, volumes: flags.volumes === true });
      },
      { missingIsFine: flags.force === true },
    );
  });
}

/**
 * The command as `docker ps` shows it: the daemon's text (an argument holding a space in single
 * quotes: `sh -c 'echo hi'`), cut at 20 characters with an ellipsis, then quoted as Go's
 * strconv.Quote does (a `"` in it escaped).
 */
export function shownCommand(record: Pick<ContainerRecord, 'path' | 'args'>, truncate: boolean): string {
  const whole = [record.path, ...record.args.map((arg) => (arg.includes(' ') ? `'${arg}'` : arg))].join(' ');
  return JSON.stringify(truncate && whole.length > 20 ? `${whole.slice(0, 19)}…` : whole);
}

/** docker's State.String(): "Up 3 seconds (healthy)", "Exited (0) 2 minutes ago", "Created"… */
export function statusText(record: ContainerRecord, observed: ObservedState, now = Date.now()): string {
  const { state } = record;
  const since = (at: string | undefined): string => humanDuration(now - Date.parse(at ?? record.created));
  switch (observed.status) {
    case 'running': {
      const health = state.health === undefined ? '' : state.health.status === 'starting' ? ' (health: starting)' : ` (${state.health.status})`;
      return `Up ${since(state.startedAt)}${health}`;
    }
    case 'paused':
      return `Up ${since(state.startedAt)} (Paused)`;
    case 'restarting':
      return `Restarting (${state.exitCode ?? 0}) ${since(state.finishedAt)} ago`;
    case 'exited':
      return state.finishedAt === undefined ? 'Exited' : `Exited (${state.exitCode ?? 0}) ${since(state.finishedAt)} ago`;
    case 'dead':
      return 'Dead';
    case 'created':
      return 'Created';
  }
}

/** One of a container's ports as docker's daemon lists it: IP and PublicPort only when published. */
export interface ListedPort {
  readonly privatePort: number;
  readonly type: string;
  readonly ip: string;
  readonly publicPort: number;
}

/** A running container's ports: each binding (on 0.0.0.0 when no address was given), and each exposed port without one. */
function listedPorts(record: ContainerRecord): ListedPort[] {
  const bindings = record.hostConfig?.portBindings ?? {};
  const split = (key: string): [number, string] => [Number(key.split('/')[0]), key.split('/')[1] ?? 'tcp'];
  const published = Object.entries(bindings).flatMap(([key, hosts]) => hosts.map((host) => ({ privatePort: split(key)[0], type: split(key)[1], ip: host.HostIp === '' ? '0.0.0.0' : host.HostIp, publicPort: Number(host.HostPort) })));
  const exposed = (record.config.exposedPorts ?? []).filter((key) => bindings[key] === undefined).map((key) => ({ privatePort: split(key)[0], type: split(key)[1], ip: '', publicPort: 0 }));
  return [...published, ...exposed];
}

/**
 * `ps`'s PORTS as docker's CLI writes them (its formatter's DisplayablePorts): sorted by container
 * port, runs of consecutive ports grouped (`5555-5556/tcp`, and `0.0.0.0:80-81->80-81/tcp` where
 * the host's port is the container's), then the ports published elsewhere one by one.
 */
export function displayablePorts(ports: readonly ListedPort[]): string {
  const sorted = [...ports].sort((a, b) => a.privatePort - b.privatePort || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0) || a.publicPort - b.publicPort || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  const groups = new Map<string, { first: number; last: number }>();
  const result: string[] = [];
  const mappings: string[] = [];
  const formGroup = (key: string, first: number, last: number): string => {
    const [ip, type] = key.includes('/') ? [key.slice(0, key.lastIndexOf('/')), key.slice(key.lastIndexOf('/') + 1)] : ['', key];
    const range = first === last ? String(first) : `${first}-${last}`;
    return `${ip === '' ? range : `${ip}:${range}->${range}`}/${type}`;
  };
  for (const port of sorted) {
    let key = port.type;
    if (port.ip !== '') {
      if (port.publicPort !== port.privatePort) {
        mappings.push(`${port.ip}:${port.publicPort}->${port.privatePort}/${port.type}`);
        continue;
      }
      key = `${port.ip}/${port.type}`;
    }
    const group = groups.get(key);
    if (group === undefined) groups.set(key, { first: port.privatePort, last: port.privatePort });
    else if (port.privatePort === group.last + 1) group.last = port.privatePort;
    else {
      result.push(formGroup(key, group.first, group.last));
      groups.set(key, { first: port.privatePort, last: port.privatePort });
    }
  }
  for (const [key, group] of groups) result.push(formGroup(key, group.first, group.last));
  return [...result, ...mappings].join(', ');
}

interface PsRow {
  readonly record: ContainerRecord;
  readonly observed: ObservedState;
  /** docker's SIZE: the writable layer, and with the image's ("0B (virtual 2.13MB)"); asked for with -s or a template naming .Size. */
  readonly size?: string;
}

/** The writable layer's size and, with the image's (as `images` sizes it), the virtual size, as `docker ps -s` prints them. */
async function containerSizes(store: Store, rows: readonly PsRow[]): Promise<PsRow[]> {
  const imageSizes = new Map((await listImages(store)).map((summary) => [summary.id, summary.unpackedSize]));
  return Promise.all(
    rows.map(async (row) => {
      const writable = await writableLayerSize(store, row.record.id);
      const virtual = writable + (imageSizes.get(row.record.image.id) ?? 0);
      return { ...row, size: `${formatBytes(writable, 3, '')} (virtual ${formatBytes(virtual, 3, '')})` };
    }),
  );
}

function psFields(store: Store, row: PsRow, truncate: boolean): Record<string, string> {
  const { record, observed } = row;
  // As docker's: a volume by its name, a bind by its source; a tmpfs has neither and is not listed.
  const mounts = (record.hostConfig?.mounts ?? []).map((mount) => inspectMount(store, mount));
  const listedMounts = mounts.flatMap((mount) => (mount.Type === 'volume' ? [String(mount.Name)] : mount.Type === 'bind' ? [String(mount.Source)] : []));
  return {
    ID: truncate ? record.id.slice(0, 12) : record.id,
    Image: record.config.image ?? record.image.name ?? record.image.id,
    Command: shownCommand(record, truncate),
    CreatedAt: formatGoTime(Date.parse(record.created)),
    // The daemon lists Created in whole seconds: a container made 0.9 s ago was made 1 second ago.
    RunningFor: formatCreatedSince(new Date(Math.floor(Date.parse(record.created) / 1000) * 1000).toISOString()),
    // As docker's: a container that does not run has no ports to show.
    Ports: observed.running ? displayablePorts(listedPorts(record)) : '',
    State: observed.status,
    Status: statusText(record, observed),
    Names: record.name ?? '',
    Labels: Object.entries(record.config.labels ?? {})
      .map(([key, value]) => `${key}=${value}`)
      .join(','),
    Mounts: listedMounts.map((mount) => (truncate && mount.length > 15 ? `${mount.slice(0, 15)}…` : mount)).join(','),
    Networks: record.config.networks === undefined || sharesNamespace(record.config.network) ? (record.config.network === 'default' ? 'bridge' : record.config.network) : record.config.networks.map((network) => network.name).join(','),
    Size: row.size ?? '0B',
    LocalVolumes: String(mounts.filter((mount) => mount.Type === 'volume').length),
  };
}

/** A container's `ps` fields (docker's names: ID, Image, Command, RunningFor, Status, Names…), shortened as ps shows them. */
export function containerListFields(store: Store, record: ContainerRecord, observed: ObservedState): Record<string, string> {
  return psFields(store, { record, observed }, true);
}

/** `80`, `80/udp`, `8000-8080/tcp`: the `port/protocol` keys a publish= or expose= filter names. */
function filterPorts(value: string): Set<string> {
  const match = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/.exec(value);
  if (match === null) throw new TsbuildError('INVALID_ARGUMENT', `invalid port filter ${JSON.stringify(value)}: PORT[/PROTOCOL] or START-END[/PROTOCOL]`);
  const first = Number(match[1]);
  const last = match[2] === undefined ? first : Number(match[2]);
  const keys = new Set<string>();
  for (let port = first; port <= last && port <= 65535; port++) keys.add(`${port}/${match[3] ?? 'tcp'}`);
  return keys;
}

/** The values docker's status= and health= filters take (moby's container.IsValidStateString, IsValidHealthString). */
const containerStatuses = new Set(['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead']);
const healthStatuses = new Set(['starting', 'healthy', 'unhealthy', 'none']);

const psFilterKeys = new Set(['id', 'name', 'status', 'exited', 'label', 'health', 'ancestor', 'before', 'since', 'volume', 'network', 'publish', 'expose']);

/**
 * docker's `ps --filter` terms as one test: terms of one key are alternatives (`status=exited
 * -f status=created`), terms of different keys must all hold. before= and since= name a
 * container (created before or after it), volume= a volume's name or a mount's destination,
 * network= a network's name or ID, publish= and expose= container ports (expose= the image's
 * exposed ports too).
 */
async function psFilter(store: Store, rows: readonly PsRow[], terms: readonly string[]): Promise<(row: PsRow) => boolean> {
  const byKey = new Map<string, string[]>();
  for (const term of terms) {
    const at = term.indexOf('=');
    if (at < 0) throw new TsbuildError('INVALID_ARGUMENT', `bad format of filter (expected name=value): ${term}`);
    const key = term.slice(0, at);
    if (!psFilterKeys.has(key)) throw new TsbuildError('INVALID_ARGUMENT', `invalid filter '${key}'`);
    const value = term.slice(at + 1);
    // As docker's daemon: a status or health no container can have is refused, not an empty list.
    if (key === 'status' && !containerStatuses.has(value)) throw new TsbuildError('INVALID_ARGUMENT', `invalid filter 'status=${value}'`);
    if (key === 'health' && !healthStatuses.has(value)) throw new TsbuildError('INVALID_ARGUMENT', `unrecognized filter value for health: ${value}`);
    if (key === 'exited' && !/^[+-]?\d+$/.test(value)) throw new TsbuildError('INVALID_ARGUMENT', `invalid filter 'exited=${value}': strconv.Atoi: parsing "${value}": invalid syntax`);
    byKey.set(key, [...(byKey.get(key) ?? []), value]);
  }
  const createdOf = async (nameOrId: string): Promise<number> => Date.parse((await findContainer(store, nameOrId)).created);
  const before = await Promise.all((byKey.get('before') ?? []).map(createdOf));
  const since = await Promise.all((byKey.get('since') ?? []).map(createdOf));
  const networks = await Promise.all(
    (byKey.get('network') ?? []).map(async (value) => {
      const found = await findNetwork(store, value === 'default' ? 'bridge' : value);
      return found === undefined ? { name: value } : { name: found.name, endpoints: found.endpoints };
    }),
  );
  const published = (byKey.get('publish') ?? []).map(filterPorts);
  const exposed = (byKey.get('expose') ?? []).map(filterPorts);
  // The image's exposed ports, read once per image, only when expose= asks.
  const imageExposed = new Map<string, Set<string>>();
  if (exposed.length > 0) {
    for (const { record } of rows) {
      if (record.config.exposedPorts !== undefined || imageExposed.has(record.image.manifest)) continue;
      const config = await containerImage(store, record).then((image) => image.config.config, () => undefined);
      imageExposed.set(record.image.manifest, new Set(Object.keys(config?.ExposedPorts ?? {})));
    }
  }
  const containerPorts = (record: ContainerRecord): Set<string> => new Set([...Object.keys(record.hostConfig?.portBindings ?? {}), ...(record.hostConfig?.publish ?? []).map((spec) => `${spec.containerPort}/${spec.protocol}`)]);
  const test = (key: string, value: string, index: number, row: PsRow): boolean => {
    const { record, observed } = row;
    switch (key) {
      case 'id':
        return record.id.startsWith(value);
      case 'name':
        return new RegExp(value).test(record.name ?? '');
      case 'status':
        return observed.status === value;
      case 'exited':
        return observed.status === 'exited' && String(record.state.exitCode ?? 0) === value;
      case 'label': {
        const equals = value.indexOf('=');
        const labels = record.config.labels ?? {};
        return equals < 0 ? value in labels : labels[value.slice(0, equals)] === value.slice(equals + 1);
      }
      case 'health':
        return (record.state.health?.status ?? 'none') === value;
      case 'ancestor':
        return record.config.image === value || record.image.name === value || record.image.id.includes(value);
      case 'before':
        return Date.parse(record.created) < (before[index] ?? 0);
      case 'since':
        return Date.parse(record.created) > (since[index] ?? Infinity);
      case 'volume':
        return (record.hostConfig?.mounts ?? []).some((mount) => mount.destination === value || (mount.source !== undefined && basename(dirname(mount.source)) === value && basename(mount.source) === '_data'));
      case 'network': {
        const network = networks[index];
        const own = record.config.network === 'default' ? 'bridge' : record.config.network;
        return network !== undefined && (own === network.name || network.endpoints?.[record.id] !== undefined);
      }
      case 'publish': {
        const ports = containerPorts(record);
        return [...(published[index] ?? [])].some((port) => ports.has(port));
      }
      case 'expose': {
        const ports = new Set([...containerPorts(record), ...(record.config.exposedPorts ?? imageExposed.get(record.image.manifest) ?? [])]);
        return [...(exposed[index] ?? [])].some((port) => ports.has(port));
      }
      default:
        return false;
    }
  };
  return (row) => [...byKey].every(([key, values]) => values.some((value, index) => test(key, value, index, row)));
}

/** The type docker's templates name when a ps format asks a container for a field it has not. */
const containerContextType = '*formatter.ContainerContext';

/** docker's column titles for the fields of `ps`'s rows. */
const psHeaders: Readonly<Record<string, string>> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Names: 'NAMES',
  Labels: 'LABELS',
  Mounts: 'MOUNTS',
  Networks: 'NETWORKS',
  Size: 'SIZE',
  LocalVolumes: 'LOCAL VOLUMES',
};

function definePs(parent: Command, io: CliIo, name = 'ps', aliases: readonly string[] = []): void {
  addRootOption(
    parent
      .command(name)
      .aliases(aliases)
      .description('list containers (running ones unless -a)')
      .option('-a, --all', 'all containers, not only running ones')
      .option('-q, --quiet', 'IDs only')
      .option('-f, --filter <key=value>', 'id=, name=, status=, exited=, label=, health=, ancestor=, before=, since=, volume=, network=, publish=, expose= (repeatable: one key\'s terms are alternatives)', collectFilter, [])
      .option('--format <format>', 'table, json (one object per line) or a Go template such as {{.ID}} {{.Names}}')
      .option('--no-trunc', 'do not shorten IDs and commands')
      .option('-n, --last <n>', 'the N containers created last')
      .option('-l, --latest', 'the container created last')
      .option('-s, --size', 'show the size of each container\'s writable layer, and with its image\'s'),
  ).action(async (flags: RootOption & { all?: boolean; quiet?: boolean; filter: string[]; format?: string; trunc: boolean; last?: string; latest?: boolean; size?: boolean }) => {
    const store = await storeFromOptions(flags);
    // What a foreground run killed before its end left is no container docker would show.
    await removeAbandonedContainers(store);
    const records = (await listContainerRecords(store)).sort((a, b) => Date.parse(b.created) - Date.parse(a.created));
    let rows: PsRow[] = await Promise.all(records.map(async (record) => ({ record, observed: await observeState(record) })));
    const limit = flags.latest === true ? 1 : flags.last === undefined ? undefined : Number(flags.last);
    const all = flags.all === true || limit !== undefined || flags.filter.some((filter) => filter.startsWith('status=') || filter.startsWith('exited='));
    if (!all) rows = rows.filter((row) => row.observed.running || row.observed.status === 'restarting');
    const keep = await psFilter(store, rows, flags.filter);
    rows = rows.filter(keep);
    if (limit !== undefined) rows = rows.slice(0, limit);
    // As docker, a template that names .Size asks for the sizes too; json does not (its Size is 0B without -s).
    const format = await listFormat(flags.format, 'psFormat');
    const sized = flags.size === true || /\.Size\b/.test(format);
    if (sized && flags.quiet !== true) rows = await containerSizes(store, rows);
    const truncate = flags.trunc;
    if (flags.quiet === true) {
      if (flags.format !== undefined) io.stderr.write('WARNING: Ignoring custom format, because both --format and --quiet are set.\n');
      for (const row of rows) io.stdout.write(`${truncate ? row.record.id.slice(0, 12) : row.record.id}\n`);
      return;
    }
    if (format === 'json') {
      for (const row of rows) io.stdout.write(`${JSON.stringify(sortedKeys(psFields(store, row, truncate)))}\n`);
      return;
    }
    if (format !== 'table') {
      // `.Label "key"` is a method of docker's container context: one label's value.
      const contexts = rows.map((row) => ({ ...sortedKeys(psFields(store, row, truncate)), Label: (key: unknown) => row.record.config.labels?.[String(key)] ?? '' }));
      try {
        // docker's ps first runs the format as given (its `table` word and escapes as text) on an
        // empty context: a field it has not fails there, containers or none, at that place.
        const empty = { ...Object.fromEntries(Object.keys(psHeaders).map((field) => [field, ''])), Label: () => '' };
        parseGoTemplate(format).execute(Object.defineProperty(empty, goTypeName, { value: containerContextType, enumerable: false }));
        io.stdout.write(formatListTemplate(format, contexts, psHeaders, containerContextType));
      } catch (error) {
        // ps's own words for them, where docker's other lists say `template parsing error`.
        if (error instanceof TemplateParseError) throw new ClientError(error.message.replace(/^template parsing error: /, 'failed to parse template: '));
        if (error instanceof TemplateExecuteError) throw new ClientError(`failed to execute template: ${error.message.replace(/^template parsing error: /, '')}`);
        throw error;
      }
      return;
    }
    const columns = ['ID', 'Image', 'Command', 'RunningFor', 'Status', 'Ports', 'Names', ...(sized ? ['Size'] : [])];
    const table = [columns.map((field) => psHeaders[field] ?? field), ...rows.map((row) => {
      const fields = psFields(store, row, truncate);
      return columns.map((field) => fields[field] ?? '');
    })];
    io.stdout.write(dockerTable(table));
  });
}

/** `--since`/`--until`: RFC 3339, a Unix time, or a Go duration before now. In ms since the epoch. */
function timeOf(flag: string, text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const duration = parseGoDuration(text);
  if (typeof duration === 'number') return Date.now() - duration / 1e6;
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed)) throw new TsbuildError('INVALID_ARGUMENT', `invalid value for "${flag}": ${text}`);
  return parsed;
}

/**
 * A log entry's time as `docker logs -t` prints it: RFC 3339 with nine fractional digits always
 * (Go's RFC3339NanoFixed), so that the lines' timestamps have one width.
 */
export function fixedNanoTime(time: string): string {
  const match = /^([^.]*?)(?:\.(\d+))?Z$/.exec(time);
  if (match === null) return time;
  return `${match[1] ?? ''}.${(match[2] ?? '').slice(0, 9).padEnd(9, '0')}Z`;
}

function defineLogs(parent: Command, io: CliIo, name = 'logs'): void {
  addRootOption(
    parent
      .command(name)
      .description("print a container's output (json-file log)")
      .argument('<container>', 'name or ID')
      .option('-f, --follow', 'keep printing while the container runs')
      .option('-n, --tail <n>', "the last N lines ('all' for every line)", 'all')
      .option('-t, --timestamps', 'show the time of each line')
      .option('--since <time>', 'lines since this time (RFC 3339, Unix time, or a duration such as 10m)')
      .option('--until <time>', 'lines before this time')
      .option('--details', "show the log's extra attributes before each line"),
  ).action(async (nameOrId: string, flags: RootOption & { follow?: boolean; tail: string; timestamps?: boolean; since?: string; until?: string; details?: boolean }) => {
    const store = await storeFromOptions(flags);
    const record = await findContainer(store, nameOrId);
    const tail = flags.tail === 'all' ? undefined : Number(flags.tail);
    if (tail !== undefined && !Number.isSafeInteger(tail)) throw new TsbuildError('INVALID_ARGUMENT', `invalid value for "--tail": ${flags.tail}`);
    if (record.hostConfig?.logConfig?.type === 'none') throw new TsbuildError('INVALID_ARGUMENT', 'configured logging driver does not support reading');
    const path = join(containerDirectory(store, record.id), 'container.log');
    const entries = readLog(path, {
      follow: flags.follow === true,
      running: () => stillRunning(store, record.id),
      ...(tail === undefined ? {} : { tail }),
      ...(flags.since === undefined ? {} : { since: timeOf('--since', flags.since) }),
      ...(flags.until === undefined ? {} : { until: timeOf('--until', flags.until) }),
    });
    // docker's --details puts the entry's attributes (its log-opt labels and env, which tsbuild's
    // json-file does not take: none) and a blank before the line.
    const details = flags.details === true ? ' ' : '';
    for await (const entry of entries) {
      (entry.stream === 'stdout' ? io.stdout : io.stderr).write(flags.timestamps === true ? `${fixedNanoTime(entry.time)} ${details}${entry.log}` : `${details}${entry.log}`);
    }
  });
}

function defineExec(parent: Command, io: CliIo, name = 'exec'): void {
  parent.enablePositionalOptions();
  addRootOption(
    parent
      .command(name)
      .description('run a command in a running container')
      .argument('<container>', 'name or ID')
      .argument('<command...>', 'command and arguments')
      .passThroughOptions()
      .option('-d, --detach', 'start the command and leave it running')
      .option('-i, --interactive', 'pass stdin to the command')
      .option('-t, --tty', "use this terminal (from a terminal only)")
      .option('-e, --env <K=V>', 'set an environment variable (repeatable)', collect, [])
      .option('--env-file <file>', 'read environment variables from a file (repeatable)', collect, [])
      .option('--privileged', 'give the command every capability')
      .option('-u, --user <user[:group]>', "user name or uid (default: the container's)")
      .option('-w, --workdir <dir>', "working directory (default: the container's)")
      .option('--detach-keys <keys>', 'with -i, the keys that detach, leaving the command running (default detachKeys of docker\'s config.json, else ctrl-p,ctrl-q)'),
  ).action(async (nameOrId: string, args: string[], flags: RootOption & { detach?: boolean; interactive?: boolean; tty?: boolean; env: string[]; envFile: string[]; privileged?: boolean; user?: string; workdir?: string; detachKeys?: string }) => {
    // docker's daemon's words for keys it cannot read (its exec's "escape keys").
    const detachKeys = parseDetachKeys(await detachKeysText(flags.detachKeys, flags.detach !== true && flags.interactive === true), 'escape');
    const store = await storeFromOptions(flags);
    const record = await findContainer(store, nameOrId);
    const observed = await observeState(record);
    if (!observed.running) throw new TsbuildError('INVALID_ARGUMENT', `container ${record.id} is not running`);
    if (observed.status === 'paused') throw new TsbuildError('INVALID_ARGUMENT', `container ${record.id} is paused, unpause the container before exec`);
    // As docker: the files' variables, then -e's; a bare name takes this environment's value.
    const env = await environment({ env: flags.env, envFile: flags.envFile });
    const tty = flags.tty === true;
    if (tty && flags.interactive === true && !process.stdin.isTTY) throw new ClientError('the input device is not a TTY');
    const stdout = process.stdout;
    const rawTerminal = tty && flags.interactive === true && process.stdin.isTTY;
    let resizeTerminal: ((size: { rows: number; columns: number }) => void) | undefined;
    const onResize = (): void => resizeTerminal?.({ rows: stdout.rows, columns: stdout.columns });
    let result;
    try {
      if (rawTerminal) {
        process.stdin.setRawMode(true);
        rawTerminalOutput(0);
      }
      if (tty && stdout.isTTY) stdout.on('resize', onResize);
      result = await execInContainer(record, {
        args,
        env,
        ...(flags.user === undefined ? {} : { user: flags.user }),
        ...(flags.workdir === undefined ? {} : { workdir: flags.workdir }),
        ...(flags.detach === true ? { detach: true } : {}),
        ...(flags.privileged === true ? { privileged: true } : {}),
        ...(tty ? { terminal: { ...(stdout.isTTY ? { size: { rows: stdout.rows, columns: stdout.columns } } : {}), onResize: (resize) => void (resizeTerminal = resize) } } : {}),
        stdio: { ...(flags.interactive === true ? { stdin: process.stdin } : {}), stdout: io.stdout, stderr: io.stderr },
        detachKeys,
        eventsRoot: store.root,
        detachedWaiter: [process.execPath, tsbuildEntry(), 'exec-wait'],
        bundleParent: containerDirectory(store, record.id),
      });
    } catch (error) {
      // docker's exec ends with 126 whatever kept the process from starting in a running
      // container (a command not found, a user or a working directory refused): its daemon's
      // ContainerExecStart sets 126 on any failure, over the 127 a `run` would give.
      fail(io, error, 126, 'exec');
    } finally {
      stdout.removeListener('resize', onResize);
      if (rawTerminal) process.stdin.setRawMode(false);
    }
    if (flags.interactive === true) {
      process.stdin.pause();
      process.stdin.destroy();
    }
    if (result.detached === true) {
      // docker's CLI: its escape error, status 1; the command goes on.
      io.stderr.write('read escape sequence\n');
      throw new ExitError(1);
    }
    if (result.status !== 0) throw new ExitError(result.status);
  });
}

/**
 * docker's splitCpArg: `CONTAINER:PATH`, or a local path (an absolute one, one without `:`, or
 * one starting with `.` such as `./a:b`).
 */
export function splitCopyArgument(argument: string): { readonly container?: string; readonly path: string } {
  if (argument.startsWith('/')) return { path: argument };
  const colon = argument.indexOf(':');
  if (colon < 0 || argument.startsWith('.')) return { path: argument };
  return { container: argument.slice(0, colon), path: argument.slice(colon + 1) };
}

function defineCp(parent: Command, io: CliIo, name = 'cp'): void {
  addRootOption(
    parent
      .command(name)
      .description('copy files between a container and the host (`-` for a tar stream on stdin or stdout)')
      .usage('[options] CONTAINER:SRC_PATH DEST_PATH|-\n       tsbuild cp [options] SRC_PATH|- CONTAINER:DEST_PATH')
      .argument('<source>', 'CONTAINER:SRC_PATH, a host path, or - (a tar stream on stdin)')
      .argument('<destination>', 'CONTAINER:DEST_PATH, a host path, or - (a tar stream on stdout)')
      .option('-a, --archive', 'keep the owner (uid and gid) of what is copied into the container')
      .option('-L, --follow-link', 'follow a symbolic link given as SRC_PATH')
      .option('-q, --quiet', 'print no progress (none either when stderr is no terminal)'),
  ).action(async (sourceArgument: string, destinationArgument: string, flags: RootOption & { archive?: boolean; followLink?: boolean; quiet?: boolean }) => {
    if (destinationArgument === '') throw new ClientError('destination can not be empty');
    if (sourceArgument === '') throw new ClientError('source can not be empty');
    const source = splitCopyArgument(sourceArgument);
    const destination = splitCopyArgument(destinationArgument);
    if (source.container !== undefined && destination.container !== undefined) throw new ClientError('copying between containers is not supported');
    if (source.container === undefined && destination.container === undefined) throw new ClientError('must specify at least one container source');
    // An ordinary user's running container has its root mounted in its monitor's namespaces; a
    // stopped one is mounted for the copy in a user namespace of this command's own.
    const inMonitor = await runInMonitorNamespaces(flags.root, source.container ?? destination.container ?? '');
    if (inMonitor !== undefined) throw new ExitError(inMonitor);
    const inner = await runInUserNamespace(flags.root);
    if (inner !== undefined) throw new ExitError(inner);
    const store = await storeFromOptions(flags);
    const options = { archive: flags.archive === true, followLink: flags.followLink === true };
    const progress = flags.quiet !== true && (io.stderr as NodeJS.WriteStream).isTTY === true;
    if (source.container !== undefined) {
      const toStdout = destination.path === '-';
      const result = await copyFromContainer(store, source.container, source.path, toStdout ? { stream: io.stdout } : { hostPath: destination.path }, options).catch(hostSideError);
      if (progress && !toStdout) io.stderr.write(`Successfully copied ${formatBytes(result.bytes, 4, '')} to ${destination.path}\n`);
      return;
    }
    const container = destination.container ?? '';
    const fromStdin = source.path === '-';
    const result = await copyToContainer(store, container, fromStdin ? { stream: process.stdin } : { hostPath: source.path }, destination.path, options).catch(hostSideError);
    if (fromStdin) process.stdin.destroy();
    if (progress) io.stderr.write(`Successfully copied ${formatBytes(result.bytes, 4, '')} to ${container}:${destination.path}\n`);
  });
}

/**
 * cp's errors about the host's side (a source not there, an output directory missing), which
 * docker's CLI finds itself: said without a daemon's prefix.
 */
function hostSideError(error: unknown): never {
  if (isTsbuildError(error) && /^(lstat \/.*: no such file or directory|invalid output path: )/.test(error.message)) throw new ClientError(error.message, '', error);
  throw error;
}

function defineWait(parent: Command, io: CliIo, name = 'wait'): void {
  addRootOption(parent.command(name).description('wait for containers to end and print their exit codes').argument('<containers...>', 'names or IDs')).action(async (containers: string[], flags: RootOption) => {
    const store = await storeFromOptions(flags);
    for (const nameOrId of containers) io.stdout.write(`${await waitContainer(store, nameOrId)}\n`);
  });
}

function definePort(parent: Command, io: CliIo, name = 'port'): void {
  addRootOption(parent.command(name).description("a container's published ports").argument('<container>', 'name or ID').argument('[port]', 'PORT[/PROTO]')).action(async (nameOrId: string, port: string | undefined, flags: RootOption) => {
    const store = await storeFromOptions(flags);
    const record = await findContainer(store, nameOrId);
    const bindings = record.hostConfig?.portBindings ?? {};
    const wanted = port === undefined ? undefined : port.includes('/') ? port : `${port}/tcp`;
    const lines: string[] = [];
    for (const [containerPort, hosts] of Object.entries(bindings)) {
      if (wanted !== undefined && containerPort !== wanted) continue;
      for (const host of hosts) lines.push(`${wanted === undefined ? `${containerPort} -> ` : ''}${host.HostIp === '' ? '0.0.0.0' : host.HostIp}:${host.HostPort}`);
    }
    // docker's client sorts them: 80/udp before 81/tcp and 8080/tcp, whatever order they were published in.
    for (const line of lines.sort(compareNatural)) io.stdout.write(`${line}\n`);
    if (wanted !== undefined && bindings[wanted] === undefined) throw new ClientError(`No public port '${port ?? ''}' published for ${nameOrId}`, 'Error: ');
  });
}

function defineTop(parent: Command, io: CliIo, name = 'top'): void {
  parent.enablePositionalOptions();
  addRootOption(
    parent.command(name).description("a running container's processes").argument('<container>', 'name or ID').argument('[ps-options...]', 'ps options (default -f)').passThroughOptions(),
  ).action(async (nameOrId: string, psOptions: string[], flags: RootOption) => {
    const store = await storeFromOptions(flags);
    const record = await findContainer(store, nameOrId);
    if (!(await observeState(record)).running) throw new TsbuildError('INVALID_ARGUMENT', `container ${record.id} is not running`);
    io.stdout.write(topTable(await topOfContainer(record, psOptions.length > 0 ? psOptions : ['-f'])));
  });
}

/**
 * `docker update --restart`: a container's restart policy, changed in its record, which its
 * monitor reads when the process ends. docker's other update flags (resources) are refused.
 */
/** `update`'s flags: docker's resource flags and --restart. */
type UpdateFlags = RootOption & ResourceFlags & Pick<ContainerFlags, 'restart'>;

/**
 * `update`, as docker's: the restart policy, and the resources of `run` (applied at once to a
 * running container, kept for its later starts). Every flag is read before any container is
 * touched; then each container is updated in turn and named when done.
 */
function defineUpdate(parent: Command, io: CliIo, name = 'update'): void {
  addRootOption(
    parent
      .command(name)
      .description("change containers' resources and restart policy")
      .argument('<containers...>', 'names or IDs')
      .option('--restart <policy>', 'no, on-failure[:N], always or unless-stopped')
      .option('-m, --memory <bytes>', 'memory limit (b, k, m, g)')
      .option('--memory-swap <bytes>', 'memory and swap together (-1: unlimited swap)')
      .option('--memory-reservation <bytes>', 'memory soft limit')
      .option('--cpus <number>', 'CPUs the container may use')
      .option('-c, --cpu-shares <weight>', 'relative CPU weight')
      .option('--cpu-period <microseconds>', 'the CFS period of --cpu-quota')
      .option('--cpu-quota <microseconds>', 'the CFS quota per --cpu-period')
      .option('--cpuset-cpus <list>', 'CPUs the container may run on (0-3, 0,1)')
      .option('--cpuset-mems <list>', 'memory nodes the container may use (0-3, 0,1)')
      .option('--pids-limit <n>', 'process limit (-1: unlimited)')
      .option('--cpu-rt-period <microseconds>', "the real-time scheduler's period")
      .option('--cpu-rt-runtime <microseconds>', "the real-time scheduler's runtime per period"),
  ).action(async (containers: string[], flags: UpdateFlags) => {
    const resources = resourceOptions(flags);
    if (flags.restart === undefined && Object.keys(resources).length === 0) throw new TsbuildError('INVALID_ARGUMENT', 'you must provide one or more flags when using this command');
    const policy = flags.restart === undefined ? undefined : parseRestartPolicy(flags.restart);
    const store = await storeFromOptions(flags);
    // As docker's CLI: every container's warnings on standard output, after the names.
    const warnings: string[] = [];
    const printWarnings = (): void => {
      if (warnings.length > 0) io.stdout.write(`${warnings.join('\n')}\n`);
    };
    await eachContainer(io, containers, async (nameOrId) => {
      const found = await findContainer(store, nameOrId);
      if (found.hostConfig === undefined) throw new TsbuildError('INVALID_ARGUMENT', `container ${found.id} has no host configuration to change (a foreground run --rm)`);
      if (policy !== undefined && found.autoRemove && policy.name !== 'no') throw new TsbuildError('INVALID_ARGUMENT', `Cannot update container ${found.id}: Restart policy cannot be updated because AutoRemove is enabled for the container`);
      if (Object.keys(resources).length > 0) {
        warnings.push(...(await updateContainerResources(store, found.id, resources)).warnings);
      }
      if (policy !== undefined) await updateContainer(store, found.id, (current) => (current.hostConfig === undefined ? undefined : { ...current, hostConfig: { ...current.hostConfig, restartPolicy: policy } }));
    }).finally(printWarnings);
  });
}

function defineRename(parent: Command, io: CliIo, name = 'rename'): void {
  addRootOption(parent.command(name).description('rename a container').argument('<container>', 'name or ID').argument('<new-name>', 'its new name')).action(async (nameOrId: string, newName: string, flags: RootOption) => {
    const store = await storeFromOptions(flags);
    try {
      // docker's daemon looks the container up before it reads the new name.
      await findContainer(store, nameOrId);
      await renameContainer(store, nameOrId, newName);
    } catch (error) {
      if (!isTsbuildError(error)) throw error;
      // As docker's CLI: the reason, then which rename failed.
      io.stderr.write(`${daemonError(error.message)}Error: failed to rename container named ${nameOrId}\n`);
      throw new ExitError(1);
    }
  });
}

/**
 * A mount as docker's inspect lists it: a volume by its name (Driver local; mode `z` when named,
 * none when ANONYMOUS), a bind with its mode and propagation.
 */
function inspectMount(store: Store, mount: MountSpec, anonymous = false): Record<string, unknown> {
  const options = mount.options ?? [];
  const rw = !options.includes('ro');
  const volumes = volumesDirectory(store);
  if (mount.source !== undefined && basename(mount.source) === '_data' && dirname(dirname(mount.source)) === volumes) {
    return { Type: 'volume', Name: basename(dirname(mount.source)), Source: mount.source, Destination: mount.destination, Driver: 'local', Mode: rw ? (anonymous ? '' : 'z') : 'ro', RW: rw, Propagation: '' };
  }
  if (mount.type !== undefined && mount.type !== 'bind') return { Type: mount.type, Source: '', Destination: mount.destination, Mode: '', RW: rw, Propagation: '' };
  const propagation = options.find((option) => /^r?(private|shared|slave)$/.test(option)) ?? 'rprivate';
  return { Type: 'bind', Source: mount.source ?? '', Destination: mount.destination, Mode: rw ? '' : 'ro', RW: rw, Propagation: propagation };
}

/** HostConfig.Links: a default-bridge container's `--link`s as docker keeps them, null elsewhere. */
function bridgeLinks(record: ContainerRecord): string[] | null {
  const links = record.hostConfig?.links ?? [];
  if (links.length === 0 || !containerNetworks(record).some((network) => network.name === 'bridge')) return null;
  return links.map((link) => `/${link.container}:/${record.name ?? ''}/${link.alias}`);
}

/** One network's entry in a container's NetworkSettings.Networks, as docker's (an empty address while it does not run). */
function networkEntry(networkId: string, endpoint: { readonly address: string; readonly mac: string; readonly aliases: readonly string[]; readonly name?: string } | undefined, network: NetworkRecord | undefined, containerId: string): Record<string, unknown> {
  const userNetwork = network !== undefined && !network.isDefault;
  const prefix = Number(network?.subnet?.split('/')[1] ?? 0);
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: userNetwork && endpoint !== undefined && endpoint.aliases.length > 0 ? endpoint.aliases : null,
    MacAddress: endpoint?.mac ?? '',
    NetworkID: networkId,
    EndpointID: endpoint === undefined ? '' : endpointId(networkId, containerId),
    Gateway: endpoint === undefined ? '' : (network?.gateway ?? ''),
    IPAddress: endpoint?.address ?? '',
    IPPrefixLen: endpoint === undefined ? 0 : prefix,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    DriverOpts: null,
    // docker 26: the names a user network's DNS answers for the container (none on the default bridge).
    DNSNames: userNetwork && endpoint !== undefined ? [...(endpoint.name === undefined ? [] : [endpoint.name]), ...endpoint.aliases, containerId.slice(0, 12)] : null,
  };
}

/**
 * NetworkSettings as docker's inspect prints it: an entry per network the container is on (its
 * own, and those `network connect` added), with its address while it runs; the top-level address
 * fields are the default bridge's, as docker's (deprecated there, still read by many scripts).
 */
function networkSettings(record: ContainerRecord, observed: ObservedState, networkRecords: readonly NetworkRecord[]): Record<string, unknown> {
  const mode = record.config.network === 'default' ? 'bridge' : record.config.network;
  const networks: Record<string, Record<string, unknown>> = {};
  if (mode === 'none' || mode === 'host') networks[mode] = { ...networkEntry(builtinId(mode), undefined, undefined, record.id), ...(record.config.macAddress === undefined ? {} : { MacAddress: record.config.macAddress }) };
  const connected = record.config.networks !== undefined;
  if (observed.running) {
    for (const network of networkRecords) {
      const endpoint = network.endpoints[record.id];
      if (endpoint !== undefined) networks[network.name] = networkEntry(network.id, endpoint, network, record.id);
    }
  } else {
    // Where it will be at its next start, as docker shows it meanwhile (its settings only).
    const listed = containerNetworks(record);
    for (const entry of listed) {
      const network = networkRecords.find((candidate) => candidate.name === entry.name);
      const userNetwork = network !== undefined && !network.isDefault;
      networks[entry.name] = {
        ...networkEntry(network?.id ?? '', undefined, network, record.id),
        // Its first network's, as given (docker 26: the endpoint's setting until it runs).
        ...(record.config.macAddress !== undefined && entry === listed[0] ? { MacAddress: record.config.macAddress } : {}),
        // docker keeps `network connect`'s settings as given: {} where `run` left null.
        ...(connected ? { IPAMConfig: entry.ip === undefined ? {} : { IPv4Address: entry.ip }, DriverOpts: {} } : {}),
        Aliases: connected || (userNetwork && entry.aliases.length > 0) ? [...entry.aliases] : null,
        DNSNames: userNetwork ? [...(record.name === undefined ? [] : [record.name]), ...entry.aliases, record.id.slice(0, 12)] : null,
      };
    }
  }
  // --link-local-ip: the container's own network's endpoint settings, running or not.
  const linkLocal = record.config.linkLocalIps;
  const own = networks[mode === 'default' ? 'bridge' : mode];
  if (linkLocal !== undefined && own !== undefined) networks[mode === 'default' ? 'bridge' : mode] = { ...own, IPAMConfig: { ...(own.IPAMConfig ?? {}), LinkLocalIPs: [...linkLocal] } };
  const links = record.hostConfig?.links ?? [];
  if (links.length > 0) {
    for (const [name, entry] of Object.entries(networks)) if (name !== 'bridge') networks[name] = { ...entry, Links: links.map((link) => `${link.container}:${link.alias}`) };
  }
  const bridge = networks.bridge;
  const bindings = record.hostConfig?.portBindings ?? {};
  // What is bound (docker's NetworkSettings: 0.0.0.0 where no address was given), keys in Go's map order.
  const bound = (port: string): { HostIp: string; HostPort: string }[] | null => bindings[port]?.map((host) => ({ HostIp: host.HostIp === '' ? '0.0.0.0' : host.HostIp, HostPort: host.HostPort })) ?? null;
  const ports = observed.running ? sortedKeys(Object.fromEntries([...new Set([...(record.config.exposedPorts ?? []), ...Object.keys(bindings)])].map((port) => [port, bound(port)]))) : {};
  return {
    Bridge: '',
    SandboxID: '',
    SandboxKey: '',
    Ports: ports,
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: bridge?.EndpointID ?? '',
    Gateway: bridge?.Gateway ?? '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: bridge?.IPAddress ?? '',
    IPPrefixLen: bridge?.IPPrefixLen ?? 0,
    IPv6Gateway: '',
    MacAddress: bridge?.MacAddress ?? '',
    Networks: networks,
  };
}

/** docker's BlkioDevice* lists (`[{ Path, Rate }]`; `[]` when none). */
function throttles(devices: readonly ThrottleDevice[] | undefined): { Path: string; Rate: number }[] {
  return (devices ?? []).map((device) => ({ Path: device.path, Rate: device.rate }));
}

function formatInspect(record: ContainerRecord, observed: ObservedState, store: Store, networkRecords: readonly NetworkRecord[]): Record<string, unknown> {
  const zero = '0001-01-01T00:00:00Z';
  const directory = containerDirectory(store, record.id);
  const { state, config } = record;
  const health = state.health;
  const healthcheck = config.healthcheck;
  // As docker's: --tmpfs mounts are HostConfig.Tmpfs only (a --mount type=tmpfs is listed).
  const listedMounts = (record.hostConfig?.mounts ?? []).filter((mount) => !(mount.type === 'tmpfs' && Object.hasOwn(record.hostConfig?.tmpfs ?? {}, mount.destination)));
  const anonymous = new Set(config.volumes ?? []);
  // HostConfig.Mounts holds --mount's only: not -v's (Binds, and anonymous ones in Config.Volumes) nor the image's VOLUMEs.
  const fromVolumeFlags = new Set([...anonymous, ...(record.hostConfig?.binds ?? []).map((spec) => parseVolumeFlag(spec).target)]);
  const requestedMounts = listedMounts.filter((mount) => !fromVolumeFlags.has(mount.destination));
  const blockIO = record.hostConfig?.blockIODevices;
  return {
    Id: record.id,
    Created: record.created,
    Path: record.path,
    Args: record.args,
    State: {
      Status: observed.status,
      Running: observed.running,
      Paused: observed.status === 'paused',
      Restarting: observed.status === 'restarting',
      OOMKilled: false,
      Dead: observed.status === 'dead',
      Pid: observed.running ? (state.pid ?? 0) : 0,
      ExitCode: state.exitCode ?? 0,
      Error: observed.monitorDied ? 'the container\'s monitor died' : (state.error ?? ''),
      StartedAt: state.startedAt ?? zero,
      FinishedAt: state.finishedAt ?? zero,
      ...(health === undefined
        ? {}
        : { Health: { Status: health.status, FailingStreak: health.failingStreak, Log: health.log.map((entry) => ({ Start: entry.start, End: entry.end, ExitCode: entry.exitCode, Output: entry.output })) } }),
    },
    Image: record.image.id,
    ResolvConfPath: join(directory, 'resolv.conf'),
    HostnamePath: join(directory, 'hostname'),
    HostsPath: join(directory, 'hosts'),
    LogPath: join(directory, 'container.log'),
    Name: `/${record.name ?? ''}`,
    RestartCount: record.restartCount ?? 0,
    Driver: 'overlay',
    Platform: 'linux',
    // docker's fields for SELinux, AppArmor and exec sessions, which tsbuild keeps none of.
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    // Where the container's files are, as docker's overlay driver tells them (scripts read MergedDir and UpperDir).
    GraphDriver: {
      Name: 'overlay',
      Data: { ...(record.lower === undefined ? {} : { LowerDir: record.lower }), MergedDir: join(directory, 'rootfs'), UpperDir: join(directory, 'upper'), WorkDir: join(directory, 'work') },
    },
    HostConfig: {
      LogConfig: { Type: record.hostConfig?.logConfig?.type ?? 'json-file', Config: record.hostConfig?.logConfig?.config ?? {} },
      NetworkMode: config.network === 'default' ? 'bridge' : config.network,
      PortBindings: record.hostConfig?.portBindings ?? {},
      RestartPolicy: { Name: record.hostConfig?.restartPolicy.name ?? 'no', MaximumRetryCount: record.hostConfig?.restartPolicy.maximumRetryCount ?? 0 },
      AutoRemove: record.autoRemove,
      // As docker's optional fields: Init only when --init was given, PidsLimit null when unlimited, Sysctls only when set.
      ...(record.hostConfig?.init === true ? { Init: true } : {}),
      ReadonlyRootfs: record.hostConfig?.readonlyRootfs ?? false,
      Memory: record.hostConfig?.memory ?? 0,
      NanoCpus: record.hostConfig?.nanoCpus ?? 0,
      CpuShares: record.hostConfig?.cpuShares ?? 0,
      CpuPeriod: record.hostConfig?.cpuPeriod ?? 0,
      CpuQuota: record.hostConfig?.cpuQuota ?? 0,
      PidsLimit: record.hostConfig?.pidsLimit === undefined || record.hostConfig.pidsLimit === 0 ? null : record.hostConfig.pidsLimit,
      ShmSize: record.hostConfig?.shmSize ?? 64 * 1024 * 1024,
      ...(record.hostConfig?.sysctls === undefined || Object.keys(record.hostConfig.sysctls).length === 0 ? {} : { Sysctls: record.hostConfig.sysctls }),
      Devices: (record.hostConfig?.devices ?? []).map((device) => ({ PathOnHost: device.hostPath, PathInContainer: device.path, CgroupPermissions: device.access })),
      PidMode: record.hostConfig?.hostNamespaces?.includes('pid') === true ? 'host' : '',
      IpcMode: record.hostConfig?.hostNamespaces?.includes('ipc') === true ? 'host' : 'private',
      UTSMode: record.hostConfig?.hostNamespaces?.includes('uts') === true ? 'host' : '',
      Runtime: config.runtime,
      Binds: record.hostConfig?.binds ?? null,
      ...(record.hostConfig?.tmpfs === undefined ? {} : { Tmpfs: record.hostConfig.tmpfs }),
      // docker's mount.Mount fields (Type, Source: a volume's name, Target, ReadOnly), not the runtime's.
      ...(requestedMounts.length === 0
        ? {}
        : {
            Mounts: requestedMounts.map((mount) => {
              const listed = inspectMount(store, mount);
              const source = listed.Type !== 'volume' ? listed.Source : record.hostConfig?.anonymousMounts?.includes(mount.destination) === true ? '' : listed.Name;
              return { Type: listed.Type, ...(source === '' ? {} : { Source: source }), Target: mount.destination, ...(listed.RW === false ? { ReadOnly: true } : {}) };
            }),
          }),
      CapAdd: record.hostConfig?.capAdd ?? nilSlice,
      CapDrop: record.hostConfig?.capDrop ?? nilSlice,
      Privileged: record.hostConfig?.privileged ?? false,
      ExtraHosts: record.hostConfig?.extraHosts ?? nilSlice,
      Dns: record.hostConfig?.dns ?? [],
      DnsOptions: record.hostConfig?.dnsOptions ?? [],
      DnsSearch: record.hostConfig?.dnsSearch ?? [],
      GroupAdd: record.hostConfig?.groupAdd ?? nilSlice,
      Ulimits: (record.hostConfig?.ulimits ?? []).map((ulimit) => ({ Name: ulimit.name, Hard: ulimit.hard, Soft: ulimit.soft })),
      SecurityOpt: record.hostConfig?.securityOpt ?? nilSlice,
      // docker 26 lists the paths it masks and makes read-only; null for a privileged container, which has none.
      MaskedPaths: record.hostConfig?.privileged === true ? null : defaultMaskedPaths,
      ReadonlyPaths: record.hostConfig?.privileged === true ? null : defaultReadonlyPaths,
      // As made (docker's default: the host's on cgroup v1, its own on v2); records from before
      // the default followed the host had their own.
      CgroupnsMode: record.hostConfig?.cgroupnsMode ?? 'private',
      ...(record.hostConfig?.annotations === undefined ? {} : { Annotations: record.hostConfig.annotations }),
      // docker's fields for what tsbuild does not offer, at the values docker gives a container that
      // did not ask for them, so that a template naming one prints what it prints under docker.
      ContainerIDFile: '',
      VolumeDriver: record.hostConfig?.volumeDriver ?? '',
      VolumesFrom: null,
      ConsoleSize: [0, 0],
      Cgroup: '',
      CgroupParent: record.hostConfig?.cgroupParent ?? '',
      // docker keeps a default-bridge container's links here (`/TARGET:/NAME/ALIAS`), a user network's on the network's entry.
      Links: bridgeLinks(record),
      OomScoreAdj: record.hostConfig?.oomScoreAdj ?? 0,
      PublishAllPorts: record.hostConfig?.publishAll === true,
      UsernsMode: record.hostConfig?.usernsMode ?? '',
      Isolation: record.hostConfig?.isolation ?? '',
      BlkioWeight: record.hostConfig?.blkioWeight ?? 0,
      BlkioWeightDevice: (blockIO?.weightDevice ?? []).map((device) => ({ Path: device.path, Weight: device.weight })),
      BlkioDeviceReadBps: throttles(blockIO?.readBps),
      BlkioDeviceWriteBps: throttles(blockIO?.writeBps),
      BlkioDeviceReadIOps: throttles(blockIO?.readIOps),
      BlkioDeviceWriteIOps: throttles(blockIO?.writeIOps),
      CpuRealtimePeriod: record.hostConfig?.cpuRealtimePeriod ?? 0,
      CpuRealtimeRuntime: record.hostConfig?.cpuRealtimeRuntime ?? 0,
      CpusetCpus: record.hostConfig?.cpusetCpus ?? '',
      CpusetMems: record.hostConfig?.cpusetMems ?? '',
      DeviceCgroupRules: record.hostConfig?.deviceCgroupRules ?? null,
      DeviceRequests: record.hostConfig?.deviceRequests ?? null,
      MemoryReservation: record.hostConfig?.memoryReservation ?? 0,
      MemorySwap: record.hostConfig?.memorySwap ?? 0,
      MemorySwappiness: record.hostConfig?.memorySwappiness ?? null,
      OomKillDisable: record.hostConfig?.oomKillDisable === true,
      CpuCount: 0,
      CpuPercent: 0,
      IOMaximumIOps: 0,
      IOMaximumBandwidth: 0,
    },
    // As docker's: --tmpfs mounts are HostConfig.Tmpfs only (a --mount type=tmpfs is listed).
    Mounts: listedMounts.map((mount) => inspectMount(store, mount, anonymous.has(mount.destination))),
    Config: {
      Hostname: config.hostname,
      Domainname: config.domainname ?? '',
      User: config.user,
      AttachStdin: config.attach?.stdin === true,
      AttachStdout: config.attach?.stdout === true,
      AttachStderr: config.attach?.stderr === true,
      Tty: config.tty,
      OpenStdin: config.openStdin,
      StdinOnce: config.attach?.stdinOnce === true,
      ...(config.exposedPorts === undefined ? {} : { ExposedPorts: Object.fromEntries(config.exposedPorts.map((port) => [port, {}])) }),
      Env: config.configEnv ?? config.env,
      Cmd: config.cmd ?? nilSlice,
      ...(healthcheck === undefined
        ? {}
        : {
            Healthcheck: {
              Test: healthcheck.test,
              ...(healthcheck.interval === undefined ? {} : { Interval: healthcheck.interval }),
              ...(healthcheck.timeout === undefined ? {} : { Timeout: healthcheck.timeout }),
              ...(healthcheck.startPeriod === undefined ? {} : { StartPeriod: healthcheck.startPeriod }),
              ...(healthcheck.startInterval === undefined ? {} : { StartInterval: healthcheck.startInterval }),
              ...(healthcheck.retries === undefined ? {} : { Retries: healthcheck.retries }),
            },
          }),
      Image: config.image ?? record.image.name ?? record.image.id,
      Volumes: config.volumes === undefined ? null : Object.fromEntries(config.volumes.map((path) => [path, {}])),
      WorkingDir: config.workingDir,
      Entrypoint: config.entrypoint ?? nilSlice,
      // docker 26 keeps --mac-address as given where it has an endpoint to give it to.
      ...(config.macAddress === undefined ? {} : { MacAddress: config.network === 'host' || config.network === 'none' ? '' : config.macAddress }),
      OnBuild: null,
      Labels: config.labels ?? {},
      ...(config.stopSignal === undefined ? {} : { StopSignal: config.stopSignal }),
      ...(config.stopTimeout === undefined ? {} : { StopTimeout: config.stopTimeout }),
    },
    NetworkSettings: networkSettings(record, observed, networkRecords),
  };
}

/** `inspect` of containers (the image inspect falls back here, and `container inspect` comes straight here). */
export async function inspectContainers(store: Store, names: readonly string[]): Promise<unknown[]> {
  const results: unknown[] = [];
  let networkRecords: readonly NetworkRecord[] | undefined;
  for (const nameOrId of names) {
    const record = await findContainer(store, nameOrId);
    networkRecords ??= await networks(store);
    results.push(formatInspect(record, await observeState(record), store, networkRecords));
  }
  return results;
}

function defineInspect(parent: Command, io: CliIo, name = 'inspect'): void {
  addRootOption(parent.command(name, name === 'container-inspect' ? { hidden: true } : {}).description('print containers as JSON, with docker\'s field names').argument('<containers...>', 'names or IDs').option('-f, --format <template>', 'a Go template such as {{.State.Status}}')).action(
    async (containers: string[], flags: RootOption & { format?: string }) => {
      const store = await storeFromOptions(flags);
      await printInspected(io, containers, flags.format, async (name) => ({ document: (await inspectContainers(store, [name]))[0], shape: containerShape }));
    },
  );
}



function definePrune(parent: Command, io: CliIo): void {
  addRootOption(
    parent
      .command('prune')
      .description('remove every container that is not running')
      .option('-f, --force', 'do not ask for confirmation')
      .option('--filter <filter>', 'until=TIME (created before it: RFC 3339, Unix time or a duration such as 24h), label=K[=V], label!=K[=V] (repeatable)', collect, []),
  ).action(async (flags: RootOption & { force?: boolean; filter: string[] }) => {
    // Checked before the question: a bad filter asks nothing.
    const select = pruneSelection('prune containers', flags.filter);
    if (flags.force !== true && !(await confirmRemoval(io, 'all stopped containers'))) return;
    const store = await storeFromOptions(flags);
    const { removed, bytesFreed } = await pruneContainers(store, select === undefined ? undefined : (record) => select({ created: record.created, labels: record.config.labels ?? {} }));
    io.stdout.write(removed.length === 0 ? '' : `Deleted Containers:\n${removed.join('\n')}\n\n`);
    io.stdout.write(`Total reclaimed space: ${formatBytes(bytesFreed, 3, '')}\n`);
  });
}

/** docker's `container SUBCOMMAND` names: the top-level commands under the group, and `ls`. */
const containerCommands: ReadonlyArray<readonly [name: string, aliases: readonly string[], command: string]> = [
  ['ls', ['list', 'ps'], 'ps'],
  ['run', [], 'run'],
  ['create', [], 'create'],
  ['start', [], 'start'],
  ['stop', [], 'stop'],
  ['kill', [], 'kill'],
  ['pause', [], 'pause'],
  ['unpause', [], 'unpause'],
  ['restart', [], 'restart'],
  ['rm', ['remove'], 'rm'],
  ['logs', [], 'logs'],
  ['exec', [], 'exec'],
  ['cp', [], 'cp'],
  ['wait', [], 'wait'],
  ['port', [], 'port'],
  ['top', [], 'top'],
  ['stats', [], 'stats'],
  ['attach', [], 'attach'],
  ['update', [], 'update'],
  ['rename', [], 'rename'],
  ['inspect', [], 'container-inspect'],
  ['diff', [], 'diff'],
  ['export', [], 'export'],
  ['commit', [], 'commit'],
];

export function registerContainer(program: Command, io: CliIo): void {
  const group = program.command('container').description('manage containers');
  for (const [name, aliases, command] of containerCommands) delegateCommand(group, io, name, aliases, command, { shownAs: command === 'container-inspect' ? 'inspect' : command });
  definePrune(group, io);
}

const registrar = (define: Registrar): ((program: Command, io: CliIo) => void) => (program, io) => define(program, io);

export const registerCreate = registrar(defineCreate);
export const registerStart = registrar(defineStart);
export const registerStop = registrar(defineStop);
export const registerKill = registrar(defineKill);
export const registerPause = registrar(definePause);
export const registerUnpause = registrar(defineUnpause);
export const registerRestart = registrar(defineRestart);
export const registerRm = registrar(defineRm);
export const registerPs = registrar((program, io) => definePs(program, io));
export const registerLogs = registrar(defineLogs);
export const registerExec = registrar(defineExec);
export const registerWait = registrar(defineWait);
export const registerCp = registrar(defineCp);
export const registerPort = registrar(definePort);
export const registerTop = registrar(defineTop);
export const registerRename = registrar(defineRename);
export const registerUpdate = registrar(defineUpdate);
export const registerContainerInspect = registrar((program, io) => defineInspect(program, io, 'container-inspect'));
