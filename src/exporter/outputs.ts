/**
 * Build outputs beside the local store, as docker buildx's `--output` (`-o`) names them:
 *
 * | spec                          | writes                                                      |
 * |-------------------------------|-------------------------------------------------------------|
 * | `type=oci,dest=F`             | an OCI image layout as a tar                                |
 * | `type=docker,dest=F`          | a docker-archive tar as BuildKit's docker exporter writes it (`docker load` takes it) |
 * | `type=tar,dest=F`             | the final root filesystem as a tar                          |
 * | `type=local,dest=DIR`         | the final root filesystem as files under DIR                |
 * | `type=image[,push=true]`      | the image named in the store (`name=`, else the `-t` names), pushed with `push=true` |
 * | `type=registry`               | `type=image,push=true`                                      |
 * | `DIR` (no `=`)                | `type=local,dest=DIR`                                       |
 * | `-`                           | `type=tar,dest=-`                                           |
 *
 * `dest=-` is standard output (not for local), which must not be a terminal; oci and tar
 * without dest write there too, as buildx does. Other keys BuildKit's exporters take are kept
 * in `options` for later; of them, `name=` (names for oci and docker, comma-separated), the
 * compression keys (compression.ts), `oci-mediatypes=` (oci and docker: media-types.ts) and
 * the manifest annotation keys are honoured now. The image and registry types are
 * written by the build command (naming and pushing are not this module's); their specs are
 * read here with the rest.
 */
import { constants, createWriteStream } from 'node:fs';
import { chmod, copyFile, link, lstat, mkdir, open, realpath, rename, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { formatReference, fsPath, isIndexMediaType, makeSpecialFile, messageOf, parseReference, setExactTimes, setXattr, TsbuildError, type Descriptor } from '../common/index.js';
import { temporaryName, writeAll, type LayoutStore } from '../store/index.js';
import { buildkitCreated, saveArchive, saveLayoutDirectory, type SaveImage } from './archive.js';
import { compressionFromOptions, exportCompression, mapIndexManifests, recompressImage } from './compression.js';
import { directoryEntries, sourceDateEpochFromEnv, tarStream, type LayerEntry } from './layer.js';
import { ociMediaTypesOption, withMediaTypes } from './media-types.js';

export type OutputType = 'oci' | 'docker' | 'tar' | 'local' | 'image' | 'registry' | 'cacheonly';

export interface OutputSpec {
  readonly type: OutputType;
  /** A file (oci, docker, tar) or a directory (local); `-` is standard output. */
  readonly dest: string;
  /** The other keys, lower-cased, with their values as given: kept for exporters to come. */
  readonly options: Readonly<Record<string, string>>;
}

export interface OutputImage {
  readonly descriptor: Descriptor;
  /** The names it was built under (`-t`), full or familiar; may be empty. */
  readonly names: readonly string[];
  /**
   * Each manifest's first layer made by the build, by the manifest's digest (the layers before
   * are the base image's, whose compression only `force-compression=true` changes): one entry,
   * or one per platform of an index; 0 for a manifest it does not name.
   */
  readonly firstBuiltLayers?: ReadonlyMap<string, number>;
}

const outputTypes: readonly OutputType[] = ['oci', 'docker', 'tar', 'local', 'image', 'registry', 'cacheonly'];

/** Keys BuildKit's exporters take, per type, besides `type` and `dest`. */
const imageArchiveKeys = ['name', 'compression', 'compression-level', 'force-compression', 'oci-mediatypes', 'rewrite-timestamp', 'tar', 'annotation', 'dangling-name-prefix', 'name-canonical'];
const knownKeys: Record<OutputType, readonly string[]> = {
  oci: imageArchiveKeys,
  docker: [...imageArchiveKeys, 'context'],
  tar: ['platform-split'],
  local: ['platform-split'],
  image: [...imageArchiveKeys, 'push', 'unpack', 'store', 'insecure', 'registry.insecure', 'push-by-digest'],
  registry: [...imageArchiveKeys, 'push', 'unpack', 'store', 'insecure', 'registry.insecure', 'push-by-digest'],
  cacheonly: [],
};
/** `annotation.KEY=V` and `annotation-manifest.KEY=V` and the like. */
const annotationKey = /^annotation(?:-[a-z-]+)?(?:\[[^\]]*\])?\.[^=]+$/;

function invalid(text: string, cause: string): TsbuildError {
  return new TsbuildError('INVALID_ARGUMENT', `parse --output ${JSON.stringify(text)}: ${cause}`);
}

/** One CSV record as Go's encoding/csv reads it (`"` quotes a field, `""` inside is a quote). */
function csvFields(text: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw invalid(text, 'a quoted field is not closed');
        if (text[i] === '"') {
          if (text[i + 1] !== '"') break;
          i++;
        }
        field += text[i];
        i++;
      }
      i++;
      if (i < text.length && text[i] !== ',') throw invalid(text, 'text after a closing quote');
    } else {
      const end = text.indexOf(',', i);
      field = text.slice(i, end < 0 ? text.length : end);
      if (field.includes('"')) throw invalid(text, 'a quote inside an unquoted field');
      i = end < 0 ? text.length : end;
    }
    fields.push(field);
    if (i >= text.length) return fields;
    i++;
  }
}

/** Reads one `--output` value, as docker buildx does. */
export function parseOutputSpec(text: string): OutputSpec {
  if (text === '') throw invalid(text, 'empty');
  if (text === '-') return { type: 'tar', dest: '-', options: {} };
  if (!text.includes('=') && !text.startsWith('type=')) return { type: 'local', dest: text, options: {} };
  let type: string | undefined;
  let dest: string | undefined;
  const options: Record<string, string> = {};
  for (const field of csvFields(text)) {
    const eq = field.indexOf('=');
    if (eq < 0) throw invalid(text, `${JSON.stringify(field)} is not KEY=VALUE`);
    const key = field.slice(0, eq).trim().toLowerCase();
    const value = field.slice(eq + 1);
    if (key === 'type') type = value;
    else if (key === 'dest') dest = value;
    else options[key] = value;
  }
  if (type === undefined) throw invalid(text, `type= is required (one of ${outputTypes.join(', ')})`);
  if (!(outputTypes as readonly string[]).includes(type)) {
    throw invalid(text, `unknown output type ${JSON.stringify(type)} (expected ${outputTypes.join(', ')})`);
  }
  const outputType = type as OutputType;
  const unknown = Object.keys(options).filter((key) => !knownKeys[outputType].includes(key) && !annotationKey.test(key));
  if (unknown.length > 0) throw invalid(text, `unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => JSON.stringify(key)).join(', ')} for type=${outputType}`);
  // The build's steps and cache only, as buildx: no image is named or kept, and a dest means nothing.
  if (outputType === 'cacheonly') return { type: outputType, dest: '', options };
  if (outputType === 'image' || outputType === 'registry') {
    if (dest !== undefined) throw invalid(text, `type=${outputType} takes no dest (it names the image in the store${outputType === 'registry' ? ' and pushes it' : ''})`);
    compressionFromOptions(options, `--output ${JSON.stringify(text)}`);
    ociMediaTypesOption(options, true, `--output ${JSON.stringify(text)}`);
    outputAnnotations({ type: outputType, dest: '', options });
    return { type: outputType, dest: '', options };
  }
  if (outputType === 'oci' || outputType === 'docker') {
    compressionFromOptions(options, `--output ${JSON.stringify(text)}`);
    ociMediaTypesOption(options, outputType === 'oci', `--output ${JSON.stringify(text)}`);
    outputAnnotations({ type: outputType, dest: dest ?? '-', options });
  }
  if (outputType === 'local') {
    if (dest === undefined || dest === '') throw invalid(text, 'type=local needs dest=DIRECTORY');
    if (dest === '-') throw invalid(text, 'type=local writes a directory, not standard output');
  } else if (dest === undefined || dest === '') {
    // As buildx: oci and tar go to standard output; docker would be loaded into the docker daemon, which tsbuild does not use.
    if (outputType === 'docker') throw invalid(text, 'type=docker needs dest=FILE (or dest=- for standard output): there is no docker daemon to load it into');
    dest = '-';
  }
  return { type: outputType, dest, options };
}

function fullName(name: string): string {
  return formatReference(parseReference(name));
}

function archiveImages(image: OutputImage, spec: OutputSpec): SaveImage[] {
  const given = spec.options.name;
  const names = given === undefined ? image.names : given.split(',').map((name) => name.trim()).filter((name) => name !== '');
  return names.length === 0 ? [{ descriptor: image.descriptor }] : names.map((name) => ({ name: fullName(name), descriptor: image.descriptor }));
}

export interface OutputOptions {
  /**
   * SOURCE_DATE_EPOCH of the build (default: the environment's): every file of a tar or local
   * output gets this time, as BuildKit's local and tar exporters give it, so that the root
   * filesystem does not carry the times its steps ran at.
   */
  readonly sourceDateEpoch?: number;
}

/**
 * Seconds of a time NS as Go's tar writer keeps it when no format is asked for (BuildKit's tar
 * exporter asks for none): rounded to the nearest second, a half up, before 1970 too.
 */
function goTarSeconds(ns: bigint): number {
  const shifted = ns + 500_000_000n;
  const seconds = shifted / 1_000_000_000n;
  // BigInt division truncates toward zero: one less for a negative time with a remainder.
  return Number(shifted % 1_000_000_000n < 0n ? seconds - 1n : seconds);
}

/**
 * The entries of the tree at ROOT for a tar output: every one at time EPOCH when given, else at
 * its time as Go's tar writer rounds it (a layer's entries are truncated to the second instead).
 */
async function* tarOutputEntries(root: string, epoch: number | undefined): AsyncGenerator<LayerEntry> {
  for await (const entry of directoryEntries(root)) {
    const mtime = epoch ?? goTarSeconds((await lstat(fsPath(join(root, entry.path)), { bigint: true })).mtimeNs);
    yield { ...entry, mtime };
  }
}

/**
 * The root filesystems of a build of several platforms in one tar, each under its directory
 * (`linux_amd64/`), as BuildKit's platform-split: the directory 0755 and owned by root, a hard
 * link naming its target under the same directory.
 */
async function* splitTarEntries(roots: ReadonlyMap<string, string>, epoch: number | undefined): AsyncGenerator<LayerEntry> {
  for (const [directory, root] of roots) {
    yield { path: directory, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: epoch ?? 0 };
    for await (const entry of tarOutputEntries(root, epoch)) {
      yield { ...entry, path: `${directory}/${entry.path}`, ...(entry.type === 'link' && entry.linkname !== undefined ? { linkname: `${directory}/${entry.linkname}` } : {}) };
    }
  }
}

/** What an oci or docker output wrote, as BuildKit's exporter reports it (`--metadata-file`). */
export interface WrittenArchive {
  /** The image's manifest, annotated with its creation time as the archive's index has it. */
  readonly descriptor: Descriptor;
  /** The names it holds, in full. */
  readonly names: readonly string[];
}

/**
 * Writes the output SPEC asks for: IMAGE (oci, docker) from STORE, or ROOTFS, the final root
 * filesystem directory (tar, local). `dest=-` writes to STDOUT, refused when it is a terminal.
 * Returns what an oci or docker output wrote.
 */
export async function writeOutput(store: LayoutStore, image: OutputImage, rootfs: string | ReadonlyMap<string, string>, spec: OutputSpec, stdout: NodeJS.WritableStream, options: OutputOptions = {}): Promise<WrittenArchive | undefined> {
  const epoch = options.sourceDateEpoch ?? sourceDateEpochFromEnv();
  if (spec.type === 'local') {
    if (typeof rootfs === 'string') await copyTree(rootfs, spec.dest, epoch);
    else for (const [directory, root] of rootfs) await copyTree(root, join(spec.dest, directory), epoch);
    return undefined;
  }
  if (spec.type === 'image' || spec.type === 'registry' || spec.type === 'cacheonly') throw new TsbuildError('INTERNAL', `write ${spec.type} output: handled by the build command`);
  const directory = spec.type === 'oci' && spec.options.tar === 'false';
  if ((spec.type === 'oci' || spec.type === 'docker') && spec.options.tar !== undefined && spec.options.tar !== 'true') {
    // BuildKit's oci exporter with tar=false writes the layout as a directory; a docker archive is `docker load`'s tar.
    if (!directory) throw new TsbuildError('INVALID_ARGUMENT', `write ${spec.type} output: tar=${spec.options.tar}: only type=oci,tar=false (an OCI layout directory) is written as a directory`);
    if (spec.dest === '-') throw new TsbuildError('INVALID_ARGUMENT', 'write oci output: tar=false writes a directory: give dest=DIRECTORY');
  }
  if (spec.dest === '-' && (stdout as { isTTY?: boolean }).isTTY === true) {
    throw new TsbuildError('INVALID_ARGUMENT', `write ${spec.type} output: refusing to write a tar archive to a terminal; give dest=FILE or redirect standard output`);
  }
  if (spec.type === 'tar') {
    const archive = Readable.from(tarStream(typeof rootfs === 'string' ? tarOutputEntries(rootfs, epoch) : splitTarEntries(rootfs, epoch)));
    if (spec.dest === '-') await pipeline(archive, stdout, { end: false });
    else await writeFileOutput(archive, spec.dest, spec.type);
    return undefined;
  }
  const exported = await outputImage(store, image, spec);
  const images = archiveImages(exported, spec);
  // The manifest the archive's index names.
  const written = exported.descriptor;
  if (directory) await saveLayoutDirectory(store, images, spec.dest, epoch);
  else {
    const archive = await saveArchive(store, images, { format: spec.type, style: 'buildkit', ...(epoch === undefined ? {} : { sourceDateEpoch: epoch }) });
    if (spec.dest === '-') await pipeline(archive, stdout, { end: false });
    else await writeFileOutput(archive, spec.dest, spec.type);
  }
  const annotations = { ...written.annotations, ...(await buildkitCreated(store, { descriptor: written }, epoch)) };
  return {
    descriptor: Object.keys(annotations).length === 0 ? written : { ...written, annotations },
    names: images.flatMap((entry) => (entry.name === undefined ? [] : [entry.name])),
  };
}

/**
 * The manifest annotations of an output's keys, as BuildKit's image exporters read them:
 * `annotation.KEY=V` and `annotation-manifest.KEY=V` (a `[platform]` after the type is allowed).
 * The index and descriptor types are refused: a single-platform build writes no index.
 */
export function outputAnnotations(spec: OutputSpec): Record<string, string> {
  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries(spec.options)) {
    const match = /^annotation(?:-([a-z-]+))?(?:\[[^\]]*\])?\.(.+)$/.exec(key);
    if (match === null) continue;
    const type = match[1] ?? 'manifest';
    if (type !== 'manifest') {
      throw new TsbuildError('INVALID_ARGUMENT', `write ${spec.type} output: ${key}: ${type} annotations are not supported: a single-platform build writes one manifest and no index`);
    }
    annotations[match[2] as string] = value;
  }
  return annotations;
}

/**
 * IMAGE as SPEC's compression, annotation and media-type keys ask for it: the same image when
 * they ask for nothing new, else one whose manifest names recompressed layers and carries the
 * annotations. An oci or docker archive gets gzip layers by default, as everything that leaves
 * the machine, and the media types of BuildKit's exporter of that name (`oci-mediatypes=`: OCI
 * for oci, Docker's for docker); the image in the store keeps its own.
 */
export async function outputImage(store: LayoutStore, image: OutputImage, spec: OutputSpec): Promise<OutputImage> {
  if (isIndexMediaType(image.descriptor.mediaType)) {
    const descriptor = await mapIndexManifests(store, image.descriptor, async (manifest) => (await outputImage(store, { ...image, descriptor: manifest }, spec)).descriptor);
    return descriptor === image.descriptor ? image : { ...image, descriptor };
  }
  const archive = spec.type === 'oci' || spec.type === 'docker';
  const leaves = archive || spec.type === 'registry' || ['true', '1'].includes((spec.options.push ?? '').toLowerCase());
  const compression = compressionFromOptions(spec.options, `--output type=${spec.type}`) ?? (leaves ? exportCompression : undefined);
  const annotations = outputAnnotations(spec);
  let descriptor = image.descriptor;
  if (compression !== undefined || Object.keys(annotations).length > 0) descriptor = await recompressImage(store, descriptor, compression, image.firstBuiltLayers?.get(image.descriptor.digest) ?? 0, annotations);
  // An image or registry output keeps the store's OCI types unless the option asks otherwise.
  if (archive || spec.options['oci-mediatypes'] !== undefined) descriptor = await withMediaTypes(store, descriptor, ociMediaTypesOption(spec.options, spec.type !== 'docker', `--output type=${spec.type}`));
  return descriptor === image.descriptor ? image : { ...image, descriptor };
}

/**
 * A regular file (or none) at DEST is replaced atomically: written under a temporary name
 * beside it, then renamed. Anything else there (a fifo, /dev/stdout) is written as it is.
 */
async function writeFileOutput(archive: Readable, dest: string, type: OutputType): Promise<void> {
  const existing = await lstat(dest).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new TsbuildError('INVALID_ARGUMENT', `write ${type} output ${dest}: ${messageOf(error)}`, { cause: error });
  });
  if (existing?.isDirectory() === true) throw new TsbuildError('INVALID_ARGUMENT', `write ${type} output: ${dest} is a directory`);
  if (existing !== undefined && !existing.isFile() && !existing.isSymbolicLink()) {
    await pipeline(archive, createWriteStream(dest));
    return;
  }
  const target = existing?.isSymbolicLink() === true ? await realpath(dest).catch(() => dest) : dest;
  const temporary = join(dirname(target), `.${basename(target)}.${temporaryName('output')}`);
  try {
    const handle = await open(temporary, 'wx', 0o644);
    try {
      for await (const chunk of archive) await writeAll(handle, chunk as Buffer);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    if (error instanceof TsbuildError) throw error;
    throw new TsbuildError('INTERNAL', `write ${type} output ${dest}: ${messageOf(error)}`, { cause: error });
  }
}

interface PendingDirectory {
  readonly path: string;
  readonly mode: number;
  /** Nanoseconds since 1970. */
  readonly mtime: bigint;
}

/**
 * Copies the tree at SOURCE into DEST (created when missing, 0700 as BuildKit's receiver makes
 * it; what DEST held already stays unless the tree replaces it) as a local output: modes,
 * times, hard links, symlinks as symlinks (never followed), fifos and device nodes (devices as
 * root only), security.capability when running as root. Every file belongs to the user who
 * runs the build, whatever the image's owners: BuildKit's receiver gives each its client's ids
 * (a file owned by another id would be out of its user's reach). Nothing is written outside
 * DEST: entries come parents first, every directory on the way is made or checked to be a real
 * directory (a symlink or file in its place is removed, not followed), and every other entry
 * replaces whatever is at its name.
 */
async function copyTree(source: string, dest: string, epoch: number | undefined): Promise<void> {
  const privileged = process.getuid?.() === 0;
  try {
    await makeDirectories(dest);
    const root = await realpath(dest);
    const directories: PendingDirectory[] = [];
    // BuildKit's local exporter gives each file its source's time to the nanosecond (before
    // 1970 too), or SOURCE_DATE_EPOCH's; an entry's own time is whole seconds, as layers hold it.
    const timeOf = async (entry: LayerEntry): Promise<bigint> =>
      epoch === undefined ? (await lstat(fsPath(join(source, entry.path)), { bigint: true })).mtimeNs : BigInt(epoch) * 1_000_000_000n;
    for await (const entry of directoryEntries(source)) {
      // A name that is not UTF-8 is written as its bytes (common/file-names.ts).
      const path = join(root, entry.path);
      const existing = await lstat(fsPath(path)).catch(() => undefined);
      if (entry.type === 'directory') {
        if (existing !== undefined && !existing.isDirectory()) await rm(fsPath(path), { recursive: true, force: true });
        if (existing?.isDirectory() !== true) await mkdir(fsPath(path), { mode: 0o700 });
        else await chmod(fsPath(path), 0o700 | (existing.mode & 0o7777));
        directories.push({ path, mode: entry.mode, mtime: await timeOf(entry) });
        continue;
      }
      if (existing !== undefined) await rm(fsPath(path), { recursive: true, force: true });
      if (await copyEntry(source, root, path, entry, privileged)) {
        const time = await timeOf(entry);
        setExactTimes(path, time, time);
      }
    }
    // Modes and times of directories last, deepest first: writing children changes a directory's
    // mtime, and a read-only directory must still receive them.
    for (const directory of directories.reverse()) {
      await chmod(fsPath(directory.path), directory.mode);
      setExactTimes(directory.path, directory.mtime, directory.mtime);
    }
  } catch (error) {
    if (error instanceof TsbuildError) throw error;
    throw new TsbuildError('INTERNAL', `write local output ${dest}: ${messageOf(error)}`, { cause: error });
  }
}

/**
 * `mkdir -p` one level at a time, each missing one 0700 (as Go's os.MkdirAll(dest, 0700) in
 * BuildKit's receiver): Node's recursive mkdir never returns where the file system answers
 * ENOENT under a parent that exists (procfs, sysfs).
 */
async function makeDirectories(path: string): Promise<void> {
  let current = '/';
  for (const part of resolve(path).split('/').filter((name) => name !== '')) {
    current = join(current, part);
    await mkdir(current, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
}

/** Whether it made an entry of its own (not a hard link, not a device skipped), to be given its times. */
async function copyEntry(source: string, root: string, path: string, entry: LayerEntry, privileged: boolean): Promise<boolean> {
  switch (entry.type) {
    case 'file':
      // COPYFILE_EXCL: the name was just cleared; a symlink planted there since is not followed.
      await copyFile(fsPath(join(source, entry.path)), fsPath(path), constants.COPYFILE_EXCL);
      await chmod(fsPath(path), entry.mode);
      capability(path, entry, privileged);
      return true;
    case 'symlink':
      await symlink(fsPath(entry.linkname ?? ''), fsPath(path));
      return true;
    case 'link':
      // To an earlier entry of the same tree, already copied under ROOT.
      await link(fsPath(join(root, entry.linkname ?? '')), fsPath(path));
      return false;
    case 'fifo':
    case 'character-device':
    case 'block-device':
      // Without privilege a device node is never made (nor could be); a fifo is harmless.
      if (entry.type !== 'fifo' && !privileged) return false;
      makeSpecialFile(path, entry.type, 0o600, entry.devmajor, entry.devminor);
      await chmod(fsPath(path), entry.mode);
      return true;
    case 'directory':
      return false;
  }
}

function capability(path: string, entry: LayerEntry, privileged: boolean): void {
  const value = entry.pax?.['SCHILY.xattr.security.capability'];
  if (value === undefined || !privileged) return;
  setXattr(path, 'security.capability', typeof value === 'string' ? Buffer.from(value, 'utf8') : value);
}
