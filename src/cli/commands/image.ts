import type { Command } from 'commander';
import { TsbuildError, familiarReference, parseGoDuration, parseReference } from '../../common/index.js';
import { pruneImages, pruneStore } from '../../store/index.js';
import { formatBytes } from '../format.js';
import type { CliIo } from '../io.js';
import { collect } from '../common-options.js';
import { pruneSelection } from '../prune-filter.js';
import { confirmationQuestion, confirmRemoval } from '../prompt.js';
import { delegateCommand } from '../program.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

/** A Go duration (`10m`, `1h30m`, `0`), or a whole number of seconds. In milliseconds. */
function parseGracePeriod(text: string): number {
  const nanoseconds = /^[0-9]+$/.test(text) ? Number(text) * 1e9 : parseGoDuration(text);
  if (typeof nanoseconds === 'string' || nanoseconds < 0) throw new TsbuildError('INVALID_ARGUMENT', `prune images: invalid duration ${JSON.stringify(text)}`);
  return nanoseconds / 1e6;
}

/** docker's `image SUBCOMMAND` names for the top-level commands: `image ls` is `images`. */
const dockerImageCommands: ReadonlyArray<readonly [name: string, command: string, aliases: readonly string[]]> = [
  ['build', 'build', []],
  ['ls', 'images', ['list']],
  ['rm', 'rmi', ['remove']],
  ['inspect', 'inspect', []],
  ['history', 'history', []],
  ['pull', 'pull', []],
  ['push', 'push', []],
  ['save', 'save', []],
  ['load', 'load', []],
  ['import', 'import', []],
  ['tag', 'tag', []],
];

export function registerImage(program: Command, io: CliIo): void {
  const image = program.command('image').description('manage images in the store');
  for (const [name, command, aliases] of dockerImageCommands) {
    // `image inspect` is about images only (`inspect` takes a container of that name first).
    delegateCommand(image, io, name, aliases, command, command === 'inspect' ? { appended: ['--type', 'image'] } : {});
  }
  addRootOption(
    image
      .command('prune')
      .description('remove images without a name (with -a every image) no container uses, then blobs and unpacked layers no image uses')
      .option('-a, --all', 'every image no container uses, not only those without a name')
      .option('-f, --force', 'do not ask for confirmation')
      .option('--filter <filter>', 'until=TIME (created before it: RFC 3339, Unix time or a duration such as 24h), label=K[=V], label!=K[=V] (repeatable)', collect, [])
      .option('--grace <duration>', 'keep blobs younger than this that no image uses (another process may be about to name them), e.g. 10m, 0', '10m'),
  ).action(async (options: RootOption & { grace: string; all?: boolean; force?: boolean; filter: string[] }) => {
    const gracePeriodMs = parseGracePeriod(options.grace);
    // Checked before the question: a bad filter asks nothing.
    const select = pruneSelection('prune images', options.filter);
    if (options.force !== true) {
      const what = options.all === true ? 'all images without at least one container associated to them' : 'all dangling images';
      // As builder prune: a script or CI job has no one to answer, and says -f.
      if (process.stdin.isTTY !== true) {
        io.stdout.write(`${confirmationQuestion(what)}\nstandard input is not a terminal: nothing removed (use -f)\n`);
        return;
      }
      if (!(await confirmRemoval(io, what))) return;
    }
    const store = await storeFromOptions(options);
    // Loaded here only: the runtime's modules are not every image command's to pay for.
    const { listContainerRecords } = await import('../../runtime/index.js');
    const inUse = (await listContainerRecords(store)).map((record) => record.image.manifest);
    const images = await pruneImages(store, { ...(options.all === true ? { all: true } : {}), inUse, ...(select === undefined ? {} : { select }) });
    // Then what no image reaches any more (a build's or pull's leftovers), young blobs spared.
    const blobs = await pruneStore(store, { gracePeriodMs });
    const lines = [
      ...images.untagged.map((name) => `untagged: ${familiarReference(parseReference(name))}`),
      ...[...images.deleted, ...blobs.blobsRemoved].map((digest) => `deleted: ${digest}`),
    ];
    if (lines.length > 0) io.stdout.write(`Deleted Images:\n${lines.map((line) => `${line}\n`).join('')}\n`);
    io.stdout.write(`Total reclaimed space: ${formatBytes(images.bytesFreed + blobs.bytesFreed, 4, '')}\n`);
  });
}
