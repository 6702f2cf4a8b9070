/**
 * `tsbuild build -` (and `tsbuild build URL` of a tar): standard input is either a Dockerfile (a build without context) or a
 * context tar (plain, gzip, bzip2, xz or zstd), told apart as docker's DetectArchiveReader does:
 * by a compression's magic bytes or a tar header that reads. The tar is untrusted: it is
 * unpacked with the store's layer unpacking (no `..`, every parent resolved inside the
 * directory, symlinks never followed), without owners or device nodes, and the Dockerfile is
 * found inside the unpacked directory the same way.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { TsbuildError, messageOf, resolveInRoot } from '../common/index.js';
import { makeTemporaryDirectory, unpackLayer } from '../store/index.js';
import { archiveStream, downloadUrls, isArchive } from './copy.js';

/**
 * The largest Dockerfile tsbuild reads. BuildKit refuses one above 16 MiB (its gRPC message
 * bound); four times that is room enough, and keeps a stream without end (`-f /dev/zero`, a
 * fifo, `build - < /dev/zero`) from filling memory until the process dies.
 */
export const maxDockerfileBytes = 64 * 1024 * 1024;

/** The Dockerfile INPUT (named NAME in the error) as text, refused past maxDockerfileBytes. */
export async function readDockerfile(input: AsyncIterable<Buffer | string>, name: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += bytes.length;
    if (size > maxDockerfileBytes) throw new TsbuildError('INVALID_ARGUMENT', `build: failed to read dockerfile: ${name} is larger than ${maxDockerfileBytes} bytes, the most tsbuild reads`);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export type StdinInput =
  | { readonly kind: 'dockerfile'; readonly source: string; cleanup(): Promise<void> }
  | { readonly kind: 'context'; readonly dir: string; cleanup(): Promise<void> };

/**
 * Reads INPUT whole (into a scratch file in SCRATCHPARENT, a store's temporary directory swept if
 * the build is killed; never into memory) and tells what it is; a tar is unpacked.
 */
export async function readStdinInput(input: NodeJS.ReadableStream, scratchParent: string): Promise<StdinInput> {
  return stagedInput('standard input', scratchParent, (staged) => pipeline(input, createWriteStream(staged, { mode: 0o600 })));
}

/**
 * `tsbuild build https://host/context.tar.gz`: the URL's content, as docker takes a remote
 * context that is not a git repository: a context tar (any compression), or else a Dockerfile.
 */
export async function readUrlInput(url: string, scratchParent: string): Promise<StdinInput> {
  return stagedInput(url, scratchParent, async (staged) => {
    const directory = dirname(staged);
    const downloaded = await downloadUrls([url], directory, { label: 'download' }).catch((error: unknown) => {
      throw new TsbuildError(error instanceof TsbuildError ? error.code : 'REGISTRY', `build: unable to prepare context: ${messageOf(error)}`, { cause: error });
    });
    const file = downloaded.get(url)?.path;
    if (file === undefined) throw new TsbuildError('INVALID_ARGUMENT', `build: unable to prepare context: ${url} is not an http(s) URL`);
    await rename(file, staged);
  });
}

/** Stages the input (FILL writes it to the path it is given) and tells what it is; a tar is unpacked. */
async function stagedInput(what: string, scratchParent: string, fill: (staged: string) => Promise<void>): Promise<StdinInput> {
  const scratch = await makeTemporaryDirectory(scratchParent, 'stdin');
  const cleanup = (): Promise<void> => rm(scratch, { recursive: true, force: true });
  try {
    const staged = join(scratch, 'input');
    await fill(staged);
    if (!(await isArchive(staged))) {
      const source = await readDockerfile(createReadStream(staged), what);
      await cleanup();
      return { kind: 'dockerfile', source, cleanup: () => Promise.resolve() };
    }
    const dir = join(scratch, 'context');
    await mkdir(dir, { mode: 0o755 });
    try {
      await unpackLayer(archiveStream(staged), dir, { root: false });
    } catch (error) {
      throw new TsbuildError(error instanceof TsbuildError && error.code === 'UNSAFE_PATH' ? 'UNSAFE_PATH' : 'INVALID_ARCHIVE', `build: unpack the context from ${what}: ${messageOf(error)}`, { cause: error });
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
    return { source: await readDockerfile(createReadStream(path), name), file: name, path };
  }
  throw new TsbuildError('NOT_FOUND', `build: failed to solve: failed to read dockerfile: open ${file ?? 'Dockerfile'}: no such file or directory`);
}
