import type { Command } from 'commander';
import { openStore, type Store } from '../store/index.js';

export interface RootOption {
  readonly root?: string;
}

/** Adds `--root DIR`; without it the store is at TSBUILD_ROOT or the default for the user. */
export function addRootOption(command: Command): Command {
  return command.option('--root <dir>', 'store root (default: TSBUILD_ROOT, /var/lib/tsbuild or ~/.local/share/tsbuild)');
}

export async function storeFromOptions(options: RootOption): Promise<Store> {
  return openStore(options.root === undefined ? {} : { root: options.root });
}
