/**
 * `tsbuild version` and `tsbuild info` (also `system info`): what docker's and podman's print,
 * for a tool without a daemon: the client's version and platform, and the store's containers,
 * images, storage, cgroups and machine. Both take `--format` Go templates over docker's field
 * names (`{{.Client.Version}}`, `{{.Containers}}`, `{{.DockerRootDir}}`, …).
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, hostname, machine, release, totalmem, type } from 'node:os';
import type { Command } from 'commander';
import { hostPlatform } from '../../common/index.js';
import { listContainerRecords, observeState } from '../../runtime/index.js';
import { listImages } from '../../store/index.js';
import { parseGoTemplateOrExit } from '../go-template.js';
import type { CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';
import { packageVersion } from '../version.js';

interface FormatOption {
  readonly format?: string;
}

function clientInfo(): Record<string, string> {
  return {
    Platform: 'tsbuild',
    Version: packageVersion(),
    NodeVersion: process.version,
    Os: process.platform,
    Arch: hostPlatform().architecture,
  };
}

/** The lines `docker version` prints, for the client only: there is no server to ask. */
function versionText(client: Readonly<Record<string, string>>): string {
  const rows: Array<[string, string]> = [
    ['Version', client['Version'] ?? ''],
    ['Node version', client['NodeVersion'] ?? ''],
    ['OS/Arch', `${client['Os'] ?? ''}/${client['Arch'] ?? ''}`],
  ];
  return `Client: tsbuild\n${rows.map(([key, value]) => ` ${`${key}:`.padEnd(18)} ${value}\n`).join('')}\nServer: none (tsbuild runs without a daemon; every command reads the store itself)\n`;
}

function osRelease(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1] ?? type();
  } catch {
    return type();
  }
}

function cgroupVersion(): string {
  return existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
}

/** What `docker info` reports, under docker's field names, for this store and machine. */
async function systemInfo(options: RootOption): Promise<Record<string, unknown>> {
  const store = await storeFromOptions(options);
  const records = await listContainerRecords(store);
  const states = await Promise.all(records.map((record) => observeState(record)));
  const images = await listImages(store);
  const rootless = process.getuid?.() !== 0;
  return {
    ID: '',
    Containers: records.length,
    ContainersRunning: states.filter((state) => state.running && state.status !== 'paused').length,
    ContainersPaused: states.filter((state) => state.status === 'paused').length,
    ContainersStopped: states.filter((state) => !state.running).length,
    Images: new Set(images.map((image) => image.id)).size,
    Driver: 'overlay',
    CgroupDriver: 'cgroupfs',
    CgroupVersion: cgroupVersion(),
    KernelVersion: release(),
    OperatingSystem: osRelease(),
    OSType: process.platform,
    Architecture: machine(),
    NCPU: availableParallelism(),
    MemTotal: totalmem(),
    DockerRootDir: store.root,
    Name: hostname(),
    ServerVersion: packageVersion(),
    DefaultRuntime: 'runtime-shim',
    Runtimes: { 'runtime-shim': { path: 'tsbuild-runtime' }, crun: { path: 'crun' }, runc: { path: 'runc' } },
    SecurityOptions: ['name=seccomp,profile=builtin', ...(rootless ? ['name=rootless'] : [])],
    Rootless: rootless,
  };
}

function infoText(info: Readonly<Record<string, unknown>>): string {
  const text = (key: string): string => String(info[key] ?? '');
  const lines = [
    'Client: tsbuild',
    ` Version:    ${packageVersion()}`,
    '',
    'Server:',
    ` Containers: ${text('Containers')}`,
    `  Running: ${text('ContainersRunning')}`,
    `  Paused: ${text('ContainersPaused')}`,
    `  Stopped: ${text('ContainersStopped')}`,
    ` Images: ${text('Images')}`,
    ` Server Version: ${text('ServerVersion')} (no daemon)`,
    ` Storage Driver: ${text('Driver')}`,
    ` Cgroup Driver: ${text('CgroupDriver')}`,
    ` Cgroup Version: ${text('CgroupVersion')}`,
    ` Runtimes: ${Object.keys(info['Runtimes'] as object).join(' ')}`,
    ` Default Runtime: ${text('DefaultRuntime')}`,
    ' Security Options:',
    '  seccomp',
    '   Profile: builtin',
    ...(info['Rootless'] === true ? ['  rootless'] : []),
    ` Kernel Version: ${text('KernelVersion')}`,
    ` Operating System: ${text('OperatingSystem')}`,
    ` OSType: ${text('OSType')}`,
    ` Architecture: ${text('Architecture')}`,
    ` CPUs: ${text('NCPU')}`,
    ` Total Memory: ${(Number(info['MemTotal']) / 1024 ** 3).toFixed(2).replace(/\.?0+$/, '')}GiB`,
    ` Name: ${text('Name')}`,
    ` Docker Root Dir: ${text('DockerRootDir')}`,
  ];
  return `${lines.join('\n')}\n`;
}

export function registerVersion(program: Command, io: CliIo): void {
  program
    .command('version')
    .description("show tsbuild's version, as docker version shows the client's")
    .option('-f, --format <template>', 'a Go template such as {{.Client.Version}}, or json')
    .action((options: FormatOption) => {
      const client = clientInfo();
      const document = { Client: client, Server: null };
      if (options.format === undefined) io.stdout.write(versionText(client));
      else if (options.format === 'json') io.stdout.write(`${JSON.stringify(document)}\n`);
      else io.stdout.write(`${parseGoTemplateOrExit(io, options.format).execute(document)}\n`);
    });
}

export function registerInfo(program: Command, io: CliIo, name = 'info'): void {
  addRootOption(
    program
      .command(name)
      .description('show the store and the machine: containers, images, storage, cgroups, kernel (docker info)')
      .option('-f, --format <template>', 'a Go template such as {{.Containers}} or {{json .}}, or json'),
  ).action(async (options: RootOption & FormatOption) => {
    const template = options.format === undefined || options.format === 'json' ? undefined : parseGoTemplateOrExit(io, options.format);
    const info = await systemInfo(options);
    if (options.format === 'json') io.stdout.write(`${JSON.stringify(info)}\n`);
    else if (template !== undefined) io.stdout.write(`${template.execute(info)}\n`);
    else io.stdout.write(infoText(info));
  });
}
