/**
 * What `tsbuild build` does with the image once it is built, beside the archives writeOutput
 * makes: `--annotation`, the `type=image` and `type=registry` outputs (naming in the store,
 * pushing, with their compression), and `--metadata-file` with BuildKit's keys.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { descriptorPlatform, digestHex, formatPlatform, formatReference, layerMediaTypes, MediaType, messageOf, parseReference, TsbuildError, type Descriptor, type Digest } from '../../common/index.js';
import { outputImage, type OutputImage, type OutputSpec } from '../../exporter/index.js';
import type { BuiltImage, StepHandle } from '../../executor/index.js';
import type { PushResult, RegistryClient } from '../../registry/index.js';
import type { Store } from '../../store/index.js';

const annotationTypes = ['manifest', 'manifest-descriptor', 'index', 'index-descriptor'];

/** `--annotation` values by where they go. */
export interface Annotations {
  /** Each image manifest's (no prefix, or `manifest:`). */
  readonly manifest: Record<string, string>;
  /** The index's, in a build of several platforms (`index:`). */
  readonly index: Record<string, string>;
  /** The index's descriptor of each manifest, in a build of several platforms (`manifest-descriptor:`). */
  readonly manifestDescriptor: Record<string, string>;
}

/**
 * `--annotation` values as buildx reads them: `KEY=VALUE` (the manifest's), or with a type
 * prefix `manifest:`, `index:`, `manifest-descriptor:` (several, comma-separated; a `[platform]`
 * after each). A single-platform build writes one manifest and no index, so only manifest
 * annotations apply to it; `index-descriptor:` (the descriptor an OCI layout's index.json would
 * give the index) is not written.
 */
export function parseAnnotations(values: readonly string[], multiPlatform = false): Annotations {
  const annotations: Annotations = { manifest: {}, index: {}, manifestDescriptor: {} };
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new TsbuildError('INVALID_ARGUMENT', `build --annotation ${JSON.stringify(value)}: expected KEY=VALUE or TYPE:KEY=VALUE`);
    let key = value.slice(0, eq);
    const colon = key.indexOf(':');
    // A key may hold colons itself (`org.example:x=y` is no type): only a known type is a prefix.
    const prefix = colon < 0 ? undefined : key.slice(0, colon);
    let types = ['manifest'];
    const given = prefix?.split(',').map((type) => type.replace(/\[[^\]]*\]$/, '').trim());
    if (given !== undefined && given.every((type) => annotationTypes.includes(type))) {
      key = key.slice(colon + 1);
      types = given;
      const unwritten = types.filter((type) => type === 'index-descriptor' || (!multiPlatform && type !== 'manifest'));
      if (unwritten.length > 0) {
        const why = multiPlatform ? 'the index of a build of several platforms is written without a descriptor of its own' : 'a single-platform build writes one manifest and no index (use manifest: or no prefix)';
        throw new TsbuildError('INVALID_ARGUMENT', `build --annotation ${JSON.stringify(value)}: ${unwritten.join(', ')} annotations are not supported: ${why}`);
      }
    }
    if (key === '') throw new TsbuildError('INVALID_ARGUMENT', `build --annotation ${JSON.stringify(value)}: empty key`);
    for (const type of types) {
      const target = type === 'index' ? annotations.index : type === 'manifest-descriptor' ? annotations.manifestDescriptor : annotations.manifest;
      target[key] = value.slice(eq + 1);
    }
  }
  return annotations;
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && ['true', '1'].includes(value.toLowerCase());
}

export interface ImageOutputDeps {
  readonly store: Store;
  readonly registry: () => Promise<RegistryClient>;
  /** A step of the build's progress, for each name pushed. */
  readonly step: (name: string) => StepHandle;
}

/**
 * Pushes NAME (DOCUMENT in its place when given) as a step of the build's progress, as buildx
 * shows a push of its default (docker) builder: a step `pushing NAME`, and in it a line per
 * layer, `pushing layer` and the first 12 digits of its digest, with the bytes sent.
 */
export async function pushInProgress(name: string, deps: Omit<ImageOutputDeps, 'step'>, step: StepHandle, document?: Descriptor): Promise<PushResult> {
  const { push } = await import('../../registry/index.js');
  step.start();
  try {
    const result = await push({
      source: name,
      ...(document === undefined ? {} : { document }),
      store: deps.store,
      client: await deps.registry(),
      onProgress: (event) => {
        if (event.kind !== 'blob' || !layerMediaTypes.has(event.mediaType)) return;
        const done = event.phase === 'exists' || event.phase === 'mounted' || event.phase === 'done';
        step.status(event.digest, `pushing layer ${digestHex(event.digest).slice(0, 12)}`, done, { current: event.current, total: event.total });
      },
    });
    step.done();
    return result;
  } catch (error) {
    step.fail(messageOf(error));
    throw error;
  }
}

/**
 * A `type=image` or `type=registry` output: the image (recompressed as the spec asks) named in
 * the store under `name=` (else the `-t` names), and pushed to each with `push=true` or
 * type=registry. Returns the descriptor it exported and the names it gave.
 */
export async function writeImageOutput(image: OutputImage, spec: OutputSpec, deps: ImageOutputDeps): Promise<{ descriptor: Descriptor; names: string[] }> {
  const exported = await outputImage(deps.store, image, spec);
  const given = spec.options.name;
  const names = (given === undefined ? image.names : given.split(',').map((name) => name.trim()).filter((name) => name !== '')).map((name) => formatReference(parseReference(name)));
  const pushing = spec.type === 'registry' || truthy(spec.options.push);
  if (pushing && names.length === 0) throw new TsbuildError('INVALID_ARGUMENT', `build --output type=${spec.type}: pushing needs a name (name= or -t)`);
  for (const name of names) await deps.store.setReference(name, exported.descriptor);
  if (pushing) for (const name of names) await pushInProgress(name, deps, deps.step(`pushing ${name}`));
  return { descriptor: exported.descriptor, names };
}

export interface BuildMetadata {
  /** The image an image-making output (image, registry, oci, docker, a push, or none given) reported; none for tar and local. */
  readonly image?: {
    /** None for a build of several platforms: its index has no config of its own. */
    readonly configDigest?: Digest;
    readonly descriptor: Descriptor;
    readonly names: readonly string[];
  };
  /** Each step's cache verdict by name (`cache miss: …`), under `tsbuild.cache.steps`. */
  readonly cacheVerdicts?: Readonly<Record<string, string>>;
}

/**
 * A build reference as buildx prints one (`builder/node/ref`): the ref 25 characters of base 36,
 * as BuildKit's identity.NewID makes them.
 */
export function buildReference(): string {
  const id = BigInt(`0x${randomBytes(17).toString('hex')}`).toString(36);
  return `tsbuild/local/${id.padStart(25, '0').slice(-25)}`;
}

/**
 * `--metadata-file`: the JSON buildx writes, keys in Go's map order (sorted), two-space indent,
 * no newline after it. `buildx.build.ref` names this build as builder/node/ref does. The image
 * keys are those BuildKit's image exporters report; the tar and local exporters report none.
 * `tsbuild.` keys are tsbuild's own.
 */
export async function writeMetadataFile(path: string, metadata: BuildMetadata): Promise<void> {
  const image = metadata.image;
  const descriptor = image?.descriptor;
  const document: Record<string, unknown> = {
    'buildx.build.ref': buildReference(),
    ...(image === undefined || descriptor === undefined
      ? {}
      : {
          ...(image.configDigest === undefined ? {} : { 'containerimage.config.digest': image.configDigest }),
          'containerimage.descriptor': { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size, ...(descriptor.annotations === undefined ? {} : { annotations: descriptor.annotations }) },
          'containerimage.digest': descriptor.digest,
          ...(image.names.length === 0 ? {} : { 'image.name': image.names.join(',') }),
        }),
    ...(metadata.cacheVerdicts === undefined || Object.keys(metadata.cacheVerdicts).length === 0 ? {} : { 'tsbuild.cache.steps': metadata.cacheVerdicts }),
  };
  try {
    await writeFile(path, JSON.stringify(document, null, 2));
  } catch (error) {
    throw new TsbuildError('INVALID_ARGUMENT', `build --metadata-file: write ${path}: ${messageOf(error)}`, { cause: error });
  }
}

/**
 * A build of several platforms, as one image: an OCI index of each platform's image (their
 * platforms as their configs say, in the order asked), named by every tag in the progress's
 * `exporting to image` step as BuildKit's image exporter names a manifest list. Its ID is the
 * index's digest (what buildx reports for one); each image's own layers stay its own.
 */
export async function storeManifestList(store: Store, images: readonly BuiltImage[], tags: readonly string[], tagsAsGiven: readonly string[], annotations: Pick<Annotations, 'index' | 'manifestDescriptor'>): Promise<BuildResult> {
  const first = images[0];
  if (first === undefined) throw new TsbuildError('INTERNAL', 'a build of several platforms made no image');
  const step = first.step('exporting to image').start();
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: images.map((image) => ({
      ...image.manifest,
      ...(Object.keys(annotations.manifestDescriptor).length === 0 ? {} : { annotations: annotations.manifestDescriptor }),
      platform: descriptorPlatform(image.platform),
    })),
    ...(Object.keys(annotations.index).length === 0 ? {} : { annotations: annotations.index }),
  };
  const bytes = Buffer.from(JSON.stringify(index));
  const info = await store.putBlob(Readable.from([bytes]));
  const descriptor: Descriptor = { mediaType: MediaType.ociIndex, digest: info.digest, size: info.size };
  step.status('manifest-list', `exporting manifest list ${descriptor.digest}`, true);
  for (const [position, tag] of tags.entries()) {
    await store.setReference(tag, descriptor);
    const shown = tagsAsGiven[position] ?? tag;
    step.status(`name:${shown}`, `naming to ${shown}`, true);
  }
  step.done();
  return {
    id: descriptor.digest,
    descriptor,
    images,
    step: (name) => first.step(name),
    sourceDateEpoch: first.sourceDateEpoch,
    // BuildKit's platform-split: each platform's root filesystem under linux_amd64/ and the like.
    rootfs: async () => new Map(await Promise.all(images.map(async (image) => [formatPlatform(image.platform).replaceAll('/', '_'), await image.rootfs()] as const))),
  };
}

/** What a build made, of one platform or several: what its outputs, pushes and reports take. */
export interface BuildResult {
  /** The image ID: the config's digest, or an index's own. */
  readonly id: Digest;
  /** The manifest, or the index of a build of several platforms. */
  readonly descriptor: Descriptor;
  /** Each platform's image (one when one was asked for). */
  readonly images: readonly BuiltImage[];
  step(name: string): StepHandle;
  readonly sourceDateEpoch: number | undefined;
  /** The root filesystem, or each platform's by its directory in a split output. */
  rootfs(): Promise<string | ReadonlyMap<string, string>>;
}

/** A build of one platform as a BuildResult. */
export function singleResult(image: BuiltImage): BuildResult {
  return {
    id: image.id,
    descriptor: image.manifest,
    images: [image],
    step: (name) => image.step(name),
    sourceDateEpoch: image.sourceDateEpoch,
    rootfs: () => image.rootfs(),
  };
}
