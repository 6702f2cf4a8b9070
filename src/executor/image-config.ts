/**
 * The image config a stage builds up, changed by each instruction as BuildKit's dockerfile2llb
 * changes it, with a history entry per instruction in BuildKit's words (`created_by`).
 */
import { checkStopSignal, exposedPortSet, type ContainerConfig, type HealthConfig, type History, type ImageConfig, type Platform } from '../common/index.js';
import type { ResolvedInstruction } from '../planner/index.js';

export const historyComment = 'buildkit.dockerfile.v0';
const defaultPath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A mutable working copy of the parts of an image config that instructions change. */
export interface ConfigState {
  user?: string;
  exposedPorts?: Record<string, Record<string, never>>;
  env: string[];
  entrypoint?: readonly string[] | null;
  cmd?: readonly string[] | null;
  volumes?: Record<string, Record<string, never>>;
  workingDir?: string;
  labels?: Record<string, string>;
  stopSignal?: string;
  argsEscaped?: boolean;
  healthcheck?: HealthConfig;
  onBuild?: string[] | null;
  shell?: readonly string[];
  author?: string;
  /** Whether CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
  /** History entries, the base image's first. */
  history: History[];
}

export function configFromImage(image: ImageConfig | undefined, platform: Platform): ConfigState {
  const c: ContainerConfig = image?.config ?? {};
  const state: ConfigState = {
    env: [...(c.Env ?? [])],
    cmdSet: false,
    history: [...(image?.history ?? [])],
    ...(c.User === undefined || c.User === '' ? {} : { user: c.User }),
    // A null map is Go's nil, as an absent one: the first instruction that sets it makes it.
    ...(c.ExposedPorts === undefined || c.ExposedPorts === null ? {} : { exposedPorts: { ...c.ExposedPorts } }),
    ...(c.Entrypoint === undefined ? {} : { entrypoint: c.Entrypoint }),
    ...(c.Cmd === undefined ? {} : { cmd: c.Cmd }),
    ...(c.Volumes === undefined || c.Volumes === null ? {} : { volumes: { ...c.Volumes } }),
    ...(c.WorkingDir === undefined || c.WorkingDir === '' ? {} : { workingDir: c.WorkingDir }),
    ...(c.Labels === undefined || c.Labels === null ? {} : { labels: { ...c.Labels } }),
    ...(c.StopSignal === undefined ? {} : { stopSignal: c.StopSignal }),
    ...(c.ArgsEscaped === undefined ? {} : { argsEscaped: c.ArgsEscaped }),
    ...(c.Healthcheck === undefined ? {} : { healthcheck: c.Healthcheck }),
    ...(c.OnBuild === undefined ? {} : { onBuild: c.OnBuild === null ? null : [...c.OnBuild] }),
    ...(c.Shell === undefined ? {} : { shell: c.Shell }),
  };
  if (image === undefined) state.workingDir = '/';
  // As BuildKit: PATH is always set (never on Windows).
  if (platform.os !== 'windows' && !state.env.some((entry) => entry.startsWith('PATH='))) state.env.push(defaultPath);
  // ONBUILD triggers of the base ran in this stage; they are not inherited further.
  if (image !== undefined) delete state.onBuild;
  return state;
}

/**
 * A copy to change: the lists and maps an instruction changes in place are copied, what they
 * hold is shared (history entries, strings and the lists instructions replace whole are never
 * changed). A deep copy per stage made a chain of stages FROM one another quadratic.
 */
export function cloneConfig(state: ConfigState): ConfigState {
  return {
    ...state,
    env: [...state.env],
    history: [...state.history],
    ...(state.exposedPorts === undefined ? {} : { exposedPorts: { ...state.exposedPorts } }),
    ...(state.volumes === undefined ? {} : { volumes: { ...state.volumes } }),
    ...(state.labels === undefined ? {} : { labels: { ...state.labels } }),
    ...(state.onBuild === undefined || state.onBuild === null ? {} : { onBuild: [...state.onBuild] }),
  };
}

/**
 * The config a stage FROM another starts with. With SHAREMAPS, the labels, exposed ports and
 * volumes are the parent's own maps, as docker/dockerfile before 1.24 (BuildKit's built-in
 * frontend included) cloned a stage's image: every stage that derives from one whose map exists
 * writes into that one map, so that a LABEL, EXPOSE or VOLUME of one of them is in the image of
 * each (a sibling stage's label in the target's image), where a map the parent lacks is made by
 * the first stage that sets it, for itself and what derives from it. 1.24 copies them.
 */
export function inheritConfig(parent: ConfigState, shareMaps: boolean): ConfigState {
  const state = cloneConfig(parent);
  if (shareMaps) {
    if (parent.exposedPorts !== undefined) state.exposedPorts = parent.exposedPorts;
    if (parent.volumes !== undefined) state.volumes = parent.volumes;
    if (parent.labels !== undefined) state.labels = parent.labels;
  }
  return state;
}

/**
 * Where in the Dockerfile each key of a map shared by stages was last set (inheritConfig): the
 * frontend dispatches the stages in the file's order before any runs, so the last in the file
 * wins, whichever stage runs its instruction last here.
 */
const setAt = new WeakMap<object, Map<string, number>>();

function setInMap<T>(map: Record<string, T>, key: string, value: T, order: number | undefined): void {
  if (order !== undefined) {
    let places = setAt.get(map);
    if (places === undefined) setAt.set(map, (places = new Map()));
    if ((places.get(key) ?? -Infinity) > order) return;
    places.set(key, order);
  }
  map[key] = value;
}

const nameOf = (entry: string): string => {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
};

/**
 * Where each name is in an environment list that addEnv changes: a search of the list per ENV
 * made thousands of ENV lines quadratic. Made on the first change of a list; the list changes
 * only through addEnv from then on.
 */
const envPlaces = new WeakMap<string[], Map<string, number>>();

/**
 * Drops what only changing STATE needed: a finished stage's config is read and copied, never
 * changed, and the places of its names, kept for every stage of a chain, outweighed the rest.
 */
export function finishConfig(state: ConfigState): void {
  envPlaces.delete(state.env);
}

/** Sets KEY in an environment list in place, or appends it, as BuildKit's addEnv. */
export function addEnv(env: string[], key: string, value: string): void {
  let places = envPlaces.get(env);
  if (places === undefined) {
    places = new Map();
    // The first entry of a name is the one set, as a search from the start finds it.
    for (const [index, entry] of env.entries()) if (!places.has(nameOf(entry))) places.set(nameOf(entry), index);
    envPlaces.set(env, places);
  }
  const at = places.get(key);
  if (at !== undefined) env[at] = `${key}=${value}`;
  else {
    places.set(key, env.length);
    env.push(`${key}=${value}`);
  }
}

/** Go's %q of a []string: `["a" "b"]`. */
export function goQuotedList(values: readonly string[]): string {
  return `[${values.map((value) => JSON.stringify(value)).join(' ')}]`;
}

/** Go's time.Duration String() for nanoseconds: 1m30s, 1.5s, 100ms, 0s. */
export function goDuration(nanoseconds: number): string {
  if (nanoseconds === 0) return '0s';
  const negative = nanoseconds < 0;
  let n = Math.abs(nanoseconds);
  const trim = (value: string): string => value.replace(/\.?0+$/, '');
  let out: string;
  if (n < 1e3) out = `${n}ns`;
  else if (n < 1e6) out = `${trim((n / 1e3).toFixed(3))}µs`;
  else if (n < 1e9) out = `${trim((n / 1e6).toFixed(6))}ms`;
  else {
    const hours = Math.floor(n / 3.6e12);
    n -= hours * 3.6e12;
    const minutes = Math.floor(n / 6e10);
    n -= minutes * 6e10;
    const seconds = trim((n / 1e9).toFixed(9));
    out = `${hours > 0 ? `${hours}h` : ''}${hours > 0 || minutes > 0 ? `${minutes}m` : ''}${seconds === '' ? '0' : seconds}s`;
  }
  return negative ? `-${out}` : out;
}

/** Go's %q of an int: the quoted rune literal (strconv.QuoteRune), `'\\x04'` for 4. */
export function goQuotedRune(code: number): string {
  const escapes: Readonly<Record<number, string>> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r', 39: "\\'", 92: '\\\\' };
  const escaped = escapes[code];
  if (escaped !== undefined) return `'${escaped}'`;
  if (code < 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return "'\u{fffd}'";
  const hex = (digits: number): string => code.toString(16).padStart(digits, '0');
  if (code < 0x20 || code === 0x7f) return `'\\x${hex(2)}'`;
  if (code < 0x7f) return `'${String.fromCodePoint(code)}'`;
  // Printable beyond ASCII as itself (Go's unicode.IsPrint, approximated by letters, marks,
  // numbers, punctuation and symbols), the rest escaped.
  if (/[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(String.fromCodePoint(code))) return `'${String.fromCodePoint(code)}'`;
  return code <= 0xffff ? `'\\u${hex(4)}'` : `'\\U${hex(8)}'`;
}

function history(state: ConfigState, createdBy: string, created: string | undefined): void {
  state.history.push({ ...(created === undefined ? {} : { created }), created_by: createdBy, comment: historyComment, empty_layer: true });
}

function withShell(state: ConfigState, args: readonly string[]): string[] {
  return [...(state.shell !== undefined && state.shell.length > 0 ? state.shell : ['/bin/sh', '-c']), args.join(' ')];
}

/** The command a CMD, ENTRYPOINT or RUN in shell form runs: through the stage's SHELL. */
export function shellCommand(state: ConfigState, args: readonly string[]): string[] {
  return withShell(state, args);
}

/**
 * Applies a metadata instruction to the config and records its history entry. Returns false
 * for the instructions that change files (RUN, COPY, ADD, WORKDIR), which the caller handles.
 * ORDER is the instruction's place in the Dockerfile, for a map stages share (inheritConfig).
 */
export function applyMetadata(state: ConfigState, instruction: ResolvedInstruction, created: string | undefined, order?: number): boolean {
  switch (instruction.kind) {
    case 'ARG':
      history(state, `ARG ${instruction.args.map((arg) => (arg.written === undefined ? arg.key : `${arg.key}=${arg.written}`)).join(' ')}`, created);
      return true;
    case 'ENV':
      for (const pair of instruction.pairs) addEnv(state.env, pair.key, pair.value);
      history(state, `ENV${instruction.pairs.map((pair) => ` ${pair.key}=${pair.value}`).join('')}`, created);
      return true;
    case 'LABEL':
      state.labels ??= {};
      for (const pair of instruction.pairs) setInMap(state.labels, pair.key, pair.value, order);
      history(state, `LABEL${instruction.pairs.map((pair) => ` ${pair.key}=${pair.value}`).join('')}`, created);
      return true;
    case 'MAINTAINER':
      state.author = instruction.maintainer;
      history(state, `MAINTAINER ${instruction.maintainer}`, created);
      return true;
    case 'EXPOSE': {
      // As BuildKit reads them: `80` is `80/tcp`, ranges expanded, a host part dropped, each port once.
      const ports = exposedPortSet(instruction.ports);
      state.exposedPorts ??= {};
      for (const port of ports) setInMap(state.exposedPorts, port, {}, order);
      // BuildKit prints the instruction's ports as the Go map they are: `map[443/tcp:{} 80/tcp:{}]`,
      // each once, in byte order.
      const printed = [...ports].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      history(state, `EXPOSE map[${printed.map((port) => `${port}:{}`).join(' ')}]`, created);
      return true;
    }
    case 'VOLUME':
      state.volumes ??= {};
      for (const volume of instruction.volumes) setInMap(state.volumes, volume, {}, order);
      history(state, `VOLUME [${instruction.volumes.join(' ')}]`, created);
      return true;
    case 'USER':
      state.user = instruction.user;
      history(state, `USER ${instruction.user}`, created);
      return true;
    case 'STOPSIGNAL':
      checkStopSignal(instruction.signal);
      state.stopSignal = instruction.signal;
      history(state, `STOPSIGNAL ${instruction.signal}`, created);
      return true;
    case 'SHELL':
      state.shell = [...instruction.shell];
      history(state, `SHELL [${instruction.shell.join(' ')}]`, created);
      return true;
    case 'CMD': {
      const args = instruction.shellForm ? withShell(state, instruction.cmdLine) : [...instruction.cmdLine];
      state.cmd = args;
      state.cmdSet = true;
      state.argsEscaped = true;
      history(state, `CMD ${goQuotedList(args)}`, created);
      return true;
    }
    case 'ENTRYPOINT': {
      const args = instruction.shellForm ? withShell(state, instruction.cmdLine) : [...instruction.cmdLine];
      state.entrypoint = args;
      if (!state.cmdSet) state.cmd = null;
      history(state, `ENTRYPOINT ${goQuotedList(args)}`, created);
      return true;
    }
    case 'HEALTHCHECK': {
      const h: HealthConfig = {
        Test: [...instruction.test],
        ...(instruction.interval === 0 ? {} : { Interval: instruction.interval }),
        ...(instruction.timeout === 0 ? {} : { Timeout: instruction.timeout }),
        ...(instruction.startPeriod === 0 ? {} : { StartPeriod: instruction.startPeriod }),
        ...(instruction.startInterval === 0 ? {} : { StartInterval: instruction.startInterval }),
        ...(instruction.retries === 0 ? {} : { Retries: instruction.retries }),
      };
      state.healthcheck = h;
      history(
        state,
        // fmt's %q of the *HealthConfig: the list quoted, each duration's String() quoted, and
        // Retries, an int, as a quoted rune.
        `HEALTHCHECK &{${goQuotedList(instruction.test)} ${[instruction.interval, instruction.timeout, instruction.startPeriod, instruction.startInterval].map((duration) => JSON.stringify(goDuration(duration))).join(' ')} ${goQuotedRune(instruction.retries)}}`,
        created,
      );
      return true;
    }
    case 'ONBUILD':
      state.onBuild = [...(state.onBuild ?? []), instruction.expression];
      return true;
    default:
      return false;
  }
}

/**
 * The container config as BuildKit writes it, fields in its order. Go's `omitempty` leaves out
 * an empty list or map as well as a missing one: `CMD []` writes no Cmd.
 */
export function containerConfig(state: ConfigState): ContainerConfig {
  const list = <T>(value: readonly T[] | null | undefined): value is readonly T[] => value !== undefined && value !== null && value.length > 0;
  const map = <T extends object>(value: T | undefined): value is T => value !== undefined && Object.keys(value).length > 0;
  return {
    // Go's omitempty: an empty string (USER of an empty variable) or false is left out, not written.
    ...(state.user === undefined || state.user === '' ? {} : { User: state.user }),
    ...(map(state.exposedPorts) ? { ExposedPorts: state.exposedPorts } : {}),
    ...(list(state.env) ? { Env: state.env } : {}),
    ...(list(state.entrypoint) ? { Entrypoint: state.entrypoint } : {}),
    ...(list(state.cmd) ? { Cmd: state.cmd } : {}),
    ...(map(state.volumes) ? { Volumes: state.volumes } : {}),
    ...(state.workingDir === undefined || state.workingDir === '' ? {} : { WorkingDir: state.workingDir }),
    ...(map(state.labels) ? { Labels: state.labels } : {}),
    ...(state.stopSignal === undefined || state.stopSignal === '' ? {} : { StopSignal: state.stopSignal }),
    ...(state.argsEscaped === true ? { ArgsEscaped: true } : {}),
    ...(state.healthcheck === undefined ? {} : { Healthcheck: state.healthcheck }),
    ...(list(state.onBuild) ? { OnBuild: state.onBuild } : {}),
    ...(list(state.shell) ? { Shell: state.shell } : {}),
  };
}

/**
 * What BuildKit's exporter knows of a layer beyond the image config: its cache record's
 * description and when the record was made. It names a layer the history does not account for.
 */
export interface LayerOrigin {
  readonly description: string;
  readonly created: string | undefined;
}

/** The comment of a history entry BuildKit's exporter adds for a layer the history lacks. */
export const exporterHistoryComment = 'buildkit.exporter.image.v0';

/**
 * The history made to account for the image's layers (one ORIGIN per layer, the lowest first),
 * as BuildKit's exporter normalizes it: a base whose config was written by a tool that keeps no
 * history (or too much) would otherwise give an image whose history and diff_ids disagree.
 * Non-empty entries beyond the layers become empty, counted from the bottom (the Dockerfile's own
 * steps too, when the base claims every layer); layers beyond the non-empty entries get entries
 * appended at the end, after the Dockerfile's, named by their origin (so the Dockerfile's entries
 * stand for the base's unaccounted layers, as in BuildKit); a non-empty entry without a time
 * takes its layer's.
 */
export function accountForLayers(history: readonly History[], origins: readonly LayerOrigin[]): History[] {
  let claimed = 0;
  const result = history.map((entry) => {
    if (entry.empty_layer === true) return entry;
    if (claimed >= origins.length) return { ...entry, empty_layer: true };
    claimed++;
    return entry;
  });
  for (const origin of origins.slice(claimed)) {
    result.push({ ...(origin.created === undefined ? {} : { created: origin.created }), created_by: origin.description, comment: exporterHistoryComment });
  }
  let layer = 0;
  return result.map((entry) => {
    if (entry.empty_layer === true) return entry;
    const origin = origins[layer++];
    return entry.created !== undefined || origin?.created === undefined ? entry : { ...entry, created: origin.created };
  });
}

/**
 * HISTORY with a time on every entry that has none, as BuildKit's exporter fills them
 * (normalizeLayersAndHistory): the entries before the first timed entry that follows an untimed
 * one (the metadata steps at the top of a stage: LABEL, ENV) take that entry's time, the time of
 * the stage's first new layer, not the base's; every later untimed entry takes the time of the
 * last timed entry before it. With no timed entry after the first untimed one, they all take
 * the last time there is; FALLBACK where there is none at all.
 */
export function fillHistoryTimes(history: readonly History[], fallback: () => string): History[] {
  let time: string | undefined;
  let untimedSeen = false;
  for (const entry of history) {
    if (entry.created === undefined) {
      untimedSeen = true;
      continue;
    }
    time = entry.created;
    if (untimedSeen) break;
  }
  untimedSeen = false;
  return history.map((entry) => {
    if (entry.created !== undefined) {
      // Timed entries before the first untimed one (the base's) leave the time found above.
      if (untimedSeen) time = entry.created;
      return entry;
    }
    untimedSeen = true;
    time ??= fallback();
    return { created: time, ...entry };
  });
}
