/**
 * The build: from a Dockerfile and a context to an image in the store. Stages run as soon as
 * what they need is ready (independent stages in parallel; RUN steps bounded by the cores);
 * each step that changes files is looked up in the step cache by its key first, and the root
 * filesystem is unpacked only when a step actually has to run.
 */
import { availableParallelism } from 'node:os';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join, posix, relative } from 'node:path';
import { Readable } from 'node:stream';
import pLimit from 'p-limit';
import {
  MediaType,
  BackgroundWork,
  TsbuildError,
  formatPlatform,
  normalizePlatform,
  parsePlatform,
  imagePlatform as platformOfConfig,
  hostPlatform,
  isTsbuildError,
  messageOf,
  parseReference,
  formatReference,
  hashHex,
  parseDigest,
  uniqueHex,
  type Descriptor,
  type Digest,
  type EscapeToken,
  type ImageConfig,
  type Platform,
  type SourceRange,
} from '../common/index.js';
import { CacheImportRetry, CacheKeyError, readContextIgnoreFile, shortHash, type ContextIgnoreFile, type LayerRef, type SourceDigest, type StepCache, type StepSummary } from '../cache/index.js';
import { imageConfigBytes, sourceDateEpochFromEnv } from '../exporter/index.js';
import {
  baseImageKey,
  copyKey,
  copyResultKey,
  execKey,
  mkdirKey,
  outlineOf,
  resolveDockerfile,
  Linter,
  lintConfigOf,
  lintStages,
  lintSyntax,
  resolveRaw,
  scratchKey,
  sourceDateEpochKey,
  type BaseImageConfig,
  type BuildOutline,
  type CopyKeyInput,
  type ExecKeyInput,
  type ProxyEnv,
  type ResolveOptions,
  type ResolvedInstruction,
  type ResolvedStage,
  type ResolvedBuild,
} from '../planner/index.js';
import type { RegistryClient } from '../registry/index.js';
import { storeImage, type Store } from '../store/index.js';
import type { OciRuntime } from '../runtime/index.js';
import { accountForLayers, applyMetadata, fillHistoryTimes, cloneConfig, configFromImage, inheritConfig, containerConfig, finishConfig, historyComment, type ConfigState, type LayerOrigin } from './image-config.js';
import type { BuildEventListener } from './events.js';
import { StepCanceled, StepReporter, type StepHandle } from './progress.js';
import { Snapshotter } from './snapshots.js';
import { defaultHostname, runStep, type RunEnvironment, type RunSandboxOptions } from './run-op.js';
import { sourceLines, stepText } from './step-names.js';
import { announcer, fromStepOwners, readsContext, showFrom, type StepDecision } from './step-order.js';
import type { SecretSource } from './run-mounts.js';
import { contextDigestOptions, contextPathsOf, contextSources, copyStep, prepareContext, type ContextHandle, type CopyInstruction } from './copy-op.js';
import { mkdirStep } from './mkdir-op.js';
import { sandboxResolvConfs } from './resolv-conf.js';
import { HttpCache } from './http-cache.js';
import { checkoutContext, redactRemote } from './git-source.js';
import { contextReference, directoryImageConfig, importOciLayout, loadDirectoryContext, type NamedContextSource } from './named-context.js';

export interface BuildRequest {
  readonly dockerfile: { readonly source: string; readonly file: string; readonly path?: string };
  /** The context directory; undefined for a build without context (`tsbuild build - < Dockerfile`). */
  readonly contextDir?: string;
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly target?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly noCache?: boolean;
  /** `--no-cache-filter`: the steps of these stages (by name, any case) run, using no cached result. */
  readonly noCacheFilter?: readonly string[];
  /** Say for every step, hit or miss, how it compares with the closest record (misses always say why). */
  readonly explainCache?: boolean;
  readonly pull?: boolean;
  /** `host` (the default, as BuildKit's OCI worker without CNI), `none`; `default` means host. */
  readonly network?: 'default' | 'host' | 'none';
  readonly platform?: Platform;
  /** Several platforms were asked for (this build makes one of them): step names say their platform, as BuildKit's. */
  readonly multiPlatform?: boolean;
  /** Names the image gets in the store (fully qualified). */
  readonly tags?: readonly string[];
  /** The same names as given, normalized without the tag docker adds (`naming to` shows them so); TAGS when absent. */
  readonly tagsAsGiven?: readonly string[];
  /** `--build-context NAME=…`: what stands for a stage or image of that name. */
  readonly namedContexts?: ReadonlyMap<string, NamedContextSource>;
  /** `--secret`: what RUN --mount=type=secret reads, by id. */
  readonly secrets?: ReadonlyMap<string, SecretSource>;
  /** `--ssh`: the agent socket (or key files) RUN --mount=type=ssh reaches, by id. */
  readonly ssh?: ReadonlyMap<string, readonly string[]>;
  /** `--allow`: entitlements, `security.insecure` and `network.host` (which `network: 'host'` grants too). */
  readonly allow?: readonly string[];
  /** `--add-host`, `--ulimit`, `--shm-size`: what every RUN's sandbox gets besides BuildKit's defaults. */
  readonly sandbox?: RunSandboxOptions;
  /** Annotations of the image's manifest (`--annotation`). */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Fields added to the image config, from its layers (the inline build cache). */
  readonly configExtras?: (layers: readonly LayerRef[]) => Promise<Readonly<Record<string, unknown>>>;
}

export interface BuildDeps {
  readonly store: Store;
  readonly runtime: OciRuntime;
  readonly cache: StepCache;
  /** The registry client, made on first use (a build whose base images are all local needs none). */
  readonly registry: () => Promise<RegistryClient>;
  readonly onEvent?: BuildEventListener;
  /** RUN steps at once; default the number of cores. */
  readonly concurrency?: number;
  /**
   * Aborted when the user interrupts the build (SIGINT, SIGTERM): every step is canceled as when
   * one fails, running commands killed, and the build rejects with BuildInterrupted.
   */
  readonly interrupted?: AbortSignal;
}

/** The build ended because the user interrupted it. */
export class BuildInterrupted extends TsbuildError {
  constructor() {
    super('CANCELED', 'failed to solve: Canceled: context canceled');
  }
}

export interface BuiltImage {
  /** The image ID: the config's digest, as docker prints it. */
  readonly id: Digest;
  readonly manifest: Descriptor;
  readonly config: ImageConfig;
  readonly layers: readonly LayerRef[];
  /** How many of the layers come from the base image (the rest the build made). */
  readonly baseLayers: number;
  readonly platform: Platform;
  /** SOURCE_DATE_EPOCH as the build used it (the build argument, else the environment). */
  readonly sourceDateEpoch: number | undefined;
  /** The unpacked root filesystem of the result (for the tar and local outputs). */
  rootfs(): Promise<string>;
  /** A step reported after the build's own, numbered after them (the cache exports). */
  step(name: string): StepHandle;
}

/** A failed step: where it is in the Dockerfile, and the last lines of its output. */
export class BuildStepError extends TsbuildError {
  constructor(
    message: string,
    readonly step: string,
    readonly range: SourceRange | undefined,
    readonly file: string,
    readonly output: readonly string[],
    options: { cause?: unknown; code?: TsbuildError['code'] } = {},
  ) {
    super(options.code ?? 'RUNTIME', message, options.cause === undefined ? {} : { cause: options.cause });
  }
}

interface StageOutput {
  readonly key: Digest;
  readonly layers: readonly LayerRef[];
  /** How many of LAYERS are the base image's. */
  readonly baseLayers: number;
  /** Where each of LAYERS came from, for the history entries of those the config does not account for. */
  readonly origins: readonly LayerOrigin[];
  readonly config: ConfigState;
  /** The platform the stage's steps run for. */
  readonly platform: Platform;
  /** The FROM step below the stage, when no step on top of it has decided yet (a stage of metadata only). */
  readonly heldFrom: StepHandle | undefined;
  /**
   * The platform its image says when the build names none: the base image config's (BuildKit
   * keeps the config it resolved, whatever FROM --platform asked), the stage's for scratch.
   */
  readonly imagePlatform: Platform;
}

interface BaseImage {
  /** The image manifest's digest (for the platform). */
  readonly manifestDigest: Digest;
  readonly config: ImageConfig;
  readonly layers: readonly LayerRef[];
  /** Where each of LAYERS came from (see StageOutput.origins). */
  readonly origins: readonly LayerOrigin[];
  readonly reference: string;
}

/**
 * The origins of a base image's layers, as docker 26's BuildKit describes the cache records it
 * makes for them. A record keeps the description of the pull that made it: a build pulls the
 * base (docker's builder keeps no image of it), and its rebuilds find the records of that pull,
 * `pulled from REFERENCE@DIGEST`; so for an image tsbuild has from a build's pull or from
 * `tsbuild pull` alike, which its store does not tell apart, and a rebuild makes the same image.
 * (docker says `from local ` for layers of an image it had before any build, from `docker pull`,
 * `load` or `import`.) BuildKit's time is when its record was made; the image's own time stands
 * for it, for the same reason.
 */
function baseOrigins(layers: readonly LayerRef[], description: string, config: ImageConfig, epoch: number | undefined): LayerOrigin[] {
  const time = epoch === undefined ? config.created : created(epoch);
  return layers.map(() => ({ description, created: time }));
}

const created = (epoch: number | undefined): string => (epoch === undefined ? new Date() : new Date(epoch * 1000)).toISOString().replace(/\.\d{3}Z$/, (ms) => (ms === '.000Z' ? 'Z' : ms));

/** The Dockerfile text of an instruction, continuation lines joined, as BuildKit names its steps. */
function instructionText(source: readonly string[], range: SourceRange): string {
  const lines = source.slice(range.start.line - 1, range.end.line);
  const joined = lines.map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  let text = '';
  for (const line of joined) {
    const continued = line.endsWith('\\');
    text += (continued ? line.slice(0, -1) : line).trim() + ' ';
    if (!continued) break;
  }
  const trimmed = text.trim();
  const space = trimmed.search(/\s/);
  return space < 0 ? trimmed.toUpperCase() : `${trimmed.slice(0, space).toUpperCase()}${trimmed.slice(space)}`;
}

function changesFiles(instruction: ResolvedInstruction): boolean {
  return instruction.kind === 'RUN' || instruction.kind === 'COPY' || instruction.kind === 'ADD' || instruction.kind === 'WORKDIR';
}

/** Everything a build needs, so that stages can be written as plain functions of it. */
interface BuildContext {
  readonly request: BuildRequest;
  readonly deps: BuildDeps;
  readonly reporter: StepReporter;
  readonly snapshots: Snapshotter;
  readonly limit: ReturnType<typeof pLimit>;
  readonly stages: ReadonlyMap<number, ResolvedStage>;
  /** What of the context the stages read (contextPathsOf): all the builder sees of it (SourceRoot.sentPaths). */
  readonly contextPaths: readonly string[];
  readonly stageCount: number;
  /** Aborted once a step fails: what still runs is canceled, and nothing more starts. */
  readonly failed: AbortController;
  /** The first step whose context sources could not be keyed, and how far each stage has got (watchContextKeys). */
  readonly keys: ContextKeyWatch;
  /** Whether stages FROM one another share its labels, exposed ports and volumes (inheritConfig): docker/dockerfile before 1.24. */
  readonly sharedConfigMaps: boolean;
  /** The Dockerfile's escape character, for the steps' names. */
  readonly escapeToken: EscapeToken;
  /** The Dockerfile's lines, for the steps' names and history. */
  readonly sourceLines: readonly string[];
  readonly outputs: Map<number, Promise<StageOutput>>;
  readonly bases: Map<string, Promise<BaseImage>>;
  readonly baseConfigs: Map<string, BaseImage>;
  readonly environment: () => Promise<RunEnvironment>;
  readonly sourceDateEpoch: number | undefined;
  /** The build context and its ignore file, loaded once for the build, for every platform of it. */
  readonly shared: { context?: Promise<ContextHandle>; ignoreFile?: Promise<ContextIgnoreFile> };
  /** One flight per key within the build: equal steps in two stages run once. */
  readonly flights: Map<Digest, Promise<StepRun>>;
  /**
   * The cache records of steps that ran, still being written: the next step does not wait for
   * them (their blobs' fsyncs and the side index's rewrite overlap its run); the image is not
   * exported, nor the build ended, before they are all written.
   */
  readonly recording: BackgroundWork;
  /** The run of the stages this is (see build()). */
  readonly attempt: { current: number };
  /** Named contexts that are no registry image, by the reference the planner was given for them. */
  readonly namedSources: ReadonlyMap<string, { readonly name: string; readonly source: NamedContextSource }>;
  /** Cache mount ids a step of this build that ignores the cache has emptied (once per build). */
  readonly emptiedCacheMounts: Set<string>;
  /** The proxy build args, given to every RUN (BuildKit's ProxyEnv). */
  readonly proxy: ProxyEnv;
  /** The build context's ignore file, read by the `[internal] load .dockerignore` step. */
  readonly ignoreFile: Promise<ContextIgnoreFile> | undefined;
  /** The one FROM step of each base image (by baseKey), held until a step on top of it decides (step-order.ts). */
  readonly fromSteps: Map<string, StepHandle>;
  /** The stage whose FROM names each base image's step. */
  readonly fromOwners: ReadonlyMap<string, number>;
  /** `[internal] load build context`, held until the first step decides (step-order.ts). */
  contextStep: StepHandle | undefined;
}

function baseKey(reference: string, platform: Platform): string {
  return `${reference}|${formatPlatform(platform)}`;
}

/** Finds a base image in the store, or pulls it (always with --pull). */
/** What loading a base image needs of the build: it runs before the stages are known. */
type BaseLoading = Pick<BuildContext, 'request' | 'deps' | 'reporter' | 'bases' | 'baseConfigs' | 'namedSources' | 'snapshots' | 'sourceDateEpoch'>;

async function loadBase(ctx: BaseLoading, reference: string, platform: Platform): Promise<BaseImage> {
  const key = baseKey(reference, platform);
  const known = ctx.bases.get(key);
  if (known !== undefined) return known;
  const named = ctx.namedSources.get(reference);
  if (named !== undefined) {
    const loadingContext = loadNamedContext(ctx, named.name, named.source, platform, reference);
    ctx.bases.set(key, loadingContext);
    return loadingContext;
  }
  const loading = (async (): Promise<BaseImage> => {
    const normalized = formatReference(parseReference(reference));
    const step = ctx.reporter.step(`[${joinLabels(platformLabel(ctx.request, platform), 'internal')}] load metadata for ${normalized}`).start();
    try {
      const descriptor = ctx.request.pull === true ? undefined : await ctx.deps.store.resolveReference(normalized);
      // The store's copy may lack the platform or a blob, and a pull completes it; what was wrong
      // with it is kept for the error, should the pull fail too.
      let storedError: unknown;
      let image =
        descriptor === undefined
          ? undefined
          : await storeImage(ctx.deps.store, descriptor, platform).catch((error: unknown) => {
              storedError = error;
              return undefined;
            });
      if (image === undefined) {
        // The registry client loads only when a base image has to be pulled: a build from local images never pays for it.
        const { pull, ManifestNotFoundError } = await import('../registry/index.js');
        const result = await pull({ reference: normalized, store: ctx.deps.store, client: await ctx.deps.registry(), platform, anyPlatformOfManifest: true }).catch((error: unknown) => {
          // BuildKit's words: the reference, then what the registry (or the connection) said.
          const stored = storedError === undefined ? '' : ` (the store's copy: ${messageOf(storedError)})`;
          const said = error instanceof ManifestNotFoundError ? `${normalized}: not found` : messageOf(error);
          throw new TsbuildError(isTsbuildError(error) ? error.code : 'REGISTRY', `${normalized}: failed to resolve source metadata for ${normalized}: ${said}${stored}`, { cause: error });
        });
        image = result.image;
      }
      const layers = (await image.layers()).map((layer) => ({ descriptor: layer.descriptor(), diffId: layer.diffID() }));
      const manifestDigest = image.descriptor().digest;
      const description = `pulled from ${normalized.includes('@') ? normalized : `${normalized}@${manifestDigest}`}`;
      const config = await image.config();
      const base: BaseImage = {
        manifestDigest,
        config,
        layers,
        origins: baseOrigins(layers, description, config, ctx.sourceDateEpoch),
        reference: normalized,
      };
      ctx.baseConfigs.set(key, base);
      step.done();
      return base;
    } catch (error) {
      step.fail(messageOf(error));
      throw error;
    }
  })();
  ctx.bases.set(key, loading);
  return loading;
}

/** A named context that is a directory, a git repository or an OCI layout, as a base image (BuildKit's `[context NAME]` steps). */
async function loadNamedContext(ctx: BaseLoading, name: string, source: NamedContextSource, platform: Platform, reference: string): Promise<BaseImage> {
  const where = source.kind === 'directory' ? source.path : source.kind === 'git' ? redactRemote(source.url) : source.kind === 'oci-layout' ? `oci-layout ${source.path}` : source.reference;
  const step = ctx.reporter.step(`[context ${name}] load ${where}`).start();
  try {
    let base: BaseImage;
    if (source.kind === 'oci-layout') {
      const descriptor = await importOciLayout(ctx.deps.store, source, name);
      const image = await storeImage(ctx.deps.store, descriptor, platform);
      const layers = (await image.layers()).map((layer) => ({ descriptor: layer.descriptor(), diffId: layer.diffID() }));
      // Read from the disk into the store, as an image docker had before the build (see baseOrigins).
      const config = await image.config();
      base = { manifestDigest: image.descriptor().digest, config, layers, origins: baseOrigins(layers, 'from local ', config, ctx.sourceDateEpoch), reference };
    } else if (source.kind === 'directory' || source.kind === 'git') {
      // A git context is checked out, then read as a directory.
      let checkout: { readonly dir: string; cleanup(): Promise<void> } | undefined;
      let directory: string;
      if (source.kind === 'git') {
        checkout = await checkoutContext(source.url, ctx.deps.store.temporaryDirectory);
        directory = checkout.dir;
      } else {
        directory = source.path;
      }
      try {
        const loaded = await loadDirectoryContext(directory, {
          store: ctx.deps.store,
          cache: ctx.deps.cache,
          snapshots: ctx.snapshots,
          sourceDateEpoch: ctx.sourceDateEpoch,
          platform,
          noCache: ctx.request.noCache === true,
          ...(ctx.deps.interrupted === undefined ? {} : { signal: ctx.deps.interrupted }),
        }).catch((error: unknown) => {
          // Its hashing stopped by the interrupt: canceled, as the build context's is, not failed.
          throw ctx.deps.interrupted?.aborted === true ? new StepCanceled() : error;
        });
        const description = `[context ${name}] ${where}`;
        base = {
          manifestDigest: loaded.key,
          config: directoryImageConfig(platform, loaded.layers[0]?.diffId, description, loaded.created),
          layers: loaded.layers,
          origins: loaded.layers.map(() => ({ description, created: loaded.created })),
          reference,
        };
      } finally {
        await checkout?.cleanup();
      }
    } else {
      throw new TsbuildError('INTERNAL', `build: context ${name} is an image and was given as one`);
    }
    ctx.baseConfigs.set(baseKey(reference, platform), base);
    step.done();
    return base;
  } catch (error) {
    step.fail(messageOf(error));
    throw error;
  }
}

function stageDisplayName(stage: ResolvedStage, stageCount: number): string {
  if (stageCount === 1) return '';
  return stage.name === '' ? `stage-${stage.index}` : stage.name;
}

/** How many steps a stage shows: its FROM of an image, and each instruction that changes files. */
function stepTotal(stage: ResolvedStage): number {
  return stage.instructions.filter(changesFiles).length + (stage.base.kind === 'image' ? 1 : 0);
}

/**
 * The held FROM step of STAGE's base image, one for every stage from that image (BuildKit's one
 * vertex), named by the stage fromStepOwners chose: `[build 1/3] FROM reference@digest`.
 */
function fromStep(ctx: BuildContext, stage: ResolvedStage, written: string, base: BaseImage): StepHandle {
  const key = baseKey(written, stage.platform);
  let step = ctx.fromSteps.get(key);
  if (step !== undefined) return step;
  const owner = ctx.stages.get(ctx.fromOwners.get(key) ?? stage.index) ?? stage;
  const named = ctx.namedSources.get(written)?.name;
  // As dockerfile2llb: the reference the image was resolved by, pinned to what it resolved to.
  const reference = named ?? (base.reference.includes('@') ? base.reference : `${base.reference}@${base.manifestDigest}`);
  step = ctx.reporter.step(stepName(joinLabels(platformLabel(ctx.request, stage.platform), stageDisplayName(owner, ctx.stageCount)), 1, stepTotal(owner), `FROM ${reference}`), owner.range).hold().start();
  step.status('resolve', `resolve ${base.reference}@${base.manifestDigest}`, true);
  ctx.fromSteps.set(key, step);
  return step;
}

const joinLabels = (...labels: readonly string[]): string => labels.filter((label) => label !== '').join(' ');

/**
 * The platform in a step's name when the build asks for several (BuildKit's prefixCommand):
 * `linux/amd64`, with `->arm64` when the step's TARGET* arguments (ENV) name another
 * architecture, as a cross-compiling builder stage's steps do.
 */
function platformLabel(request: BuildRequest, platform: Platform, env?: Iterable<readonly [string, string]>): string {
  if (request.multiPlatform !== true) return '';
  return `${formatPlatform(platform)}${env === undefined ? '' : crossTarget(platform, env)}`;
}

/** BuildKit's formatTargetPlatform of platformFromEnv: TARGETPLATFORM when it parses, else TARGETOS, TARGETARCH, TARGETVARIANT. */
function crossTarget(base: Platform, env: Iterable<readonly [string, string]>): string {
  let target: Platform | undefined;
  let os = '';
  let architecture = '';
  let variant = '';
  let set = false;
  for (const [name, value] of env) {
    if (name === 'TARGETPLATFORM') {
      try {
        target = parsePlatform(value);
        break;
      } catch {
        continue;
      }
    }
    if (name === 'TARGETOS') os = value;
    else if (name === 'TARGETARCH') architecture = value;
    else if (name === 'TARGETVARIANT') variant = value;
    else continue;
    set = true;
  }
  if (target === undefined) {
    if (!set) return '';
    target = { os: os === '' ? base.os : os, architecture: architecture === '' ? base.architecture : architecture, ...(variant === '' ? {} : { variant }) };
  }
  const wanted = normalizePlatform(target);
  if (wanted.os !== base.os) return `->${formatPlatform(wanted)}`;
  if (wanted.architecture === base.architecture) return '';
  return `->${wanted.architecture}${wanted.variant === undefined || wanted.variant === '' ? '' : `/${wanted.variant}`}`;
}

/** `[build 2/4] RUN make`: the stage (when there are several), the step's place, the instruction. */
function stepName(prefix: string, index: number, total: number, text: string): string {
  const width = 1 + Math.floor(Math.log10(Math.max(total, 1)));
  return `[${prefix === '' ? '' : `${prefix} `}${String(index).padStart(width)}/${total}] ${text}`;
}

/** The names of STAGE's steps on PLATFORM, by their number in the stage (stepName). */
function stepNamer(ctx: BuildContext, stage: ResolvedStage, platform: Platform): (instruction: ResolvedInstruction, at: number) => string {
  const prefix = stageDisplayName(stage, ctx.stageCount);
  const total = stepTotal(stage);
  return (instruction, at) => stepName(joinLabels(platformLabel(ctx.request, platform, instruction.env.pairs()), prefix), at, total, stepText(instruction, ctx.sourceLines, ctx.escapeToken));
}

async function buildStage(ctx: BuildContext, stage: ResolvedStage): Promise<StageOutput> {
  const source = ctx.sourceLines;
  let index = 0;
  // The FROM below this stage's steps, shown when the first of them decides.
  let heldFrom: StepHandle | undefined;

  let key: Digest;
  let layers: readonly LayerRef[];
  let config: ConfigState;
  let platform: Platform;
  let imagePlatform: Platform;
  // BuildKit's IsNoCache: a named stage the filter names, whatever its case.
  const noCache = stage.name !== '' && (ctx.request.noCacheFilter ?? []).some((name) => name.toLowerCase() === stage.name);
  let baseLayers: number;
  let origins: readonly LayerOrigin[];
  let baseDigest: string | undefined;
  if (stage.base.kind === 'stage') {
    const parent = await stageOutput(ctx, stage.base.stage);
    ({ key, layers, platform, imagePlatform, baseLayers, heldFrom, origins } = parent);
    config = inheritConfig(parent.config, ctx.sharedConfigMaps);
    delete config.onBuild;
    config.cmdSet = false;
  } else if (stage.base.kind === 'scratch') {
    key = scratchKey();
    layers = [];
    baseLayers = 0;
    origins = [];
    platform = stage.platform;
    imagePlatform = platform;
    config = configFromImage(undefined, platform);
  } else {
    ++index;
    const base = await loadBase(ctx, stage.base.reference, stage.platform);
    heldFrom = fromStep(ctx, stage, stage.base.reference, base);
    key = baseImageKey(base.manifestDigest);
    baseDigest = base.manifestDigest;
    layers = base.layers;
    baseLayers = base.layers.length;
    origins = base.origins;
    platform = stage.platform;
    const { os, architecture, variant } = base.config;
    imagePlatform = os !== undefined && os !== '' && architecture !== undefined && architecture !== '' ? { os, architecture, ...(variant === undefined || variant === '' ? {} : { variant }) } : platform;
    config = configFromImage(base.config, platform);
  }

  const nameOf = stepNamer(ctx, stage, platform);
  const keys = ctx.keys;
  keys.reached.set(stage.index, index);
  try {
    for (const [position, instruction] of stage.instructions.entries()) {
      if (!changesFiles(instruction)) {
        try {
          applyMetadata(config, instruction, undefined, stage.index * instructionsPerStage + position);
        } catch (error) {
          throw new BuildStepError(`${instruction.kind}: ${messageOf(error)}`, instruction.kind, instruction.range, ctx.request.dockerfile.file, [], { code: 'DOCKERFILE_PARSE', cause: error });
        }
        continue;
      }
      if (ctx.failed.signal.aborted) throw new StepCanceled();
      // A later step's key failed meanwhile: the step before it ran to its end, and none runs after.
      if (keys.failure !== undefined) throw keys.failure;
      const text = instructionText(source, instruction.range);
      keys.reached.set(stage.index, ++index);
      const name = nameOf(instruction, index);
      const step = ctx.reporter.step(name, instruction.range);
      const below = heldFrom;
      const announceBelow = announcer(() => below, readsContext(instruction), () => showContext(ctx));
      // What stands below is shown first; then the step, held while it worked before deciding (a download: CopySources.begin).
      const announce = (decision: StepDecision): void => {
        announceBelow(decision);
        step.show();
      };
      heldFrom = undefined;
      try {
        const slot = `${dockerfilePlace(ctx.request)}:${stage.index}:${index}`;
        const result = await fileStep(ctx, step, instruction, { key, layers, config, platform, noCache, announce, place: { slot, text, ...(baseDigest === undefined ? {} : { base: baseDigest }) } });
        key = result.key;
        layers = result.layer === undefined ? layers : [...layers, result.layer];
        // As BuildKit describes a step's cache record: an exec's by its command, a file op's by its vertex name.
        if (result.layer !== undefined) origins = [...origins, { description: result.layerDescription ?? name, created: result.created }];
        config.history.push({ created: result.created, created_by: result.createdBy, comment: historyComment, ...(result.layer === undefined ? { empty_layer: true } : {}) });
      } catch (error) {
        // Not this step's failure: the build starts again (see build()).
        if (error instanceof CacheImportRetry) throw error;
        if (error instanceof StepCanceled) {
          // One that had not begun (waiting for a canceled stage) is not shown, as BuildKit's.
          if (step.began) {
            // A download cut short: the image below had been loaded for it meanwhile.
            announce('failed');
            step.cancel();
          }
          throw error;
        }
        // A stage it reads (COPY --from, a mount's from=) failed before this step began: that
        // stage's step is the failure, shown and summed up once; BuildKit never starts a step
        // whose input failed, so it shows nothing of this one.
        if (error instanceof BuildStepError && error.step !== name && !step.began) throw error;
        // What it stood on is shown before it, as BuildKit shows what it loaded before the failure.
        announce('failed');
        step.fail(messageOf(error));
        if (error instanceof BuildStepError) throw error;
        const failure = new BuildStepError(messageOf(error), name, instruction.range, ctx.request.dockerfile.file, step.outputTail(), {
          cause: error,
          code: isTsbuildError(error) ? error.code : 'INTERNAL',
        });
        // Its sources could not be keyed (a COPY --from of a path the stage lacks): the steps
        // running meanwhile run to their end, as they do when the key fails before its step.
        if (error instanceof CacheKeyError && !ctx.failed.signal.aborted) keys.failure ??= failure;
        // A step that fails as it runs (a copy's lstat) fails after BuildKit has keyed the
        // context's sources of every step: a key that fails meanwhile is the build's failure.
        else if (keys.failure === undefined) {
          await Promise.all(keys.watched);
          if (keys.failure !== undefined) throw keys.failure;
        }
        throw failure;
      }
    }
  } catch (error) {
    throw keys.failure ?? error;
  }
  finishConfig(config);
  return { key, layers, baseLayers, origins, config, platform, imagePlatform, heldFrom };
}

interface ContextKeyWatch {
  /** The failure of a step's key, once one failed before its stage reached it: the build's failure. */
  failure: BuildStepError | undefined;
  /** The number of the step each stage that has begun is at (as the stage numbers them, its FROM first). */
  readonly reached: Map<number, number>;
  /** Each context digest being watched, settled once the watch has looked at its outcome. */
  readonly watched: Array<Promise<unknown>>;
}

/**
 * BuildKit keys the steps before it runs them (its solver computes the cache keys of the whole
 * graph at once, whatever stage a step is in), so a COPY whose context sources cannot be keyed (a
 * missing file) fails as soon as the context is read: a failing RUN before it, in its stage or in
 * a stage it stands on, does not hide the missing file, and a step already running runs to its end
 * (its result cached for the next build) with nothing run after it, in any stage. The digest of
 * what every COPY and ADD reads of the context starts here, as BuildKit starts sending the context;
 * the first to fail before its stage reaches its step fails that step at once (ctx.keys.failure),
 * and each stage with it once its running step ends. A step that its stage has reached reports its
 * own failure, as any step does.
 */
function watchContextKeys(ctx: BuildContext, stages: readonly ResolvedStage[]): void {
  if (ctx.request.contextDir === undefined) return;
  const keys = ctx.keys;
  for (const stage of stages) {
    // Named as the stage will name them; a stage that has not begun is on its own platform.
    const nameOf = stepNamer(ctx, stage, stage.platform);
    let at = stage.base.kind === 'image' ? 1 : 0;
    for (const instruction of stage.instructions) {
      if (!changesFiles(instruction)) continue;
      at++;
      if ((instruction.kind !== 'COPY' && instruction.kind !== 'ADD') || contextSources(instruction).length === 0) continue;
      const place = at;
      const watched = contextDigest(ctx, instruction).catch((error: unknown) => {
        if (keys.failure !== undefined || (keys.reached.get(stage.index) ?? 0) >= place || ctx.failed.signal.aborted || ctx.deps.interrupted?.aborted === true) return;
        const name = nameOf(instruction, place);
        ctx.reporter.step(name, instruction.range).fail(messageOf(error));
        keys.failure = new BuildStepError(messageOf(error), name, instruction.range, ctx.request.dockerfile.file, [], { cause: error, code: isTsbuildError(error) ? error.code : 'INTERNAL' });
      });
      keys.watched.push(watched);
    }
  }
}

interface StepInput {
  readonly key: Digest;
  readonly layers: readonly LayerRef[];
  readonly config: ConfigState;
  readonly platform: Platform;
  /** The step runs whatever the cache holds (its stage is in --no-cache-filter). */
  readonly noCache?: boolean;
  /** Called as the step decides, before it is reported: shows the held steps below it (step-order.ts). */
  readonly announce?: (decision: StepDecision) => void;
  /** Where the step is, for the summary its record keeps. */
  readonly place: Pick<StepSummary, 'slot' | 'text' | 'base'>;
}

interface StepOutcome extends StepRun {
  readonly key: Digest;
  readonly createdBy: string;
  /** What names its layer where the history lacks an entry for it, when not the step's name. */
  readonly layerDescription?: string;
}

/** What a step added: its layer (none when it changed nothing) and when it ran. */
interface StepRun {
  readonly layer: LayerRef | undefined;
  readonly created: string;
}

/**
 * The layer a step adds: from the cache when its key is there, else by running it once per build.
 * ALTERNATE, when given, is a second key (by content) tried when KEY misses; a hit by it is
 * recorded under KEY too, and a run under both.
 */
async function cachedOrRun(
  ctx: BuildContext,
  step: StepHandle,
  key: Digest,
  input: StepInput,
  execute: () => Promise<LayerRef | undefined>,
  alternate?: () => Promise<Digest>,
  // Made on a miss only: a COPY's lists every file it reads, which a hit never needs.
  makeSummary?: () => StepSummary,
): Promise<StepRun> {
  const record = (stepKey: Digest): Digest => (ctx.sourceDateEpoch === undefined ? stepKey : sourceDateEpochKey(stepKey, ctx.sourceDateEpoch));
  let alternateKey: Digest | undefined;
  if (ctx.request.noCache !== true && input.noCache !== true) {
    const hit = await ctx.deps.cache.outcome(record(key), input.layers);
    if (hit !== undefined) {
      input.announce?.('hit');
      if (ctx.request.explainCache === true) step.status('cache', `cache hit: ${hit.created === undefined ? 'a record' : `the record of ${hit.created}`}`, true);
      step.cached();
      return { layer: hit.layer, created: hit.created ?? created(ctx.sourceDateEpoch) };
    }
    if (alternate !== undefined) {
      alternateKey = await alternate();
      const byContent = await ctx.deps.cache.get(record(alternateKey));
      if (byContent !== undefined && byContent.layers.length >= input.layers.length) {
        await ctx.deps.cache.put(record(key), byContent, input.platform, makeSummary?.());
        input.announce?.('hit');
        if (ctx.request.explainCache === true) step.status('cache', 'cache hit: a record of the same files', true);
        step.cached();
        return { layer: byContent.layers.length === input.layers.length ? undefined : byContent.layers.at(-1), created: byContent.created ?? created(ctx.sourceDateEpoch) };
      }
    }
  }
  let flight = ctx.flights.get(key);
  if (flight === undefined) {
    flight = (async () => {
      // What runs reads the layers below it: those of hits given before their bytes arrived must be here.
      await ctx.deps.cache.settle?.(ctx.attempt.current);
      const summary = makeSummary?.();
      const why = ctx.request.noCache === true ? '--no-cache' : input.noCache === true ? '--no-cache-filter' : summary === undefined ? undefined : await ctx.deps.cache.explain?.(summary);
      input.announce?.('run');
      // A download for its key may have begun it already (CopySources.begin).
      if (!step.began) step.start();
      if (why !== undefined) step.status('cache', `cache miss: ${why}`, true);
      const layer = await execute();
      const time = created(ctx.sourceDateEpoch);
      const result = { layers: layer === undefined ? input.layers : [...input.layers, layer], created: time };
      // The step is done once its record is written (a build killed after it shows DONE finds
      // it a hit next time), but the steps after it need only its layer: they start now.
      ctx.recording.add(
        (async () => {
          try {
            await ctx.deps.cache.put(record(key), result, input.platform, summary);
            if (alternate !== undefined) await ctx.deps.cache.put(record(alternateKey ?? (await alternate())), result, input.platform, summary);
          } catch (error) {
            step.fail(messageOf(error));
            throw error;
          }
          step.done();
        })(),
      );
      return { layer, created: time };
    })();
    ctx.flights.set(key, flight);
    return flight;
  }
  const result = await flight;
  input.announce?.('hit');
  step.cached();
  return result;
}

function claimOnce(claimed: Set<string>, id: string): boolean {
  if (claimed.has(id)) return false;
  claimed.add(id);
  return true;
}

async function fileStep(ctx: BuildContext, step: StepHandle, instruction: ResolvedInstruction, input: StepInput): Promise<StepOutcome> {
  switch (instruction.kind) {
    case 'RUN': {
      const plan = await runStep(instruction, input.config, {
        platform: input.platform,
        sandbox: ctx.environment,
        defaultNetwork: ctx.request.network === 'none' ? 'none' : 'host',
        hostNetworkAsked: ctx.request.network === 'host',
        // As buildx: a build whose steps all run on the host network was granted that network.
        allow: new Set([...(ctx.request.allow ?? []), ...(ctx.request.network === 'host' ? ['network.host'] : [])]),
        ...(ctx.request.sandbox === undefined ? {} : { sandboxOptions: ctx.request.sandbox }),
        proxy: ctx.proxy,
        mounts: {
          context: () => openBuildContext(ctx),
          stage: (index) => inputStage(ctx, index),
          image: async (reference) => {
            const base = await loadBase(ctx, reference, input.platform);
            return { key: baseImageKey(base.manifestDigest), layers: base.layers };
          },
          snapshots: ctx.snapshots,
          store: ctx.deps.store,
          secrets: ctx.request.secrets ?? new Map(),
          ssh: ctx.request.ssh ?? new Map(),
          cacheMounts: ctx.deps.cache.cacheMounts,
          cacheNamespace: ctx.request.buildArgs?.BUILDKIT_CACHE_MOUNT_NS,
          // As BuildKit: a step that ignores the cache starts its cache mounts empty, and what it
          // leaves there is the cache from then on, for the later steps of the build too.
          ...(ctx.request.noCache === true || input.noCache === true ? { emptyCacheMount: (id: string) => claimOnce(ctx.emptiedCacheMounts, id) } : {}),
        },
      });
      const key = execKey(input.key, plan.keyInput);
      const run = await cachedOrRun(
        ctx,
        step,
        key,
        input,
        () => ctx.limit(() => plan.execute({ snapshots: ctx.snapshots, runtime: ctx.deps.runtime, layers: input.layers, step, sourceDateEpoch: ctx.sourceDateEpoch, canceled: ctx.failed.signal })),
        undefined,
        () => summaryOf(ctx, input, execInputs(plan.keyInput, new Set(instruction.args.map((arg) => arg.key)))),
      );
      return { key, ...run, createdBy: plan.createdBy, layerDescription: `mount / from exec ${plan.keyInput.args.join(' ')}` };
    }
    case 'COPY':
    case 'ADD': {
      const plan = await copyStep(instruction, input.config, {
        context: () => openBuildContext(ctx),
        httpCache: new HttpCache(ctx.deps.store),
        stage: (index) => inputStage(ctx, index),
        image: async (reference) => {
          const base = await loadBase(ctx, reference, input.platform);
          return { key: baseImageKey(base.manifestDigest), layers: base.layers };
        },
        snapshots: ctx.snapshots,
        canceled: ctx.failed.signal,
        // Held until it decides (input.announce shows it): what stands below, shown then, comes
        // first, and a hit still shows the image below DONE, as BuildKit, which shows nothing of
        // the download until its step ends.
        begin: () => step.hold().start(),
      });
      try {
        const key = copyKey(input.key, plan.keyInput);
        const byContent = plan.contentKeyInput;
        const alternate = byContent === undefined ? undefined : async () => copyKey(input.key, await byContent());
        const run = await cachedOrRun(
          ctx,
          step,
          key,
          input,
          () => plan.execute({ snapshots: ctx.snapshots, layers: input.layers, sourceDateEpoch: ctx.sourceDateEpoch }),
          alternate,
          () => summaryOf(ctx, input, copyInputs(plan.keyInput, plan.files)),
        );
        // A copy from a stage passes on what it made, not where it came from.
        return { key: alternate === undefined ? key : copyResultKey(input.key, run.layer?.diffId), ...run, createdBy: plan.createdBy };
      } finally {
        await plan.release();
      }
    }
    case 'WORKDIR': {
      // BuildKit's NormalizeWorkdir: an absolute path is kept as written (`/app/` stays so in
      // the config and history), a relative one is joined to the current one and cleaned as
      // Go's path.Join cleans (no trailing `/`), and an empty one is the current one.
      const current = input.config.workingDir || '/';
      const workingDir = posix.isAbsolute(instruction.path)
        ? instruction.path
        : instruction.path === ''
          ? posix.isAbsolute(current) ? current : posix.resolve('/', current)
          : posix.resolve('/', current, instruction.path);
      const path = posix.resolve(workingDir);
      input.config.workingDir = workingDir;
      if (workingDir === '/') return { key: input.key, layer: undefined, created: created(ctx.sourceDateEpoch), createdBy: `WORKDIR ${workingDir}` };
      const user = input.config.user ?? '';
      const key = mkdirKey(input.key, path, user);
      const run = await cachedOrRun(
        ctx,
        step,
        key,
        input,
        () => mkdirStep({ snapshots: ctx.snapshots, layers: input.layers, path, user, sourceDateEpoch: ctx.sourceDateEpoch }),
        undefined,
        () => summaryOf(ctx, input, { path, user }),
      );
      return { key, ...run, createdBy: `WORKDIR ${workingDir}` };
    }
    default:
      throw new TsbuildError('INTERNAL', `build: ${instruction.kind} changes no files`);
  }
}

/** The Dockerfile as a record names it: its path in the context when it is there (the same on every CI runner), else as given. */
function dockerfilePlace(request: BuildRequest): string {
  const { path, file } = request.dockerfile;
  if (path === undefined || request.contextDir === undefined) return file;
  const inside = relative(request.contextDir, path);
  return inside.startsWith('..') || isAbsolute(inside) ? path : inside;
}

function summaryOf(ctx: BuildContext, input: StepInput, inputs: Record<string, string>): StepSummary {
  return { parent: input.key, ...input.place, inputs };
}

/** A RUN's inputs by name; values hashed (a build arg may be a token), cwd, user and network as they are. */
function execInputs(key: ExecKeyInput, argNames: ReadonlySet<string>): Record<string, string> {
  const inputs: Record<string, string> = { command: shortHash(JSON.stringify(key.args)), cwd: key.cwd, user: key.user, network: key.network, security: key.security };
  if (key.mounts.length > 0) inputs.mounts = shortHash(JSON.stringify(key.mounts));
  for (const entry of key.env) {
    const eq = entry.indexOf('=');
    const name = eq < 0 ? entry : entry.slice(0, eq);
    inputs[`${argNames.has(name) ? 'arg' : 'env'}:${name}`] = shortHash(eq < 0 ? '' : entry.slice(eq + 1));
  }
  return inputs;
}

/** A COPY's inputs: each context file it reads, where the files come from, and its options. */
function copyInputs(key: CopyKeyInput, files: ReadonlyMap<string, string> | undefined): Record<string, string> {
  const { content, source, ...options } = key;
  const inputs: Record<string, string> = { source: source === 'context' ? 'context' : shortHash(source), options: shortHash(JSON.stringify(options)) };
  if (files === undefined && content !== undefined) inputs.files = shortHash(content);
  for (const [path, summary] of files ?? []) inputs[`file:${path}`] = summary;
  return inputs;
}

/**
 * Shows `[internal] load build context`, held since it started: when the first step decides
 * (step-order.ts), or once it has taken long enough that the wait should be seen.
 */
function showContext(ctx: BuildContext): void {
  ctx.contextStep?.show();
}

/** How long the context's step may load unseen before the first step decides. */
const contextUnseen = 2000;

function openBuildContext(ctx: BuildContext): Promise<ContextHandle> {
  ctx.shared.context ??= (async () => {
    if (ctx.request.contextDir === undefined) {
      throw new TsbuildError('INVALID_ARGUMENT', 'this build has no context (the Dockerfile came on standard input): COPY and ADD can only use other stages, images and URLs');
    }
    const contextDir = ctx.request.contextDir;
    const step = ctx.reporter.step('[internal] load build context').hold().start();
    ctx.contextStep = step;
    setTimeout(() => step.show(), contextUnseen).unref();
    try {
      const handle = await prepareContext(contextDir, ctx.request.dockerfile.path, join(ctx.deps.store.root, 'context-index'), await ctx.ignoreFile, ctx.deps.interrupted, ctx.contextPaths);
      step.done();
      return handle;
    } catch (error) {
      step.fail(messageOf(error));
      throw error;
    }
  })();
  return ctx.shared.context;
}

/** The digest of what INSTRUCTION reads of the context, made once per build (ContextHandle.digest). */
function contextDigest(ctx: BuildContext, instruction: CopyInstruction): Promise<SourceDigest> {
  return openBuildContext(ctx).then((handle) => handle.digest(contextSources(instruction), contextDigestOptions(instruction)));
}

/**
 * The result of the stage a step reads (COPY --from, RUN --mount from=), once it is there; a
 * step whose key failed meanwhile fails the build instead, and a step that was waiting for its
 * input never starts, as in BuildKit, where it is not yet running.
 */
async function inputStage(ctx: BuildContext, index: number): Promise<StageOutput> {
  const output = await stageOutput(ctx, index);
  if (ctx.keys.failure !== undefined) throw ctx.keys.failure;
  return output;
}

function stageOutput(ctx: BuildContext, index: number): Promise<StageOutput> {
  const known = ctx.outputs.get(index);
  if (known !== undefined) return known;
  const stage = ctx.stages.get(index);
  if (stage === undefined) return Promise.reject(new TsbuildError('INTERNAL', `build: stage ${index} was not planned`));
  const output = buildStage(ctx, stage);
  ctx.outputs.set(index, output);
  return output;
}

/** Stores a small blob unless it is there already (a rebuild from the cache writes nothing new). */
async function putSmallBlob(store: Store, bytes: Buffer): Promise<{ digest: Digest; size: number }> {
  const digest = parseDigest(`sha256:${hashHex('sha256', bytes)}`);
  if ((await store.blobSize(digest)) === bytes.length) return { digest, size: bytes.length };
  return store.putBlob(Readable.from([bytes]), { digest, size: bytes.length });
}

/** Shows what is still held: the FROM steps no step on top of them reported, the context's. */
function showHeld(ctx: BuildContext): void {
  for (const step of ctx.fromSteps.values()) showFrom(step, 'hit');
  showContext(ctx);
}

async function exportImage(ctx: BuildContext, output: StageOutput): Promise<BuiltImage> {
  // The image is made of the target's FROM when no step is on top of it: it is loaded for that.
  showFrom(output.heldFrom, 'run');
  showHeld(ctx);
  const step = ctx.reporter.step('exporting to image').start();
  const config = cloneConfig(output.config);
  if (ctx.request.labels !== undefined && Object.keys(ctx.request.labels).length > 0) config.labels = { ...config.labels, ...ctx.request.labels };
  // As BuildKit's exporter: the history accounts for every layer, its entries without a time are
  // given one (fillHistoryTimes), and the image was created when its last step ran. Steps from the
  // cache keep their times, so a build whose every step was cached writes the same config, and the
  // same image ID.
  const history = fillHistoryTimes(accountForLayers(config.history, output.origins), () => created(ctx.sourceDateEpoch));
  const last = history.at(-1)?.created;
  const time = ctx.sourceDateEpoch === undefined ? (last ?? created(undefined)) : created(ctx.sourceDateEpoch);
  // As BuildKit: the platform the build was asked for, else the one the stage's image config says.
  const imagePlatform = ctx.request.platform ?? output.imagePlatform;
  const imageConfig: ImageConfig = {
    architecture: imagePlatform.architecture,
    config: containerConfig(config),
    created: time,
    history,
    os: imagePlatform.os,
    rootfs: { type: 'layers', diff_ids: output.layers.map((layer) => layer.diffId) },
    ...(imagePlatform.variant === undefined ? {} : { variant: imagePlatform.variant }),
    ...(config.author === undefined ? {} : { author: config.author }),
    ...(await ctx.request.configExtras?.(output.layers)),
  };
  const store = ctx.deps.store;
  step.status('layers', 'exporting layers', true);
  const configInfo = await putSmallBlob(store, imageConfigBytes(imageConfig));
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: configInfo.digest, size: configInfo.size },
    layers: output.layers.map((layer) => layer.descriptor),
    ...(ctx.request.annotations === undefined || Object.keys(ctx.request.annotations).length === 0 ? {} : { annotations: ctx.request.annotations }),
  };
  const manifestInfo = await putSmallBlob(store, Buffer.from(JSON.stringify(manifest)));
  const descriptor: Descriptor = { mediaType: MediaType.ociManifest, digest: manifestInfo.digest, size: manifestInfo.size };
  step.status('manifest', `writing image ${configInfo.digest}`, true);
  for (const [index, tag] of (ctx.request.tags ?? []).entries()) {
    const current = await store.resolveReference(tag);
    if (current?.digest !== descriptor.digest) await store.setReference(tag, descriptor);
    // As buildx hands BuildKit the names: normalized, without an implicit `:latest`.
    const shown = ctx.request.tagsAsGiven?.[index] ?? tag;
    step.status(`name:${shown}`, `naming to ${shown}`, true);
  }
  step.done();
  const snapshots = ctx.snapshots;
  return {
    id: configInfo.digest,
    manifest: descriptor,
    config: imageConfig,
    layers: output.layers,
    baseLayers: output.baseLayers,
    platform: imagePlatform,
    sourceDateEpoch: ctx.sourceDateEpoch,
    rootfs: () => snapshots.view(output.layers),
    step: (name) => ctx.reporter.step(name),
  };
}

/** SOURCE_DATE_EPOCH as a build argument, else from the environment. */
function sourceDateEpoch(buildArgs: Readonly<Record<string, string>>): number | undefined {
  const value = buildArgs.SOURCE_DATE_EPOCH;
  return sourceDateEpochFromEnv(value === undefined ? process.env : { SOURCE_DATE_EPOCH: value });
}

/**
 * REQUEST with the sandbox's hostname of its build argument BUILDKIT_SANDBOX_HOSTNAME, as
 * BuildKit's frontend takes it (dockerui's keyHostnameArg) for every stage's RUNs; an empty one
 * keeps the default.
 */
function withSandboxHostname(request: BuildRequest): BuildRequest {
  const hostname = request.buildArgs?.BUILDKIT_SANDBOX_HOSTNAME;
  if (hostname === undefined || hostname === '') return request;
  return { ...request, sandbox: { ...request.sandbox, hostname } };
}

/** The files the sandbox bind-mounts over /etc/hosts and /etc/resolv.conf, as BuildKit makes them. */
async function sandboxFiles(store: Store, extraHosts: readonly string[], hostname: string): Promise<{ directory: string; environment: RunEnvironment }> {
  const directory = join(store.temporaryDirectory, `build.${process.pid}.${uniqueHex(6)}.tmp`);
  await mkdir(directory, { mode: 0o755 });
  const hosts = join(directory, 'hosts');
  const resolv = join(directory, 'resolv.conf');
  // BuildKit's file, then one line per --add-host.
  const extra = extraHosts.map((line) => `${line}\n`).join('');
  await writeFile(hosts, `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n${extra}`, { mode: 0o644 });
  const resolvHost = join(directory, 'resolv-host.conf');
  const resolvConfs = await sandboxResolvConfs();
  await writeFile(resolv, resolvConfs.other, { mode: 0o644 });
  await writeFile(resolvHost, resolvConfs.host, { mode: 0o644 });
  return { directory, environment: { hostsFile: hosts, resolvConf: resolv, resolvConfHost: resolvHost, scratch: directory } };
}

/**
 * `[internal] load .dockerignore`: BuildKit reads the context's ignore file before the build's
 * steps, and shows it unless the Dockerfile has one of its own (that came with the Dockerfile).
 */
async function loadDockerignore(reporter: StepReporter, contextDir: string, dockerfile: string | undefined): Promise<ContextIgnoreFile> {
  const step = reporter.step('[internal] load .dockerignore').hold().start();
  try {
    const ignore = await readContextIgnoreFile(contextDir, dockerfile);
    if (ignore.besideDockerfile) return ignore;
    step.status('transfer', 'transferring context:', true, { current: Buffer.byteLength(ignore.text ?? '') });
    step.done();
    step.show();
    return ignore;
  } catch (error) {
    step.fail(messageOf(error));
    step.show();
    throw error;
  }
}

/** What a build knows before its Dockerfile is resolved. */
type EarlyBuildContext = Omit<BuildContext, 'stages' | 'contextPaths' | 'stageCount' | 'sharedConfigMaps' | 'environment' | 'proxy' | 'escapeToken' | 'sourceLines' | 'ignoreFile' | 'fromSteps' | 'fromOwners' | 'contextStep'>;

/** Builds the target stage of a Dockerfile; the image is stored and named by every tag. */
export function build(given: BuildRequest, deps: BuildDeps): Promise<BuiltImage> {
  return started(given, deps, (request, partial, attempt, reporter, platform, buildArgs) => buildStages(request, deps, partial, attempt, reporter, platform, buildArgs));
}

/**
 * A build for each of PLATFORMS (`--platform a,b`), as one: the definition is loaded once, one
 * progress numbers every step, base images are loaded once per platform, and the steps the
 * platforms share (a builder stage on BUILDPLATFORM) run once, the later platforms taking them
 * from the cache. The images are named by nothing: what holds them (an index) is the caller's.
 */
export function buildPlatforms(given: BuildRequest, deps: BuildDeps, platforms: readonly Platform[]): Promise<BuiltImage[]> {
  return started({ ...given, tags: [], tagsAsGiven: [], multiPlatform: true }, deps, async (request, partial, attempt, reporter, _platform, buildArgs) => {
    const images: BuiltImage[] = [];
    for (const platform of platforms) {
      // A stage's output is its platform's; what loads and runs is shared.
      const own: EarlyBuildContext = { ...partial, request: { ...request, platform }, outputs: new Map(), flights: new Map() };
      images.push(await buildStages(own.request, deps, own, attempt, reporter, platform, buildArgs));
    }
    return images;
  });
}

/**
 * `docker build --check`: the Dockerfile resolved (every stage, unless a target is given) and
 * its build checks reported as warning events, no step run. Fails as a build would fail to
 * start: a Dockerfile that does not resolve, or the check directive's `error=true` with warnings.
 */
export async function checkBuild(given: BuildRequest, checkDeps: Omit<BuildDeps, 'cache'>): Promise<void> {
  await started(given, { ...checkDeps, cache: noStepCache }, async (request, partial, _attempt, reporter, platform, buildArgs) => {
    await planStages(request, partial, reporter, platform, buildArgs, request.target === undefined);
  });
}

/**
 * `--call=outline`: the build args, secrets and ssh agents the target's build reads, once its
 * definition and base images are loaded (their ENV may give an ARG its value); no step runs.
 */
export async function outlineBuild(given: BuildRequest, outlineDeps: Omit<BuildDeps, 'cache'>): Promise<BuildOutline> {
  return started(given, { ...outlineDeps, cache: noStepCache }, async (request, partial, _attempt, reporter, platform, buildArgs) => {
    const { parsed, resolved, options } = await planStages(request, partial, reporter, platform, buildArgs, false);
    return outlineOf(parsed.dockerfile, resolved, options);
  });
}

/** For a build that runs no step: none is looked up or recorded. */
const noStepCache: StepCache = {
  get: () => Promise.resolve(undefined),
  outcome: () => Promise.resolve(undefined),
  put: () => Promise.reject(new TsbuildError('INTERNAL', 'a build check records no step')),
};

type BuildBody<T> = (request: BuildRequest, partial: EarlyBuildContext, attempt: { current: number }, reporter: StepReporter, platform: Platform, buildArgs: Readonly<Record<string, string>>) => Promise<T>;

/** What every build does first: its definition loaded, its early context, interruption handled. */
async function started<T>(given: BuildRequest, deps: BuildDeps, body: BuildBody<T>): Promise<T> {
  const request = withSandboxHostname(given);
  const reporter = new StepReporter(deps.onEvent);
  deps.cache.attachProgress?.((name) => reporter.step(name));
  const platform = request.platform ?? hostPlatform();
  const buildArgs = request.buildArgs ?? {};
  const definition = reporter.step(`[internal] load build definition from ${request.dockerfile.file.split('/').at(-1) ?? 'Dockerfile'}`).start();
  definition.status('transfer', 'transferring dockerfile:', true, { current: Buffer.byteLength(request.dockerfile.source) });
  definition.done();

  // Which run of the stages this is: a cache layer given early and found bad starts them again.
  const attempt = { current: 1 };
  const partial: EarlyBuildContext = {
    request,
    deps,
    reporter,
    snapshots: new Snapshotter(deps.store, async () => deps.cache.settle?.(attempt.current)),
    limit: pLimit(deps.concurrency ?? Math.max(1, availableParallelism())),
    outputs: new Map(),
    bases: new Map(),
    baseConfigs: new Map(),
    sourceDateEpoch: sourceDateEpoch(buildArgs),
    shared: {},
    flights: new Map(),
    recording: new BackgroundWork(),
    attempt,
    emptiedCacheMounts: new Set(),
    failed: new AbortController(),
    keys: { failure: undefined, reached: new Map(), watched: [] },
    namedSources: new Map(
      [...(request.namedContexts ?? [])].flatMap(([name, source], index) => (source.kind === 'image' ? [] : [[contextReference(index), { name, source }] as const])),
    ),
  };
  const interrupted = deps.interrupted;
  const cancelSteps = (): void => partial.failed.abort();
  // A function: the signal changes while the build runs.
  const wasInterrupted = (): boolean => interrupted?.aborted === true;
  if (wasInterrupted()) throw new BuildInterrupted();
  interrupted?.addEventListener('abort', cancelSteps, { once: true });
  try {
    return await body(request, partial, attempt, reporter, platform, buildArgs);
  } catch (error) {
    if (wasInterrupted()) throw new BuildInterrupted();
    throw error;
  } finally {
    interrupted?.removeEventListener('abort', cancelSteps);
  }
}

/** The docker/dockerfile minor version whose frontend first copied a parent stage's labels, ports and volumes (inheritConfig). */
const firstCopyingFrontend = 24;
/** More than any stage holds, so that an instruction's place in the file orders it after every one of the stages before. */
const instructionsPerStage = 2 ** 20;

/** The docker/dockerfile minor version whose frontend first ran build checks. */
const firstCheckingFrontend = 8;

/**
 * The build checks of the dispatched stages (src/planner/lint.ts), reported; with the check
 * directive's `error=true`, any warning of the build fails it before a step runs, as BuildKit's.
 */
function lintResolved(linter: Linter, parsed: ResolvedBuild['parsed'], stages: readonly ResolvedStage[], partial: Pick<BuildContext, 'baseConfigs'>, reporter: StepReporter): void {
  const before = linter.warnings.length;
  lintStages(linter, parsed, stages, (stage) => {
    const config = stage.base.kind === 'image' ? partial.baseConfigs.get(baseKey(stage.base.reference, stage.platform))?.config : undefined;
    return config === undefined ? undefined : { shell: (config.config?.Shell?.length ?? 0) > 0, platform: platformOfConfig(config) };
  });
  for (const warning of linter.warnings.slice(before)) reporter.lint(warning);
  const violation = linter.violation();
  const first = linter.warnings[0];
  if (violation !== undefined) throw new TsbuildError('DOCKERFILE_PARSE', violation, first === undefined ? {} : { ranges: [first.range] });
}

/**
 * Parses and resolves the Dockerfile, with the configs of the base images it needs, and runs
 * the build checks; ALLSTAGES resolves every stage, not only those the target needs (a check).
 */
async function planStages(
  request: BuildRequest,
  partial: EarlyBuildContext,
  reporter: StepReporter,
  platform: Platform,
  buildArgs: Readonly<Record<string, string>>,
  allStages: boolean,
): Promise<{ parsed: ResolvedBuild['parsed']; resolved: ResolvedBuild['resolved']; linter: Linter | undefined; options: ResolveOptions }> {
  const namedContexts = new Map([...(request.namedContexts ?? [])].map(([name, source], index) => [name, source.kind === 'image' ? source.reference : contextReference(index)]));

  // Resolution asks for base image configs (their ENV is in scope, their ONBUILD triggers run):
  // fetch what it asked for and resolve again until it asks for nothing new. The file is parsed
  // once; only the resolution runs again.
  const file = request.dockerfile;
  let wanted: { reference: string; platform: Platform }[] = [];
  const options: ResolveOptions = {
    buildArgs,
    ...(allStages ? { allStages } : {}),
    ...(request.target === undefined ? {} : { target: request.target }),
    platform: { build: hostPlatform(), target: platform },
    ...(namedContexts.size === 0 ? {} : { namedContexts }),
    baseImage: (reference: string, wantedPlatform: Platform): BaseImageConfig | undefined => {
      const base = partial.baseConfigs.get(baseKey(reference, wantedPlatform));
      if (base === undefined) {
        wanted.push({ reference, platform: wantedPlatform });
        return undefined;
      }
      const c = base.config.config ?? {};
      return {
        ...(c.Env === undefined ? {} : { env: c.Env }),
        ...(c.WorkingDir === undefined ? {} : { workingDir: c.WorkingDir }),
        ...(c.User === undefined ? {} : { user: c.User }),
        ...(c.OnBuild === undefined || c.OnBuild === null ? {} : { onBuild: c.OnBuild }),
      };
    },
  };
  const syntax = buildArgs.BUILDKIT_SYNTAX;
  let linter: Linter | undefined;
  const { parsed, resolved: first } = resolveDockerfile({ source: file.source, file: file.file, frontend: syntax === undefined ? {} : { syntax } }, options, (parsedFile) => {
    // Build checks came with frontend 1.8: a `# syntax=` naming an older one runs none.
    if (parsedFile.frontendMinor < firstCheckingFrontend) return;
    // Build checks on the file come before resolution, which may fail: BuildKit's warnings too.
    linter = new Linter(lintConfigOf(parsedFile, buildArgs));
    lintSyntax(linter, parsedFile, options);
    for (const warning of linter.warnings) reporter.lint(warning);
  });
  let resolved = first;
  for (let round = 0; ; round++) {
    if (round > 0) {
      wanted = [];
      resolved = resolveRaw(parsed.dockerfile, { channel: parsed.channel, frontendMinor: parsed.frontendMinor, ...options });
    }
    if (wanted.length === 0 || round > 8) break;
    const stages = resolved.stages;
    await Promise.all(
      wanted.map(async (base) => {
        try {
          await loadBase(partial, base.reference, base.platform);
        } catch (error) {
          // As BuildKit: the failure points at the FROM line that named the image.
          const stage = stages.find((candidate) => candidate.base.kind === 'image' && candidate.base.reference === base.reference);
          throw new BuildStepError(messageOf(error), `[internal] load metadata for ${formatReference(parseReference(base.reference))}`, stage?.range, file.file, [], {
            cause: error,
            code: isTsbuildError(error) ? error.code : 'REGISTRY',
          });
        }
      }),
    );
  }
  if (linter !== undefined) lintResolved(linter, parsed, resolved.stages, partial, reporter);
  return { parsed, resolved, linter, options };
}

async function buildStages(
  request: BuildRequest,
  deps: BuildDeps,
  partial: EarlyBuildContext,
  attempt: { current: number },
  reporter: StepReporter,
  platform: Platform,
  buildArgs: Readonly<Record<string, string>>,
): Promise<BuiltImage> {
  const { parsed, resolved } = await planStages(request, partial, reporter, platform, buildArgs, false);
  if (resolved.unusedBuildArgs.length > 0) reporter.warn(`one or more build-args [${resolved.unusedBuildArgs.join(' ')}] were not consumed`);
  const ignoreFile = request.contextDir === undefined ? undefined : (partial.shared.ignoreFile ??= loadDockerignore(reporter, request.contextDir, request.dockerfile.path));
  // Its step comes before the stages' (a failure, the stages' own turn).
  await ignoreFile?.catch(() => undefined);
  const stages = new Map(resolved.stages.map((stage) => [stage.index, stage]));

  // The sandbox's /etc files are made when the first RUN runs: a build from the cache needs none.
  let sandbox: Promise<{ directory: string; environment: RunEnvironment }> | undefined;
  const ctx: BuildContext = {
    ...partial,
    proxy: resolved.proxy,
    escapeToken: resolved.escapeToken,
    sourceLines: sourceLines(request.dockerfile.source),
    stages,
    contextPaths: contextPathsOf(resolved.stages),
    ignoreFile,
    fromSteps: new Map(),
    fromOwners: fromStepOwners(stages, resolved.target, (stage) => (stage.base.kind === 'image' ? baseKey(stage.base.reference, stage.platform) : undefined)),
    contextStep: undefined,
    // BuildKit drops the stage name from step names only when the whole file has one stage.
    stageCount: parsed.dockerfile.stages.length,
    sharedConfigMaps: parsed.frontendMinor < firstCopyingFrontend,
    environment: async () => (await (sandbox ??= sandboxFiles(deps.store, request.sandbox?.extraHosts ?? [], request.sandbox?.hostname ?? defaultHostname))).environment,
  };
  watchContextKeys(ctx, resolved.stages);
  try {
    for (; ; attempt.current++) {
      try {
        // Every stage the target needs starts now; each waits only for what it reads.
        const all = resolved.stages.map((stage) => stageOutput(ctx, stage.index));
        // The first failure cancels the rest, as BuildKit's solver does: a long step of another
        // stage does not run on to its end for a build that has failed already.
        // A step whose key failed is the exception: a step already running runs to its end, and
        // none starts after it (watchContextKeys).
        for (const output of all) output.catch((error: unknown) => (error instanceof CacheImportRetry || error === ctx.keys.failure ? undefined : ctx.failed.abort()));
        const results = await Promise.allSettled(all);
        const failures = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
        const failed = failures.find((reason) => !(reason instanceof CacheImportRetry) && !(reason instanceof StepCanceled)) ?? failures.find((reason) => !(reason instanceof CacheImportRetry)) ?? failures[0];
        if (failed !== undefined) throw failed;
        const target = await stageOutput(ctx, resolved.target);
        await deps.cache.settle?.(attempt.current);
        await ctx.recording.settle();
        return await exportImage(ctx, target);
      } catch (error) {
        // A cache layer given before it arrived turned out bad: the cache knows it now, and the
        // steps that hit on it miss the next time round. Nothing was run on top of it.
        if (!(error instanceof CacheImportRetry) || attempt.current >= 3) {
          showHeld(ctx);
          throw error;
        }
        ctx.outputs.clear();
        ctx.flights.clear();
      }
    }
  } finally {
    // The records of the steps that ran before a failure are kept, as BuildKit keeps them.
    await ctx.recording.settle().catch(() => undefined);
    await ctx.snapshots.idle().catch(() => undefined);
    if (sandbox !== undefined) await rm((await sandbox).directory, { recursive: true, force: true });
  }
}

