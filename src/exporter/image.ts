import { Readable } from 'node:stream';
import { goJson, maxImageConfigBytes, MediaType, TsbuildError, type ContainerConfig, type Descriptor, type Digest, type History, type ImageConfig, type Manifest, type Platform } from '../common/index.js';
import type { ContentStore } from '../store/index.js';
import type { WrittenLayer } from './layer.js';

export interface ImageSpec {
  readonly layers: readonly WrittenLayer[];
  readonly platform: Platform;
  readonly config?: ContainerConfig;
  /** RFC 3339; omitted when undefined. */
  readonly created?: string;
  readonly history?: readonly History[];
  readonly annotations?: Readonly<Record<string, string>>;
  /** The config's `author` (docker commit's `-a`); omitted when undefined. */
  readonly author?: string;
  /** The config's `comment` (docker import's message; commit's is its history entry's only); omitted when undefined. */
  readonly comment?: string;
}

export interface WrittenImage {
  readonly descriptor: Descriptor;
  readonly manifest: Manifest;
  readonly config: ImageConfig;
  readonly configDescriptor: Descriptor;
}

/** JSON with a trailing newline-free, fixed key order (as built), so equal manifests give equal digests. */
function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/**
 * Go's encoding of a struct with `omitempty` fields: FIELDS in their order, each left out when
 * null, empty or false. Members that are no field of the struct follow, as given: Go would drop
 * them, and an image's config is not tsbuild's to trim.
 */
function goStruct(value: object, fields: readonly string[], encode: (field: string, member: unknown) => unknown = (_field, member) => member): Record<string, unknown> {
  const members = new Map<string, unknown>(Object.entries(value));
  const empty = (member: unknown): boolean =>
    member === undefined || member === null || member === '' || member === false || member === 0 || (Array.isArray(member) && member.length === 0) || (member instanceof Map && member.size === 0);
  const struct: Record<string, unknown> = {};
  for (const field of fields) {
    const member = encode(field, members.get(field));
    if (!empty(member)) struct[field] = member;
  }
  for (const [key, member] of members) if (!fields.includes(key)) struct[key] = member;
  return struct;
}

const asMap = (value: unknown): unknown => (value !== null && typeof value === 'object' && !Array.isArray(value) ? new Map(Object.entries(value)) : value);

/** dockerspec.DockerOCIImageConfig: ocispec's ImageConfig, then docker's own fields. */
const containerConfigFields = ['User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal', 'ArgsEscaped', 'Healthcheck', 'OnBuild', 'Shell'];
/** Of these, the ones that are Go maps (their keys sorted). */
const containerConfigMaps = new Set(['ExposedPorts', 'Volumes', 'Labels']);
const historyFields = ['created', 'created_by', 'author', 'comment', 'empty_layer'];

/**
 * An image config's bytes as BuildKit's exporter writes them, with Go's encoding/json: the top
 * level a map (keys sorted), `config`, each `history` entry and `rootfs` structs in their Go
 * field order, the container config's Labels, ExposedPorts and Volumes maps, strings escaped as
 * Go escapes them. Every image config tsbuild writes (a build's, commit's, import's) goes
 * through here, so that the same config has the same digest, the same image ID, whoever wrote it.
 */
export function imageConfigBytes(config: ImageConfig): Buffer {
  const top = new Map<string, unknown>(Object.entries(config));
  if (config.config !== undefined) top.set('config', goStruct(config.config, containerConfigFields, (field, member) => (containerConfigMaps.has(field) ? asMap(member) : member)));
  if (config.history !== undefined) top.set('history', config.history.map((entry) => goStruct(entry, historyFields)));
  const { type, diff_ids: diffIds, ...rootfsRest } = config.rootfs;
  top.set('rootfs', { type, diff_ids: diffIds, ...rootfsRest });
  const bytes = Buffer.from(goJson(top), 'utf8');
  // A config the store would not read back would leave a named image that no command can use.
  if (bytes.length > maxImageConfigBytes) {
    throw new TsbuildError('INVALID_ARGUMENT', `image config of ${bytes.length} bytes: more than the ${maxImageConfigBytes} tsbuild reads back (it holds the ENV and LABEL values, and the build arguments of each RUN's history entry)`);
  }
  return bytes;
}

/** Writes config and manifest of an image made of already stored layers; names it when NAME is given. */
export async function writeImage(store: ContentStore, spec: ImageSpec, name?: string): Promise<WrittenImage> {
  const { platform } = spec;
  const config: ImageConfig = {
    ...(spec.created === undefined ? {} : { created: spec.created }),
    ...(spec.author === undefined ? {} : { author: spec.author }),
    ...(spec.comment === undefined ? {} : { comment: spec.comment }),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    config: spec.config ?? {},
    rootfs: { type: 'layers', diff_ids: spec.layers.map((layer) => layer.diffId) as Digest[] },
    ...(spec.history === undefined ? {} : { history: spec.history }),
  };
  const configBytes = imageConfigBytes(config);
  const configInfo = await store.putBlob(Readable.from([configBytes]));
  const configDescriptor: Descriptor = { mediaType: MediaType.ociConfig, digest: configInfo.digest, size: configInfo.size };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: configDescriptor,
    layers: spec.layers.map((layer) => layer.descriptor),
    ...(spec.annotations === undefined ? {} : { annotations: spec.annotations }),
  };
  const manifestInfo = await store.putBlob(Readable.from([canonicalBytes(manifest)]));
  const descriptor: Descriptor = { mediaType: MediaType.ociManifest, digest: manifestInfo.digest, size: manifestInfo.size };
  if (name !== undefined) await store.setReference(name, descriptor);
  return { descriptor, manifest, config, configDescriptor };
}
