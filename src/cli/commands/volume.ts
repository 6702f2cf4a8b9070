import type { Command } from 'commander';
import { TsbuildError, isTsbuildError } from '../../common/index.js';
import { createVolume, inspectVolume, listVolumes, pruneVolumes, removeVolume, type VolumeInfo, type VolumeSummary } from '../../runtime/index.js';
import { dockerTable, formatBytes } from '../format.js';
import { formatListTemplate } from '../go-template.js';
import { volumeShape } from '../inspect-shapes.js';
import { ExitError, type CliIo } from '../io.js';
import { listFormat } from '../docker-config.js';
import { runInUserNamespace } from '../rootless.js';
import { printInspected } from './inspect-output.js';
import type { Store } from '../../store/index.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';
import { collect, collectFilter, keyValueMap } from '../common-options.js';
import { confirmRemoval } from '../prompt.js';

/** `K=V` labels (`K` alone is an empty value, as docker). */
function parseLabels(entries: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const entry of entries) {
    const equals = entry.indexOf('=');
    const key = equals < 0 ? entry : entry.slice(0, equals);
    if (key === '') throw new TsbuildError('INVALID_ARGUMENT', `invalid label '${entry}': empty name`);
    labels[key] = equals < 0 ? '' : entry.slice(equals + 1);
  }
  return labels;
}

/** `volume ls --filter`: dangling=, name= (a substring), label=K or K=V, driver=. */
function volumeFilter(filters: readonly string[]): (volume: VolumeSummary) => boolean {
  const tests = filters.map((filter): ((volume: VolumeSummary) => boolean) => {
    const equals = filter.indexOf('=');
    if (equals < 0) throw new TsbuildError('INVALID_ARGUMENT', `bad format of filter (expected name=value): ${filter}`);
    const key = filter.slice(0, equals);
    const value = filter.slice(equals + 1);
    switch (key) {
      case 'dangling': {
        if (!['true', 'false', '1', '0'].includes(value)) throw new TsbuildError('INVALID_ARGUMENT', `invalid filter 'dangling=${value}'`);
        const dangling = value === 'true' || value === '1';
        return (volume) => (volume.usedBy.length === 0) === dangling;
      }
      case 'name':
        return (volume) => volume.Name.includes(value);
      case 'driver':
        return (volume) => volume.Driver === value;
      case 'label': {
        const labelEquals = value.indexOf('=');
        const label = labelEquals < 0 ? value : value.slice(0, labelEquals);
        return (volume) => volume.Labels !== null && Object.hasOwn(volume.Labels, label) && (labelEquals < 0 || volume.Labels[label] === value.slice(labelEquals + 1));
      }
      default:
        throw new TsbuildError('INVALID_ARGUMENT', `invalid filter '${key}'`);
    }
  });
  return (volume) => tests.every((test) => test(volume));
}


/** docker's column titles for the fields of `volume ls`'s rows. */
const volumeHeaders: Readonly<Record<string, string>> = { Name: 'VOLUME NAME', Driver: 'DRIVER', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', Labels: 'LABELS', Links: 'LINKS', Size: 'SIZE' };

/** The volume NAME as `volume inspect` prints it; a missing one is refused in the daemon's words (`get NAME: no such volume`). */
export async function inspectVolumeNamed(store: Store, name: string): Promise<VolumeInfo> {
  return info(await inspectVolume(store, name));
}

const info = (volume: VolumeInfo): VolumeInfo => ({
  CreatedAt: volume.CreatedAt,
  Driver: volume.Driver,
  Labels: volume.Labels,
  Mountpoint: volume.Mountpoint,
  Name: volume.Name,
  Options: volume.Options,
  Scope: volume.Scope,
});

/**
 * `tsbuild volume create|ls|inspect|rm|prune`, with docker's output. As an ordinary user each
 * runs in the user namespace containers run in: a volume holds files of the container's users.
 */
export function registerVolume(program: Command, io: CliIo): void {
  const volume = program.command('volume').description('manage volumes');
  const inNamespace = async (options: RootOption): Promise<void> => {
    const inner = await runInUserNamespace(options.root);
    if (inner !== undefined) throw new ExitError(inner);
  };

  addRootOption(
    volume
      .command('create')
      .description('create a volume')
      .argument('[name]', 'its name (default: a random 64-hex one)')
      .option('-l, --label <K=V>', 'set a label (repeatable)', collect, [])
      .option('-o, --opt <K=V>', "the local driver's options: type=, device=, o= (repeatable)", collect, [])
      .option('-d, --driver <name>', 'local only', 'local'),
  ).action(async (name: string | undefined, options: RootOption & { label: string[]; opt: string[]; driver: string }) => {
    await inNamespace(options);
    if (options.driver !== 'local') throw new TsbuildError('INVALID_ARGUMENT', `create volume: driver ${options.driver} is not supported (local only)`);
    const store = await storeFromOptions(options);
    try {
      const created = await createVolume(store, { ...(name === undefined ? {} : { name }), labels: parseLabels(options.label), driverOptions: keyValueMap(options.opt) });
      io.stdout.write(`${created.Name}\n`);
    } catch (error) {
      // The driver's refusals, as docker's CLI prints them (status 1).
      if (!isTsbuildError(error, 'INVALID_ARGUMENT')) throw error;
      io.stderr.write(`Error response from daemon: ${error.message}\n`);
      throw new ExitError(1);
    }
  });

  addRootOption(
    volume
      .command('ls')
      .alias('list')
      .description('list volumes')
      .option('-q, --quiet', 'print only names')
      .option('-f, --filter <key=value>', 'dangling=, name=, label=, driver= (repeatable)', collectFilter, [])
      .option('--format <format>', 'table, json, or a template such as {{.Name}}; volumesFormat of docker\'s config.json by default'),
  ).action(async (options: RootOption & { quiet?: boolean; filter: string[]; format?: string }) => {
    await inNamespace(options);
    const store = await storeFromOptions(options);
    const accept = volumeFilter(options.filter);
    const volumes = (await listVolumes(store)).filter(accept);
    if (options.quiet === true) {
      for (const entry of volumes) io.stdout.write(`${entry.Name}\n`);
      return;
    }
    // docker's volume row: Labels as `k=v,…`, N/A where it keeps no figure (cluster volumes' fields
    // too); `json` is that row with its keys sorted, as `{{json .}}` writes docker's.
    const row = (entry: VolumeSummary): Record<string, string> => ({
      Availability: 'N/A',
      Driver: entry.Driver,
      Group: 'N/A',
      Labels: Object.entries(entry.Labels ?? {}).map(([key, value]) => `${key}=${value}`).join(','),
      Links: 'N/A',
      Mountpoint: entry.Mountpoint,
      Name: entry.Name,
      Scope: entry.Scope,
      Size: 'N/A',
      Status: 'N/A',
    });
    const format = await listFormat(options.format, 'volumesFormat');
    if (format === 'json') {
      for (const entry of volumes) io.stdout.write(`${JSON.stringify(row(entry))}\n`);
      return;
    }
    if (format !== 'table') {
      const rows = volumes.map((entry) => ({ ...row(entry), Label: (key: unknown) => entry.Labels?.[String(key)] ?? '' }));
      io.stdout.write(formatListTemplate(format, rows, volumeHeaders, '*formatter.volumeContext'));
      return;
    }
    io.stdout.write(dockerTable([['DRIVER', 'VOLUME NAME'], ...volumes.map((entry) => [entry.Driver, entry.Name])]));
  });

  addRootOption(
    volume
      .command('inspect')
      .description("show volumes' details as JSON")
      .argument('<name...>')
      .option('-f, --format <template>', 'a template such as {{.Mountpoint}}'),
  ).action(async (names: string[], options: RootOption & { format?: string }) => {
    await inNamespace(options);
    const store = await storeFromOptions(options);
    await printInspected(io, names, options.format, async (name) => ({ document: await inspectVolumeNamed(store, name), shape: volumeShape }));
  });

  addRootOption(
    volume
      .command('rm')
      .alias('remove')
      .description('remove volumes no container uses')
      .argument('<name...>')
      .option('-f, --force', 'no error for a volume that does not exist'),
  ).action(async (names: string[], options: RootOption & { force?: boolean }) => {
    await inNamespace(options);
    const store = await storeFromOptions(options);
    let failed = false;
    for (const name of names) {
      try {
        await removeVolume(store, name, { force: options.force === true });
        io.stdout.write(`${name}\n`);
      } catch (error) {
        if (!isTsbuildError(error)) throw error;
        io.stderr.write(`Error response from daemon: ${error.message}\n`);
        failed = true;
      }
    }
    if (failed) throw new ExitError(1);
  });

  addRootOption(
    volume
      .command('prune')
      .description('remove anonymous volumes no container uses (all unused ones with --all)')
      .option('-a, --all', 'named volumes too')
      .option('-f, --force', 'do not ask for confirmation')
      .option('--filter <key=value>', 'label= (repeatable)', collect, []),
  ).action(async (options: RootOption & { all?: boolean; force?: boolean; filter: string[] }) => {
    await inNamespace(options);
    const store = await storeFromOptions(options);
    const accept = volumeFilter(options.filter);
    if (options.force !== true) {
      const what = options.all === true ? 'all local volumes not used by at least one container' : 'anonymous local volumes not used by at least one container';
      if (!(await confirmRemoval(io, what))) return;
    }
    const result = await pruneVolumes(store, { all: options.all === true, filter: accept });
    if (result.removed.length > 0) io.stdout.write(`Deleted Volumes:\n${result.removed.map((name) => `${name}\n`).join('')}\n`);
    io.stdout.write(`Total reclaimed space: ${formatBytes(result.bytesFreed, 3, '')}\n`);
  });
}
