import type { Command } from 'commander';
import { TsbuildError, familiarReference, isTsbuildError, hostPlatform, parsePlatform, parseReference } from '../../common/index.js';
import { findImage, imageTarSize, resolveImage } from '../../store/index.js';
import type { CliIo } from '../io.js';
import { inspectWithTemplate, nilMap, nilSlice } from '../go-template.js';
import { inspectContainers } from './containers.js';
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

export function registerInspect(program: Command, io: CliIo): void {
  addRootOption(
    program
      .command('inspect')
      .description('print containers or images as JSON: docker\'s fields (a container\'s Id, State, Config, HostConfig…; an image\'s Id, RepoTags, Config, RootFS…)')
      .argument('<images...>', 'image names, IDs or digests')
      .option('--platform <os/arch[/variant]>', 'platform inside a multi-platform image (default: this machine)')
      .option('--type <type>', 'container or image (default: a container of that name or ID, else an image)')
      .option('-f, --format <template>', 'a Go template such as {{.State.Status}} or {{json .Config}}'),
  ).action(async (images: string[], options: RootOption & { platform?: string; type?: string; format?: string }) => {
    const store = await storeFromOptions(options);
    const platform = options.platform === undefined ? hostPlatform() : parsePlatform(options.platform);
    const results: unknown[] = [];
    for (const image of images) {
      if (options.type !== 'image') {
        // As docker: a container of that name or ID first.
        const container = await inspectContainers(store, [image]).catch((error: unknown) => {
          if (options.type === 'container' || !isTsbuildError(error, 'NOT_FOUND')) throw error;
          return undefined;
        });
        if (container !== undefined) {
          results.push(...container);
          continue;
        }
      }
      const found = await findImage(store, image);
      if (found === undefined) throw new TsbuildError('NOT_FOUND', `inspect image: no such image ${image}`);
      const resolved = await resolveImage(store, found.descriptor, platform);
      const names = (await store.listReferences()).filter((reference) => reference.target.digest === found.descriptor.digest).map((reference) => parseReference(reference.name, { defaultTag: false }));
      const config = resolved.config;
      const size = await imageTarSize(store, resolved.manifest);
      // docker's fields first, named and shaped as `docker image inspect` prints them, so that
      // scripts reading .Config.Env or .RootFS.Layers work unchanged; then the image as stored.
      results.push({
        Id: resolved.manifest.config.digest,
        RepoTags: names.filter((name) => name.tag !== undefined).map((name) => familiarReference(name)),
        RepoDigests: [...new Set(names.map((name) => `${familiarReference({ domain: name.domain, path: name.path })}@${found.descriptor.digest}`))],
        Parent: '',
        Comment: config.comment ?? '',
        Created: config.created ?? '',
        DockerVersion: '',
        Author: config.author ?? '',
        Config: dockerContainerConfig(config.config ?? {}),
        Architecture: config.architecture,
        ...(config.variant === undefined ? {} : { Variant: config.variant }),
        Os: config.os,
        Size: size,
        VirtualSize: size,
        RootFS: { Type: config.rootfs.type, Layers: config.rootfs.diff_ids },
        Digest: found.descriptor.digest,
        Descriptor: resolved.descriptor,
        ...(resolved.index === undefined ? {} : { Index: resolved.index.index }),
        Manifest: resolved.manifest,
        ImageConfig: config,
      });
    }
    if (options.format === undefined) io.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    else io.stdout.write(inspectWithTemplate(options.format, results));
  });
}
