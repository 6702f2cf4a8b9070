/**
 * The OCI image model shared by every stage: media types, descriptors, manifests, indexes and
 * configs, after the image-spec (v1.1) and Docker's image manifest v2 schema 2.
 */
import { parseBoundedJson } from './bounded-json.js';
import { TsbuildError, messageOf } from './errors.js';

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;
export type MediaTypeName = (typeof MediaType)[keyof typeof MediaType];

export const manifestMediaTypes: ReadonlySet<string> = new Set([MediaType.ociManifest, MediaType.dockerManifest]);
export const indexMediaTypes: ReadonlySet<string> = new Set([MediaType.ociIndex, MediaType.dockerManifestList]);
export const layerMediaTypes: ReadonlySet<string> = new Set([
  MediaType.ociLayer,
  MediaType.ociLayerGzip,
  MediaType.ociLayerZstd,
  MediaType.dockerLayerGzip,
  MediaType.dockerLayerForeignGzip,
]);

/** Layers stored as plain tars: their digest is their diff ID. */
export const uncompressedLayerMediaTypes: ReadonlySet<string> = new Set([MediaType.ociLayer, MediaType.dockerLayer]);

/** `sha256:` + 64 lowercase hex, or `sha512:` + 128. */
export type Digest = string & { readonly __digest: unique symbol };

const digestLengths: Readonly<Record<string, number>> = { sha256: 64, sha512: 128 };

/**
 * Validates a digest string before it touches a path or a URL: a known algorithm and exactly
 * the right number of lowercase hex characters, nothing else.
 */
export function parseDigest(value: string): Digest {
  const colon = value.indexOf(':');
  const algorithm = colon < 0 ? '' : value.slice(0, colon);
  const encoded = colon < 0 ? '' : value.slice(colon + 1);
  const length = digestLengths[algorithm];
  if (length === undefined || encoded.length !== length || !/^[0-9a-f]+$/.test(encoded)) {
    throw new TsbuildError('INVALID_DIGEST', `parse digest: invalid digest ${JSON.stringify(value.slice(0, 140))}`);
  }
  return value as Digest;
}

export function isDigest(value: string): value is Digest {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

export function digestAlgorithm(digest: Digest): string {
  return digest.slice(0, digest.indexOf(':'));
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
  readonly variant?: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly urls?: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Platform;
  readonly artifactType?: string;
}

export interface Manifest {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface Index {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface HealthConfig {
  readonly Test?: readonly string[];
  readonly Interval?: number;
  readonly Timeout?: number;
  readonly StartPeriod?: number;
  readonly StartInterval?: number;
  readonly Retries?: number;
}

/** The `config` object of an image config; Docker's field names (capitalised) as the spec keeps them. */
export interface ContainerConfig {
  readonly User?: string;
  readonly ExposedPorts?: Readonly<Record<string, Record<string, never>>>;
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[] | null;
  readonly Cmd?: readonly string[] | null;
  readonly Volumes?: Readonly<Record<string, Record<string, never>>>;
  readonly WorkingDir?: string;
  readonly Labels?: Readonly<Record<string, string>>;
  readonly StopSignal?: string;
  readonly ArgsEscaped?: boolean;
  readonly Healthcheck?: HealthConfig;
  readonly OnBuild?: readonly string[] | null;
  readonly Shell?: readonly string[];
}

export interface History {
  readonly created?: string;
  readonly created_by?: string;
  readonly author?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
}

export interface ImageConfig {
  readonly created?: string;
  readonly author?: string;
  /** docker's: the message of `commit -m` or `import`. */
  readonly comment?: string;
  readonly architecture: string;
  readonly os: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
  readonly variant?: string;
  readonly config?: ContainerConfig;
  readonly rootfs: { readonly type: 'layers'; readonly diff_ids: readonly Digest[] };
  readonly history?: readonly History[];
}

export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && indexMediaTypes.has(mediaType);
}

export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && manifestMediaTypes.has(mediaType);
}

/** The annotation naming a manifest in an OCI layout's index.json (skopeo's and umoci's "tag"). */
export const refNameAnnotation = 'org.opencontainers.image.ref.name';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(what: string, cause: string): never {
  throw new TsbuildError('INVALID_MEDIA_TYPE', `parse ${what}: ${cause}`);
}

/** Checks the shape of a descriptor found inside a manifest or index; its digest is validated. */
export function parseDescriptor(value: unknown, what = 'descriptor'): Descriptor {
  if (!isRecord(value)) invalid(what, 'not an object');
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/.test(mediaType)) invalid(what, 'invalid mediaType');
  if (typeof digest !== 'string') invalid(what, 'missing digest');
  parseDigest(digest);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) invalid(what, 'invalid size');
  if (value.platform !== undefined) {
    if (!isRecord(value.platform)) invalid(what, 'platform is not an object');
    checkPlatformFields(value.platform, what, 'platform.');
  }
  return value as unknown as Descriptor;
}

/**
 * The platform fields of RECORD (an index entry's platform, or an image config) have the types
 * the image spec gives them: whoever matches or prints a platform reads them as strings.
 */
function checkPlatformFields(record: Record<string, unknown>, what: string, prefix: string): void {
  if (typeof record.architecture !== 'string' || typeof record.os !== 'string') invalid(what, `missing ${prefix}architecture or ${prefix}os`);
  for (const key of ['variant', 'os.version']) {
    if (record[key] !== undefined && typeof record[key] !== 'string') invalid(what, `${prefix}${key} is not a string`);
  }
  const features = record['os.features'];
  if (features !== undefined && !(Array.isArray(features) && features.every((feature) => typeof feature === 'string'))) invalid(what, `${prefix}os.features is not an array of strings`);
}

function parseJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseBoundedJson(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new TsbuildError('INVALID_MEDIA_TYPE', `parse ${what}: ${messageOf(error)}`);
  }
  if (!isRecord(value)) invalid(what, 'not a JSON object');
  return value;
}

/**
 * A document's schema version, and the media type it was found under against the one it gives
 * itself: both of its kind, and the same when both are given. Returns its own media type.
 */
function checkMediaTypes(value: Record<string, unknown>, mediaType: string | undefined, what: 'manifest' | 'index', isKind: (type: string) => boolean): string | undefined {
  if (mediaType !== undefined && !isKind(mediaType)) invalid(what, `media type ${mediaType} is not ${what === 'index' ? 'an index' : 'a manifest'}`);
  if (value.schemaVersion !== 2) invalid(what, 'schemaVersion is not 2');
  const own = value.mediaType;
  if (own === undefined) return undefined;
  if (typeof own !== 'string' || !isKind(own)) invalid(what, `content has media type ${String(own)}`);
  if (mediaType !== undefined && own !== mediaType) invalid(what, `content has media type ${own}, descriptor says ${mediaType}`);
  return own;
}

/**
 * Parses a manifest and checks that its content agrees with the media type it was found under
 * (a descriptor's or a registry's Content-Type): an index is never taken for a manifest.
 */
export function parseManifest(bytes: Uint8Array, mediaType?: string): Manifest {
  const value = parseJsonObject(bytes, 'manifest');
  const own = checkMediaTypes(value, mediaType, 'manifest', isManifestMediaType);
  if (own === undefined && mediaType === MediaType.dockerManifest) invalid('manifest', 'docker manifest without mediaType');
  if ('manifests' in value) invalid('manifest', 'content is an index');
  const config = parseDescriptor(value.config, 'manifest config');
  if (!Array.isArray(value.layers)) invalid('manifest', 'layers is not an array');
  value.layers.forEach((layer) => parseDescriptor(layer, 'manifest layer'));
  if (value.subject !== undefined) parseDescriptor(value.subject, 'manifest subject');
  const effective = own ?? mediaType ?? MediaType.ociManifest;
  if (effective === MediaType.dockerManifest && config.mediaType !== MediaType.dockerConfig) invalid('manifest', `docker manifest with config media type ${config.mediaType}`);
  return value as unknown as Manifest;
}

/** Parses an index (or Docker manifest list), checking it against its media type as for manifests. */
export function parseIndex(bytes: Uint8Array, mediaType?: string): Index {
  const value = parseJsonObject(bytes, 'index');
  checkMediaTypes(value, mediaType, 'index', isIndexMediaType);
  if ('config' in value || 'layers' in value) invalid('index', 'content is a manifest');
  if (!Array.isArray(value.manifests)) invalid('index', 'manifests is not an array');
  value.manifests.forEach((entry) => parseDescriptor(entry, 'index entry'));
  return value as unknown as Index;
}

/** The largest image config tsbuild reads (a store's, a loaded archive's, a named context's), and so the largest it writes. */
/** The distribution spec's suggested limit for a manifest or index; larger documents are refused rather than buffered. */
export const maxManifestBytes = 4 * 1024 * 1024;

export const maxImageConfigBytes = 16 * 1024 * 1024;

/** Parses an image config: architecture, os and rootfs.diff_ids (each a valid digest) are required. */
export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  const value = parseJsonObject(bytes, 'image config');
  checkPlatformFields(value, 'image config', '');
  const rootfs = value.rootfs;
  if (!isRecord(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) invalid('image config', 'invalid rootfs');
  for (const diffId of rootfs.diff_ids) {
    if (typeof diffId !== 'string') invalid('image config', 'diff_id is not a string');
    parseDigest(diffId);
  }
  if (value.config !== undefined && value.config !== null) {
    if (!isRecord(value.config)) invalid('image config', 'config is not an object');
    checkContainerConfig(value.config);
  }
  for (const key of ['created', 'author', 'comment'] as const) checkOptional(value, key, isString, 'a string', '');
  if (value.history !== undefined && value.history !== null) {
    if (!Array.isArray(value.history)) invalid('image config', 'history is not an array');
    value.history.forEach((entry: unknown, index) => {
      if (!isRecord(entry)) invalid('image config', `history[${index}] is not an object`);
      for (const key of ['created', 'created_by', 'author', 'comment'] as const) checkOptional(entry, key, isString, 'a string', `history[${index}].`);
      checkOptional(entry, 'empty_layer', isBoolean, 'a boolean', `history[${index}].`);
    });
  }
  return value as unknown as ImageConfig;
}

const isString = (value: unknown): boolean => typeof value === 'string';
const isBoolean = (value: unknown): boolean => typeof value === 'boolean';
const isNumber = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value);
const isStringArray = (value: unknown): boolean => Array.isArray(value) && value.every(isString);
const isStringRecord = (value: unknown): boolean => isRecord(value) && Object.values(value).every(isString);
/** ExposedPorts and Volumes: keys that matter, each value Go's empty struct (or null). */
const isSetOfKeys = (value: unknown): boolean => isRecord(value) && Object.values(value).every((entry) => entry === null || isRecord(entry));

/** An optional field of RECORD has the type the image spec gives it; null is absent, as Go writes an empty slice or map. */
function checkOptional(record: Record<string, unknown>, key: string, isType: (value: unknown) => boolean, typeName: string, prefix: string): void {
  const value = record[key];
  if (value !== undefined && value !== null && !isType(value)) invalid('image config', `${prefix}${key} is not ${typeName}`);
}

/**
 * The fields of an image's `config` that run and build read, each of the type the image spec
 * (and Go's decoder in docker and BuildKit) gives it: a config that says otherwise is refused
 * when it is read, naming the field, instead of failing later wherever a reader meets it.
 */
function checkContainerConfig(config: Record<string, unknown>): void {
  for (const key of ['User', 'WorkingDir', 'StopSignal']) checkOptional(config, key, isString, 'a string', 'config.');
  for (const key of ['Env', 'Entrypoint', 'Cmd', 'OnBuild', 'Shell']) checkOptional(config, key, isStringArray, 'an array of strings', 'config.');
  for (const key of ['ExposedPorts', 'Volumes']) checkOptional(config, key, isSetOfKeys, 'an object of objects', 'config.');
  checkOptional(config, 'Labels', isStringRecord, 'an object of strings', 'config.');
  checkOptional(config, 'ArgsEscaped', isBoolean, 'a boolean', 'config.');
  const health = config.Healthcheck;
  if (health === undefined || health === null) return;
  if (!isRecord(health)) invalid('image config', 'config.Healthcheck is not an object');
  checkOptional(health, 'Test', isStringArray, 'an array of strings', 'config.Healthcheck.');
  for (const key of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries']) checkOptional(health, key, isNumber, 'a number', 'config.Healthcheck.');
}
