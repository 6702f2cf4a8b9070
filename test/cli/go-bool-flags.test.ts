/**
 * Boolean flags given `=VALUE`, as docker's flag library reads them (`--rm=false`,
 * `--no-cache=true`, `-i=0`): a true value is the flag, a false one its default, anything else
 * docker's error; and nothing after a container's image is touched.
 */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { InvalidBooleanFlag, commandAt, readGoBooleanFlags } from '../../src/cli/go-bool-flags.js';
import { runCliCaptured } from '../helpers/run-cli.js';

function program(): Command {
  const root = new Command('tsbuild');
  root
    .command('run')
    .option('--rm')
    .option('-i, --interactive')
    .option('--sig-proxy')
    .option('--no-sig-proxy')
    .option('--name <name>')
    .option('-e, --env <value>');
  root.command('build').option('--no-cache').option('--pull').option('-t, --tag <name>');
  return root;
}

function read(argv: string[]): string[] {
  const { command, start } = commandAt(program(), argv);
  return [...argv.slice(0, start), ...readGoBooleanFlags(command, argv.slice(start))];
}

describe("boolean flags given a value, as docker's flag library reads them", () => {
  it("turns Go's true words into the flag and its false words into nothing", () => {
    for (const word of ['1', 't', 'T', 'TRUE', 'true', 'True']) expect(read(['run', `--rm=${word}`, 'img'])).toEqual(['run', '--rm', 'img']);
    for (const word of ['0', 'f', 'F', 'FALSE', 'false', 'False']) expect(read(['run', `--rm=${word}`, `-i=${word}`, 'img'])).toEqual(['run', 'img']);
    expect(read(['run', '-i=true', 'img'])).toEqual(['run', '-i', 'img']);
    // A negated flag: `--no-cache=false` keeps the cache.
    expect(read(['build', '--no-cache=true', '--pull=false', '.'])).toEqual(['build', '--no-cache', '.']);
    expect(read(['build', '--no-cache=false', '.'])).toEqual(['build', '.']);
    // A flag true by default: its false words are its `--no-` form.
    expect(read(['run', '--sig-proxy=false', 'img'])).toEqual(['run', '--no-sig-proxy', 'img']);
    expect(read(['run', '--sig-proxy=1', 'img'])).toEqual(['run', '--sig-proxy', 'img']);
  });

  it('leaves flags that take values, their values, unknown flags and a container command alone', () => {
    expect(read(['run', '--name', '--rm=true', '-e=A=1', 'img', 'sh', '--rm=false', '-i=1'])).toEqual(['run', '--name', '--rm=true', '-e=A=1', 'img', 'sh', '--rm=false', '-i=1']);
    expect(read(['run', '--bogus=true', '--', '--rm=true'])).toEqual(['run', '--bogus=true', '--', '--rm=true']);
    // build takes its flags after the context as before it.
    expect(read(['build', '-t', 'x', '.', '--pull=1'])).toEqual(['build', '-t', 'x', '.', '--pull']);
  });

  it("refuses another value in docker's words", () => {
    expect(() => read(['run', '--rm=maybe', 'img'])).toThrow(new InvalidBooleanFlag('--rm', 'maybe'));
    expect(() => read(['run', '-i=2', 'img'])).toThrow('invalid argument "2" for "-i, --interactive" flag: strconv.ParseBool: parsing "2": invalid syntax');
  });

  it('reaches the real command line: a wrong value is a flag error, status 125', async () => {
    const result = await runCliCaptured(['volume', 'ls', '--quiet=perhaps']);
    expect(result).toMatchObject({ status: 125, stderr: 'invalid argument "perhaps" for "-q, --quiet" flag: strconv.ParseBool: parsing "perhaps": invalid syntax\nSee \'tsbuild volume ls --help\'.\n' });
  });
});
