import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { TsbuildError, familiarReference, isTsbuildError, hostPlatform, parsePlatform, parseReference, type Digest, type Platform } from '../../common/index.js';
import { findImage, imageContentSize, noSuchImage, resolveImage, type Store } from '../../store/index.js';
import { ClientError, type CliIo } from '../io.js';
import { nilMap, nilSlice, type InspectDocument } from '../go-template.js';
import { inspectContainers } from './containers.js';
import { printInspected } from './inspect-output.js';
import { containerShape, imageShape, networkShape, volumeShape } from '../inspect-shapes.js';
import { inspectNetworkNamed } from './network.js';
import { inspectVolumeNamed } from './volume.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

/**
 * An image's run config as docker's inspect prints it: every field of its container config in
 * its order, the unset ones as Go's zero values (\"\", false, nil: JSON null, `[]` or `map[]` in a template), the optional ones only when
 * set. Fields docker does not know are kept after them.
 */
export function dockerContainerConfig(containerConfig: object): Record<string, unknown> {
  // A copy is a plain record: any key may be looked up.
  const config: Readonly<Record<string, unknown>> = { ...containerConfig };
  const always: ReadonlyArray<readonly [string, unknown]> = [
    ['Hostname', ''],
    ['Domainname', ''],
    ['User', ''],
    ['AttachStdin', false],
    ['AttachStdout', false],
    ['AttachStderr', false],
    ['ExposedPorts', undefined],
    ['Tty', false],
    ['OpenStdin', false],
    ['StdinOnce', false],
    ['Env', nilSlice],
    ['Cmd', nilSlice],
    ['Healthcheck', undefined],
    ['ArgsEscaped', undefined],
    ['Image', ''],
    ['Volumes', nilMap],
    ['WorkingDir', ''],
    ['Entrypoint', nilSlice],
    ['NetworkDisabled', undefined],
    ['MacAddress', undefined],
    ['OnBuild', nilSlice],
    ['Labels', nilMap],
    ['StopSignal', undefined],
    ['StopTimeout', undefined],
    ['Shell', undefined],
  ];
  const result: Record<string, unknown> = {};
  for (const [key, zero] of always) {
    const value = config[key];
    if (value !== undefined) result[key] = value;
    else if (zero !== undefined) result[key] = zero;
  }
  for (const [key, value] of Object.entries(config)) if (!(key in result) && value !== undefined) result[key] = value;
  return result;
}

/** The kinds of objects `inspect --type` names, in the order docker tries them for a name given without one. */
const inspectKinds = ['container', 'image', 'network', 'volume'] as const;
type InspectKind = (typeof inspectKinds)[number];

function isInspectKind(text: string): text is InspectKind {
  return (inspectKinds as readonly string[]).includes(text);
}

/** When the blob DIGEST came into the store, as Go's RFC 3339 with nanoseconds writes it. */
async function arrivalTime(store: Store, digest: Digest): Promise<string> {
  const info = await stat(store.blobPath(digest), { bigint: true }).catch(() => undefined);
  if (info === undefined) return '0001-01-01T00:00:00Z';
  const seconds = info.mtimeNs / 1_000_000_000n;
  const fraction = (info.mtimeNs % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}${fraction === '' ? '' : `.${fraction}`}Z`;
}

/** An image as `docker image inspect` prints it: docker's fields first, then the image as stored. */
async function inspectImage(store: Store, image: string, platform: Platform): Promise<Record<string, unknown>> {
  const found = await findImage(store, image);
  if (found === undefined) throw noSuchImage(image);
  const resolved = await resolveImage(store, found.descriptor, platform);
  const names = (await store.listReferences()).filter((reference) => reference.target.digest === found.descriptor.digest).map((reference) => parseReference(reference.name, { defaultTag: false }));
  const config = resolved.config;
  const size = await imageContentSize(store, resolved.manifest);
  // docker's fields first, named and shaped as `docker image inspect` prints them, so that
  // scripts reading .Config.Env or .RootFS.Layers work unchanged; then the image as stored.
  return {
    Id: resolved.manifest.config.digest,
    RepoTags: names.filter((name) => name.tag !== undefined).map((name) => familiarReference(name)),
    RepoDigests: [...new Set(names.map((name) => `${familiarReference({ domain: name.domain, path: name.path })}@${found.descriptor.digest}`))],
    Parent: '',
    // As docker's inspect: the config's comment, else the last history entry's (commit's message).
    Comment: config.comment !== undefined && config.comment !== '' ? config.comment : (config.history?.at(-1)?.comment ?? ''),
    Created: config.created ?? '',
    DockerVersion: '',
    Author: config.author ?? '',
    Config: dockerContainerConfig(config.config ?? {}),
    Architecture: config.architecture,
    ...(config.variant === undefined ? {} : { Variant: config.variant }),
    Os: config.os,
    // docker 26 (API 1.45) no longer gives VirtualSize.
    Size: size,
    // The layers are the store's, not a driver's directories: no paths to give.
    GraphDriver: { Data: null, Name: 'overlay' },
    RootFS: { Type: config.rootfs.type, Layers: config.rootfs.diff_ids },
    // When the image came under a name: its manifest's arrival in the store (docker's zero time for one without a name).
    Metadata: { LastTagTime: names.some((name) => name.tag !== undefined) ? await arrivalTime(store, found.descriptor.digest) : '0001-01-01T00:00:00Z' },
    Digest: found.descriptor.digest,
    Descriptor: resolved.descriptor,
    ...(resolved.index === undefined ? {} : { Index: resolved.index.index }),
    Manifest: resolved.manifest,
    ImageConfig: config,
  };
}

export function registerInspect(program: Command, io: CliIo): void {
  addRootOption(
    program
      .command('inspect')
      .description('print containers, images, networks or volumes as JSON, with docker\'s fields (a container\'s Id, State, Config, HostConfig…; an image\'s Id, RepoTags, Config, RootFS…)')
      .argument('<names...>', 'names or IDs')
      .option('--platform <os/arch[/variant]>', 'platform inside a multi-platform image (default: this machine)')
      .option('--type <type>', 'container, image, network or volume (default: the first of these, in that order, with that name or ID)')
      .option('-f, --format <template>', 'a Go template such as {{.State.Status}} or {{json .Config}}'),
  ).action(async (names: string[], options: RootOption & { platform?: string; type?: string; format?: string }) => {
    const { type } = options;
    if (type !== undefined && !isInspectKind(type)) throw new ClientError(`"${type}" is not a valid value for --type`);
    const store = await storeFromOptions(options);
    const platform = options.platform === undefined ? hostPlatform() : parsePlatform(options.platform);
    const lookups: Record<InspectKind, (name: string) => Promise<InspectDocument>> = {
      container: async (name) => ({ document: (await inspectContainers(store, [name]))[0], shape: containerShape }),
      image: async (name) => ({ document: await inspectImage(store, name, platform), shape: imageShape }),
      network: async (name) => ({ document: await inspectNetworkNamed(store, name), shape: networkShape }),
      volume: async (name) => ({ document: await inspectVolumeNamed(store, name), shape: volumeShape }),
    };
    await printInspected(io, names, options.format, async (name) => {
      if (type !== undefined) return lookups[type](name);
      for (const kind of inspectKinds) {
        try {
          return await lookups[kind](name);
        } catch (error) {
          // A name that cannot be an image's (upper case) is no image of that name.
          if (!isTsbuildError(error, 'NOT_FOUND') && !(kind === 'image' && isTsbuildError(error, 'INVALID_ARGUMENT'))) throw error;
        }
      }
      throw new TsbuildError('NOT_FOUND', `No such object: ${name}`);
    });
  });
}
