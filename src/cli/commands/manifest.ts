/**
 * Reading an image's manifest from its registry without pulling it, as CI scripts do to ask
 * whether an image exists and what its digest is: docker's `manifest inspect` and buildx's
 * `imagetools inspect`, each in its own words and layout.
 */
import type { Command } from 'commander';
import pLimit from 'p-limit';
import { TsbuildError, goCompact, goIndent, goJson, goStruct, parseReference, formatReference, type Descriptor, type ImageReference } from '../../common/index.js';
import { fetchDocument, fetchSmallBlob, type FetchedDocument, type RegistryClient } from '../../registry/index.js';
import { ExitError, type CliIo } from '../io.js';
import { parseGoTemplate } from '../go-template.js';
import { addInsecureRegistryOption, registryClient } from './registry-options.js';

/** An image config is small; a larger blob named as one is refused rather than read. */
const configLimit = 8 * 1024 * 1024;

/** A platform as the OCI image spec's Go type holds it: a template reaches `.Architecture`, its JSON says `architecture`. */
interface GoPlatform {
  Architecture: string;
  OS: string;
  OSVersion?: string;
  OSFeatures?: string[];
  Variant?: string;
}

const platformTags = { Architecture: 'architecture', OS: 'os', OSVersion: 'os.version', OSFeatures: 'os.features', Variant: 'variant' };

/** An image manifest of a document, with its config, as docker's registry client reads both. */
interface ReadManifest {
  readonly reference: ImageReference;
  readonly document: Extract<FetchedDocument, { kind: 'manifest' }>;
  readonly config: Buffer;
}

/** The platform of an image config or an index entry, as Go's json.Unmarshal into ocispec.Platform takes it. */
function platformOf(value: unknown): GoPlatform {
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
  );
}

function isNotFound(error: unknown): boolean {
  const status = (error as { status?: unknown }).status;
  return status === 404 || status === 401 || status === 403;
}

/** The document REFERENCE names; one the registry does not have is MISSING's words on stderr and status 1. */
async function fetchOrSay(io: CliIo, client: RegistryClient, reference: ImageReference, missing: string): Promise<FetchedDocument> {
  try {
    return await fetchDocument(client, reference);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    io.stderr.write(missing);
    throw new ExitError(1);
  }
}

async function readManifest(client: RegistryClient, reference: ImageReference, document: FetchedDocument): Promise<ReadManifest> {
  if (document.kind !== 'manifest') throw new TsbuildError('REGISTRY', `${formatReference(reference)}: unsupported manifest type: a nested index`);
  const config = await fetchSmallBlob(client, reference, document.manifest.config, configLimit);
  return { reference, document, config };
}

/** The manifests an index names, each with its config, in its order (a few requests at a time). */
async function readIndexEntries(client: RegistryClient, reference: ImageReference, entries: readonly Descriptor[]): Promise<ReadManifest[]> {
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

/** docker's types.ImageManifest, as `manifest inspect -v` marshals it. */
function verboseManifest(read: ReadManifest, platform: GoPlatform): string {
  const { descriptor, bytes } = read.document;
  const schema2 = descriptor.mediaType === 'application/vnd.docker.distribution.manifest.v2+json';
  const head = goJson({
    Ref: formatReference(read.reference),
    Descriptor: { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size, platform },
    Raw: bytes.toString('base64'),
  });
  return `${head.slice(0, -1)},${goJson(schema2 ? 'SchemaV2Manifest' : 'OCIManifest')}:${goCompact(bytes.toString('utf8'))}}`;
}

async function manifestInspect(io: CliIo, image: string, options: { insecure?: boolean; verbose?: boolean }): Promise<void> {
  const reference = parseReference(image);
  const client = registryClient({ insecureRegistry: options.insecure === true ? [reference.domain] : [] });
  try {
    const document = await fetchOrSay(io, client, reference, `no such manifest: ${formatReference(reference)}\n`);
    if (document.kind === 'manifest') {
      const read = await readManifest(client, reference, document);
      const text = options.verbose === true ? goIndent(verboseManifest(read, platformOf(JSON.parse(read.config.toString('utf8')))), '', '\t') : goIndent(document.bytes.toString('utf8'), '', '\t');
      io.stdout.write(`${text}\n`);
      return;
    }
    const entries = document.index.manifests;
    const children = await readIndexEntries(client, reference, entries);
    if (options.verbose === true) {
      const list = children.map((child, index) => verboseManifest(child, platformOf(entries[index]?.platform)));
      io.stdout.write(`${goIndent(`[${list.join(',')}]`, '', '\t')}\n`);
      return;
    }
    // docker assembles a list of its own from the manifests it read: an OCI index when the
    // first is an OCI manifest, else a Docker manifest list; the index's annotations are not in it.
    const firstIsOci = children[0]?.document.descriptor.mediaType === 'application/vnd.oci.image.manifest.v1+json';
    const list = {
      schemaVersion: 2,
      mediaType: firstIsOci ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.docker.distribution.manifest.list.v2+json',
      manifests: children.map((child, index) => {
        const { descriptor } = child.document;
        return { mediaType: descriptor.mediaType, size: descriptor.size, digest: descriptor.digest, platform: platformOf(entries[index]?.platform) };
      }),
    };
    io.stdout.write(`${goIndent(goJson(list), '', '   ')}\n`);
  } finally {
    await client.close();
  }
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
      Platform: source['platform'] === undefined ? undefined : platformOf(source['platform']),
      ArtifactType: unlessEmpty(source['artifactType']),
    },
    descriptorTags,
  );
}

/** An image config as the OCI spec's Go type (ocispec.Image) holds it: docker's own fields left out. */
function ociImage(config: Buffer): unknown {
  const source = JSON.parse(config.toString('utf8')) as Record<string, unknown>;
  const inner = (source['config'] ?? {}) as Record<string, unknown>;
  const rootfs = (source['rootfs'] ?? {}) as Record<string, unknown>;
  const history = Array.isArray(source['history']) ? (source['history'] as Record<string, unknown>[]) : [];
  const imageConfig = {
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
  };
  return goStruct(
    {
      Created: unlessEmpty(source['created']),
      Author: unlessEmpty(source['author']),
      // ocispec.Image embeds its Platform: its fields are the image's own, in its JSON too.
      ...platformOf(source),
      Config: imageConfig,
      RootFS: goStruct({ Type: typeof rootfs['type'] === 'string' ? rootfs['type'] : '', DiffIDs: Array.isArray(rootfs['diff_ids']) ? rootfs['diff_ids'] : null }, { Type: 'type', DiffIDs: 'diff_ids' }),
      History:
        history.length === 0
          ? undefined
          : history.map((entry) =>
              goStruct(
                { Created: unlessEmpty(entry['created']), CreatedBy: unlessEmpty(entry['created_by']), Author: unlessEmpty(entry['author']), Comment: unlessEmpty(entry['comment']), EmptyLayer: unlessEmpty(entry['empty_layer']) },
                { Created: 'created', CreatedBy: 'created_by', Author: 'author', Comment: 'comment', EmptyLayer: 'empty_layer' },
              ),
            ),
    },
    { Created: 'created', Author: 'author', ...platformTags, Config: 'config', RootFS: 'rootfs', History: 'history' },
  );
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
      manifest = goStruct({ MediaType: descriptor.mediaType, Digest: descriptor.digest, Size: descriptor.size }, descriptorTags);
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
      );
      // Each platform's config, keyed as buildx keys them; manifests of no platform (attestations) are not images.
      const withPlatform = index.manifests.filter((entry) => entry.platform !== undefined && entry.platform.os !== 'unknown');
      const read = await readIndexEntries(client, reference, withPlatform);
      const byPlatform = new Map<string, unknown>();
      read.forEach((child, position) => byPlatform.set(formatOciPlatform((withPlatform[position]?.platform ?? {}) as Record<string, unknown>), ociImage(child.config)));
      images = byPlatform.size === 1 ? [...byPlatform.values()][0] : byPlatform;
    }
    const data = goStruct({ Name: image, Manifest: manifest, Image: images }, { Name: 'name', Manifest: 'manifest', Image: 'image' });
    io.stdout.write(template.execute(data));
  } finally {
    await client.close();
  }
}

export function registerManifest(program: Command, io: CliIo): void {
  const manifest = program.command('manifest').description("read images' manifests from their registries (docker manifest)");
  manifest
    .command('inspect')
    .description('display an image manifest, or manifest list, from its registry')
    .argument('<image>', 'image reference, e.g. registry:5000/app:1')
    .option('--insecure', 'allow communication with an insecure registry')
    .option('-v, --verbose', 'output additional info including layers and platform')
    .action(async (image: string, options: { insecure?: boolean; verbose?: boolean }) => manifestInspect(io, image, options));
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
      .option('--format <template>', 'format the output with a Go template ({{json .Manifest}}, {{json .Image}}, {{.Name}})'),
  ).action(async (image: string, options: { raw?: boolean; format?: string; insecureRegistry: string[] }) => imagetoolsInspect(io, image, options));
}
