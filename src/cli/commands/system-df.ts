/**
 * `system df`, as docker's: what images, containers, local volumes and the build cache take on
 * disk, how many are in use, and what removing the unused ones would free; `-v` lists each of
 * them under docker's headings, and `--format` takes docker's fields (Type, TotalCount, Active,
 * Size, Reclaimable) or json.
 *
 * docker's figures, kept: an image's size is its layers' (as tars), its shared size what of it
 * other images hold too, its unique size the rest; images in use are those a container was made
 * from, and what is reclaimable of the images is the whole minus the unique sizes of those. A
 * container counts its writable layer, in use while it runs; a volume its files, in use while a
 * container has it; a build cache record the bytes only it holds.
 */
import type { Command } from 'commander';
import { cacheUsage } from '../../cache/index.js';
import { treeSize, type Digest } from '../../common/index.js';
import { cacheMountUsage } from '../../executor/index.js';
import { listContainerRecords, listVolumes, observeState, writableLayerSize } from '../../runtime/index.js';
import { layerContentSizes, listImages, resolveImage, type Store } from '../../store/index.js';
import { dockerTable, formatBytes, formatCreatedSince, humanDuration } from '../format.js';
import { formatListTemplate, sortedKeys } from '../go-template.js';
import type { CliIo } from '../io.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';
import { containerListFields } from './containers.js';

interface DiskImage {
  readonly id: string;
  readonly repository: string;
  readonly tag: string;
  readonly created: string;
  readonly layers: ReadonlyArray<{ readonly digest: string; readonly size: number }>;
  readonly size: number;
  sharedSize: number;
  containers: number;
}

/** One image per ID (the first name it is listed under), with its layers and their content sizes. */
async function diskImages(store: Store): Promise<DiskImage[]> {
  const byId = new Map<string, DiskImage>();
  // Every entry of index.json, read once: each summary names its image by the entry's digest.
  const targets = new Map([...(await store.listReferences()).map((reference) => reference.target), ...(await store.listUnnamed())].map((target) => [target.digest, target]));
  for (const summary of await listImages(store)) {
    if (summary.id === '' || byId.has(summary.id)) continue;
    const target = targets.get(summary.digest as Digest);
    if (target === undefined) continue;
    const image = await resolveImage(store, target).catch(() => undefined);
    if (image === undefined) continue;
    const sizes = await layerContentSizes(store, image.manifest.layers);
    const layers = image.manifest.layers.map((layer, index) => ({ digest: layer.digest, size: sizes[index] ?? layer.size }));
    byId.set(summary.id, { id: summary.id, repository: summary.repository, tag: summary.tag, created: summary.created, layers, size: layers.reduce((sum, layer) => sum + layer.size, 0), sharedSize: 0, containers: 0 });
  }
  const images = [...byId.values()];
  const holders = new Map<string, number>();
  for (const image of images) for (const digest of new Set(image.layers.map((layer) => layer.digest))) holders.set(digest, (holders.get(digest) ?? 0) + 1);
  for (const image of images) image.sharedSize = image.layers.filter((layer) => (holders.get(layer.digest) ?? 0) > 1).reduce((sum, layer) => sum + layer.size, 0);
  return images;
}

/** go-units' HumanSize (four significant digits), which docker's summary, shared and unique sizes and volumes use. */
const size = (bytes: number): string => formatBytes(bytes, 4, '');
/** HumanSizeWithPrecision(…, 3): docker's image, container and cache record sizes in the lists. */
const shortSize = (bytes: number): string => formatBytes(bytes, 3, '');

/** docker's RECLAIMABLE: the bytes, and their share of the whole in whole percents when there is a whole. */
function reclaimable(bytes: number, total: number): string {
  return total > 0 ? `${size(bytes)} (${Math.floor((bytes * 100) / total)}%)` : size(bytes);
}

export function defineDf(system: Command, io: CliIo): void {
  addRootOption(
    system
      .command('df')
      .description('show disk usage: images, containers, local volumes and the build cache (docker system df)')
      .option('-v, --verbose', 'list every image, container, volume and cache record')
      .option('--format <format>', 'table, json (one object per line), or a Go template such as {{.Type}} {{.Size}}'),
  ).action(async (flags: RootOption & { verbose?: boolean; format?: string }) => {
    const store = await storeFromOptions(flags);
    const now = Date.now();
    const [images, records, volumes, usage, mounts] = await Promise.all([diskImages(store), listContainerRecords(store), listVolumes(store), cacheUsage(store), cacheMountUsage(store)]);
    const containers = await Promise.all(
      records.map(async (record) => {
        const observed = await observeState(record);
        return { record, observed, size: await writableLayerSize(store, record.id), volumes: volumes.filter((volume) => volume.usedBy.includes(record.id)).length };
      }),
    );
    for (const { record } of containers) {
      const image = images.find((candidate) => candidate.id === record.image.id);
      if (image !== undefined) image.containers++;
    }
    const volumeSizes = await Promise.all(volumes.map(async (volume) => ({ name: volume.Name, links: volume.usedBy.length, size: await treeSize(volume.Mountpoint) })));

    const layerSizes = new Map<string, number>();
    for (const image of images) for (const layer of image.layers) layerSizes.set(layer.digest, layer.size);
    const imagesTotal = [...layerSizes.values()].reduce((sum, bytes) => sum + bytes, 0);
    const imagesUsed = images.filter((image) => image.containers > 0).reduce((sum, image) => sum + image.size - image.sharedSize, 0);
    const containersTotal = containers.reduce((sum, container) => sum + container.size, 0);
    const volumesTotal = volumeSizes.reduce((sum, volume) => sum + volume.size, 0);
    const cacheSize = usage.size + mounts.reduce((sum, mount) => sum + mount.size, 0);
    const cacheCount = usage.records.length + mounts.length;
    // While another build runs, every record may be in use by it.
    const cacheActive = usage.activeBuilds > 0 ? cacheCount : 0;
    const summary = [
      { Type: 'Images', TotalCount: String(images.length), Active: String(images.filter((image) => image.containers > 0).length), Size: size(imagesTotal), Reclaimable: reclaimable(imagesTotal - imagesUsed, imagesTotal) },
      {
        Type: 'Containers',
        TotalCount: String(containers.length),
        Active: String(containers.filter((container) => container.observed.running).length),
        Size: size(containersTotal),
        Reclaimable: reclaimable(containers.filter((container) => !container.observed.running).reduce((sum, container) => sum + container.size, 0), containersTotal),
      },
      { Type: 'Local Volumes', TotalCount: String(volumeSizes.length), Active: String(volumeSizes.filter((volume) => volume.links > 0).length), Size: size(volumesTotal), Reclaimable: reclaimable(volumeSizes.filter((volume) => volume.links === 0).reduce((sum, volume) => sum + volume.size, 0), volumesTotal) },
      { Type: 'Build Cache', TotalCount: String(cacheCount), Active: String(cacheActive), Size: size(cacheSize), Reclaimable: size(cacheActive > 0 ? 0 : cacheSize) },
    ];

    if (flags.verbose !== true) {
      const format = flags.format === undefined || flags.format === 'table' ? 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}' : flags.format === 'json' ? '{{json .}}' : flags.format;
      // As docker's rows, which marshal as maps: keys sorted in json.
      io.stdout.write(formatListTemplate(format, summary.map((row) => sortedKeys(row)), { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' }));
      return;
    }
    const out: string[] = [];
    out.push('Images space usage:\n\n');
    out.push(
      dockerTable([
        ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'],
        ...images.map((image) => [image.repository, image.tag, image.id.slice(7, 19), formatCreatedSince(image.created, now), shortSize(image.size), size(image.sharedSize), size(image.size - image.sharedSize), String(image.containers)]),
      ]),
    );
    out.push('\nContainers space usage:\n\n');
    out.push(
      dockerTable([
        ['CONTAINER ID', 'IMAGE', 'COMMAND', 'LOCAL VOLUMES', 'SIZE', 'CREATED', 'STATUS', 'NAMES'],
        ...containers.map((container) => {
          const fields = containerListFields(store, container.record, container.observed);
          return [fields.ID ?? '', fields.Image ?? '', fields.Command ?? '', String(container.volumes), shortSize(container.size), fields.RunningFor ?? '', fields.Status ?? '', fields.Names ?? ''];
        }),
      ]),
    );
    out.push('\nLocal Volumes space usage:\n\n');
    out.push(dockerTable([['VOLUME NAME', 'LINKS', 'SIZE'], ...volumeSizes.map((volume) => [volume.name, String(volume.links), size(volume.size)])]));
    out.push(`\nBuild cache usage: ${size(cacheSize)}\n\n`);
    const cacheRecords = [...usage.records].sort((a, b) => b.lastUsed - a.lastUsed);
    out.push(
      dockerTable([
        // docker's USAGE column (how often a record was used) is not kept here, so not shown.
        ['CACHE ID', 'CACHE TYPE', 'SIZE', 'CREATED', 'LAST USED', 'SHARED'],
        // A record is named by its step's key: two steps may give the same result (one manifest).
        ...cacheRecords.map((record) => [
          (record.key === '' ? record.id : record.key).replace(/^sha256:/, '').slice(0, 12),
          record.broken ? 'broken' : 'regular',
          shortSize(record.size),
          record.created === undefined ? 'N/A' : formatCreatedSince(record.created, now),
          record.lastUsed === 0 ? 'N/A' : `${humanDuration(now - record.lastUsed)} ago`,
          String(record.shared),
        ]),
        ...mounts.map((mount) => [
          mount.name.slice(0, 25),
          'exec.cachemount',
          shortSize(mount.size),
          mount.created === undefined ? 'N/A' : formatCreatedSince(mount.created, now),
          mount.lastUsed === 0 ? 'N/A' : `${humanDuration(now - mount.lastUsed)} ago`,
          'false',
        ]),
      ]),
    );
    io.stdout.write(out.join(''));
  });
}
