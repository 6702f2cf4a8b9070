import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { TsbuildError, errnoOf } from '../../common/index.js';
import { dumpDockerfile, type Channel, type DumpFormat } from '../../parser/index.js';
import { ExitError, type CliIo } from '../io.js';

interface ResolveCommandOptions {
  readonly file: string;
  readonly buildArg: readonly string[];
  readonly target?: string;
  readonly platform?: string;
  readonly channel?: Channel;
}

const collect = (value: string, previous: readonly string[]): string[] => [...previous, value];

interface ParseOptions {
  readonly file: string;
  readonly dump: DumpFormat;
  readonly channel?: Channel;
}

async function readDockerfile(file: string): Promise<string> {
  try {
    // Synchronous: one small file, and node:fs/promises costs start-up time.
    const bytes = file === '-' ? await readStdin() : readFileSync(file);
    return new TextDecoder('utf-8').decode(bytes);
  } catch (error) {
    throw new TsbuildError('NOT_FOUND', `read Dockerfile ${file}: ${errnoOf(error) ?? String(error)}`, { cause: error });
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function registerDebug(program: Command, io: CliIo): void {
  const debug = program.command('debug').description('look inside the build pipeline');
  debug
    .command('parse')
    .description('parse a Dockerfile and print its syntax tree, its typed instructions or both as JSON')
    .option('-f, --file <FILE>', 'the Dockerfile (- for standard input)', 'Dockerfile')
    .addOption(new Option('--dump <FORMAT>', 'ast: the reference tree dump; instructions: typed instructions as JSON; json: everything').choices(['ast', 'instructions', 'json']).default('ast'))
    .addOption(new Option('--channel <CHANNEL>', 'frontend channel (default: labs when the syntax directive names a labs frontend)').choices(['stable', 'labs']))
    .action(async (options: ParseOptions) => {
      const source = await readDockerfile(options.file);
      const parsed = dumpDockerfile(source, options.file, options.dump, options.channel === undefined ? {} : { channel: options.channel });
      for (const diagnostic of parsed.diagnostics) io.stderr.write(`${diagnostic}\n`);
      if (!parsed.ok) throw new ExitError(1);
      io.stdout.write(parsed.dump);
    });

  debug
    .command('resolve')
    .description('parse and resolve a Dockerfile: stages, scopes and expanded instructions, as JSON')
    .option('-f, --file <FILE>', 'the Dockerfile (- for standard input)', 'Dockerfile')
    .option('--build-arg <KEY=VALUE>', 'a build argument (repeatable)', collect, [])
    .option('--target <STAGE>', 'the stage to build')
    .option('--platform <PLATFORM>', 'the platform to build for (default: the host)')
    .addOption(new Option('--channel <CHANNEL>', 'frontend channel').choices(['stable', 'labs']))
    .action(async (options: ResolveCommandOptions) => {
      // Loaded here: `debug parse` starts faster without the planner.
      const { hostPlatform, parseBuildArgs, parsePlatform, resolveDockerfile } = await import('../../planner/index.js');
      const source = await readDockerfile(options.file);
      const buildArgs = parseBuildArgs(options.buildArg, process.env);
      const target = options.platform === undefined ? undefined : parsePlatform(options.platform);
      const { resolved } = resolveDockerfile(
        { source, file: options.file, ...(options.channel === undefined ? {} : { channel: options.channel }) },
        { buildArgs, ...(options.target === undefined ? {} : { target: options.target }), ...(target === undefined ? {} : { platform: { build: hostPlatform(), target } }) },
      );
      io.stdout.write(`${JSON.stringify(resolved, null, 2)}\n`);
    });
}
