import type { Command } from 'commander';
import { eraseCredentials } from '../../registry/index.js';
import type { CliIo } from '../io.js';
import { serverDomain } from './registry-options.js';

export function registerLogout(program: Command, io: CliIo): void {
  program
    .command('logout')
    .description('forget the credentials of a registry')
    .argument('[server]', 'registry host (default docker.io)')
    .action(async (server: string | undefined) => {
      const domain = serverDomain(server);
      const erased = await eraseCredentials({ domain });
      io.stdout.write(erased ? `Removing login credentials for ${domain}\n` : `Not logged in to ${domain}\n`);
    });
}
