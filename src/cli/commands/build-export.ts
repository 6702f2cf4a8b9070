/**
 * What `tsbuild build` does with the image once it is built, beside the archives writeOutput
 * makes: `--annotation`, the `type=image` and `type=registry` outputs (naming in the store,
 * pushing, with their compression), and `--metadata-file` with BuildKit's keys.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { digestHex, formatReference, layerMediaTypes, messageOf, parseReference, TsbuildError, type Descriptor, type Digest } from '../../common/index.js';
import { outputImage, type OutputImage, type OutputSpec } from '../../exporter/index.js';
import type { StepHandle } from '../../executor/index.js';
import type { PushResult, RegistryClient } from '../../registry/index.js';
import type { Store } from '../../store/index.js';

const annotationTypes = ['manifest', 'manifest-descriptor', 'index', 'index-descriptor'];

/**
 * `--annotation` values as buildx reads them: `KEY=VALUE` (the manifest's), or with a type
 * prefix `manifest:`, `index:` (several, comma-separated; a `[platform]` after each). A
 * single-platform build writes one manifest and no index, so only manifest annotations apply.
 */
export function parseAnnotations(values: readonly string[]): Record<string, string> {
  const annotations: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new TsbuildError('INVALID_ARGUMENT', `build --annotation ${JSON.stringify(value)}: expected KEY=VALUE or TYPE:KEY=VALUE`);
    let key = value.slice(0, eq);
    const colon = key.indexOf(':');
    // A key may hold colons itself (`org.example:x=y` is no type): only a known type is a prefix.
    const prefix = colon < 0 ? undefined : key.slice(0, colon);
    const types = prefix?.split(',').map((type) => type.replace(/\[[^\]]*\]$/, '').trim());
    if (types !== undefined && types.every((type) => annotationTypes.includes(type))) {
      key = key.slice(colon + 1);
      const others = types.filter((type) => type !== 'manifest');
      if (others.length > 0) {
        throw new TsbuildError('INVALID_ARGUMENT', `build --annotation ${JSON.stringify(value)}: ${others.join(', ')} annotations are not supported: a single-platform build writes one manifest and no index (use manifest: or no prefix)`);
      }
    }
    if (key === '') throw new TsbuildError('INVALID_ARGUMENT', `build --annotation ${JSON.stringify(value)}: empty key`);
    annotations[key] = value.slice(eq + 1);
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
    readonly configDigest: Digest;
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
          'containerimage.config.digest': image.configDigest,
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
