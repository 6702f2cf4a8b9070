/**
 * docker's client configuration (`~/.docker/config.json`, or `$DOCKER_CONFIG/config.json`): the
 * settings its CLI reads there besides credentials — the formats its lists print when no
 * `--format` is given (`psFormat`, `imagesFormat`, `networksFormat`, `volumesFormat`,
 * `statsFormat`), the keys that detach from a container (`detachKeys`), and the proxies it hands
 * on (docker-proxies.ts). A missing or unreadable file sets nothing.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface DockerProxyEntry {
  readonly httpProxy?: unknown;
  readonly httpsProxy?: unknown;
  readonly noProxy?: unknown;
  readonly ftpProxy?: unknown;
  readonly allProxy?: unknown;
}

export interface DockerCliConfig {
  readonly psFormat?: string;
  readonly imagesFormat?: string;
  readonly networksFormat?: string;
  readonly volumesFormat?: string;
  readonly statsFormat?: string;
  readonly detachKeys?: string;
  readonly proxies?: Readonly<Record<string, DockerProxyEntry | undefined>>;
}

const stringSettings = ['psFormat', 'imagesFormat', 'networksFormat', 'volumesFormat', 'statsFormat', 'detachKeys'] as const;

export function dockerCliConfig(env: NodeJS.ProcessEnv = process.env): Promise<DockerCliConfig> {
  return readConfig(join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json'));
}

async function readConfig(path: string): Promise<DockerCliConfig> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    // None, or one that does not parse (the credentials' reader says so): nothing is set.
    return {};
  }
  if (parsed === null || typeof parsed !== 'object') return {};
  const fields = parsed as Record<string, unknown>;
  const config: Record<string, unknown> = {};
  for (const name of stringSettings) {
    const value = fields[name];
    if (typeof value === 'string' && value !== '') config[name] = value;
  }
  const proxies = fields.proxies;
  if (proxies !== null && typeof proxies === 'object') config.proxies = proxies;
  return config as DockerCliConfig;
}

/** A list's format: --format's (GIVEN), else the one docker's client configuration names, else `table`, as docker's CLI takes it. */
export async function listFormat(given: string | undefined, setting: 'psFormat' | 'imagesFormat' | 'networksFormat' | 'volumesFormat' | 'statsFormat'): Promise<string> {
  return given ?? (await dockerCliConfig())[setting] ?? 'table';
}

/**
 * The keys that detach: --detach-keys' (GIVEN), else, where the command ATTACHES (docker's CLI
 * reads them for the attach alone), the configured ones; '' for the default ctrl-p,ctrl-q.
 */
export async function detachKeysText(given: string | undefined, attaches: boolean): Promise<string> {
  return given ?? (attaches ? (await dockerCliConfig()).detachKeys : undefined) ?? '';
}
