/**
 * `--cache-to` and `--cache-from` as docker buildx writes them: `type=T,key=value,…`. A bare
 * value (no `type=`) is a registry reference, as buildx reads `--cache-from user/app:cache`.
 */
import { TsbuildError, formatReference, parseReference } from '../common/index.js';

export type CacheMode = 'min' | 'max';

export type CacheImport =
  | { readonly type: 'registry'; readonly ref: string }
  | { readonly type: 'local'; readonly src: string; readonly tag: string };

interface ExportCommon {
  readonly mode: CacheMode;
  /** A failed export is a warning, not a failed build. */
  readonly ignoreError: boolean;
  /** Asked-for layer compression; layers are exported as the store holds them (see README). */
  readonly compression?: 'gzip' | 'zstd' | 'uncompressed';
  /** Export the contents of every `RUN --mount=type=cache` id the build used (see README.md). */
  readonly cacheMounts: boolean;
}

export type CacheExport =
  | (ExportCommon & { readonly type: 'registry'; readonly ref: string })
  | (ExportCommon & { readonly type: 'local'; readonly dest: string; readonly tag: string })
  | (ExportCommon & { readonly type: 'inline' });

function fields(spec: string, flag: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of spec.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) {
      if (map.size === 0 && !spec.includes('=')) return new Map([['type', 'registry'], ['ref', part.trim()]]);
      throw new TsbuildError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)}: ${JSON.stringify(part)} is not key=value`);
    }
    map.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  return map;
}

function reference(value: string | undefined, flag: string, spec: string): string {
  if (value === undefined || value === '') throw new TsbuildError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)}: ref= is required`);
  return formatReference(parseReference(value));
}

function unknownKeys(map: Map<string, string>, allowed: readonly string[], flag: string, spec: string): void {
  for (const key of map.keys()) {
    if (!allowed.includes(key)) throw new TsbuildError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)}: unknown attribute ${JSON.stringify(key)}`);
  }
}

function bool(value: string | undefined, name: string, flag: string): boolean {
  if (value === undefined || value === '') return false;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new TsbuildError('INVALID_ARGUMENT', `${flag}: ${name}=${value}: use true or false`);
}

export function parseCacheFrom(spec: string): CacheImport {
  const flag = '--cache-from';
  const map = fields(spec, flag);
  const type = map.get('type') ?? 'registry';
  if (type === 'registry') {
    unknownKeys(map, ['type', 'ref'], flag, spec);
    return { type, ref: reference(map.get('ref'), flag, spec) };
  }
  if (type === 'local') {
    unknownKeys(map, ['type', 'src', 'tag', 'digest'], flag, spec);
    const src = map.get('src');
    if (src === undefined || src === '') throw new TsbuildError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)}: src= is required`);
    return { type, src, tag: map.get('tag') ?? 'latest' };
  }
  throw new TsbuildError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)}: unsupported type ${JSON.stringify(type)} (registry or local; an image with inline cache is type=registry)`);
}

export function parseCacheTo(spec: string): CacheExport {
  const flag = '--cache-to';
  const map = fields(spec, flag);
  const type = map.get('type') ?? 'registry';
  const mode = map.get('mode') ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw new TsbuildError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)}: mode=${mode}: use min or max`);
  const compression = map.get('compression');
  if (compression !== undefined && compression !== 'gzip' && compression !== 'zstd' && compression !== 'uncompressed') {
    throw new TsbuildError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)}: compression=${compression}: use gzip, zstd or uncompressed`);
  }
  const common: ExportCommon = {
    mode,
    ignoreError: bool(map.get('ignore-error'), 'ignore-error', flag),
    cacheMounts: bool(map.get('cache-mounts'), 'cache-mounts', flag),
    ...(compression === undefined ? {} : { compression }),
  };
  const shared = ['type', 'mode', 'ignore-error', 'compression', 'cache-mounts', 'oci-mediatypes', 'image-manifest', 'compression-level', 'force-compression'];
  if (type === 'registry') {
    unknownKeys(map, [...shared, 'ref'], flag, spec);
    return { type, ref: reference(map.get('ref'), flag, spec), ...common };
  }
  if (type === 'local') {
    unknownKeys(map, [...shared, 'dest', 'tag'], flag, spec);
    const dest = map.get('dest');
    if (dest === undefined || dest === '') throw new TsbuildError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)}: dest= is required`);
    return { type, dest, tag: map.get('tag') ?? 'latest', ...common };
  }
  if (type === 'inline') {
    unknownKeys(map, shared, flag, spec);
    if (mode === 'max') throw new TsbuildError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)}: the inline cache holds the image's own steps only (mode=min)`);
    if (common.cacheMounts) throw new TsbuildError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)}: the inline cache holds records only; cache mounts need type=registry or type=local`);
    return { type, ...common };
  }
  throw new TsbuildError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)}: unsupported type ${JSON.stringify(type)} (registry, local or inline)`);
}
