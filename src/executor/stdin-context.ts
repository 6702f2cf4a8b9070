/**
 * `tsbuild build -`: standard input is either a Dockerfile (a build without context) or a
 * context tar (plain, gzip, bzip2, xz or zstd), told apart as docker's DetectArchiveReader does:
 * by a compression's magic bytes or a tar header that reads. The tar is untrusted: it is
 * unpacked with the store's layer unpacking (no `..`, every parent resolved inside the
 * directory, symlinks never followed), without owners or device nodes, and the Dockerfile is
 * found inside the unpacked directory the same way.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { TsbuildError, messageOf, resolveInRoot } from '../common/index.js';
import { unpackLayer } from '../store/index.js';
import { archiveStream, isArchive } from './copy.js';

export type StdinInput =
  | { readonly kind: 'dockerfile'; readonly source: string; cleanup(): Promise<void> }
  | { readonly kind: 'context'; readonly dir: string; cleanup(): Promise<void> };

/** Reads INPUT whole (into a scratch file, never into memory) and tells what it is; a tar is unpacked. */
export async function readStdinInput(input: NodeJS.ReadableStream): Promise<StdinInput> {
  const scratch = await mkdtemp(join(tmpdir(), 'tsbuild-stdin-'));
  const cleanup = (): Promise<void> => rm(scratch, { recursive: true, force: true });
  try {
    const staged = join(scratch, 'input');
    await pipeline(input, createWriteStream(staged, { mode: 0o600 }));
    if (!(await isArchive(staged))) {
      const source = await readFile(staged, 'utf8');
      await cleanup();
      return { kind: 'dockerfile', source, cleanup: () => Promise.resolve() };
    }
    const dir = join(scratch, 'context');
    await mkdir(dir, { mode: 0o755 });
    try {
      await unpackLayer(archiveStream(staged), dir, { root: false });
    } catch (error) {
      throw new TsbuildError(error instanceof TsbuildError && error.code === 'UNSAFE_PATH' ? 'UNSAFE_PATH' : 'INVALID_ARCHIVE', `build: unpack the context from standard input: ${messageOf(error)}`, { cause: error });
    }
    await rm(staged);
    return { kind: 'context', dir, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/**
 * The Dockerfile FILE (default `Dockerfile`, else `dockerfile`) of an unpacked context DIR,
 * resolved inside it: a symlink in the tar cannot make the build read a host file.
 */
export async function dockerfileInContext(dir: string, file: string | undefined): Promise<{ source: string; file: string; path: string }> {
  for (const name of file === undefined ? ['Dockerfile', 'dockerfile'] : [file]) {
    const path = await resolveInRoot(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) continue;
    if (!info.isFile()) throw new TsbuildError('INVALID_ARGUMENT', `build: failed to read dockerfile: ${name} is not a file`);
    return { source: await readFile(path, 'utf8'), file: name, path };
  }
  throw new TsbuildError('NOT_FOUND', `build: failed to read dockerfile: open ${file ?? 'Dockerfile'}: no such file or directory`);
}
