import { Command, CommanderError } from 'commander';
import { isTsbuildError } from '../common/index.js';
import { ExitError, errorLine, type CliIo } from './io.js';
import { InvalidBooleanFlag, commandAt, readGoBooleanFlags } from './go-bool-flags.js';
import { packageVersion } from './version.js';

export type CommandRegistrar = (program: Command, io: CliIo) => void;
export type CommandLoader = () => Promise<CommandRegistrar>;

const loaders = new Map<string, CommandLoader>();
const argumentsOfProgram = new WeakMap<Command, readonly string[]>();

/** The arguments the program COMMAND belongs to was created for, as the user gave them. */
export function userArguments(command: Command): readonly string[] {
  let root = command;
  while (root.parent !== null) root = root.parent;
  return argumentsOfProgram.get(root) ?? [];
}

/**
 * docker's group forms of a top-level command (`image ls` is `images`, `container rm` is `rm`):
 * everything after GROUP NAME goes to COMMAND (a command and its subcommand, space-separated)
 * as given, --help included, then `appended`.
 * `shownAs` is the command the help names, where COMMAND is a hidden variant of it.
 */
export function delegateCommand(group: Command, io: CliIo, name: string, aliases: readonly string[], command: string, { appended = [], shownAs = command }: { appended?: readonly string[]; shownAs?: string } = {}): void {
  group
    .command(name)
    .aliases(aliases)
    .description(`the same as \`tsbuild ${shownAs}\``)
    .argument('[arguments...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (_arguments: string[], _options: unknown, self: Command) => {
      const given = userArguments(self);
      const argv = [...command.split(' '), ...given.slice(given.indexOf(group.name()) + 2), ...appended];
      const delegate = await createProgram(io, argv);
      await delegate.parseAsync(argv, { from: 'user' });
    });
}

/**
 * Commands add themselves here from src/cli/commands/index.ts, by name and loaded on demand:
 * a run imports only the module of the command it runs (the registry client, the store and
 * the parser's lexer each take tens of milliseconds to load, which a cold start would pay).
 */
export function registerCommands(table: Readonly<Record<string, CommandLoader>>): void {
  for (const [name, load] of Object.entries(table)) loaders.set(name, load);
}

/** The program with the command named in `argv` (all of them for help or an unknown name). */
export async function createProgram(io: CliIo, argv: readonly string[] = []): Promise<Command> {
  const program = new Command('tsbuild')
    .description('build, push and run OCI images from Dockerfiles, without a daemon')
    .version(packageVersion(), '-v, --version', 'print the version')
    // Options after a command's name are that command's: docker's `rm -v` and `run -v` are volumes.
    .enablePositionalOptions()
    .showSuggestionAfterError()
    // `--help` opens as docker's: `Usage:  tsbuild run [OPTIONS] IMAGE [ARGS...]`.
    .configureHelp({ styleTitle: (title) => (title === 'Usage:' ? 'Usage: ' : title), styleUsage: dockerUsage })
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(flagErrorText(text)),
    });
  argumentsOfProgram.set(program, argv);
  const name = argv.find((arg) => !arg.startsWith('-'));
  const only = name === undefined ? undefined : loaders.get(name);
  const wanted = only !== undefined ? [only] : argv.length > 0 && argv.every((arg) => arg === '-v' || arg === '--version') ? [] : [...loaders.values()];
  for (const register of await Promise.all(wanted.map((load) => load()))) register(program, io);
  // Each command reports its own usage errors: docker's words name the command and its arguments.
  const stack = [...program.commands];
  for (let command = stack.pop(); command !== undefined; command = stack.pop()) {
    const self = command;
    self.configureOutput({ outputError: (text, write) => write(usageErrorText(self, text, argv)) });
    stack.push(...self.commands);
  }
  return program;
}

/** commander's usage line in docker's notation: [OPTIONS] and the arguments' names in capitals. */
function dockerUsage(usage: string): string {
  return usage
    .replace('[options]', '[OPTIONS]')
    .replace(/<([^>]+?)(\.\.\.)?>/g, (_all, argument: string, many?: string) => (many === undefined ? argument.toUpperCase() : `${argument.toUpperCase()} [${argument.toUpperCase()}...]`))
    .replace(/\[([^\]]+?)(\.\.\.)?\]/g, (all, argument: string, many?: string) => (argument === 'OPTIONS' ? all : `[${argument.toUpperCase()}${many ?? ''}]`));
}

/**
 * A command line's usage error as docker's CLI writes it: the flag library's words for a flag,
 * and for a wrong count of arguments cobra's (`"docker tag" requires exactly 2 arguments.`),
 * where to read the help, the command's usage and what it does. buildx starts its own with
 * `ERROR: `.
 */
export function usageErrorText(command: Command, text: string, argv: readonly string[]): string {
  if (!/^error: (missing required argument|too many arguments)/.test(text)) return flagErrorText(text, argv);
  const path: string[] = [];
  for (let at: Command | null = command; at !== null && at.parent !== null; at = at.parent) path.unshift(at.name());
  const name = ['tsbuild', ...path].join(' ');
  const declared = command.registeredArguments;
  const required = declared.filter((argument) => argument.required).length;
  const plural = (count: number): string => `${count} argument${count === 1 ? '' : 's'}`;
  const count = declared.some((argument) => argument.variadic)
    ? `at least ${plural(required)}`
    : required === declared.length
      ? `exactly ${plural(required)}`
      : required === 0
        ? `at most ${plural(declared.length)}`
        : `at least ${required} and at most ${plural(declared.length)}`;
  const usage = dockerUsage(command.usage());
  const buildx = path[0] === 'build' ? 'ERROR: ' : '';
  return `${buildx}"${name}" requires ${count}.\nSee '${name} --help'.\n\nUsage:  ${name} ${usage}\n\n${command.description()}\n`;
}

/**
 * Commander's words for a flag it could not parse, in docker's (its flag library's): scripts
 * and users match `unknown flag: --x` and `flag needs an argument: --x`. Other errors pass as
 * they are.
 */
export function flagErrorText(text: string, argv: readonly string[] = []): string {
  const unknown = /^error: unknown option '([^']*)'/.exec(text);
  if (unknown !== null) {
    const flag = (unknown[1] ?? '').replace(/=.*$/s, '');
    const shorthand = /^-([^-])/.exec(flag);
    return shorthand === null ? `unknown flag: ${flag}\n` : `unknown shorthand flag: '${shorthand[1] ?? ''}' in ${flag}\n`;
  }
  const missing = /^error: option '([^']*)' argument missing/.exec(text);
  if (missing !== null) {
    const flags = missing[1] ?? '';
    const long = /--[\w-]+/.exec(flags)?.[0];
    const short = /(?:^|[\s,])-(\w)\b/.exec(flags)?.[1];
    // As the flag was written: pflag names the shorthand, in the group it came in (`-qt`).
    const written = argv.findLast((arg) => arg === long || (short !== undefined && /^-[^-]/.test(arg) && arg.endsWith(short)));
    return `flag needs an argument: ${long !== undefined && (written === long || short === undefined) ? long : `'${short ?? ''}' in ${written ?? `-${short ?? ''}`}`}\n`;
  }
  // A value a flag's parser refused: pflag's words, the flag named as its usage names it.
  const invalid = /^error: option '([^']*)' argument '([^']*)' is invalid\. (.*)$/s.exec(text);
  if (invalid !== null) return `invalid argument ${JSON.stringify(invalid[2] ?? '')} for ${JSON.stringify((invalid[1] ?? '').replace(/ [<[].*$/, ''))} flag: ${(invalid[3] ?? '').trimEnd()}\n`;
  return text;
}

/** docker's status for a command line whose flags it cannot parse (its FlagErrorFunc), as against 1 for a missing argument. */
const flagErrorStatus = 125;
const flagErrorCodes: ReadonlySet<string> = new Set(['commander.unknownOption', 'commander.optionMissingArgument', 'commander.invalidArgument']);

/** The names of the command ARGV runs (`volume create`), for docker's "See 'docker volume create --help'." */
function commandPath(program: Command, argv: readonly string[]): string[] {
  const names: string[] = [];
  for (let command: Command | null = commandAt(program, argv).command; command !== null && command !== program; command = command.parent) names.unshift(command.name());
  return names;
}

/**
 * The commands whose docker counterparts do not ask its daemon (or that docker has not): their
 * errors are tsbuild's own, `error: `. Every other command's are what docker's daemon would have
 * answered, and are said in its CLI's words for them.
 */
const clientCommands: ReadonlySet<string> = new Set(['build', 'buildx', 'debug', 'doctor', 'verify', 'manifest', 'logout', 'help']);

/** Runs the CLI and returns its exit status; never exits the process itself. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let program: Command | undefined;
  try {
    program = await createProgram(io, argv);
    const { command, start } = commandAt(program, argv);
    const args = command === program ? [...argv] : [...argv.slice(0, start), ...readGoBooleanFlags(command, argv.slice(start))];
    await program.parseAsync(args, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof ExitError) return error.exitCode;
    // Commander has written its own flag errors; this one is ours to write.
    if (error instanceof InvalidBooleanFlag) io.stderr.write(`${error.message}\n`);
    if ((error instanceof InvalidBooleanFlag || (error instanceof CommanderError && flagErrorCodes.has(error.code))) && program !== undefined) {
      io.stderr.write(`See '${['tsbuild', ...commandPath(program, argv)].join(' ')} --help'.\n`);
      return flagErrorStatus;
    }
    if (error instanceof CommanderError) return error.exitCode;
    if (isTsbuildError(error)) {
      const [top] = program === undefined ? [] : commandPath(program, argv);
      io.stderr.write(top === undefined || clientCommands.has(top) ? `error: ${error.message}\n` : errorLine(error));
      return 1;
    }
    io.stderr.write(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 70;
  }
}
