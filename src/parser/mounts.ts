/**
 * `RUN --mount=…` values. The parser reads them with the values taken literally; the planner
 * reads them again once every `key=value` value has been expanded with the step's variables,
 * and validates the result, as the reference implementation does when it builds the step.
 */
import { TsbuildError, suggest } from '../common/index.js';

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
export type CacheSharing = 'shared' | 'private' | 'locked';

export interface RunMount {
  readonly type: MountType;
  /** Stage name or image reference to mount from; `undefined` for the build context. */
  readonly from?: string;
  readonly source?: string;
  readonly target?: string;
  readonly readOnly: boolean;
  /** tmpfs size in bytes. */
  readonly sizeLimit?: number;
  readonly cacheId?: string;
  readonly sharing?: CacheSharing;
  /** secret and ssh: fail when the secret or agent is not provided. */
  readonly required: boolean;
  /** secret: the environment variable to expose the secret as. */
  readonly env?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/**
 * The id of a secret mount, as BuildKit takes it: `source`, else `id`, else the last name of
 * `target`; undefined when it has none of them (an error when the step runs).
 */
export function secretMountId(mount: RunMount): string | undefined {
  const id = mount.source !== undefined && mount.source !== '' ? mount.source : mount.cacheId;
  if (id !== undefined && id !== '') return id;
  if (mount.target === undefined || mount.target === '') return undefined;
  // Go's path.Base: trailing slashes dropped, `/` for a root.
  return mount.target.replace(/\/+$/, '').split('/').at(-1) || '/';
}

const mountTypes: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const sharingModes: readonly CacheSharing[] = ['shared', 'private', 'locked'];
const allKeys = [
  'type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'size', 'mode',
  'uid', 'gid', 'src', 'dst', 'destination', 'ro', 'rw', 'readwrite', 'env',
];

function invalid(cause: string): never {
  throw new TsbuildError('DOCKERFILE_PARSE', `parse mount: ${cause}`);
}

function withSuggestion(message: string, value: string, candidates: readonly string[]): string {
  const best = suggest(value, candidates);
  return best === undefined || best === value ? message : `${message} (did you mean ${best}?)`;
}

/** VALUE, case-insensitively, as one of KNOWN; anything else is refused with a suggestion. */
function oneOf<T extends string>(value: string, known: readonly T[], what: string): T {
  const lower = value.toLowerCase();
  return known.find((candidate) => candidate === lower) ?? invalid(withSuggestion(`unsupported ${what} ${JSON.stringify(value)}`, value, known));
}

/** One record of comma-separated values with `"` quoting (`""` is a quote inside quotes). */
export function splitCsvRecord(value: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (value[i] === '"') {
      i++;
      for (;;) {
        if (i >= value.length) invalid(`extraneous or missing " in quoted-field: ${JSON.stringify(value)}`);
        if (value[i] === '"') {
          if (value[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += value[i];
        i++;
      }
      if (i < value.length && value[i] !== ',') invalid(`extraneous or missing " in quoted-field: ${JSON.stringify(value)}`);
    } else {
      const end = value.indexOf(',', i);
      field = value.slice(i, end < 0 ? value.length : end);
      if (field.includes('"')) invalid(`bare " in non-quoted-field: ${JSON.stringify(value)}`);
      i = end < 0 ? value.length : end;
    }
    fields.push(field);
    if (i >= value.length) return fields;
    i++; // the comma
  }
}

const trueWords = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const falseWords = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

function parseBool(key: string, value: string): boolean {
  if (trueWords.has(value)) return true;
  if (falseWords.has(value)) return false;
  return invalid(`invalid value for ${key}: ${value}`);
}

function parseUint32(value: string, radix: 8 | 10): number | undefined {
  const digits = radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!digits.test(value)) return undefined;
  const n = parseInt(value, radix);
  return n <= 0xffffffff ? n : undefined;
}

/** Sizes such as `64m`, `1g`, `1.5GiB` in bytes, with binary multiples (docker `units.RAMInBytes`). */
export function parseRamSize(value: string): number | undefined {
  const match = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(value);
  if (match === null) return undefined;
  const size = parseFloat(match[1] ?? '');
  if (!Number.isFinite(size)) return undefined;
  const power = { k: 1, m: 2, g: 3, t: 4, p: 5 }[(match[2] ?? '').toLowerCase()] ?? 0;
  return Math.trunc(size * 1024 ** power);
}

/**
 * Parses one `--mount` value. With `expand`, every `key=value` value is expanded first and
 * the mount is validated; without it only `from` is read (the stage graph needs it before any
 * variable is known) and a `from` holding a variable is rejected.
 */
export function parseMount(value: string, expand?: (word: string) => string): RunMount {
  let type: MountType = 'bind';
  let from: string | undefined;
  let source: string | undefined;
  let target: string | undefined;
  let readOnly = false;
  let roAuto = true;
  let sizeLimit: number | undefined;
  let cacheId: string | undefined;
  let sharing: CacheSharing | undefined;
  let required = false;
  let env: string | undefined;
  let mode: number | undefined;
  let uid: number | undefined;
  let gid: number | undefined;

  for (const field of splitCsvRecord(value)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (expand === undefined) continue;
      if (key === 'readonly' || key === 'ro') {
        readOnly = true;
        roAuto = false;
      } else if (key === 'readwrite' || key === 'rw') {
        readOnly = false;
        roAuto = false;
      } else if (key === 'required') {
        if (type !== 'secret' && type !== 'ssh') invalid(`unexpected key '${key}' for mount type '${type}'`);
        required = true;
      } else {
        invalid(`invalid field '${field}' must be a key=value pair`);
      }
      continue;
    }
    let fieldValue = field.slice(eq + 1);
    if (expand !== undefined) {
      fieldValue = expand(fieldValue);
    } else if (key === 'from') {
      const dollar = fieldValue.indexOf('$');
      if (dollar !== -1 && dollar !== fieldValue.length - 1) {
        invalid(`'${key}' doesn't support variable expansion, define alias stage instead`);
      }
    } else {
      continue;
    }

    switch (key) {
      case 'type':
        type = oneOf(fieldValue, mountTypes, 'mount type');
        break;
      case 'from':
        from = fieldValue;
        break;
      case 'source':
      case 'src':
        source = fieldValue;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        target = fieldValue;
        break;
      case 'readonly':
      case 'ro':
        readOnly = parseBool(key, fieldValue);
        roAuto = false;
        break;
      case 'readwrite':
      case 'rw':
        readOnly = !parseBool(key, fieldValue);
        roAuto = false;
        break;
      case 'required':
        if (type !== 'secret' && type !== 'ssh') invalid(`unexpected key '${key}' for mount type '${type}'`);
        required = parseBool(key, fieldValue);
        break;
      case 'size':
        if (type !== 'tmpfs') invalid(`unexpected key '${key}' for mount type '${type}'`);
        sizeLimit = parseRamSize(fieldValue) ?? invalid(`invalid value for ${key}: ${fieldValue}`);
        break;
      case 'id':
        cacheId = fieldValue;
        break;
      case 'sharing':
        sharing = oneOf(fieldValue, sharingModes, 'sharing value');
        break;
      case 'mode':
        mode = parseUint32(fieldValue, 8) ?? invalid(`invalid value ${fieldValue} for mode`);
        break;
      case 'uid':
        uid = parseUint32(fieldValue, 10) ?? invalid(`invalid value ${fieldValue} for uid`);
        break;
      case 'gid':
        gid = parseUint32(fieldValue, 10) ?? invalid(`invalid value ${fieldValue} for gid`);
        break;
      case 'env':
        env = fieldValue;
        break;
      default:
        invalid(withSuggestion(`unexpected key '${key}' in '${field}'`, key, allKeys));
    }
  }

  if (expand !== undefined) {
    const fileInfoAllowed = type === 'secret' || type === 'ssh' || type === 'cache';
    if (!fileInfoAllowed) {
      if (mode !== undefined) invalid(`mode not allowed for "${type}" type mounts`);
      if (uid !== undefined) invalid(`uid not allowed for "${type}" type mounts`);
      if (gid !== undefined) invalid(`gid not allowed for "${type}" type mounts`);
    }
    if (type === 'secret') {
      if (from !== undefined && from !== '') invalid('secret mount should not have a from');
      if (sharing !== undefined) invalid('secret mount should not define sharing');
      if (!source && !target && !cacheId) invalid('invalid secret mount. one of source, target required');
      if (source && cacheId) invalid("both source and id can't be set");
    }
    if (sharing !== undefined && type !== 'cache') invalid(`invalid cache sharing set for ${type} mount`);
  }
  if (roAuto) readOnly = type !== 'cache' && type !== 'tmpfs';

  return {
    type,
    ...(from !== undefined && from !== '' ? { from } : {}),
    ...(source !== undefined ? { source } : {}),
    ...(target !== undefined ? { target } : {}),
    readOnly,
    ...(sizeLimit !== undefined ? { sizeLimit } : {}),
    ...(cacheId !== undefined ? { cacheId } : {}),
    ...(sharing !== undefined ? { sharing } : {}),
    required,
    ...(env !== undefined ? { env } : {}),
    ...(mode !== undefined ? { mode } : {}),
    ...(uid !== undefined ? { uid } : {}),
    ...(gid !== undefined ? { gid } : {}),
  };
}
