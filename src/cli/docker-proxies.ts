/**
 * The `proxies` of docker's client configuration (`~/.docker/config.json`, or
 * `$DOCKER_CONFIG/config.json`), which docker's CLI hands to what it starts:
 *
 *     {"proxies": {"default": {"httpProxy": "http://proxy:3128", "noProxy": "*.internal"}}}
 *
 * - a build gets HTTP_PROXY, HTTPS_PROXY, NO_PROXY and FTP_PROXY as build args, each unless a
 *   `--build-arg` of that name is given (buildx's GetProxyConfig): RUN steps see them, and they
 *   stay out of the image and its cache keys as proxy build args do;
 * - a container (`run`, `create`) gets each of those and ALL_PROXY, in upper and lower case, as
 *   environment variables, each unless `-e` or `--env-file` set that very name (the CLI's
 *   ParseProxyConfig).
 *
 * The entry used is the one named by the daemon host docker would talk to (`DOCKER_HOST`, else
 * its default socket), else `default`.
 */
import { dockerCliConfig, type DockerProxyEntry } from './docker-config.js';

const dockerDefaultHost = 'unix:///var/run/docker.sock';

/** The configured proxies by variable name (upper case), those with a value. */
async function configuredProxies(env: NodeJS.ProcessEnv): Promise<Map<string, string>> {
  const { proxies } = await dockerCliConfig(env);
  if (proxies === undefined) return new Map();
  const host = env.DOCKER_HOST !== undefined && env.DOCKER_HOST !== '' ? env.DOCKER_HOST : dockerDefaultHost;
  const entry = Object.hasOwn(proxies, host) ? proxies[host] : proxies.default;
  const values = new Map<string, string>();
  const fields: readonly (readonly [string, keyof DockerProxyEntry])[] = [
    ['HTTP_PROXY', 'httpProxy'],
    ['HTTPS_PROXY', 'httpsProxy'],
    ['NO_PROXY', 'noProxy'],
    ['FTP_PROXY', 'ftpProxy'],
    ['ALL_PROXY', 'allProxy'],
  ];
  for (const [name, field] of fields) {
    const value = entry?.[field];
    if (typeof value === 'string' && value !== '') values.set(name, value);
  }
  return values;
}

/** BUILDARGS with the configured proxies a build takes (not ALL_PROXY), where not given. */
export async function withProxyBuildArgs(buildArgs: Readonly<Record<string, string>>, env: NodeJS.ProcessEnv = process.env): Promise<Record<string, string>> {
  const result = { ...buildArgs };
  for (const [name, value] of await configuredProxies(env)) {
    if (name !== 'ALL_PROXY' && !Object.hasOwn(result, name)) result[name] = value;
  }
  return result;
}

/** A container's ENTRIES (`KEY=VALUE`, or a bare `KEY`) with the configured proxies after them, where not set. */
export async function withProxyEnvironment(entries: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const set = new Set(entries.map((entry) => entry.split('=', 1)[0]));
  const added: string[] = [];
  for (const [name, value] of await configuredProxies(env)) {
    for (const variable of [name, name.toLowerCase()]) {
      if (set.has(variable)) continue;
      set.add(variable);
      added.push(`${variable}=${value}`);
    }
  }
  return [...entries, ...added];
}
