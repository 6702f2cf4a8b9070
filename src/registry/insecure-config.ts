/**
 * Registries that may be reached over plain HTTP or unverified TLS, as the machine's container
 * tools already name them: docker's daemon.json (`insecure-registries`: hosts, host:port, or
 * CIDR ranges) and containers' registries.conf (`[[registry]]` tables with `insecure = true`,
 * and the older `[registries.insecure] registries = [...]`), with its registries.conf.d drop-ins.
 * The files are small and read once per command, synchronously, before the first request.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { TsbuildError, xdgBaseDirectory } from '../common/index.js';

export interface InsecureConfigFiles {
  /** docker daemon.json files; default /etc/docker/daemon.json and the user's (rootless) one. */
  readonly daemonConfigs?: readonly string[];
  /** registries.conf files, each with its `.d` folder of drop-ins; default as podman reads them. */
  readonly registriesConfs?: readonly string[];
}

function configHome(): string {
  return xdgBaseDirectory('XDG_CONFIG_HOME', join(homedir(), '.config'));
}

function defaultRegistriesConfs(): string[] {
  // containers-registries.conf(5): the variable names the one file; otherwise the user's file
  // replaces the system's when it exists.
  const named = process.env.CONTAINERS_REGISTRIES_CONF;
  if (named !== undefined && named !== '') return [named];
  const user = join(configHome(), 'containers', 'registries.conf');
  return [readOptional(user) === undefined ? '/etc/containers/registries.conf' : user];
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new TsbuildError('INVALID_ARGUMENT', `read ${path}: ${(error as Error).message}`);
  }
}

/** The value of KEY in the daemon.json at PATH, whose text is TEXT. */
function daemonConfigValue(path: string, text: string, key: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new TsbuildError('INVALID_ARGUMENT', `read ${path}: invalid JSON: ${(error as Error).message}`);
  }
  return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)[key] : undefined;
}

function fromDaemonConfig(path: string, text: string): string[] {
  const entries = daemonConfigValue(path, text, 'insecure-registries');
  if (entries === undefined) return [];
  if (!Array.isArray(entries) || !entries.every((entry): entry is string => typeof entry === 'string')) {
    throw new TsbuildError('INVALID_ARGUMENT', `read ${path}: insecure-registries is not a list of strings`);
  }
  return entries;
}

/** A TOML value of the kinds registries.conf uses: a string, a boolean, or an array of strings. */
type TomlValue = string | boolean | string[];

function tomlValue(text: string): TomlValue | undefined {
  const value = text.trim();
  if (value === 'true') return true;
  if (value === 'false') return false;
  const single = /^"((?:[^"\\]|\\.)*)"$|^'([^']*)'$/.exec(value);
  if (single !== null) return single[2] ?? JSON.parse(`"${single[1] ?? ''}"`) as string;
  if (value.startsWith('[') && value.endsWith(']')) {
    const items: string[] = [];
    const item = /\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')\s*(?:,|$)/y;
    const body = value.slice(1, -1).trim();
    item.lastIndex = 0;
    while (item.lastIndex < body.length) {
      const found = item.exec(body);
      if (found === null) return undefined;
      items.push(found[2] ?? (JSON.parse(`"${found[1] ?? ''}"`) as string));
    }
    return items;
  }
  return undefined;
}

/** Strips a comment that is not inside a string. */
function withoutComment(line: string): string {
  let quote: string | undefined;
  for (let index = 0; index < line.length; index++) {
    const char = line[index];
    if (quote !== undefined) {
      if (char === '\\' && quote === '"') index++;
      else if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") quote = char;
    else if (char === '#') return line.slice(0, index);
  }
  return line;
}

/** A mirror of a registry, as daemon.json or registries.conf names it. */
export interface ConfiguredMirror {
  /** The registry it stands in for (`docker.io`, `quay.io`, `registry.example:5000`). */
  readonly registry: string;
  /** `https://host[:port]`, or `http://` for one reached over plain HTTP. */
  readonly url: string;
  /** registries.conf's mirror-by-digest-only: only pulls by digest go to it. */
  readonly digestOnly?: boolean;
}

interface RegistriesConf {
  readonly insecure: string[];
  readonly mirrors: ConfiguredMirror[];
}

interface RegistryTable {
  location?: string;
  prefix?: string;
  insecure?: boolean;
  digestOnly?: boolean;
  mirrors: { location?: string; insecure?: boolean }[];
}

function parseRegistriesConf(path: string, text: string): RegistriesConf {
  const insecure: string[] = [];
  const mirrors: ConfiguredMirror[] = [];
  let table = '';
  let registry: RegistryTable | undefined;
  const closeRegistry = (): void => {
    // The location's host part is what tsbuild matches; a prefix without a location is one
    // (`*.example.com` stands for every host under example.com).
    const location = registry?.location ?? registry?.prefix;
    if (registry?.insecure === true && location !== undefined && location !== '') insecure.push(location.split('/')[0] ?? '');
    // Mirrors of a whole registry (a prefix that is a host alone), each a host without a path.
    const key = registry?.prefix ?? registry?.location;
    if (registry !== undefined && key !== undefined && key !== '' && !key.includes('/') && !key.startsWith('*')) {
      for (const mirror of registry.mirrors) {
        if (mirror.location === undefined || mirror.location === '' || mirror.location.includes('/')) continue;
        mirrors.push({ registry: key, url: `${mirror.insecure === true ? 'http' : 'https'}://${mirror.location}`, ...(registry.digestOnly === true ? { digestOnly: true } : {}) });
      }
    }
    registry = undefined;
  };
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    let line = withoutComment(lines[index] ?? '').trim();
    if (line === '') continue;
    const header = /^(\[\[?)\s*([A-Za-z0-9_.-]+)\s*(\]\]?)$/.exec(line);
    if (header !== null) {
      table = header[2] ?? '';
      // A registry's mirrors are tables of their own within it.
      if (header[1] === '[[' && table === 'registry.mirror' && registry !== undefined) {
        registry.mirrors.push({});
        continue;
      }
      closeRegistry();
      if (header[1] === '[[' && table === 'registry') registry = { mirrors: [] };
      continue;
    }
    // An array may go on over several lines.
    while (/^[^=]+=\s*\[/.test(line) && !line.trimEnd().endsWith(']') && index + 1 < lines.length) {
      line += ` ${withoutComment(lines[++index] ?? '').trim()}`;
    }
    const assignment = /^([A-Za-z0-9_-]+|"[^"]*")\s*=\s*(.+)$/.exec(line);
    if (assignment === null) throw new TsbuildError('INVALID_ARGUMENT', `read ${path}:${index + 1}: not a TOML key = value line`);
    const key = (assignment[1] ?? '').replace(/^"|"$/g, '');
    const value = tomlValue(assignment[2] ?? '');
    if (registry !== undefined && table === 'registry.mirror') {
      const mirror = registry.mirrors.at(-1);
      if (mirror !== undefined && key === 'location' && typeof value === 'string') mirror.location = value;
      else if (mirror !== undefined && key === 'insecure' && typeof value === 'boolean') mirror.insecure = value;
    } else if (registry !== undefined && table === 'registry') {
      if (key === 'location' && typeof value === 'string') registry.location = value;
      else if (key === 'prefix' && typeof value === 'string') registry.prefix = value;
      else if (key === 'insecure' && typeof value === 'boolean') registry.insecure = value;
      else if (key === 'mirror-by-digest-only' && typeof value === 'boolean') registry.digestOnly = value;
    } else if (table === 'registries.insecure' && key === 'registries' && Array.isArray(value)) {
      insecure.push(...value);
    }
  }
  closeRegistry();
  return { insecure, mirrors };
}

/** Each registries.conf podman would read, with its drop-ins, parsed. */
function registriesConfs(files: InsecureConfigFiles): RegistriesConf[] {
  const parsed: RegistriesConf[] = [];
  for (const path of files.registriesConfs ?? defaultRegistriesConfs()) {
    const text = readOptional(path);
    if (text !== undefined) parsed.push(parseRegistriesConf(path, text));
    const dropIns = join(dirname(path), 'registries.conf.d');
    let names: string[] = [];
    try {
      names = readdirSync(dropIns).filter((name) => name.endsWith('.conf')).sort();
    } catch {
      // No drop-in folder.
    }
    for (const name of names) {
      const dropIn = readOptional(join(dropIns, name));
      if (dropIn !== undefined) parsed.push(parseRegistriesConf(join(dropIns, name), dropIn));
    }
  }
  return parsed;
}

function daemonConfigPaths(files: InsecureConfigFiles): readonly string[] {
  return files.daemonConfigs ?? ['/etc/docker/daemon.json', join(configHome(), 'docker', 'daemon.json')];
}

/**
 * The mirrors the machine's configuration names, in order: Docker Hub's of docker's daemon.json
 * (`registry-mirrors`, each `http(s)://host[:port]`; one that is no such URL, or has a path,
 * which tsbuild cannot reach the registry API under, is passed over), then those of
 * registries.conf (`[[registry.mirror]]` tables of a `[[registry]]` whose prefix is a host alone;
 * `insecure = true` for plain HTTP; `mirror-by-digest-only`).
 */
export function configuredMirrors(files: InsecureConfigFiles = {}): ConfiguredMirror[] {
  return mirrorsOf(daemonConfigs(files), registriesConfs(files));
}

function mirrorsOf(daemons: readonly DaemonConfig[], confs: readonly RegistriesConf[]): ConfiguredMirror[] {
  const mirrors: ConfiguredMirror[] = [];
  for (const { path, text } of daemons) {
    const entries = daemonConfigValue(path, text, 'registry-mirrors');
    if (!Array.isArray(entries)) continue;
    for (const entry of entries) {
      if (typeof entry !== 'string') continue;
      let url: URL;
      try {
        url = new URL(entry);
      } catch {
        continue;
      }
      const usable = (url.protocol === 'http:' || url.protocol === 'https:') && url.search === '' && url.hash === '' && url.username === '' && url.password === '' && (url.pathname === '' || url.pathname === '/');
      if (usable) mirrors.push({ registry: 'docker.io', url: `${url.protocol}//${url.host}` });
    }
  }
  for (const conf of confs) mirrors.push(...conf.mirrors);
  const seen = new Set<string>();
  return mirrors.filter((mirror) => {
    const key = `${mirror.registry} ${mirror.url}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Every registry the configuration files name as insecure, in the forms `--insecure-registry` takes. */
export function configuredInsecureRegistries(files: InsecureConfigFiles = {}): string[] {
  return insecureOf(daemonConfigs(files), registriesConfs(files));
}

function insecureOf(daemons: readonly DaemonConfig[], confs: readonly RegistriesConf[]): string[] {
  const found: string[] = [];
  for (const { path, text } of daemons) found.push(...fromDaemonConfig(path, text));
  for (const conf of confs) found.push(...conf.insecure);
  return [...new Set(found.filter((entry) => entry !== ''))];
}

/** The insecure registries and the mirrors of the machine's configuration, each file read once. */
export function configuredRegistries(files: InsecureConfigFiles = {}): { insecure: string[]; mirrors: ConfiguredMirror[] } {
  const daemons = daemonConfigs(files);
  const confs = registriesConfs(files);
  return { insecure: insecureOf(daemons, confs), mirrors: mirrorsOf(daemons, confs) };
}

interface DaemonConfig {
  readonly path: string;
  readonly text: string;
}

/** The daemon.json files there are, with their text. */
function daemonConfigs(files: InsecureConfigFiles): DaemonConfig[] {
  return daemonConfigPaths(files).flatMap((path) => {
    const text = readOptional(path);
    return text === undefined ? [] : [{ path, text }];
  });
}
