/** Flags several commands share that need nothing loaded to declare them. */
import type { Command } from 'commander';

/** commander's accumulator for a repeatable flag. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function addInsecureRegistryOption(command: Command): Command {
  return command.option('--insecure-registry <host>', 'allow plain HTTP or unverified TLS to this registry (repeatable)', collect, []);
}
