/**
 * `tsbuild attach` (`container attach`), docker's: the terminal joins a running container's
 * streams through its monitor (src/runtime/attach.ts): its output from now on, and, when it
 * was made with `-i`, its input (the terminal in raw mode with `-t`, resized with the window).
 * The detach keys (ctrl-p,ctrl-q) leave it running (`read escape sequence`, status 1, as docker's); otherwise attach ends with the container,
 * with its exit status. Without a terminal, signals are passed on to the container (`--sig-proxy`).
 */
import type { Command } from 'commander';
import { connectAttach, containerDirectory, findContainer, killContainer, observeState, parseDetachKeys, rawTerminalOutput, readContainerRecord, recordContainerEvent, type AttachedClient } from '../../runtime/index.js';
import { ClientError, ExitError, type CliIo } from '../io.js';
import { detachKeysText } from '../docker-config.js';
import { addSigProxyOption } from './run.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

interface AttachFlags extends RootOption {
  readonly stdin: boolean;
  readonly sigProxy?: boolean;
  readonly detachKeys?: string;
}

const proxiedSignals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export function registerAttach(program: Command, io: CliIo): void {
  addRootOption(
    addSigProxyOption(
      program
        .command('attach')
        .description("attach the terminal to a running container's input and output")
        .argument('<container>', 'name or ID')
        .option('--no-stdin', 'do not send standard input to the container'),
      'pass the signals tsbuild receives on to the container (default true; not with a terminal)',
    ).option('--detach-keys <keys>', 'the keys that detach, leaving the container running (default detachKeys of docker\'s config.json, else ctrl-p,ctrl-q)'),
  ).action(async (nameOrId: string, flags: AttachFlags) => {
    const detachKeys = parseDetachKeys(await detachKeysText(flags.detachKeys, true));
    const store = await storeFromOptions(flags);
    const record = await findContainer(store, nameOrId);
    const observed = await observeState(record);
    if (observed.status === 'paused') throw new ClientError('You cannot attach to a paused container, unpause it first');
    if (!observed.running) throw new ClientError('You cannot attach to a stopped container, start it first');
    const { tty, openStdin } = record.config;
    const input = flags.stdin && openStdin ? process.stdin : undefined;
    if (tty && input !== undefined && !process.stdin.isTTY) throw new ClientError('the input device is not a TTY');
    const rawTerminal = tty && input !== undefined && process.stdin.isTTY;
    const client = await connectAttach(containerDirectory(store, record.id), { ...(input === undefined ? {} : { stdin: input }), stdout: io.stdout, stderr: io.stderr, detachKeys });
    await recordContainerEvent(store.root, record, 'attach');
    const release = holdTerminal(client, { tty, raw: rawTerminal, input: input !== undefined });
    const proxy = flags.sigProxy !== false && !tty;
    const onSignal = (signal: NodeJS.Signals): void => {
      void killContainer(store, record.id, signal).catch(() => undefined);
    };
    try {
      if (proxy) for (const signal of proxiedSignals) process.on(signal, onSignal);
      const how = await client.done;
      if (how === 'detached') {
        // docker's CLI ends an attach left with the detach keys on its escape error, status 1
        // (run and start -a leave silently); the container goes on.
        io.stderr.write('read escape sequence\n');
        throw new ExitError(1);
      }
      // The process ended: its status, once the monitor wrote it.
      for (let waited = 0; waited < 10_000; waited += 50) {
        const now = await readContainerRecord(store, record.id);
        const state = now === undefined ? undefined : await observeState(now);
        if (now === undefined || state === undefined || !state.running) {
          const status = now?.state.exitCode ?? 0;
          if (status !== 0) throw new ExitError(status);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      if (proxy) for (const signal of proxiedSignals) process.removeListener(signal, onSignal);
      release();
    }
  });
}

/**
 * Gives CLIENT this process's terminal: raw with RAW, and the window's size, now and as it
 * changes, with TTY. The function returned gives it back, lets stdin go when INPUT was sent
 * (a stdin being read would keep the process alive) and closes the connection.
 */
export function holdTerminal(client: AttachedClient, options: { readonly tty: boolean; readonly raw: boolean; readonly input: boolean }): () => void {
  const stdout = process.stdout;
  const onResize = (): void => client.resize({ rows: stdout.rows, columns: stdout.columns });
  if (options.raw) {
    process.stdin.setRawMode(true);
    rawTerminalOutput(0);
  }
  if (options.tty && stdout.isTTY) {
    onResize();
    stdout.on('resize', onResize);
  }
  return () => {
    stdout.removeListener('resize', onResize);
    if (options.raw) process.stdin.setRawMode(false);
    if (options.input) {
      process.stdin.pause();
      process.stdin.destroy();
    }
    client.close();
  };
}
