/**
 * `docker run`'s mount flags read into mount requests: `-v` (`--volume`), `--mount` and
 * `--tmpfs`, with the docker CLI's and daemon's rules and words. Pure: nothing here looks at the
 * host (a bind's source is checked when the container is prepared).
 */
import { posix } from 'node:path';
import { TsbuildError } from '../../common/index.js';
import { isValidVolumeName } from './volume-store.js';

export type Propagation = 'private' | 'rprivate' | 'shared' | 'rshared' | 'slave' | 'rslave';

/** A named volume (made when missing), or an anonymous one (no name). */
export interface VolumeMountRequest {
  readonly kind: 'volume';
  readonly name?: string;
  readonly target: string;
  readonly readonly: boolean;
  /** Not filled from the image's content (`nocopy`, `volume-nocopy`). */
  readonly noCopy: boolean;
  /**
   * Given with `--mount` (docker's HostConfig.Mounts): `--volume-driver` does not apply to it,
   * and an anonymous one is not among Config.Volumes.
   */
  readonly mountFlag?: true;
}

export interface BindMountRequest {
  readonly kind: 'bind';
  /** Absolute, on the host. */
  readonly source: string;
  readonly target: string;
  readonly readonly: boolean;
  /** `-v` makes a missing source directory, as docker; `--mount` refuses one. */
  readonly createSource: boolean;
  readonly propagation?: Propagation;
  /** Mounts under the source go along (`rbind`), unless `bind-nonrecursive`. */
  readonly recursive: boolean;
}

export interface TmpfsMountRequest {
  readonly kind: 'tmpfs';
  readonly target: string;
  readonly readonly: boolean;
  /** Mount options after docker's defaults (`size=…`, `mode=…`, `exec`, …). */
  readonly options: readonly string[];
}

export type MountRequest = VolumeMountRequest | BindMountRequest | TmpfsMountRequest;

const propagations: ReadonlySet<string> = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);
/** Accepted and meaningless here: SELinux labels and macOS consistency. */
const ignoredModes: ReadonlySet<string> = new Set(['z', 'Z', 'consistent', 'cached', 'delegated']);

function volumeSpecError(spec: string, detail?: string): TsbuildError {
  return new TsbuildError('INVALID_ARGUMENT', `invalid volume specification: '${spec}'${detail === undefined ? '' : `: ${detail}`}`);
}

/** A target as docker takes it: absolute, cleaned, never `/`. */
function cleanTarget(target: string, type: string, fail: (detail: string) => TsbuildError): string {
  if (!target.startsWith('/')) throw fail(`invalid mount config for type "${type}": invalid mount path: '${target}' mount path must be absolute`);
  const clean = posix.normalize(target).replace(/(.)\/+$/, '$1');
  if (clean === '/') throw fail(`invalid mount config for type "${type}": invalid specification: destination can't be '/'`);
  return clean;
}

/** A host path from the command line: absolute, or relative to the working directory (docker 23+). */
function hostPath(source: string, cwd: string): string {
  return posix.normalize(source.startsWith('/') ? source : posix.join(cwd, source)).replace(/(.)\/+$/, '$1');
}

/**
 * `-v [SOURCE:]TARGET[:MODES]`: SOURCE absolute (or starting with `.`) is a host directory,
 * otherwise a volume's name; no SOURCE, an anonymous volume. MODES: `ro`, `rw`, `nocopy`, a
 * propagation, and SELinux's `z`/`Z` (ignored), comma-separated.
 */
export function parseVolumeFlag(spec: string, cwd: string = process.cwd()): MountRequest {
  const parts = spec.split(':');
  // docker's client: `invalid spec: :/x: empty section between colons`.
  if (parts.some((part) => part === '')) throw new TsbuildError('INVALID_ARGUMENT', `invalid spec: ${spec}: empty section between colons`);
  if (parts.length > 3) throw volumeSpecError(spec);
  let source: string | undefined;
  let target: string;
  let modes: string[] = [];
  if (parts.length === 1) target = parts[0] ?? '';
  else {
    source = parts[0];
    target = parts[1] ?? '';
    if (parts.length === 3) modes = (parts[2] ?? '').split(',');
  }
  let readonly = false;
  let noCopy = false;
  let propagation: Propagation | undefined;
  for (const mode of modes) {
    if (mode === 'ro' || mode === 'rw') readonly = mode === 'ro';
    else if (mode === 'nocopy') noCopy = true;
    else if (propagations.has(mode)) propagation = mode as Propagation;
    else if (!ignoredModes.has(mode)) throw volumeSpecError(spec, `invalid mode: ${mode}`);
  }
  const isBind = source !== undefined && (source.startsWith('/') || source.startsWith('.'));
  const type = isBind ? 'bind' : 'volume';
  const clean = cleanTarget(target, type, (detail) => volumeSpecError(spec, detail));
  if (source === undefined || !isBind) {
    if (propagation !== undefined) throw volumeSpecError(spec, `invalid mode: ${propagation}`);
    if (source !== undefined && !isValidVolumeName(source)) {
      throw new TsbuildError(
        'INVALID_ARGUMENT',
        `create ${source}: "${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      );
    }
    return { kind: 'volume', ...(source === undefined ? {} : { name: source }), target: clean, readonly, noCopy };
  }
  if (noCopy) throw volumeSpecError(spec, 'invalid mode: nocopy');
  return { kind: 'bind', source: hostPath(source, cwd), target: clean, readonly, createSource: true, ...(propagation === undefined ? {} : { propagation }), recursive: true };
}

function parseBoolean(key: string, value: string | undefined, field: string): boolean {
  if (value === undefined) return true;
  const lower = value.toLowerCase();
  if (lower === 'true' || lower === '1') return true;
  if (lower === 'false' || lower === '0') return false;
  throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${field}" for "--mount" flag: invalid value for ${key}: ${value}`);
}

/** docker's RAMInBytes: a number with an optional b, k, m, g, t, p (binary) suffix. */
function parseSize(text: string, field: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([bkmgtp]?)i?b?$/i.exec(text);
  if (match === null) throw new TsbuildError('INVALID_ARGUMENT', `invalid argument "${field}" for "--mount" flag: invalid size: '${text}'`);
  const scale = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[(match[2] ?? '').toLowerCase() as '' | 'b' | 'k' | 'm' | 'g' | 't' | 'p'];
  return Math.trunc(Number(match[1]) * scale);
}

/** Splits a CSV field list as docker's CLI reads `--mount` (double quotes keep commas). */
function csvFields(text: string): string[] {
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  for (const char of text) {
    if (char === '"') quoted = !quoted;
    else if (char === ',' && !quoted) {
      fields.push(current);
      current = '';
    } else current += char;
  }
  fields.push(current);
  return fields;
}

/**
 * `--mount type=bind|volume|tmpfs,source=…,target=…,readonly,…` with docker's keys: `src`,
 * `destination`/`dst`, `ro`, `volume-nocopy`, `bind-propagation`, `bind-nonrecursive`,
 * `tmpfs-size`, `tmpfs-mode`; `volume-driver` is `local` only.
 */
export function parseMountFlag(text: string, cwd: string = process.cwd()): MountRequest {
  let type = 'volume';
  let source: string | undefined;
  let target: string | undefined;
  let readonly = false;
  let noCopy = false;
  let propagation: Propagation | undefined;
  let recursive = true;
  let tmpfsSize: number | undefined;
  let tmpfsMode: number | undefined;
  const invalid = (detail: string): TsbuildError => new TsbuildError('INVALID_ARGUMENT', `invalid argument "${text}" for "--mount" flag: ${detail}`);
  for (const field of csvFields(text)) {
    const equals = field.indexOf('=');
    const key = (equals < 0 ? field : field.slice(0, equals)).trim().toLowerCase();
    const value = equals < 0 ? undefined : field.slice(equals + 1);
    const required = (): string => {
      if (value === undefined) throw invalid(`invalid field '${field}' must be a key=value pair`);
      return value;
    };
    switch (key) {
      case 'type':
        type = required().toLowerCase();
        break;
      case 'source':
      case 'src':
        source = required();
        break;
      case 'target':
      case 'dst':
      case 'destination':
        target = required();
        break;
      case 'readonly':
      case 'ro':
        readonly = parseBoolean(key, value, text);
        break;
      case 'volume-nocopy':
        noCopy = parseBoolean(key, value, text);
        break;
      case 'bind-propagation': {
        const mode = required();
        if (!propagations.has(mode)) throw invalid(`invalid value for ${key}: ${mode}`);
        propagation = mode as Propagation;
        break;
      }
      case 'bind-nonrecursive':
        recursive = !parseBoolean(key, value, text);
        break;
      case 'tmpfs-size':
        tmpfsSize = parseSize(required(), text);
        break;
      case 'tmpfs-mode': {
        const mode = Number.parseInt(required(), 8);
        if (!/^[0-7]{1,4}$/.test(value ?? '')) throw invalid(`invalid value for ${key}: ${value ?? ''}`);
        tmpfsMode = mode;
        break;
      }
      case 'volume-driver':
        if (required() !== 'local') throw invalid(`volume driver ${value ?? ''} is not supported (local only)`);
        break;
      case 'consistency':
        required();
        break;
      default:
        if (value === undefined) throw invalid(`invalid field '${field}' must be a key=value pair`);
        throw invalid(`unexpected key '${key}' in '${field}'`);
    }
  }
  const config = (detail: string): TsbuildError => new TsbuildError('INVALID_ARGUMENT', `invalid mount config for type "${type}": ${detail}`);
  if (target === undefined || target === '') throw invalid('target is required');
  const clean = cleanTarget(target, type, (detail) => new TsbuildError('INVALID_ARGUMENT', detail));
  if (type !== 'bind' && (propagation !== undefined || !recursive)) throw config('field BindOptions must not be specified');
  if (type !== 'volume' && noCopy) throw config('field VolumeOptions must not be specified');
  if (type !== 'tmpfs' && (tmpfsSize !== undefined || tmpfsMode !== undefined)) throw config('field TmpfsOptions must not be specified');
  switch (type) {
    case 'bind':
      if (source === undefined || source === '') throw config('field Source must not be empty');
      return { kind: 'bind', source: hostPath(source, cwd), target: clean, readonly, createSource: false, ...(propagation === undefined ? {} : { propagation }), recursive };
    case 'volume':
      if (source !== undefined && source !== '' && !isValidVolumeName(source)) {
        throw config(`invalid volume name '${source}': only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed, and it is never a path`);
      }
      return { kind: 'volume', ...(source === undefined || source === '' ? {} : { name: source }), target: clean, readonly, noCopy, mountFlag: true };
    case 'tmpfs':
      if (source !== undefined && source !== '') throw config('field Source must not be specified');
      return {
        kind: 'tmpfs',
        target: clean,
        readonly,
        options: [...(tmpfsSize === undefined ? [] : [`size=${tmpfsSize}`]), ...(tmpfsMode === undefined ? [] : [`mode=${tmpfsMode.toString(8)}`])],
      };
    default:
      // docker's daemon's words for a type it cannot mount.
      throw config('mount type unknown');
  }
}

/** `--tmpfs TARGET[:OPTIONS]`: OPTIONS are mount(8)'s for tmpfs (`size=64m,mode=1777,exec`). */
export function parseTmpfsFlag(text: string): TmpfsMountRequest {
  const colon = text.indexOf(':');
  const target = colon < 0 ? text : text.slice(0, colon);
  const options = colon < 0 ? [] : text.slice(colon + 1).split(',').filter((option) => option !== '');
  const clean = cleanTarget(target, 'tmpfs', (detail) => new TsbuildError('INVALID_ARGUMENT', `invalid tmpfs specification: '${text}': ${detail}`));
  const readonly = options.includes('ro');
  return { kind: 'tmpfs', target: clean, readonly, options: options.filter((option) => option !== 'ro' && option !== 'rw') };
}
