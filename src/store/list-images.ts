/**
 * Listing the images of the store as `docker images` does: one summary per name and one per
 * image kept without a name (`<none>:<none>`, docker's dangling images), filtered by a name
 * pattern (Go's path.Match on `repository:tag`, then the repository) and by docker's `--filter`
 * terms.
 */
import { TsbuildError, familiarReference, parseReference, pathMatch, type Descriptor } from '../common/index.js';
import { findImage, imageContentSize, resolveImage } from './image.js';
import type { LayoutStore } from './layout-store.js';

export interface ImageSummary {
  /** The full name; '' for an image without one (dangling), listed as `<none>` `<none>`. */
  readonly name: string;
  readonly repository: string;
  readonly tag: string;
  readonly digest: string;
  readonly id: string;
  readonly created: string;
  /** Bytes stored: the config and the layers as they are (compressed). */
  readonly size: number;
  /** The layers' content, as docker 26 sizes an image (see layerContentSize). */
  readonly unpackedSize: number;
  readonly labels: Readonly<Record<string, string>>;
}

/** docker's word for a missing repository or tag. */
const none = '<none>';

export async function imageSummaries(store: LayoutStore): Promise<ImageSummary[]> {
  const entries: Array<{ readonly name: string; readonly target: Descriptor }> = [...(await store.listReferences()), ...(await store.listUnnamed()).map((target) => ({ name: '', target }))];
  const summaries: ImageSummary[] = [];
  for (const { name, target } of entries) {
    const reference = name === '' ? undefined : parseReference(name, { defaultTag: false });
    const repository = reference === undefined ? none : familiarReference({ domain: reference.domain, path: reference.path });
    let id = '';
    let created = '';
    let size = 0;
    let unpackedSize = 0;
    let labels: Readonly<Record<string, string>> = {};
    try {
      const image = await resolveImage(store, target);
      id = image.manifest.config.digest;
      created = image.config.created ?? '';
      size = image.manifest.config.size + image.manifest.layers.reduce((total, layer) => total + layer.size, 0);
      unpackedSize = await imageContentSize(store, image.manifest);
      labels = image.config.config?.Labels ?? {};
    } catch {
      // Listed anyway: `verify` says what is wrong with it.
    }
    summaries.push({ name, repository, tag: reference?.tag ?? none, digest: target.digest, id, created, size, unpackedSize, labels });
  }
  return summaries;
}

/** An image without a name: docker's dangling image. */
export function isDangling(summary: Pick<ImageSummary, 'name'>): boolean {
  return summary.name === '';
}

/**
 * Whether an image listed as REPOSITORY:TAG is the one a user named, as `docker images PATTERN`
 * decides: the pattern is matched against `repository:tag`, then against the repository alone.
 */
export function matchesImagePattern(summary: Pick<ImageSummary, 'repository' | 'tag'> & { readonly name?: string }, pattern: string): boolean {
  // As docker: a pattern matches names, and a dangling image has none.
  if (summary.name === '') return false;
  try {
    return pathMatch(pattern, `${summary.repository}:${summary.tag}`) || pathMatch(pattern, summary.repository);
  } catch (error) {
    throw new TsbuildError('INVALID_ARGUMENT', `list images: bad pattern ${JSON.stringify(pattern)}`, { cause: error });
  }
}

/**
 * docker's `images --filter` terms: reference=PATTERN (several are alternatives, as is the
 * positional pattern), label=KEY or label=KEY=VALUE, before=IMAGE and since=IMAGE (by creation
 * time), dangling=true|false (images without a name, or only those with one).
 * FIND names the image of before= and since= as every command does (store's findImage).
 */
/** An image as docker's daemon names one it did not find: a reference normalized (`x` is `x:latest`), else as given. */
function shownImage(image: string): string {
  try {
    return familiarReference(parseReference(image));
  } catch {
    return image;
  }
}

export async function imageFilter(
  terms: readonly string[],
  summaries: readonly ImageSummary[],
  find: (image: string) => Promise<{ readonly descriptor: { readonly digest: string } } | undefined>,
): Promise<(summary: ImageSummary) => boolean> {
  const references: string[] = [];
  const checks: Array<(summary: ImageSummary) => boolean> = [];
  const createdOf = async (image: string): Promise<number> => {
    const found = await find(image);
    const summary = found === undefined ? undefined : summaries.find((candidate) => candidate.digest === found.descriptor.digest);
    // docker's daemon's words, the reference as it normalizes it.
    if (summary === undefined) throw new TsbuildError('NOT_FOUND', `No such image: ${shownImage(image)}`);
    return Date.parse(summary.created);
  };
  for (const term of terms) {
    const equals = term.indexOf('=');
    const key = equals < 0 ? term : term.slice(0, equals);
    const value = equals < 0 ? '' : term.slice(equals + 1);
    // An empty value is a term, as docker's daemon takes it (`label=` names no image).
    if (equals < 0) throw new TsbuildError('INVALID_ARGUMENT', `bad format of filter (expected name=value): ${term}`);
    switch (key.toLowerCase()) {
      case 'reference':
        references.push(value);
        break;
      case 'label': {
        const split = value.indexOf('=');
        const name = split < 0 ? value : value.slice(0, split);
        checks.push((summary) => (split < 0 ? name in summary.labels : summary.labels[name] === value.slice(split + 1)));
        break;
      }
      case 'before': {
        const limit = await createdOf(value);
        checks.push((summary) => Date.parse(summary.created) < limit);
        break;
      }
      case 'since': {
        const limit = await createdOf(value);
        checks.push((summary) => Date.parse(summary.created) > limit);
        break;
      }
      case 'dangling':
        if (value !== 'true' && value !== 'false' && value !== '1' && value !== '0') throw new TsbuildError('INVALID_ARGUMENT', `invalid filter 'dangling=[${value}]'`);
        checks.push((summary) => isDangling(summary) === (value === 'true' || value === '1'));
        break;
      default:
        // docker's daemon's words; it takes reference, label, before, since and dangling.
        throw new TsbuildError('INVALID_ARGUMENT', `invalid filter '${key}'`);
    }
  }
  return (summary) => (references.length === 0 || references.some((pattern) => matchesImagePattern(summary, pattern))) && checks.every((check) => check(summary));
}

export interface ListImagesOptions {
  /** `docker images PATTERN`: `repository[:tag]` with shell-style wildcards. */
  readonly pattern?: string;
  /** `--filter` terms: reference=, label=, before=, since=, dangling=. */
  readonly filters?: readonly string[];
}

/** The images `docker images [PATTERN] [--filter …]` would list, in the store's order of names. */
export async function listImages(store: LayoutStore, options: ListImagesOptions = {}): Promise<ImageSummary[]> {
  const all = await imageSummaries(store);
  const filtered = await imageFilter(options.filters ?? [], all, (image) => findImage(store, image));
  const { pattern } = options;
  return all.filter((summary) => (pattern === undefined || matchesImagePattern(summary, pattern)) && filtered(summary));
}
