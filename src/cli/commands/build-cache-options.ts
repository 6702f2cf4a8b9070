/**
 * `build --cache-from` / `--cache-to`: the flags, the cache a build uses, and the exports after
 * it. Kept out of build.ts so that the command reads as the build it runs.
 */
import type { Command } from 'commander';
import pLimit from 'p-limit';
import { BuildCache, LocalStepCache, applyCacheCap, cacheCapSetting, markBuildRunning, exportCache, inlineCacheOf, inlineCacheField, parseCacheFrom, parseCacheTo, type CacheExport } from '../../cache/index.js';
import { MediaType, messageOf, parseByteSize, type Platform } from '../../common/index.js';
import type { CacheMountLayers, LayerRef } from '../../cache/index.js';
import { packCacheMount, reclaimAbandonedTemporaries, type BuildEvent, type StepHandle } from '../../executor/index.js';
import { listContainerRecords } from '../../runtime/index.js';
import { exportCompression, layerInCompression } from '../../exporter/index.js';
import type { RegistryClient } from '../../registry/index.js';
import type { Store } from '../../store/index.js';
import { collect } from '../common-options.js';

export interface CacheFlags {
  cacheFrom: string[];
  cacheTo: string[];
  explainCache?: boolean;
  cacheMaxSize?: string;
}

export function addCacheOptions(command: Command): Command {
  return command
    .option('--cache-from <spec>', 'import build cache: type=registry,ref=REF (a cache or an image with an inline cache) or type=local,src=DIR (repeatable)', collect, [])
    .option('--cache-to <spec>', 'export build cache: type=registry,ref=REF | type=local,dest=DIR | type=inline, with mode=min|max, cache-mounts=true and ignore-error=true (repeatable)', collect, [])
    .option('--explain-cache', 'after the build, say for every step why it hit or missed the cache')
    .option('--cache-max-size <size>', 'after the build, remove least recently used cache records beyond SIZE (0: never; default: config.json, else 20% of the free disk)');
}

/**
 * The flags with `--cache-to type=inline` added when the build argument BUILDKIT_INLINE_CACHE is
 * true, as docker build and buildx take it (its value read as Go's strconv.ParseBool reads it;
 * one it cannot read is false).
 */
export function withInlineCacheArg<T extends CacheFlags>(flags: T, buildArgs: Readonly<Record<string, string>>): T {
  const value = buildArgs.BUILDKIT_INLINE_CACHE;
  if (value === undefined || !['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return flags;
  return { ...flags, cacheTo: [...flags.cacheTo, 'type=inline'] };
}

export interface BuildCachePlan {
  readonly cache: BuildCache;
  readonly exports: readonly CacheExport[];
  /** The image config field the inline cache adds, when --cache-to type=inline asks for one. */
  readonly configExtras: ((layers: readonly LayerRef[]) => Promise<Record<string, unknown>>) | undefined;
  /** Takes the build's events, to keep each step's cache verdict for --explain-cache. */
  observe(event: BuildEvent): void;
  /** The --explain-cache report: one line per step with a verdict; empty without the flag. */
  explanation(): string;
  /** Each step's cache verdict by step name: why it missed (and, with --explain-cache, the hits). */
  verdicts(): Record<string, string>;
  /**
   * Marks the build as running on the root (a prune elsewhere then spares its blobs) until the
   * returned function is called, and clears what killed builds left.
   */
  begin(): Promise<() => Promise<void>>;
  /** The automatic cap, after a build. */
  afterBuild(warnAfter: (message: string) => void): Promise<void>;
  /** Writes every non-inline export; failures with ignore-error=true are warnings. */
  /** Every export of the build, once: IMAGES are what it made, one per platform (the first's platform and steps name the export). */
  exportAll(images: readonly { readonly layers: readonly LayerRef[]; readonly platform: Platform; step(name: string): StepHandle }[], warn: (message: string) => void): Promise<void>;
}

/**
 * Parses the flags (before anything runs, so a wrong spec fails at once) and makes the build's
 * cache. SENDSIMAGE: the build pushes its image or writes it out (its layers then leave compressed).
 */
export function planBuildCache(flags: CacheFlags, store: Store, registry: () => Promise<RegistryClient>, warn: (message: string) => void, sendsImage = true): BuildCachePlan {
  if (flags.cacheMaxSize !== undefined) parseByteSize(flags.cacheMaxSize);
  const imports = flags.cacheFrom.map((spec) => parseCacheFrom(spec));
  const exports = flags.cacheTo.map((spec) => parseCacheTo(spec));
  // A mode=max export sends every step's layer compressed: each is compressed as its step ends,
  // while later steps run, rather than all after the build (the export then finds them made),
  // and a registry export pushes it then too: at the end it sends what the registry still lacks
  // (nothing, when these pushes went well: their failures are the export's to report) and the
  // config and manifest.
  const early = exports.flatMap((target) => (target.type !== 'inline' && target.mode === 'max' ? [{ target, wanted: target.compression === undefined ? exportCompression : { type: target.compression, force: false } }] : []));
  // By destination and layer: two steps may make the same layer, which is sent once.
  const earlyPushes = new Map<string, Promise<void>>();
  // One layer compressed at a time, its runs two at once on the thread pool: the steps still
  // running need the other threads (their layers are hashed and written there) and the cores.
  const compressing = pLimit(1);
  const onLayer = (layer: LayerRef): void => {
    for (const { target, wanted } of early) {
      const made = compressing(() => layerInCompression(store, layer.descriptor, layer.diffId, wanted));
      made.catch(() => undefined);
      const push = `${target.type === 'registry' ? target.ref : ''} ${layer.diffId} ${wanted.type}`;
      if (target.type !== 'registry' || earlyPushes.has(push)) continue;
      // Read unhashed, as the export reads it: the registry hashes what it receives.
      const pushed = made.then(async (descriptor) => {
        const { pushArtifactBlobs } = await import('../../registry/index.js');
        await pushArtifactBlobs({ client: await registry(), destination: target.ref, blobs: [{ descriptor, open: () => store.openBlob(descriptor.digest, { verify: false }) }] });
      });
      earlyPushes.set(push, pushed.catch(() => undefined));
    }
  };
  // An imported layer's compressed bytes are kept only for a build that sends layers on.
  const keepFetchedBlobs = sendsImage || exports.some((target) => target.type !== 'inline');
  const cache = new BuildCache(store, new LocalStepCache(store, { warn }), { imports, registry, warn, keepFetchedBlobs, ...(early.length === 0 ? {} : { onLayer }) });
  const inline = exports.some((target) => target.type === 'inline');
  const verdicts = new Map<string, string>();
  return {
    cache,
    exports,
    observe(event) {
      if (event.kind === 'status' && event.id === 'cache') verdicts.set(event.step.name, event.text);
    },
    async begin() {
      const release = await markBuildRunning(store);
      // A build killed earlier may have left a step's overlay mounted (nothing could remove it),
      // its downloads, checkouts and secrets.
      await reclaimAbandonedTemporaries(store);
      return release;
    },
    async afterBuild(warnAfter) {
      // The image is made: a cap that cannot be applied is a warning, not a failed build.
      await applyCacheCap(store, await cacheCapSetting(store, flags.cacheMaxSize), {
        always: flags.cacheMaxSize !== undefined,
        inUse: (await listContainerRecords(store)).map((record) => record.image.manifest),
      }).catch((error: unknown) => warnAfter(`build cache cap not applied: ${messageOf(error)}`));
    },
    verdicts: () => Object.fromEntries(verdicts),
    explanation() {
      if (flags.explainCache !== true) return '';
      return [...verdicts].map(([name, text]) => `${name}: ${text}\n`).join('');
    },
    configExtras: inline ? async (layers) => ({ [inlineCacheField]: inlineCacheOf(await cache.exportable(layers), layers) }) : undefined,
    async exportAll(images, warnAfter) {
      const image = images[0];
      if (image === undefined) return;
      let packed: Promise<CacheMountLayers[]> | undefined;
      const cacheMounts = (): Promise<CacheMountLayers[]> => (packed ??= packCacheMounts(store, cache, warnAfter));
      for (const target of exports) {
        if (target.type === 'inline') continue;
        // BuildKit's words for the step: one per export, after the image's.
        const step = image.step(target.type === 'registry' ? 'exporting cache to registry' : 'exporting cache to client directory').start();
        step.status('prepare', 'preparing build cache for export', true);
        // A layer still on its way would be sent twice.
        await Promise.all(earlyPushes.values());
        try {
          await exportCache(target, {
            store,
            used: await cache.exportable(images.flatMap((each) => each.layers)),
            images: images.map((each) => each.layers),
            platform: image.platform,
            registry,
            cacheMounts,
            ensureBlob: (layer) => cache.haveImportedLayer(layer),
            layerAs: async (layer, compression) => {
              if (compression === undefined && layer.descriptor.mediaType !== MediaType.ociLayer) return layer;
              await cache.haveImportedLayer(layer);
              const wanted = compression === undefined ? exportCompression : { type: compression, force: false };
              return { descriptor: await layerInCompression(store, layer.descriptor, layer.diffId, wanted), diffId: layer.diffId };
            },
          });
          step.done();
        } catch (error) {
          const where = target.type === 'registry' ? target.ref : target.dest;
          if (!target.ignoreError) {
            step.fail(messageOf(error));
            throw error;
          }
          step.done();
          warnAfter(`failed to export cache to ${where}: ${messageOf(error)}`);
        }
      }
    },
  };
}

/**
 * The cache mounts the build used, each as the layer its directory makes; an id whose contents
 * are what the import gave keeps the imported layer (whose blob the export fetches only if the
 * destination lacks it). Imported ids no step mounted (their steps hit the cache) are carried
 * over as imported, so that a runner whose build ran nothing does not drop them from the cache it
 * writes. An id that cannot be read is a warning and left out, not a failed export.
 */
async function packCacheMounts(store: Store, cache: BuildCache, warn: (message: string) => void): Promise<CacheMountLayers[]> {
  const used = cache.usedCacheMounts();
  const packed: CacheMountLayers[] = [...(await cache.importedCacheMounts())].filter(([id]) => !used.includes(id)).map(([, mount]) => mount);
  for (const id of used) {
    try {
      const imported = await cache.importedCacheMount(id);
      const mount = await packCacheMount(store, id, imported);
      if (mount !== undefined) packed.push(mount);
    } catch (error) {
      warn(`cache mount ${JSON.stringify(id)} not exported: ${messageOf(error)}`);
    }
  }
  return packed;
}
