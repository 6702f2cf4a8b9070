/** Flags shared by the commands that talk to registries. */
import type { Command } from 'commander';
import { RegistryClient, configuredInsecureRegistries } from '../../registry/index.js';

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function addInsecureRegistryOption(command: Command): Command {
  return command.option('--insecure-registry <host>', 'allow plain HTTP or unverified TLS to this registry (repeatable)', collect, []);
}

/**
 * The client for a command: insecure registries are those of --insecure-registry and those the
 * machine's docker daemon.json and containers registries.conf already name.
 */
export function registryClient(options: { readonly insecureRegistry?: readonly string[] }): RegistryClient {
  return new RegistryClient({ insecureRegistries: [...(options.insecureRegistry ?? []), ...configuredInsecureRegistries()], userAgent: 'tsbuild' });
}

/** `docker login` accepts a server as a host, a URL, or Docker Hub's historical index URL. */
export function serverDomain(server: string | undefined): string {
  if (server === undefined || server === '') return 'docker.io';
  const stripped = server.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  if (stripped === 'index.docker.io' || stripped === 'registry-1.docker.io' || stripped === 'docker.io') return 'docker.io';
  return stripped;
}
