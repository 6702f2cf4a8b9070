import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { TsbuildError, errnoOf } from '../../common/index.js';
import { dumpSyntaxTree, instructionsJson, parseDockerfile, renderDiagnostic, type Channel } from '../../parser/index.js';
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
  readonly dump: 'ast' | 'instructions' | 'json';
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
      const parsed = parseDockerfile(source, options.channel === undefined ? {} : { channel: options.channel });
      const inOrder = [...parsed.diagnostics].sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.column - b.range.start.column);
      for (const diagnostic of inOrder) io.stderr.write(`${renderDiagnostic(diagnostic, options.file, source)}\n`);
      if (!parsed.ok) throw new ExitError(1);
      const warnings = parsed.diagnostics.filter((d) => d.severity === 'warning');
      if (options.dump === 'ast') io.stdout.write(dumpSyntaxTree(parsed.tree));
      else if (options.dump === 'instructions') io.stdout.write(`${JSON.stringify(instructionsJson(parsed.dockerfile, parsed.tree.directives, warnings, parsed.channel), null, 2)}\n`);
      else io.stdout.write(`${JSON.stringify({ channel: parsed.channel, tree: parsed.tree, dockerfile: parsed.dockerfile, diagnostics: parsed.diagnostics }, null, 2)}\n`);
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
