import { readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import type { Command } from 'commander';
import { TsbuildError, familiarReference, isTsbuildError, messageOf, type ImageReference } from '../../common/index.js';
import { pull } from '../../registry/index.js';
import { lookupEnv, parseEnvFile, parsePortSpec, rawTerminalOutput, runContainer, runFailureStatus, type RunningContainer } from '../../runtime/index.js';
import { ExitError, type CliIo } from '../io.js';
import { runInUserNamespace } from '../rootless.js';
import { addRootOption, storeFromOptions } from '../store-options.js';
import { addInsecureRegistryOption, collect, registryClient } from './registry-options.js';
import { TransferProgress } from './transfer-progress.js';

interface RunFlags {
  readonly rm?: boolean;
  readonly interactive?: boolean;
  readonly tty?: boolean;
  readonly env: string[];
  readonly envFile: string[];
  readonly workdir?: string;
  readonly user?: string;
  readonly entrypoint?: string;
  readonly network?: string;
  readonly networkAlias: string[];
  readonly name?: string;
  readonly hostname?: string;
  readonly publish: string[];
  readonly publishAll?: boolean;
  readonly runtime?: string;
  readonly init?: boolean;
  readonly root?: string;
  readonly insecureRegistry: string[];
}

/** The signals docker's CLI passes on to the container (its sig-proxy). */
const forwardedSignals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

async function environment(flags: RunFlags): Promise<string[]> {
  // As the docker CLI: the files' variables first, then -e's, later ones winning.
  const result: string[] = [];
  for (const file of flags.envFile) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new TsbuildError('INVALID_ARGUMENT', `read env file ${file}: ${messageOf(error)}`, { cause: error });
    }
    result.push(...parseEnvFile(text, process.env, file));
  }
  for (const entry of flags.env) {
    if (entry === '' || entry.startsWith('=')) throw new TsbuildError('INVALID_ARGUMENT', `run: invalid environment variable: ${entry}`);
    result.push(entry.includes('=') ? entry : lookupEnv(entry, process.env));
  }
  return result;
}

/**
 * `tsbuild run`: the one command that gives its process's own stdin, terminal and signals to
 * something else (the container), so it reaches past the injected streams for them; its output
 * still goes to `io`.
 */
export function registerRun(program: Command, io: CliIo): void {
  // The container's arguments follow the image: `run busybox ls -l` must leave -l to ls.
  program.enablePositionalOptions();
  const command = program
    .command('run')
    .description('run a command in a new container of an image, in the foreground')
    .argument('<image>', 'image reference, ID or digest')
    .argument('[args...]', 'command and arguments (default: the image\'s)')
    .passThroughOptions()
    .option('--rm', 'remove the container when it exits')
    .option('-i, --interactive', 'keep stdin open and pass it to the container')
    .option('-t, --tty', 'give the container a terminal')
    .option('-e, --env <K=V>', 'set an environment variable; K alone takes it from this environment (repeatable)', collect, [])
    .option('--env-file <file>', 'read environment variables from a file (repeatable)', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user name or uid, and group name or gid')
    .option('--entrypoint <command>', "replace the image's entrypoint ('' for none)")
    .option('--network <network>', 'bridge (the default network), none (loopback only), host, a network\'s name, container:NAME')
    .option('--network-alias <alias>', 'another name on the network (repeatable)', collect, [])
    .option('--name <name>', 'the container\'s name, by which the containers of its networks reach it')
    .option('--hostname <name>', 'the container\'s host name')
    .option('-p, --publish <[ip:]host:container[/proto]>', 'publish a container\'s port on the host (repeatable)', collect, [])
    .option('-P, --publish-all', 'publish every port the image exposes on free ports of the host')
    .option('--init', 'run the command under an init that forwards signals and reaps orphans')
    .option('--runtime <name>', 'OCI runtime: shim (default), crun, runc or a path');
  addRootOption(addInsecureRegistryOption(command)).action(async (image: string, args: string[], flags: RunFlags) => {
    const inner = await runInUserNamespace(flags.root);
    if (inner !== undefined) throw new ExitError(inner);
    const stdin = flags.interactive === true ? process.stdin : undefined;
    const tty = flags.tty === true;
    const rawTerminal = tty && stdin !== undefined && process.stdin.isTTY;
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
    let client: ReturnType<typeof registryClient> | undefined;
    try {
      if (flags.rm !== true) throw new TsbuildError('INVALID_ARGUMENT', 'run: only --rm is supported for now: containers that outlive their run come with ps and rm');
      if (tty && stdin !== undefined && !process.stdin.isTTY) throw new TsbuildError('INVALID_ARGUMENT', 'run: the input device is not a TTY');
      for (const signal of forwardedSignals) process.on(signal, onSignal);
      const env = await environment(flags);
      const store = await storeFromOptions(flags);
      const fetch = async (reference: ImageReference): Promise<void> => {
        io.stderr.write(`Unable to find image '${familiarReference(reference)}' locally\n`);
        client = registryClient(flags);
        const progress = new TransferProgress(io, 'pull');
        io.stderr.write(`${reference.tag ?? reference.digest ?? 'latest'}: Pulling from ${reference.path}\n`);
        const result = await pull({ reference, store, client, onProgress: progress.listener, signal: abort.signal });
        progress.finish();
        io.stderr.write(`Digest: ${result.digest}\nStatus: Downloaded newer image for ${familiarReference(reference)}\n`);
      };
      if (rawTerminal) {
        process.stdin.setRawMode(true);
        rawTerminalOutput(0);
      }
      if (tty && stdout.isTTY) stdout.on('resize', onResize);
      const result = await runContainer({
        store,
        image,
        pull: fetch,
        args,
        ...(flags.entrypoint === undefined ? {} : { entrypoint: flags.entrypoint }),
        env,
        ...(flags.workdir === undefined ? {} : { workdir: flags.workdir }),
        ...(flags.user === undefined ? {} : { user: flags.user }),
        ...(flags.network === undefined ? {} : { network: flags.network }),
        ...(flags.name === undefined ? {} : { name: flags.name }),
        ...(flags.hostname === undefined ? {} : { hostname: flags.hostname }),
        networkAliases: flags.networkAlias,
        publish: flags.publish.map(parsePortSpec),
        ...(flags.publishAll === true ? { publishAll: true } : {}),
        tty,
        ...(flags.init === true ? { init: true } : {}),
        ...(tty && stdout.isTTY ? { terminalSize: { rows: stdout.rows, columns: stdout.columns } } : {}),
        autoRemove: true,
        ...(flags.runtime === undefined ? {} : { runtime: flags.runtime }),
        stdio: { ...(stdin === undefined ? {} : { stdin }), stdout: io.stdout, stderr: io.stderr },
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
      io.stderr.write(`error: ${error.message}\n`);
      throw new ExitError(runFailureStatus(error));
    } finally {
      for (const signal of forwardedSignals) process.removeListener(signal, onSignal);
      stdout.removeListener('resize', onResize);
      if (rawTerminal) process.stdin.setRawMode(false);
      // A stdin read for the container would keep the process alive after it.
      if (stdin !== undefined) {
        stdin.pause();
        (stdin as NodeJS.ReadStream).destroy();
      }
      await client?.close();
    }
  });
}
