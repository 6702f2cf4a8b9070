/**
 * `tsbuild import` (`image import`), docker's: a tar of a root filesystem (a file, an http(s)
 * URL, or `-` for standard input; plain, gzip, bzip2, xz or zstd) becomes an image of one layer,
 * the tar as given, with a config made of the `--change` instructions alone, as docker's
 * ImportImage writes it: no Cmd unless a change gives one, a history entry and `comment` saying
 * "Imported from SOURCE" (`-` for a file or standard input, as the docker CLI sends both) or
 * the `--message`.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { TsbuildError, descriptorPlatform, familiarReference, formatPlatform, hostPlatform, messageOf, parseReference, parsePlatform, platformMatches, readTar } from '../../common/index.js';
import { archiveStream, downloadUrls } from '../../executor/index.js';
import { compressLayer, writeImage } from '../../exporter/index.js';
import { recordImageEvent, storeName, temporaryName } from '../../store/index.js';
import { collect } from '../common-options.js';
import { ClientError, ExitError, type CliIo } from '../io.js';
import { runInUserNamespace } from '../rootless.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';
import { applyCommitChanges, parseCommitChanges } from './container-changes.js';

interface ImportFlags extends RootOption {
  readonly change: string[];
  readonly message?: string;
  readonly platform?: string;
}

const isUrl = (source: string): boolean => /^https?:\/\//.test(source);

/** Reads the whole archive once: a tar that does not read to its end is refused before anything is stored. */
async function checkArchive(path: string, source: string): Promise<void> {
  try {
    let entries = 0;
    for await (const { body } of readTar(archiveStream(path))) {
      entries++;
      for await (const chunk of body) void chunk;
    }
    // An empty input reads as a tar of no entries; docker refuses what is not an archive.
    if (entries === 0) throw new TsbuildError('INVALID_ARCHIVE', 'no entries');
  } catch (error) {
    throw new TsbuildError('INVALID_ARCHIVE', `import ${source}: not a tar archive (plain, gzip, bzip2, xz or zstd): ${messageOf(error)}`, { cause: error });
  }
}

function defineImport(parent: Command, io: CliIo, stdin: () => Readable, name = 'import'): void {
  addRootOption(
    parent
      .command(name)
      .description('make an image of one layer from a tar of a root filesystem (a file, an http(s) URL, or - for standard input)')
      .usage('[options] file|URL|- [REPOSITORY[:TAG]]')
      .argument('<source>', 'a tar file, an http(s) URL of one, or - for standard input')
      .argument('[repository]', 'REPOSITORY[:TAG] of the new image')
      .option('-c, --change <instruction>', 'apply a Dockerfile instruction to the image (repeatable)', collect, [])
      .option('-m, --message <message>', 'commit message of the imported image')
      .option('--platform <platform>', "the image's platform (this machine's)"),
  ).action(async (source: string, repository: string | undefined, flags: ImportFlags) => {
    // Everything a user gave is checked before anything is read or stored.
    const commands = parseCommitChanges(flags.change);
    const reference = repository === undefined ? undefined : storeName(repository);
    const platform = hostPlatform();
    if (flags.platform !== undefined && !platformMatches(parsePlatform(flags.platform), platform)) {
      throw new TsbuildError('INVALID_ARGUMENT', `import --platform ${flags.platform}: only this machine's platform (${formatPlatform(platform)}) can be imported`);
    }
    const input = source === '-' ? stdin() : undefined;
    if ((input as { isTTY?: boolean } | undefined)?.isTTY === true) throw new ClientError('import: standard input is a terminal; redirect a tar archive into it');
    const inner = await runInUserNamespace(flags.root);
    if (inner !== undefined) throw new ExitError(inner);
    const store = await storeFromOptions(flags);
    const scratch = join(store.temporaryDirectory, temporaryName('import'));
    await mkdir(scratch, { recursive: true, mode: 0o700 });
    try {
      const staged = join(scratch, 'archive');
      if (input !== undefined) await pipeline(input, createWriteStream(staged, { mode: 0o600 }));
      else if (isUrl(source)) {
        const downloaded = await downloadUrls([source], scratch, { label: 'import' });
        const path = downloaded.get(source)?.path;
        if (path === undefined) throw new TsbuildError('INVALID_ARGUMENT', `import ${source}: not an http(s) URL`);
        await rename(path, staged);
      } else {
        await pipeline(createReadStream(source), createWriteStream(staged, { mode: 0o600 })).catch((error: unknown) => {
          throw new TsbuildError('NOT_FOUND', `import ${source}: ${messageOf(error)}`, { cause: error });
        });
      }
      await checkArchive(staged, source);
      // Kept uncompressed, as docker's store keeps it; a push compresses it.
      const layer = await compressLayer(archiveStream(staged), store, 'none');
      const comment = flags.message !== undefined && flags.message !== '' ? flags.message : `Imported from ${isUrl(source) ? source : '-'}`;
      const created = new Date().toISOString();
      const config = applyCommitChanges({}, commands);
      const written = await writeImage(
        store,
        {
          layers: [layer],
          platform: descriptorPlatform(platform),
          config,
          created,
          comment,
          history: [{ created, comment }],
        },
        reference,
      );
      if (reference === undefined) await store.keepUnnamed(written.descriptor);
      // docker's daemon tells the name given (tag), then the import, by the image's ID.
      const image = { id: written.configDescriptor.digest, labels: config.Labels ?? null };
      if (reference !== undefined) await recordImageEvent(store.root, 'tag', image, familiarReference(parseReference(reference)));
      await recordImageEvent(store.root, 'import', image);
      io.stdout.write(`${written.configDescriptor.digest}\n`);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
}

export const registerImport = (program: Command, io: CliIo, stdin: () => Readable = () => process.stdin): void => defineImport(program, io, stdin);
