/**
 * docker's flag library takes a boolean flag's value after `=` (`--rm=false`, `--no-cache=true`,
 * `--privileged=0`), as Go's strconv.ParseBool reads it, and scripts written for docker pass them
 * so. Commander refuses a value for a flag that takes none: the command line is rewritten first,
 * a true value to the bare flag and a false one to nothing (the flag's default), or to its
 * `--no-` form where the command has one (a flag true by default, such as `--sig-proxy`), for the
 * command's own boolean flags only. Anything else is left for commander to take or refuse.
 */
import type { Command } from 'commander';

const goTrue: ReadonlySet<string> = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const goFalse: ReadonlySet<string> = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/**
 * Commands whose first argument ends their own flags (docker's SetInterspersed(false)): what
 * follows the image or the container is the command the container runs, never rewritten.
 */
const commandArgumentsFollow: ReadonlySet<string> = new Set(['run', 'create', 'exec']);

/** A boolean flag given a value Go does not read as one: docker's words for it. */
export class InvalidBooleanFlag extends Error {
  constructor(flag: string, value: string) {
    super(`invalid argument ${JSON.stringify(value)} for "${flag}" flag: strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`);
  }
}

/** ARGS (what follows COMMAND's name on the command line) with its boolean flags' `=VALUE`s read. */
export function readGoBooleanFlags(command: Command, args: readonly string[]): string[] {
  const stopAtArgument = commandArgumentsFollow.has(command.name());
  const out: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] as string;
    if (arg === '--') {
      out.push(...args.slice(index));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      out.push(arg);
      if (stopAtArgument) {
        out.push(...args.slice(index + 1));
        break;
      }
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const option = command.options.find((candidate) => candidate.long === name || candidate.short === name);
    if (option === undefined) {
      out.push(arg);
      continue;
    }
    if (option.required || option.optional) {
      out.push(arg);
      // Its value is the next argument: not a flag, not the first argument.
      if (eq < 0 && option.required && index + 1 < args.length) out.push(args[++index] as string);
      continue;
    }
    const value = eq < 0 ? undefined : arg.slice(eq + 1);
    if (value === undefined) out.push(arg);
    else if (goTrue.has(value)) out.push(name);
    else if (!goFalse.has(value)) throw new InvalidBooleanFlag(option.flags, value);
    else if (option.long?.startsWith('--') === true && command.options.some((candidate) => candidate.long === `--no-${name.slice(2)}`)) out.push(`--no-${name.slice(2)}`);
  }
  return out;
}

/** The command ARGV runs, and where its own arguments start in ARGV. */
export function commandAt(program: Command, argv: readonly string[]): { readonly command: Command; readonly start: number } {
  let command = program;
  let start = 0;
  for (const arg of argv) {
    if (arg.startsWith('-')) break;
    const next = command.commands.find((sub) => sub.name() === arg || sub.aliases().includes(arg));
    if (next === undefined) break;
    command = next;
    start++;
  }
  return { command, start };
}
