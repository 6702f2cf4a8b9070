/**
 * Reading an image's manifest from its registry without pulling it, as CI scripts do to ask
 * whether an image exists and what its digest is: docker's `manifest inspect` and buildx's
 * `imagetools inspect`, each in its own words and layout.
 */
import type { Command } from 'commander';
import pLimit from 'p-limit';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MediaType, TsbuildError, goCompact, goIndent, goJson, goStruct, messageOf, parseDigest, parseReference, formatReference, type Descriptor, type Digest, type ImageReference } from '../../common/index.js';
import { writeFileAtomic } from '../../store/index.js';
import { copyRemoteDocument, dockerConfigPath, fetchDocument, fetchSmallBlob, parseDocument, isPlainHttpAnswer, putManifest, RegistryClient, type FetchedDocument } from '../../registry/index.js';
import { ExitError, type CliIo } from '../io.js';
import { parseGoTemplate } from '../go-template.js';
import { addInsecureRegistryOption, collect, registryClient } from './registry-options.js';
import { checkNamedBuilder } from './builders.js';

/** An image config is small; a larger blob named as one is refused rather than read. */
const configLimit = 8 * 1024 * 1024;

/** Far more platforms than any multi-platform image has (docker's official images have under 20). */
const maxIndexEntries = 1024;

/** A platform as the OCI image spec's Go type holds it: a template reaches `.Architecture`, its JSON says `architecture`. */
interface GoPlatform {
  Architecture: string;
  OS: string;
  OSVersion?: string;
  OSFeatures?: string[];
  Variant?: string;
}

const platformTags = { Architecture: 'architecture', OS: 'os', OSVersion: 'os.version', OSFeatures: 'os.features', Variant: 'variant' };

/** An image manifest of a document, with its config (parsed), as docker's registry client reads both. */
interface ReadManifest {
  readonly reference: ImageReference;
  readonly document: Extract<FetchedDocument, { kind: 'manifest' }>;
  readonly config: Record<string, unknown>;
}

/** The platform of an image config or an index entry, as Go's json.Unmarshal into ocispec.Platform takes it. */
function platformOf(value: unknown, typeName?: string): GoPlatform {
  const source = (value ?? {}) as Record<string, unknown>;
  const text = (key: string): string | undefined => (typeof source[key] === 'string' && source[key] !== '' ? source[key] : undefined);
  const features = Array.isArray(source['os.features']) ? source['os.features'].filter((item): item is string => typeof item === 'string') : [];
  return goStruct(
    {
      Architecture: text('architecture') ?? '',
      OS: text('os') ?? '',
      OSVersion: text('os.version'),
      OSFeatures: features.length > 0 ? features : undefined,
      Variant: text('variant'),
    },
    platformTags,
    typeName,
  );
}

function isNotFound(error: unknown): boolean {
  const status = (error as { status?: unknown }).status;
  return status === 404 || status === 401 || status === 403;
}

/**
 * The client of `manifest create` and `manifest inspect`, which read registries as docker's CLI
 * does itself: over TLS, plain HTTP only from the registries --insecure names, a loopback one
 * included; no daemon's configuration is consulted. `manifest push` goes as docker's push does,
 * a loopback registry reached over plain HTTP without --insecure.
 */
function readingClient(insecure: readonly string[]): RegistryClient {
  return new RegistryClient({ insecureRegistries: insecure, loopbackOverHttp: false, userAgent: 'tsbuild' });
}

/** The document REFERENCE names; one the registry does not have is MISSING's words on stderr and status 1. */
async function fetchOrSay(io: CliIo, client: RegistryClient, reference: ImageReference, missing: string): Promise<FetchedDocument> {
  try {
    return await fetchDocument(client, reference);
  } catch (error) {
    // A registry that speaks plain HTTP and is not named insecure is passed over, as docker's
    // CLI passes over such an endpoint: nothing is found.
    if (!isNotFound(error) && !isPlainHttpAnswer(error)) throw error;
    io.stderr.write(missing);
    throw new ExitError(1);
  }
}

async function readManifest(client: RegistryClient, reference: ImageReference, document: FetchedDocument): Promise<ReadManifest> {
  if (document.kind !== 'manifest') throw new TsbuildError('REGISTRY', `${formatReference(reference)}: unsupported manifest type: a nested index`);
  const { digest } = document.manifest.config;
  const bytes = await fetchSmallBlob(client, reference, document.manifest.config, configLimit);
  let config: unknown;
  try {
    config = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new TsbuildError('REGISTRY', `${formatReference(reference)}: config ${digest}: invalid JSON: ${messageOf(error)}`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new TsbuildError('REGISTRY', `${formatReference(reference)}: config ${digest}: not a JSON object`);
  return { reference, document, config: config as Record<string, unknown> };
}

/** The manifests an index names, each with its config, in its order (a few requests at a time). */
async function readIndexEntries(client: RegistryClient, reference: ImageReference, entries: readonly Descriptor[]): Promise<ReadManifest[]> {
  // Two requests per entry: an index that names more than any image has is refused, not followed.
  if (entries.length > maxIndexEntries) throw new TsbuildError('REGISTRY', `${formatReference(reference)}: the index names ${entries.length} manifests, more than the ${maxIndexEntries} read here`);
  const limit = pLimit(4);
  return Promise.all(
    entries.map((entry) =>
      limit(async () => {
        const child = { ...reference, digest: entry.digest };
        return readManifest(client, child, await fetchDocument(client, child));
      }),
    ),
  );
}

/** docker's types.ImageManifest: one image of a manifest list, local or read from a registry. */
interface ListEntry {
  readonly ref: string;
  readonly descriptor: Descriptor;
  readonly platform: GoPlatform;
  readonly raw: Buffer;
}

/** READ as a list's entry, its platform its config's unless an index says another. */
function entryOf(read: ReadManifest, platform: GoPlatform = platformOf(read.config)): ListEntry {
  return { ref: formatReference(read.reference), descriptor: read.document.descriptor, platform, raw: read.document.bytes };
}

/** An entry as docker marshals it: compact, the form its local manifest lists keep on disk. */
function entryJson(entry: ListEntry): string {
  const { descriptor, raw } = entry;
  const schema2 = descriptor.mediaType === MediaType.dockerManifest;
  const head = goJson({
    Ref: entry.ref,
    Descriptor: { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size, platform: entry.platform },
    Raw: raw.toString('base64'),
  });
  return `${head.slice(0, -1)},${goJson(schema2 ? 'SchemaV2Manifest' : 'OCIManifest')}:${goCompact(raw.toString('utf8'))}}`;
}

/**
 * The list docker assembles from ENTRIES (to print one, and to push it): an OCI index when the
 * first is an OCI manifest, else a Docker manifest list; each entry's platform, nothing else;
 * indented by three spaces, as docker's distribution library marshals it.
 */
function dockerList(entries: readonly ListEntry[]): string {
  const firstIsOci = entries[0]?.descriptor.mediaType === MediaType.ociManifest;
  const list = {
    schemaVersion: 2,
    mediaType: firstIsOci ? MediaType.ociIndex : MediaType.dockerManifestList,
    manifests: entries.map(({ descriptor, platform }) => ({ mediaType: descriptor.mediaType, size: descriptor.size, digest: descriptor.digest, platform })),
  };
  return goIndent(goJson(list), '', '   ');
}

function printList(io: CliIo, entries: readonly ListEntry[], verbose: boolean): void {
  io.stdout.write(`${verbose ? goIndent(`[${entries.map(entryJson).join(',')}]`, '', '\t') : dockerList(entries)}\n`);
}

function printEntry(io: CliIo, entry: ListEntry, verbose: boolean): void {
  io.stdout.write(`${goIndent(verbose ? entryJson(entry) : entry.raw.toString('utf8'), '', '\t')}\n`);
}

async function manifestInspect(io: CliIo, list: string | undefined, image: string, options: { insecure?: boolean; verbose?: boolean }): Promise<void> {
  const reference = parseReference(image);
  const verbose = options.verbose === true;
  // A local list first, as docker: with two arguments one of its entries, else the list itself.
  if (list !== undefined) {
    printEntry(io, await localEntry(list, image), verbose);
    return;
  }
  const local = await readLocalList(reference);
  if (local !== undefined) {
    printList(io, local, verbose);
    return;
  }
  const client = readingClient(options.insecure === true ? [reference.domain] : []);
  try {
    const document = await fetchOrSay(io, client, reference, `no such manifest: ${formatReference(reference)}\n`);
    if (document.kind === 'manifest') {
      const read = await readManifest(client, reference, document);
      printEntry(io, entryOf(read), verbose);
      return;
    }
    const entries = document.index.manifests;
    const children = await readIndexEntries(client, reference, entries);
    printList(io, children.map((child, index) => entryOf(child, platformOf(entries[index]?.platform))), verbose);
  } finally {
    await client.close();
  }
}

// --- docker's local manifest lists ----------------------------------------------------------------

/** Where docker keeps its local manifest lists: beside its config.json, a directory per list. */
function listsDirectory(): string {
  return join(dirname(dockerConfigPath()), 'manifests');
}

/** docker's file-safe name of a reference: `:` as `-`, `/` as `_`. */
function fileSafe(reference: ImageReference): string {
  return formatReference(reference).replace(/:/g, '-').replace(/\//g, '_');
}

function listDirectory(list: ImageReference): string {
  return join(listsDirectory(), fileSafe(list));
}

function parseEntry(text: string, path: string): ListEntry {
  try {
    const value = JSON.parse(text) as { Ref?: unknown; Descriptor?: Record<string, unknown>; Raw?: unknown };
    const descriptor = value.Descriptor ?? {};
    if (typeof value.Ref !== 'string' || typeof value.Raw !== 'string' || typeof descriptor['digest'] !== 'string' || typeof descriptor['mediaType'] !== 'string' || typeof descriptor['size'] !== 'number') throw new Error('not a manifest list entry');
    return { ref: value.Ref, descriptor: { mediaType: descriptor['mediaType'], digest: parseDigest(descriptor['digest']), size: descriptor['size'] }, platform: platformOf(descriptor['platform']), raw: Buffer.from(value.Raw, 'base64') };
  } catch (error) {
    throw new TsbuildError('INVALID_ARGUMENT', `manifest list entry ${path}: ${messageOf(error)}`);
  }
}

/** A local list's entries, in the order docker reads them (by file name); undefined when there is none. */
async function readLocalList(list: ImageReference): Promise<ListEntry[] | undefined> {
  const directory = listDirectory(list);
  let names: string[];
  try {
    names = (await readdir(directory)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
  return Promise.all(names.map(async (name) => parseEntry(await readFile(join(directory, name), 'utf8'), join(directory, name))));
}

function noSuchList(list: ImageReference): TsbuildError {
  return new TsbuildError('NOT_FOUND', `No such manifest: ${formatReference(list)}`);
}

async function localEntry(list: string, image: string): Promise<ListEntry> {
  const listReference = parseReference(list);
  const path = join(listDirectory(listReference), fileSafe(parseReference(image)));
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new TsbuildError('NOT_FOUND', `No such manifest: ${formatReference(parseReference(image))}`);
    throw error;
  });
  return parseEntry(text, path);
}

async function saveEntry(list: ImageReference, image: ImageReference, entry: ListEntry): Promise<void> {
  const directory = listDirectory(list);
  await mkdir(directory, { recursive: true, mode: 0o755 });
  await writeFileAtomic(join(directory, fileSafe(image)), Buffer.from(entryJson(entry)));
}

async function manifestCreate(io: CliIo, list: string, images: readonly string[], options: { amend?: boolean; insecure?: boolean }): Promise<void> {
  const listReference = parseReference(list);
  if ((await readLocalList(listReference)) !== undefined && options.amend !== true) throw new TsbuildError('INVALID_ARGUMENT', 'refusing to amend an existing manifest list with no --amend flag');
  const client = readingClient(options.insecure === true ? [...new Set(images.map((image) => parseReference(image).domain))] : []);
  try {
    for (const image of images) {
      const reference = parseReference(image);
      // An index is no image of a list: docker finds no manifest there.
      const document = await fetchOrSay(io, client, reference, `no such manifest: ${formatReference(reference)}\n`);
      if (document.kind !== 'manifest') {
        io.stderr.write(`no such manifest: ${formatReference(reference)}\n`);
        throw new ExitError(1);
      }
      const read = await readManifest(client, reference, document);
      await saveEntry(listReference, reference, entryOf(read));
    }
  } finally {
    await client.close();
  }
  io.stdout.write(`Created manifest list ${formatReference(listReference)}\n`);
}

/** The os/arch pairs docker's `manifest annotate` takes (Go's own list, and linux/s390x). */
const validOsArches = new Set([
  'darwin/386', 'darwin/amd64', 'darwin/arm', 'darwin/arm64', 'dragonfly/amd64', 'freebsd/386', 'freebsd/amd64', 'freebsd/arm',
  'linux/386', 'linux/amd64', 'linux/arm', 'linux/arm64', 'linux/ppc64le', 'linux/mips64', 'linux/mips64le', 'linux/riscv64', 'linux/s390x',
  'netbsd/386', 'netbsd/amd64', 'netbsd/arm', 'openbsd/386', 'openbsd/amd64', 'openbsd/arm', 'plan9/386', 'plan9/amd64', 'solaris/amd64', 'windows/386', 'windows/amd64',
]);

async function manifestAnnotate(list: string, image: string, options: { os?: string; arch?: string; osVersion?: string; osFeatures: string[]; variant?: string }): Promise<void> {
  const entry = await localEntry(list, image).catch((error: unknown) => {
    if (error instanceof TsbuildError && error.code === 'NOT_FOUND') throw new TsbuildError('NOT_FOUND', `manifest for image ${image} does not exist in ${list}`);
    throw error;
  });
  const platform: GoPlatform = { ...entry.platform };
  if (options.os !== undefined && options.os !== '') platform.OS = options.os;
  if (options.arch !== undefined && options.arch !== '') platform.Architecture = options.arch;
  const features = [...(platform.OSFeatures ?? [])];
  for (const feature of options.osFeatures.flatMap((value) => value.split(','))) if (!features.includes(feature)) features.push(feature);
  if (features.length > 0) platform.OSFeatures = features;
  if (options.variant !== undefined && options.variant !== '') platform.Variant = options.variant;
  if (options.osVersion !== undefined && options.osVersion !== '') platform.OSVersion = options.osVersion;
  // docker's words name the flags given, not the platform that resulted.
  if (!validOsArches.has(`${platform.OS}/${platform.Architecture}`)) throw new TsbuildError('INVALID_ARGUMENT', `manifest entry for image has unsupported os/arch combination: ${options.os ?? ''}/${options.arch ?? ''}`);
  await saveEntry(parseReference(list), parseReference(image), { ...entry, platform: goStruct(platform, platformTags) });
}

async function manifestPush(io: CliIo, list: string, options: { insecure?: boolean; purge?: boolean }): Promise<void> {
  const target = parseReference(list);
  const entries = await readLocalList(target);
  if (entries === undefined) throw noSuchList(target);
  if (entries.length === 0) throw new TsbuildError('NOT_FOUND', `${formatReference(target)} not found`);
  const sources = entries.map((entry) => {
    if (entry.platform.OS === '' || entry.platform.Architecture === '') throw new TsbuildError('INVALID_ARGUMENT', `manifest ${entry.ref} must have an OS and Architecture to be pushed to a registry`);
    const source = parseReference(entry.ref);
    if (source.domain !== target.domain) throw new TsbuildError('INVALID_ARGUMENT', `cannot use source images from a different registry than the target image: ${source.domain} != ${target.domain}`);
    return source;
  });
  const body = Buffer.from(dockerList(entries));
  const document = parseDocument(body, { what: `manifest list ${formatReference(target)}` });
  const client = registryClient({ insecureRegistry: options.insecure === true ? [target.domain] : [] });
  try {
    // An image kept in another repository is copied into the list's first (its blobs mounted), as docker does.
    for (const [position, entry] of entries.entries()) {
      const source = sources[position] as ImageReference;
      if (source.path === target.path) continue;
      const pinned = { ...source, digest: entry.descriptor.digest };
      await copyRemoteDocument(client, pinned, parseDocument(entry.raw, { what: `manifest ${entry.ref}`, expected: entry.descriptor }), target);
      io.stdout.write(`Pushed ref ${formatReference({ domain: target.domain, path: target.path, digest: entry.descriptor.digest })} with digest: ${entry.descriptor.digest}\n`);
    }
    await putManifest(client.registry(target.domain), client, target, document, target.tag ?? document.descriptor.digest);
  } finally {
    await client.close();
  }
  io.stdout.write(`${document.descriptor.digest}\n`);
  if (options.purge === true) await rm(listDirectory(target), { recursive: true, force: true });
}

async function manifestRemove(io: CliIo, lists: readonly string[]): Promise<void> {
  const missing: string[] = [];
  for (const list of lists) {
    const reference = parseReference(list);
    if ((await readLocalList(reference)) === undefined) missing.push(noSuchList(reference).message);
    else await rm(listDirectory(reference), { recursive: true, force: true });
  }
  if (missing.length === 0) return;
  io.stderr.write(`${missing.join('\n')}\n`);
  throw new ExitError(1);
}

/** Go's text/tabwriter with padding 1 and spaces, for lines of one tab-ended cell and the rest. */
function tabulate(lines: readonly (readonly [cell: string, rest: string])[]): string {
  const width = Math.max(0, ...lines.map(([cell]) => cell.length)) + 1;
  return lines.map(([cell, rest]) => `${cell.padEnd(width)}${rest}\n`).join('');
}

function formatOciPlatform(platform: Record<string, unknown>): string {
  const os = typeof platform['os'] === 'string' ? platform['os'] : '';
  const architecture = typeof platform['architecture'] === 'string' ? platform['architecture'] : '';
  const variant = typeof platform['variant'] === 'string' && platform['variant'] !== '' ? `/${platform['variant']}` : '';
  return `${os === '' ? 'unknown' : os}/${architecture === '' ? 'unknown' : architecture}${variant}`;
}

/** buildx's text: the document, then for an index each manifest it names. */
function imagetoolsText(reference: ImageReference, document: FetchedDocument): string {
  const { descriptor } = document;
  let text = tabulate([
    ['Name:', formatReference(reference)],
    ['MediaType:', descriptor.mediaType],
    ['Digest:', descriptor.digest],
  ]);
  if (document.kind !== 'index') return text;
  text += tabulate([
    ['', ''],
    ['Manifests:', ''],
  ]);
  // One table until the annotations, which end it (buildx flushes its writer before them).
  let block: [string, string][] = [];
  const prefix = '  ';
  document.index.manifests.forEach((entry, index) => {
    if (index !== 0) block.push(['', '']);
    block.push([`${prefix}Name:`, formatReference({ ...reference, digest: entry.digest })], [`${prefix}MediaType:`, entry.mediaType]);
    const platform = entry.platform as Record<string, unknown> | undefined;
    if (platform === undefined) return;
    block.push([`${prefix}Platform:`, formatOciPlatform(platform)]);
    const { 'os.version': version, 'os.features': features } = platform;
    if (typeof version === 'string' && version !== '') block.push([`${prefix}OSVersion:`, version]);
    if (Array.isArray(features) && features.length > 0) block.push([`${prefix}OSFeatures:`, features.join(', ')]);
    const urls = (entry as { urls?: unknown }).urls;
    if (Array.isArray(urls) && urls.length > 0) block.push([`${prefix}URLs:`, urls.join(', ')]);
    const annotations = Object.entries(entry.annotations ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (annotations.length > 0) {
      block.push([`${prefix}Annotations:`, '']);
      text += tabulate(block);
      block = [];
      text += tabulate(annotations.map(([key, value]) => [`${prefix}${prefix}${key}:`, value]));
    }
  });
  return text + (block.length > 0 ? tabulate(block) : '');
}

/** A member Go's omitempty leaves out: empty, zero, false or absent. */
function omitted(value: unknown): boolean {
  if (value === undefined || value === null || value === '' || value === false || value === 0) return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value).length === 0;
}

/** VALUE unless Go's omitempty leaves it out. */
function unlessEmpty(value: unknown): unknown {
  return omitted(value) ? undefined : value;
}

/** A map member as a Go map (goJson sorts its keys), when it is an object. */
function goMap(value: unknown): Map<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0 ? new Map(Object.entries(value)) : undefined;
}

const descriptorTags = { MediaType: 'mediaType', Digest: 'digest', Size: 'size', URLs: 'urls', Annotations: 'annotations', Data: 'data', Platform: 'platform', ArtifactType: 'artifactType' };

/** A descriptor as the OCI spec's Go type (ocispec.Descriptor) holds it. */
function ociDescriptor(entry: Descriptor): unknown {
  const source = entry as unknown as Record<string, unknown>;
  return goStruct(
    {
      MediaType: entry.mediaType,
      Digest: entry.digest,
      Size: entry.size,
      URLs: unlessEmpty(source['urls']),
      Annotations: goMap(source['annotations']),
      Data: unlessEmpty(source['data']),
      Platform: source['platform'] === undefined ? undefined : platformOf(source['platform'], '*v1.Platform'),
      ArtifactType: unlessEmpty(source['artifactType']),
    },
    descriptorTags,
    'v1.Descriptor',
  );
}

/** An image config as the OCI spec's Go type (ocispec.Image) holds it: docker's own fields left out. */
function ociImage(source: Record<string, unknown>): unknown {
  const inner = (source['config'] ?? {}) as Record<string, unknown>;
  const rootfs = (source['rootfs'] ?? {}) as Record<string, unknown>;
  const history = Array.isArray(source['history']) ? (source['history'] as Record<string, unknown>[]) : [];
  const imageConfig = goStruct({
    User: unlessEmpty(inner['User']),
    ExposedPorts: goMap(inner['ExposedPorts']),
    Env: unlessEmpty(inner['Env']),
    Entrypoint: unlessEmpty(inner['Entrypoint']),
    Cmd: unlessEmpty(inner['Cmd']),
    Volumes: goMap(inner['Volumes']),
    WorkingDir: unlessEmpty(inner['WorkingDir']),
    Labels: goMap(inner['Labels']),
    StopSignal: unlessEmpty(inner['StopSignal']),
    ArgsEscaped: unlessEmpty(inner['ArgsEscaped']),
  }, {}, 'v1.ImageConfig');
  const image = goStruct(
    {
      Created: unlessEmpty(source['created']),
      Author: unlessEmpty(source['author']),
      // ocispec.Image embeds its Platform: its fields are the image's own, in its JSON too.
      ...platformOf(source),
      Config: imageConfig,
      RootFS: goStruct({ Type: typeof rootfs['type'] === 'string' ? rootfs['type'] : '', DiffIDs: Array.isArray(rootfs['diff_ids']) ? rootfs['diff_ids'] : null }, { Type: 'type', DiffIDs: 'diff_ids' }, 'v1.RootFS'),
      History:
        history.length === 0
          ? undefined
          : history.map((entry) =>
              goStruct(
                { Created: unlessEmpty(entry['created']), CreatedBy: unlessEmpty(entry['created_by']), Author: unlessEmpty(entry['author']), Comment: unlessEmpty(entry['comment']), EmptyLayer: unlessEmpty(entry['empty_layer']) },
                { Created: 'created', CreatedBy: 'created_by', Author: 'author', Comment: 'comment', EmptyLayer: 'empty_layer' },
                'v1.History',
              ),
            ),
    },
    { Created: 'created', Author: 'author', ...platformTags, Config: 'config', RootFS: 'rootfs', History: 'history' },
    '*v1.Image',
  );
  // The embedded Platform is a field of its own to a template (`.Image.Platform`), not a member of the JSON.
  return Object.defineProperty(image, 'Platform', { value: platformOf(source, 'v1.Platform'), enumerable: false });
}

async function imagetoolsInspect(io: CliIo, image: string, options: { raw?: boolean; format?: string; insecureRegistry: string[] }): Promise<void> {
  const reference = parseReference(image);
  const client = registryClient(options);
  try {
    const document = await fetchOrSay(io, client, reference, `ERROR: ${formatReference(reference)}: not found\n`);
    // As fetched, without a newline, so that its digest can be taken from the output.
    if (options.raw === true) {
      io.stdout.write(document.bytes);
      return;
    }
    const format = options.format ?? '';
    if (format === '' || format.replace(/^\{\{-?\s*/, '{{').startsWith('{{.Manifest')) {
      io.stdout.write(imagetoolsText(reference, document));
      return;
    }
    // buildx's template functions: its json indents by two spaces, as encoding/json does.
    const template = parseGoTemplate(format, { json: (value) => goIndent(goJson(value ?? null), '', '  ') });
    const { descriptor } = document;
    let manifest: unknown;
    let images: unknown;
    if (document.kind === 'manifest') {
      // buildx holds it as an interface{}: so a template names its type when a field is missing.
      manifest = goStruct({ MediaType: descriptor.mediaType, Digest: descriptor.digest, Size: descriptor.size, URLs: undefined, Annotations: undefined, Data: undefined, Platform: undefined, ArtifactType: undefined }, descriptorTags, 'interface {}');
      images = ociImage((await readManifest(client, reference, document)).config);
    } else {
      const { index } = document;
      manifest = goStruct(
        {
          SchemaVersion: 2,
          MediaType: unlessEmpty(index.mediaType),
          Digest: descriptor.digest,
          Size: descriptor.size,
          Manifests: index.manifests.map(ociDescriptor),
          Annotations: goMap(index.annotations),
        },
        { SchemaVersion: 'schemaVersion', MediaType: 'mediaType', Digest: 'digest', Size: 'size', Manifests: 'manifests', Annotations: 'annotations' },
        'interface {}',
      );
      // Each platform's config, keyed as buildx keys them; manifests of no platform (attestations) are not images.
      const withPlatform = index.manifests.filter((entry) => entry.platform !== undefined && entry.platform.os !== 'unknown');
      const read = await readIndexEntries(client, reference, withPlatform);
      const byPlatform = new Map<string, unknown>();
      read.forEach((child, position) => byPlatform.set(formatOciPlatform((withPlatform[position]?.platform ?? {}) as Record<string, unknown>), ociImage(child.config)));
      images = byPlatform.size === 1 ? [...byPlatform.values()][0] : byPlatform;
    }
    // buildx's tplInput: its SBOM and Provenance are not read here.
    const data = goStruct({ Name: image, Manifest: manifest, Image: images, SBOM: undefined, Provenance: undefined }, { Name: 'name', Manifest: 'manifest', Image: 'image', SBOM: 'SBOM', Provenance: 'Provenance' }, 'imagetools.tplInput');
    io.stdout.write(template.execute(data));
  } finally {
    await client.close();
  }
}

/** buildx's annotation types: `index:` sets the new index's; the others it refuses here, each in its words. */
function indexAnnotations(values: readonly string[]): Map<string, string> {
  const annotations = new Map<string, string>();
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq < 0) throw new TsbuildError('INVALID_ARGUMENT', `invalid annotation ${JSON.stringify(value)}: expected KEY=VALUE`);
    const key = value.slice(0, eq);
    const typed = /^(index|manifest|index-descriptor|manifest-descriptor)(?:\[[^\]]*\])?:(.*)$/s.exec(key);
    const type = typed?.[1] ?? '';
    if (type === 'index-descriptor' || type === 'manifest-descriptor') throw new TsbuildError('INVALID_ARGUMENT', `"${type}" annotations are invalid while creating an image`);
    if (type !== 'index') throw new TsbuildError('INVALID_ARGUMENT', `"${type}" annotations are not supported yet`);
    annotations.set(typed?.[2] ?? '', value.slice(eq + 1));
  }
  return annotations;
}

interface CreateSource {
  readonly reference: ImageReference;
  readonly document: FetchedDocument;
}

/**
 * The index buildx's `imagetools create` makes of SOURCES: every manifest they are or name, once
 * each (a later one's platform and annotations merged into an earlier of the same digest), an
 * image's platform taken from its config; a Docker manifest list when all are Docker manifests,
 * else an OCI index; indented by two spaces, as buildx marshals it. One index with nothing
 * added is kept as it is.
 */
async function combine(client: RegistryClient, sources: readonly CreateSource[], annotations: ReadonlyMap<string, string>): Promise<Buffer> {
  const only = sources[0];
  if (sources.length === 1 && only !== undefined && only.document.kind === 'index' && annotations.size === 0) return only.document.bytes;
  const entries: { descriptor: Descriptor; platform?: unknown; annotations: Map<string, string> }[] = [];
  const byDigest = new Map<string, (typeof entries)[number]>();
  const add = (descriptor: Descriptor, platform: unknown, annotationsOf: Readonly<Record<string, string>> | undefined): void => {
    const known = byDigest.get(descriptor.digest);
    if (known === undefined) {
      const entry = { descriptor, platform, annotations: new Map(Object.entries(annotationsOf ?? {})) };
      entries.push(entry);
      byDigest.set(descriptor.digest, entry);
      return;
    }
    if (platform !== undefined) known.platform = platform;
    for (const [key, value] of Object.entries(annotationsOf ?? {})) known.annotations.set(key, value);
  };
  const configs = await Promise.all(sources.map(async (source) => (source.document.kind === 'manifest' ? (await readManifest(client, source.reference, source.document)).config : undefined)));
  sources.forEach((source, position) => {
    const { document } = source;
    if (document.kind === 'index') {
      for (const entry of document.index.manifests) add(entry, entry.platform, entry.annotations);
      return;
    }
    const { mediaType, digest, size } = document.descriptor;
    add({ mediaType, digest, size }, configs[position], undefined);
  });
  const allDocker = entries.every((entry) => entry.descriptor.mediaType.startsWith('application/vnd.docker.'));
  const index = goStruct(
    {
      SchemaVersion: 2,
      MediaType: allDocker ? MediaType.dockerManifestList : MediaType.ociIndex,
      Manifests: entries.map((entry) => ociDescriptor({ ...entry.descriptor, annotations: Object.fromEntries(entry.annotations), ...(entry.platform === undefined ? {} : { platform: entry.platform }) } as Descriptor)),
      Annotations: annotations.size === 0 ? undefined : annotations,
    },
    { SchemaVersion: 'schemaVersion', MediaType: 'mediaType', Manifests: 'manifests', Annotations: 'annotations' },
  );
  return Buffer.from(goIndent(goJson(index), '', '  '));
}

async function imagetoolsCreate(io: CliIo, given: readonly string[], options: { tag: string[]; dryRun?: boolean; append?: boolean; annotation: string[]; insecureRegistry: string[] }): Promise<void> {
  const tags = options.tag.map((tag) => parseReference(tag));
  if (tags.length === 0 && options.dryRun !== true) throw new TsbuildError('INVALID_ARGUMENT', "can't push with no tags specified, please set --tag or --dry-run");
  const annotations = indexAnnotations(options.annotation);
  const first = tags[0];
  // A bare digest names a manifest of the first tag's repository, as buildx reads it.
  const references = given.map((value) => {
    if (!/^sha256:[0-9a-f]{64}$/.test(value)) return parseReference(value);
    if (first === undefined) throw new TsbuildError('INVALID_ARGUMENT', `source ${value}: a digest needs a --tag naming its repository`);
    return { domain: first.domain, path: first.path, digest: value as Digest };
  });
  if (options.append === true && first !== undefined) references.unshift(first);
  if (references.length === 0) throw new TsbuildError('INVALID_ARGUMENT', 'no sources specified');
  const client = registryClient(options);
  try {
    const sources = await Promise.all(references.map(async (reference) => ({ reference, document: await fetchOrSay(io, client, reference, `ERROR: ${formatReference(reference)}: not found\n`) })));
    const bytes = await combine(client, sources, annotations);
    if (options.dryRun === true) {
      io.stdout.write(`${bytes.toString('utf8')}\n`);
      return;
    }
    const document = parseDocument(bytes, { what: 'the new index' });
    let step = 0;
    for (const tag of tags) {
      step++;
      const started = Date.now();
      const say = (text: string): void => void io.stderr.write(`#${step} ${((Date.now() - started) / 1000).toFixed(3)} ${text}\n`);
      io.stderr.write(`#${step} [internal] pushing ${formatReference(tag)}\n`);
      // Sources kept in another repository are copied into the tag's first, as buildx does.
      for (const source of sources) {
        if (source.reference.domain === tag.domain && source.reference.path === tag.path) continue;
        say(`copying ${source.document.descriptor.digest} from ${formatReference(source.reference)} to ${formatReference(tag)}`);
        await copyRemoteDocument(client, source.reference, source.document, tag);
      }
      say(`pushing ${document.descriptor.digest} to ${formatReference(tag)}`);
      await putManifest(client.registry(tag.domain), client, tag, document, tag.tag ?? document.descriptor.digest);
      io.stderr.write(`#${step} DONE ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    }
  } finally {
    await client.close();
  }
}

/**
 * ACTION with the refusals docker's manifest commands and buildx make printed as they print
 * them: the message after PREFIX (buildx's `ERROR: `, docker's nothing), status 1. A registry's
 * or the system's errors keep tsbuild's own form.
 */
function dockerWords<A extends unknown[]>(io: CliIo, action: (...args: A) => Promise<void>, prefix = ''): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (error) {
      if (!(error instanceof TsbuildError) || (error.code !== 'INVALID_ARGUMENT' && error.code !== 'NOT_FOUND')) throw error;
      io.stderr.write(`${prefix}${error.message}\n`);
      throw new ExitError(1);
    }
  };
}

export function registerManifest(program: Command, io: CliIo): void {
  const manifest = program.command('manifest').description("images' manifests and docker's local manifest lists (docker manifest)");
  manifest
    .command('inspect')
    .description('display an image manifest, or manifest list (a local one first, else from its registry)')
    .argument('<image>', 'image reference, e.g. registry:5000/app:1; or a local manifest list, then one of its images')
    .argument('[image-in-list]', 'with a local manifest list first, the image of it to show')
    .option('--insecure', 'allow communication with an insecure registry')
    .option('-v, --verbose', 'output additional info including layers and platform')
    .action(
      dockerWords(io, async (first: string, second: string | undefined, options: { insecure?: boolean; verbose?: boolean }) =>
        second === undefined ? manifestInspect(io, undefined, first, options) : manifestInspect(io, first, second, options),
      ),
    );
  manifest
    .command('create')
    .description('create a local manifest list for annotating and pushing to a registry')
    .argument('<list>', 'the manifest list to make, e.g. registry:5000/app:1')
    .argument('<images...>', 'the images it lists (each read from its registry)')
    .option('-a, --amend', 'amend an existing manifest list')
    .option('--insecure', 'allow communication with an insecure registry')
    .action(dockerWords(io, async (list: string, images: string[], options: { amend?: boolean; insecure?: boolean }) => manifestCreate(io, list, images, options)));
  manifest
    .command('annotate')
    .description('add additional information to a local image manifest')
    .argument('<list>', 'the local manifest list')
    .argument('<image>', 'the image in it')
    .option('--os <os>', 'set operating system')
    .option('--arch <arch>', 'set architecture')
    .option('--os-version <version>', 'set operating system version')
    .option('--os-features <features>', 'set operating system feature (repeatable, or comma-separated)', collect, [])
    .option('--variant <variant>', 'set architecture variant')
    .action(dockerWords(io, async (list: string, image: string, options: { os?: string; arch?: string; osVersion?: string; osFeatures: string[]; variant?: string }) => manifestAnnotate(list, image, options)));
  manifest
    .command('push')
    .description('push a manifest list to a repository')
    .argument('<list>', 'the local manifest list')
    .option('-p, --purge', 'remove the local manifest list after push')
    .option('--insecure', 'allow push to an insecure registry')
    .action(dockerWords(io, async (list: string, options: { insecure?: boolean; purge?: boolean }) => manifestPush(io, list, options)));
  manifest
    .command('rm')
    .description('delete one or more manifest lists from local storage')
    .argument('<lists...>', 'local manifest lists')
    .action(async (lists: string[]) => manifestRemove(io, lists));
}

/** buildx's `imagetools inspect`, registered under `buildx`. */
export function registerImagetools(buildx: Command, io: CliIo): void {
  const imagetools = buildx.command('imagetools').description("commands to work on images in registries (buildx's imagetools)");
  addInsecureRegistryOption(
    imagetools
      .command('inspect')
      .description('show details of an image in the registry')
      .argument('<image>', 'image reference')
      .option('--raw', 'show the original, unformatted JSON manifest')
      .option('--format <template>', 'format the output with a Go template ({{json .Manifest}}, {{json .Image}}, {{.Name}})')
      .option('--builder <name>', 'the buildx builder: default or one buildx create made'),
  ).action(
    dockerWords(
      io,
      async (image: string, options: { raw?: boolean; format?: string; insecureRegistry: string[]; builder?: string }) => {
        await checkNamedBuilder(io, options.builder, {});
        await imagetoolsInspect(io, image, options);
      },
      'ERROR: ',
    ),
  );
  addInsecureRegistryOption(
    imagetools
      .command('create')
      .description('create a new image (an index) from the images and indexes named, in the registry')
      .argument('[sources...]', 'images or indexes (references, or digests in the first tag\'s repository)')
      .option('-t, --tag <reference>', 'where the new image goes (repeatable)', collect, [])
      .option('--dry-run', 'show the new index instead of pushing it')
      .option('--append', "add the first tag's current image to the sources")
      .option('--annotation <annotation>', 'index:KEY=VALUE: an annotation of the new index (repeatable)', collect, [])
      .option('--progress <mode>', 'progress output (plain here)')
      .option('--builder <name>', 'the buildx builder: default or one buildx create made'),
  ).action(
    dockerWords(
      io,
      async (sources: string[], options: { tag: string[]; dryRun?: boolean; append?: boolean; annotation: string[]; insecureRegistry: string[]; builder?: string }) => {
        await checkNamedBuilder(io, options.builder, {});
        await imagetoolsCreate(io, sources, options);
      },
      'ERROR: ',
    ),
  );
}
