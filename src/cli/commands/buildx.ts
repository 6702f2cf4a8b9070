/**
 * `buildx build`, `buildx prune`, `buildx du` and `buildx imagetools`, as CI scripts written for docker's
 * buildx plugin call them; and buildx's builder commands (create, use, ls, inspect, rm, stop,
 * version), which such scripts run first (`buildx create --use`, `inspect --bootstrap`). tsbuild
 * needs no builder to be started: every builder is tsbuild itself, on this machine's platform.
 * The names made are kept in the store's `builders.json`, so that they list, are used and
 * removed as buildx's are; a build or imagetools command refuses another `--builder` name.
 */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { formatPlatform, hostPlatform } from '../../common/index.js';
import type { CliIo } from '../io.js';
import { delegateCommand } from '../program.js';
import { collect } from '../common-options.js';
import { addRootOption, type RootOption } from '../store-options.js';
import { defaultBuilder, findBuilder, readBuilders, refuse, writeBuilders } from './builders.js';
import { packageVersion } from '../version.js';
import { registerImagetools } from './manifest.js';
import { defineBuildxDu } from './buildx-du.js';

function platforms(): string {
  return formatPlatform(hostPlatform());
}

/** buildx's builder name rule: letters, digits, `-`, `_`, `.`; a letter or digit first. */
const builderName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function registerBuildx(program: Command, io: CliIo): void {
  const buildx = program.command('buildx').description("docker buildx's forms: build (b), prune, du, imagetools, and its builder commands");
  delegateCommand(buildx, io, 'build', ['b'], 'build');
  delegateCommand(buildx, io, 'prune', [], 'builder prune');
  defineBuildxDu(buildx, io);
  registerImagetools(buildx, io);

  addRootOption(
    buildx
      .command('create')
      .description('make a builder name (every builder is tsbuild itself, on this machine)')
      .argument('[context]', "a docker context or endpoint (taken, as there is no daemon to reach)")
      .option('--name <name>', 'builder name (default: made up)')
      .option('--driver <driver>', 'docker-container, kubernetes, remote… (taken; tsbuild builds itself)', 'docker-container')
      .option('--driver-opt <options>', 'driver options (taken)', collect, [])
      .option('--use', 'use the new builder from now on')
      .option('--bootstrap', 'start the builder (it needs no start)')
      .option('--platform <platforms>', 'platforms of the node (taken)', collect, [])
      .option('--buildkitd-flags <flags>', "BuildKit daemon flags (taken: there is no daemon)")
      .option('--buildkitd-config <file>', 'BuildKit daemon config (taken: there is no daemon)')
      .option('--config <file>', 'BuildKit daemon config (taken: there is no daemon)')
      .option('--node <name>', 'node name (taken)')
      .option('--append', 'append a node to the builder')
      .option('--leave', 'remove a node from the builder'),
  ).action(async (_context: string | undefined, options: RootOption & { name?: string; driver: string; use?: boolean; append?: boolean; leave?: boolean }) => {
    if (options.driver === 'docker') refuse(io, 'additional instances of driver "docker" cannot be created');
    const state = await readBuilders(options);
    const name = options.name ?? `builder-${randomBytes(4).toString('hex')}`;
    if (!builderName.test(name)) refuse(io, `invalid builder name ${JSON.stringify(name)}`);
    if (name === 'default') refuse(io, 'default is a reserved name and cannot be used to identify builder instance');
    const existing = findBuilder(state, name);
    if (existing !== undefined && options.append !== true && options.leave !== true) refuse(io, `existing instance for "${name}" but no append mode, specify the node name to make changes for existing instances`);
    const builders = existing === undefined ? [...state.builders, { name, driver: options.driver }] : state.builders;
    await writeBuilders(options, { current: options.use === true ? name : state.current, builders });
    io.stdout.write(`${name}\n`);
  });

  addRootOption(
    buildx
      .command('use')
      .description('use a builder from now on')
      .argument('<name>', 'builder name')
      .option('--default', 'set builder as default for current context')
      .option('--global', 'builder persists context changes'),
  ).action(async (name: string, options: RootOption) => {
    const state = await readBuilders(options);
    if (findBuilder(state, name) === undefined) refuse(io, `no builder ${JSON.stringify(name)} found`);
    await writeBuilders(options, { ...state, current: name });
  });

  addRootOption(buildx.command('ls').description('list builders')).action(async (options: RootOption) => {
    const state = await readBuilders(options);
    const rows: [string, string, string, string, string][] = [['NAME/NODE', 'DRIVER/ENDPOINT', 'STATUS', 'BUILDKIT', 'PLATFORMS']];
    for (const builder of [...state.builders, defaultBuilder]) {
      rows.push([`${builder.name}${builder.name === state.current ? '*' : ''}`, builder.driver, '', '', '']);
      rows.push([` \\_ ${builder.name}`, ' \\_ tsbuild', 'running', `tsbuild v${packageVersion()}`, platforms()]);
    }
    const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
    io.stdout.write(rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd((widths[column] ?? 0) + 3))).join('').trimEnd()).join('\n') + '\n');
  });

  addRootOption(
    buildx
      .command('inspect')
      .description('show a builder (the current one by default)')
      .argument('[name]', 'builder name')
      .option('--bootstrap', 'start the builder (it needs no start)'),
  ).action(async (name: string | undefined, options: RootOption) => {
    const state = await readBuilders(options);
    const builder = findBuilder(state, name ?? state.current);
    if (builder === undefined) refuse(io, `no builder ${JSON.stringify(name)} found`);
    io.stdout.write(
      [`Name:   ${builder.name}`, `Driver: ${builder.driver}`, '', 'Nodes:', `Name:      ${builder.name}`, 'Endpoint:  tsbuild', 'Status:    running', `BuildKit:  tsbuild v${packageVersion()}`, `Platforms: ${platforms()}`, ''].join('\n'),
    );
  });

  addRootOption(
    buildx
      .command('rm')
      .description('remove builders')
      .argument('[names...]', 'builder names (default: the current one)')
      .option('--all-inactive', 'remove all inactive builders (none is: tsbuild needs no start)')
      .option('-f, --force', 'do not prompt for confirmation')
      .option('--keep-state', 'keep BuildKit state (there is none to remove)')
      .option('--keep-daemon', 'keep the BuildKit daemon running (there is none)'),
  ).action(async (names: string[], options: RootOption & { allInactive?: boolean }) => {
    if (options.allInactive === true) return;
    const state = await readBuilders(options);
    const targets = names.length === 0 ? [state.current] : names;
    let failed = false;
    let builders = state.builders;
    for (const name of targets) {
      if (name === 'default') {
        io.stderr.write(`failed to remove ${name}: default is a reserved name and cannot be removed\n`);
        failed = true;
      } else if (builders.some((entry) => entry.name === name)) {
        builders = builders.filter((entry) => entry.name !== name);
        io.stderr.write(`${name} removed\n`);
      } else {
        io.stderr.write(`failed to remove ${name}: no builder "${name}" found\n`);
        failed = true;
      }
    }
    await writeBuilders(options, { current: builders.some((entry) => entry.name === state.current) ? state.current : 'default', builders });
    if (failed) refuse(io, 'failed to remove one or more builders');
  });

  addRootOption(buildx.command('stop').description('stop a builder (none runs: nothing to stop)').argument('[name]', 'builder name')).action(async (name: string | undefined, options: RootOption) => {
    const state = await readBuilders(options);
    if (name !== undefined && findBuilder(state, name) === undefined) refuse(io, `no builder ${JSON.stringify(name)} found`);
  });

  buildx
    .command('version')
    .description("show tsbuild's version, in buildx's place")
    .action(() => {
      io.stdout.write(`tsbuild v${packageVersion()}\n`);
    });
}
