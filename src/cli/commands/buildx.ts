import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { delegateCommand } from '../program.js';
import { registerImagetools } from './manifest.js';

/**
 * `buildx build`, `buildx prune` and `buildx imagetools inspect`, as CI scripts written for
 * docker's buildx plugin call them; every builder name is this one (see build --builder).
 */
export function registerBuildx(program: Command, io: CliIo): void {
  const buildx = program.command('buildx').description("docker buildx's forms: build (b), prune, imagetools inspect");
  delegateCommand(buildx, io, 'build', ['b'], 'build');
  delegateCommand(buildx, io, 'prune', [], 'builder prune');
  registerImagetools(buildx, io);
}
