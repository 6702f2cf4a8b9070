import type { Command } from 'commander';
import { TsbuildError, parseGoDuration } from '../../common/index.js';
import { pruneStore } from '../../store/index.js';
import type { CliIo } from '../io.js';
import { createProgram, userArguments } from '../program.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

/** A Go duration (`10m`, `1h30m`, `0`), or a whole number of seconds. In milliseconds. */
function parseGracePeriod(text: string): number {
  const nanoseconds = /^[0-9]+$/.test(text) ? Number(text) * 1e9 : parseGoDuration(text);
  if (typeof nanoseconds === 'string' || nanoseconds < 0) throw new TsbuildError('INVALID_ARGUMENT', `prune images: invalid duration ${JSON.stringify(text)}`);
  return nanoseconds / 1e6;
}

/** docker's `image SUBCOMMAND` names for the top-level commands: `image ls` is `images`. */
const dockerImageCommands: ReadonlyArray<readonly [name: string, command: string, aliases: readonly string[]]> = [
  ['ls', 'images', ['list']],
  ['rm', 'rmi', ['remove']],
  ['inspect', 'inspect', []],
  ['history', 'history', []],
  ['pull', 'pull', []],
  ['push', 'push', []],
  ['save', 'save', []],
  ['load', 'load', []],
  ['tag', 'tag', []],
];

export function registerImage(program: Command, io: CliIo): void {
  const image = program.command('image').description('manage images in the store');
  for (const [name, command, aliases] of dockerImageCommands) {
    image
      .command(name)
      .aliases(aliases)
      .description(`the same as \`tsbuild ${command}\``)
      .argument('[arguments...]')
      // Everything after the name goes to the command as given, --help included.
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(async (_arguments: string[], _options: unknown, self: Command) => {
        const given = userArguments(self);
        // `image inspect` is about images only (`inspect` takes a container of that name first).
        const rest = [...given.slice(given.indexOf('image') + 2), ...(command === 'inspect' ? ['--type', 'image'] : [])];
        const delegate = await createProgram(io, [command, ...rest]);
        await delegate.parseAsync([command, ...rest], { from: 'user' });
      });
  }
  addRootOption(
    image
      .command('prune')
      .description('remove blobs and unpacked layers that no image uses')
      .option('--grace <duration>', 'keep anything younger than this (another process may be about to name it), e.g. 10m, 0', '10m'),
  ).action(async (options: RootOption & { grace: string }) => {
    const store = await storeFromOptions(options);
    const result = await pruneStore(store, { gracePeriodMs: parseGracePeriod(options.grace) });
    for (const digest of result.blobsRemoved) io.stdout.write(`deleted: ${digest}\n`);
    io.stdout.write(`Total reclaimed space: ${result.bytesFreed} bytes (${result.blobsRemoved.length} blobs, ${result.snapshotsRemoved} unpacked layers)\n`);
  });
}
