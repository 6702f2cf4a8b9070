/** Flags several commands share that need nothing loaded to declare them. */
import { InvalidArgumentError, type Command } from 'commander';

/** commander's accumulator for a repeatable flag. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * docker's repeatable `--filter NAME=VALUE`: a term without `=` is refused as its flag is read,
 * as docker's flag library does (status 125), before anything is listed.
 */
export function collectFilter(value: string, previous: string[]): string[] {
  if (!value.includes('=')) throw new InvalidArgumentError('bad format of filter (expected name=value)');
  return [...previous, value];
}

/** Repeated `K=V` flags as docker's CLI reads them into a map: `K` alone is an empty value, the last of a key wins. */
export function keyValueMap(entries: readonly string[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const entry of entries) {
    const equals = entry.indexOf('=');
    map[equals < 0 ? entry : entry.slice(0, equals)] = equals < 0 ? '' : entry.slice(equals + 1);
  }
  return map;
}

export function addInsecureRegistryOption(command: Command): Command {
  return addContentTrustOption(command.option('--insecure-registry <host>', 'allow plain HTTP or unverified TLS to this registry (repeatable)', collect, []));
}

/**
 * docker's `--disable-content-trust` (true by default there), which scripts pass to the commands
 * that reach a registry: tsbuild checks digests and has no signatures to skip.
 */
function addContentTrustOption(command: Command): Command {
  return command.option('--disable-content-trust', 'skip image signature verification (tsbuild verifies digests, not signatures)');
}

/** docker's default for --platform (build, run, create, pull): DOCKER_DEFAULT_PLATFORM, when set. */
export function defaultPlatform(): string | undefined {
  const value = process.env.DOCKER_DEFAULT_PLATFORM;
  return value === undefined || value === '' ? undefined : value;
}
