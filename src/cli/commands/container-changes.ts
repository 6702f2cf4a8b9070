/**
 * `diff`, `export` and `commit` of a container, with docker's flags and words (also as
 * `container diff|export|commit`). `commit -c` takes Dockerfile instructions, read by the
 * project's parser and applied to the container's config as docker's BuildFromConfig does.
 */
import { once } from 'node:events';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import type { Command } from 'commander';
import { TsbuildError, checkStopSignal, encodeFileName, envFromList, exposedPortSet, processWord, type ContainerConfig } from '../../common/index.js';
import { parseTrigger, type Command as DockerfileCommand } from '../../parser/index.js';
import { commitContainer, containerChanges, exportContainer } from '../../runtime/index.js';
import { storeName, temporaryName } from '../../store/index.js';
import { ClientError, ExitError, type CliIo } from '../io.js';
import { runInUserNamespace } from '../rootless.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';
import { collect } from '../common-options.js';

/** The instructions docker's commit takes as changes (builder/dockerfile's validCommitCommands). */
const commitInstructions = new Set(['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR']);

/** Each `-c` as an instruction; the first one docker would refuse fails the whole commit. */
export function parseCommitChanges(changes: readonly string[]): DockerfileCommand[] {
  const commands: DockerfileCommand[] = [];
  for (const text of changes) {
    // One `-c` may hold several lines, as docker's (each a Dockerfile line).
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const parsed = parseTrigger(line, '\\');
      const word = line.trim().split(/\s+/, 1)[0] ?? '';
      if (parsed.command === undefined) {
        if (!commitInstructions.has(word.toUpperCase())) throw new TsbuildError('INVALID_ARGUMENT', `${word.toLowerCase()} is not a valid change command`);
        throw new TsbuildError('INVALID_ARGUMENT', `commit: change ${JSON.stringify(line)}: ${parsed.diagnostics[0]?.message ?? 'cannot be read'}`);
      }
      if (!commitInstructions.has(parsed.command.kind)) throw new TsbuildError('INVALID_ARGUMENT', `${parsed.command.kind.toLowerCase()} is not a valid change command`);
      commands.push(parsed.command);
    }
  }
  return commands;
}

/**
 * COMMANDS applied to CONFIG as docker's BuildFromConfig dispatches them: words expanded with the
 * config's environment, CMD and ENTRYPOINT in shell form run by the config's shell, an
 * ENTRYPOINT resets the CMD unless a change set one before it.
 */
export function applyCommitChanges(config: ContainerConfig, commands: readonly DockerfileCommand[]): ContainerConfig {
  let current: ContainerConfig = { ...config };
  let cmdSet = false;
  const word = (text: string): string => processWord(text, envFromList(current.Env ?? []));
  const commandLine = (shellForm: boolean, line: readonly string[]): string[] => (shellForm ? [...(current.Shell ?? ['/bin/sh', '-c']), line[0] ?? ''] : [...line]);
  for (const command of commands) {
    switch (command.kind) {
      case 'ENV': {
        const pairs = command.pairs.map((pair) => ({ key: word(pair.key), value: word(pair.value) }));
        const env = [...(current.Env ?? [])];
        for (const { key, value } of pairs) {
          const at = env.findIndex((entry) => entry.split('=', 1)[0] === key);
          if (at < 0) env.push(`${key}=${value}`);
          else env[at] = `${key}=${value}`;
        }
        current = { ...current, Env: env };
        break;
      }
      case 'LABEL': {
        const labels: Record<string, string> = { ...(current.Labels ?? {}) };
        for (const pair of command.pairs) labels[word(pair.key)] = word(pair.value);
        current = { ...current, Labels: labels };
        break;
      }
      case 'CMD':
        current = { ...current, Cmd: commandLine(command.shellForm, command.cmdLine) };
        cmdSet = true;
        break;
      case 'ENTRYPOINT':
        current = { ...current, Entrypoint: commandLine(command.shellForm, command.cmdLine), ...(cmdSet ? {} : { Cmd: null }) };
        break;
      case 'EXPOSE': {
        const ports: Record<string, Record<string, never>> = { ...(current.ExposedPorts ?? {}) };
        for (const port of exposedPortSet(command.ports.map((text) => word(text)))) ports[port] = {};
        current = { ...current, ExposedPorts: ports };
        break;
      }
      case 'VOLUME': {
        const volumes: Record<string, Record<string, never>> = { ...(current.Volumes ?? {}) };
        for (const volume of command.volumes) {
          const path = word(volume).trim();
          if (path === '') throw new TsbuildError('INVALID_ARGUMENT', 'VOLUME specified can not be an empty string');
          volumes[path] = {};
        }
        current = { ...current, Volumes: volumes };
        break;
      }
      case 'USER':
        current = { ...current, User: word(command.user) };
        break;
      case 'WORKDIR': {
        const path = word(command.path);
        current = { ...current, WorkingDir: posix.isAbsolute(path) ? posix.normalize(path) : posix.join(current.WorkingDir === undefined || current.WorkingDir === '' ? '/' : current.WorkingDir, path) };
        break;
      }
      case 'STOPSIGNAL': {
        const signal = word(command.signal);
        checkStopSignal(signal);
        current = { ...current, StopSignal: signal };
        break;
      }
      case 'ONBUILD':
        current = { ...current, OnBuild: [...(current.OnBuild ?? []), command.expression] };
        break;
      default:
        throw new TsbuildError('INVALID_ARGUMENT', `${command.kind.toLowerCase()} is not a valid change command`);
    }
  }
  return current;
}

/** Rootless: the container's files belong to the user namespace's ids; the command runs there. */
async function inUserNamespace(flags: RootOption): Promise<void> {
  const inner = await runInUserNamespace(flags.root);
  if (inner !== undefined) throw new ExitError(inner);
}

function defineDiff(parent: Command, io: CliIo, name = 'diff'): void {
  addRootOption(parent.command(name).description("the changes to files of a container's filesystem").argument('<container>', 'name or ID')).action(async (nameOrId: string, flags: RootOption) => {
    await inUserNamespace(flags);
    const store = await storeFromOptions(flags);
    const changes = await containerChanges(store, nameOrId);
    // Paths are bytes: a name that is not UTF-8 is printed as it is on disk.
    const lines = changes.map((change) => Buffer.concat([Buffer.from(`${change.kind} `), encodeFileName(change.path), Buffer.from('\n')]));
    if (lines.length > 0) io.stdout.write(Buffer.concat(lines));
  });
}

function defineExport(parent: Command, io: CliIo, name = 'export'): void {
  addRootOption(
    parent
      .command(name)
      .description("a container's filesystem as a tar archive")
      .argument('<container>', 'name or ID')
      .option('-o, --output <file>', 'write to FILE instead of standard output'),
  ).action(async (nameOrId: string, flags: RootOption & { output?: string }) => {
    if (flags.output === undefined && (io.stdout as { isTTY?: boolean }).isTTY === true) {
      throw new ClientError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    }
    await inUserNamespace(flags);
    const store = await storeFromOptions(flags);
    if (flags.output === undefined) {
      // Written chunk by chunk, not piped: a pipeline would destroy standard output with the
      // archive's error (no such container), and the error would end the process unreported.
      for await (const chunk of exportContainer(store, nameOrId)) if (!io.stdout.write(chunk)) await once(io.stdout, 'drain');
      return;
    }
    // A reader of FILE sees the old archive or the complete new one.
    const temporary = join(dirname(flags.output), temporaryName(`.${basename(flags.output)}`));
    try {
      const handle = await open(temporary, 'wx', 0o644);
      try {
        for await (const chunk of exportContainer(store, nameOrId)) await handle.write(chunk);
      } finally {
        await handle.close();
      }
      await rename(temporary, flags.output);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw error;
    }
  });
}

interface CommitFlags extends RootOption {
  readonly author?: string;
  readonly message?: string;
  readonly change: string[];
  /** true, false (`--no-pause`), or the word after `-p`: a Go bool, or the container itself. */
  readonly pause: boolean | string;
}

/** Go's strconv.ParseBool, which docker's bool flags take after `=`; undefined for any other word. */
function goBool(word: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(word)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(word)) return false;
  return undefined;
}

/**
 * docker's `-p` is a bool flag (`-p`, `-p=false`, `--pause=false`); commander's optional value
 * takes the next word too, so `commit -p CONTAINER [REPOSITORY]` hands the container over as
 * that value: it is put back in its place.
 */
function commitArguments(given: readonly (string | undefined)[], pause: boolean | string): { container: string; repository?: string; pause: boolean } {
  const words = given.filter((word): word is string => word !== undefined);
  let paused = true;
  if (typeof pause === 'boolean') paused = pause;
  else {
    const value = goBool(pause.replace(/^=/, ''));
    if (value === undefined) words.unshift(pause);
    else paused = value;
  }
  const [container, repository, ...rest] = words;
  if (container === undefined || rest.length > 0) throw new TsbuildError('INVALID_ARGUMENT', '"commit" requires at least 1 and at most 2 arguments.');
  return { container, ...(repository === undefined ? {} : { repository }), pause: paused };
}

function defineCommit(parent: Command, io: CliIo, name = 'commit'): void {
  addRootOption(
    parent
      .command(name)
      .description("a new image from a container's changes")
      .usage('[options] CONTAINER [REPOSITORY[:TAG]]')
      .argument('[container]', 'name or ID')
      .argument('[repository]', 'REPOSITORY[:TAG] of the new image')
      .option('-a, --author <author>', 'author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
      .option('-m, --message <message>', 'commit message')
      .option('-c, --change <instruction>', 'apply a Dockerfile instruction to the image (repeatable)', collect, [])
      .option('-p, --pause [bool]', 'pause the container during commit (default true)', true)
      .option('--no-pause', 'do not pause the container during commit'),
  ).action(async (first: string | undefined, second: string | undefined, flags: CommitFlags) => {
    const { container: nameOrId, repository, pause } = commitArguments([first, second], flags.pause);
    // Checked before anything is read: a bad change or name leaves nothing behind.
    const commands = parseCommitChanges(flags.change);
    const reference = repository === undefined ? undefined : storeName(repository);
    await inUserNamespace(flags);
    const store = await storeFromOptions(flags);
    const committed = await commitContainer(store, nameOrId, {
      ...(flags.author === undefined ? {} : { author: flags.author }),
      ...(flags.message === undefined ? {} : { comment: flags.message }),
      pause,
      changeConfig: (config) => applyCommitChanges(config, commands),
      ...(reference === undefined ? {} : { reference }),
    });
    io.stdout.write(`${committed.id}\n`);
  });
}

export const registerDiff = (program: Command, io: CliIo): void => defineDiff(program, io);
export const registerExport = (program: Command, io: CliIo): void => defineExport(program, io);
export const registerCommit = (program: Command, io: CliIo): void => defineCommit(program, io);
