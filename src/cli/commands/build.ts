import { createReadStream } from 'node:fs';
import { rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { TsbuildError, isTsbuildError, messageOf, formatPlatform, formatReference, hostPlatform, normalizePlatform, parsePlatform, parseReference, type Descriptor, type Platform, type SourceRange, formatPosition, wholeLineRanges } from '../../common/index.js';
import { BuildInterrupted, BuildStepError, build, buildPlatforms, checkBuild, checkContextName, outlineBuild, checkoutContext, isGitSource, dockerfileInContext, parseNamedContextValue, readDockerfile, readStdinInput, readUrlInput, type BuildDeps, type BuildRequest, type NamedContextSource, type StdinInput } from '../../executor/index.js';
import { parseOutputSpec, pushableImage, writeOutput, type OutputImage, type OutputSpec } from '../../exporter/index.js';
import { DockerfileParseError, listTargets, parseBuildArgs, withoutPlannerLocation, type LintWarning } from '../../planner/index.js';
import type { RegistryClient } from '../../registry/index.js';
import { selectRuntime } from '../../runtime/index.js';
import { ExitError, type CliIo } from '../io.js';
import { createProgress, progressMode } from '../progress/index.js';
import { runInUserNamespace } from '../rootless.js';
import { addRootOption, storeFromOptions } from '../store-options.js';
import { addInsecureRegistryOption, collect, defaultPlatform, keyValueMap } from '../common-options.js';
import { parseAllow, parseSecrets, parseSsh } from './build-secrets.js';
import { addSandboxOptions, sandboxOptionsOf, type SandboxFlags } from './build-sandbox-options.js';
import { checkNamedBuilder } from './builders.js';
import { outlineJson, outlineText, targetsJson, targetsText } from './build-outline.js';
import { parseAnnotations, pushInProgress, singleResult, storeManifestList, writeImageOutput, writeMetadataFile, type BuildResult } from './build-export.js';
import { watchInterrupts } from '../interrupts.js';
import { withProxyBuildArgs } from '../docker-proxies.js';
import { addCacheOptions, planBuildCache, withInlineCacheArg, type CacheFlags } from './build-cache-options.js';

interface BuildOptions extends CacheFlags, SandboxFlags {
  tag: string[];
  file?: string;
  buildArg: string[];
  target?: string;
  label: string[];
  cache: boolean;
  cacheFilter: string[];
  pull?: boolean;
  network: string;
  progress?: string;
  quiet?: boolean;
  iidfile?: string;
  output: string[];
  push?: boolean;
  runtime?: string;
  platform: string[];
  root?: string;
  insecureRegistry: string[];
  buildContext: string[];
  secret: string[];
  ssh: string[];
  allow: string[];
  annotation: string[];
  metadataFile?: string;
  check?: boolean;
  call?: string;
}

/** `-f`: a path (relative to the current directory, as docker), `-` for stdin, or CONTEXT/Dockerfile (or dockerfile). */
async function dockerfileOf(contextDir: string | undefined, file: string | undefined, stdinUsed: boolean): Promise<{ source: string; file: string; path?: string }> {
  if (file === '-') {
    if (stdinUsed) throw new TsbuildError('INVALID_ARGUMENT', 'build: the Dockerfile and the context cannot both come from standard input');
    return { source: await readDockerfile(process.stdin, 'standard input'), file: 'Dockerfile' };
  }
  const candidates = file !== undefined ? [resolve(file)] : contextDir === undefined ? [] : [join(contextDir, 'Dockerfile'), join(contextDir, 'dockerfile')];
  for (const path of candidates) {
    try {
      return { source: await readDockerfile(createReadStream(path), path), file: file ?? basename(path), path };
    } catch (error) {
      if (error instanceof TsbuildError) throw error;
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new TsbuildError('INVALID_ARGUMENT', `build: read ${path}: ${(error as Error).message}`);
    }
  }
  // BuildKit's words: it reads the file in the solve, by its name alone.
  throw new TsbuildError('NOT_FOUND', `build: failed to solve: failed to read dockerfile: open ${basename(candidates[0] ?? 'Dockerfile')}: no such file or directory`);
}

/**
 * The lines BuildKit shows around an instruction that failed (solver/errdefs' Print): four of
 * context for a one-line instruction, two for a longer one, taken a line before and a line after
 * by turns, each turn counting one more, so that a one-line instruction gets two lines on each
 * side and one at the file's start gets three after it.
 */
export function excerptLines(start: number, end: number, count: number): { first: number; last: number } {
  const pad = start === end ? 4 : 2;
  let first = start;
  let last = end;
  for (let taken = 0; taken < pad; taken++) {
    if (first > 1) {
      first--;
      taken++;
    }
    if (last !== count) {
      last++;
      taken++;
    }
  }
  return { first, last };
}

/**
 * BuildKit's failure report: the step's last output lines (when the progress did not show them),
 * the Dockerfile lines around the instruction, then the error itself, last.
 */
function renderFailure(error: BuildStepError, source: string, withOutput: boolean): string {
  const lines: string[] = [];
  if (withOutput && error.output.length > 0) lines.push('------', ` > ${error.step}:`, ...error.output.map((line) => `   ${line}`), '------');
  if (error.range !== undefined) lines.push(...sourceExcerpt(error.file, source, error.range));
  lines.push(`ERROR: failed to solve: ${error.message}`);
  return `${lines.join('\n')}\n`;
}

/** The Dockerfile lines around RANGE, framed as BuildKit frames them above a failure. */
function sourceExcerpt(file: string, source: string, range: SourceRange, at: 'line' | 'column' = 'line'): string[] {
  // The lines after the file's last newline count too (an empty one), as BuildKit splits them.
  const text = source.split(/\r?\n/);
  const { first, last } = excerptLines(range.start.line, Math.min(text.length, range.end.line), text.length);
  // BuildKit names the line alone; a syntax or expansion error also names its column, after it,
  // so that what matches BuildKit's `FILE:LINE` still matches.
  const lines = [at === 'column' ? formatPosition(file, range) : `${file}:${range.start.line}`, '--------------------'];
  for (let n = first; n <= last; n++) {
    const mark = n >= range.start.line && n <= range.end.line ? '>>>' : '   ';
    lines.push(` ${String(n).padStart(3)} | ${mark} ${text[n - 1] ?? ''}`);
  }
  lines.push('--------------------');
  return lines;
}

/**
 * A failure of the solve that no step reported, as buildx shows it: the Dockerfile lines it is
 * located at, then `ERROR: failed to solve: …` (a syntax error: `dockerfile parse error on line
 * N: …`, BuildKit's first).
 */
function renderSolveFailure(error: TsbuildError, file: string, source: string): string {
  if (error instanceof DockerfileParseError) {
    const { range, message } = error.primary;
    return `${[...sourceExcerpt(file, source, range, 'column'), `ERROR: failed to solve: dockerfile parse error on line ${range.start.line}: ${message}`].join('\n')}\n`;
  }
  const [range] = error.ranges;
  // The planner renders a located error's place into its message; the excerpt says it here.
  const located = range !== undefined && error.message.startsWith(`${file}:`) && error.cause instanceof TsbuildError ? error.cause.message : error.message;
  const message = range === undefined ? located : withoutPlannerLocation(located);
  return `${[...(range === undefined ? [] : sourceExcerpt(file, source, range, 'column')), `ERROR: failed to solve: ${message.replace(/^build: /, '')}`].join('\n')}\n`;
}

/** A -t name, refused in buildx's words (`invalid tag "Bad:x": repository name must be lowercase`). */
function parseTag(tag: string): ReturnType<typeof parseReference> {
  try {
    return parseReference(tag);
  } catch (error) {
    if (!isTsbuildError(error, 'INVALID_REFERENCE')) throw error;
    // buildx's reasons are Go's reference.Parse's: capitals, a name too long, or the format alone.
    const reason = error.message.replace(/^.*?invalid reference format: /s, '');
    const tooLong = /^repository name longer than (\d+) characters$/.exec(reason);
    const goReason = tooLong !== null ? `repository name must not be more than ${tooLong[1]} characters` : reason === 'repository name must be lowercase' ? reason : 'invalid reference format';
    throw new TsbuildError('INVALID_REFERENCE', `build: invalid tag ${JSON.stringify(tag)}: ${goReason}`, { cause: error });
  }
}

/**
 * buildx's report of an error before the solve (a context, a flag): `ERROR: ` and the message,
 * without tsbuild's `build: ` (docker's words follow it), status 1.
 */
function buildxErrors<A extends unknown[]>(io: CliIo, action: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await action(...args);
    } catch (error) {
      if (!isTsbuildError(error)) throw error;
      io.stderr.write(`ERROR: ${error.message.replace(/^build: /, '')}\n`);
      throw new ExitError(1);
    }
  };
}

export function registerBuild(program: Command, io: CliIo): void {
  const command = program
    .command('build')
    .description('build an image from a Dockerfile and a context')
    .argument('<context>', 'the build context: a directory, or - for a context tar (plain or compressed) or a Dockerfile alone on standard input')
    .option('-t, --tag <name>', 'name the image (repeatable)', collect, [])
    .option('-f, --file <path>', 'the Dockerfile (default: CONTEXT/Dockerfile); - reads it from standard input')
    .option('--build-arg <name[=value]>', 'set a build-time variable; NAME alone takes its value from the environment (repeatable)', collect, [])
    .option('--target <stage>', 'build this stage and what it needs')
    .option('--build-context <name=value>', 'a named context for FROM NAME and COPY --from=NAME: a directory, a git URL, docker-image://REF or oci-layout://PATH[:TAG|@DIGEST] (repeatable)', collect, [])
    .option('--label <key=value>', 'set a label on the image (repeatable)', collect, [])
    .option('--no-cache', 'run every step, using no cached result')
    .option('--no-cache-filter <stage>', 'run the steps of this stage, using no cached result (repeatable)', collect, [])
    .option('--pull', 'always pull base images, even when the store has them')
    .option('--network <mode>', 'network of RUN steps: default, host or none', 'default')
    .option('--secret <id=ID,src=FILE|env=VAR>', 'a secret RUN --mount=type=secret can read (repeatable)', collect, [])
    .option('--ssh <default|ID=SOCKET|ID=KEYFILE>', 'an ssh agent (or key files) RUN --mount=type=ssh can reach; default: SSH_AUTH_SOCK (repeatable)', collect, [])
    .option('--allow <entitlement>', 'allow security.insecure (RUN --security=insecure) or network.host (repeatable)', collect, [])
    .option('--progress <mode>', 'progress output: auto, tty, plain, rawjson or quiet (default: BUILDKIT_PROGRESS, else auto)')
    .option('-q, --quiet', 'print only the image ID')
    .option('--iidfile <file>', 'write the image ID to this file')
    .option('-o, --output <spec>', 'also write the result: type=oci|docker|tar|local,dest=PATH or type=image|registry, or type=cacheonly (the cache only, no image); image outputs take compression=gzip|zstd|uncompressed,compression-level=N,force-compression=true (repeatable)', collect, [])
    .option('--annotation <key=value>', "add an annotation to the image's manifest (manifest:KEY=VALUE); with several platforms, index:KEY=VALUE to the index and manifest-descriptor:KEY=VALUE to its descriptors (repeatable)", collect, [])
    .option('--metadata-file <file>', "write the build's result (image digest, config digest, descriptor, names) to this file as JSON")
    .option('--push', 'push every -t name to its registry')
    .option('--runtime <name>', 'OCI runtime for RUN: runtime-shim (default), crun, runc or a path')
    .option('--platform <os/arch[/variant],…>', "the image's platform (this machine's by default); several, comma-separated or repeated, make an index of an image for each", collect, [])
    .option('--check', "run the Dockerfile's build checks and list what they find, running no step (--call=check)")
    .option('--call <method>', 'build (the default); check: the build checks alone; outline: the build args, secrets and ssh agents the target reads; targets: the stages and their descriptions; ,format=json for JSON');
  addRootOption(addInsecureRegistryOption(addSandboxOptions(addCacheOptions(command)))).action(buildxErrors(io, async (contextArg: string, options: BuildOptions) => {
    // Before all else, as buildx resolves its builder first; in this process, which reads the
    // store that buildx create wrote.
    await checkNamedBuilder(io, options.builder, options);
    const inner = await runInUserNamespace(options.root);
    if (inner !== undefined) throw new ExitError(inner);
    if (!['default', 'host', 'none'].includes(options.network)) throw new TsbuildError('INVALID_ARGUMENT', `build: invalid --network ${JSON.stringify(options.network)}: use default, host or none`);
    const platforms = platformsOf(options.platform.length > 0 ? options.platform : [defaultPlatform() ?? '']);
    const multiPlatform = platforms.length > 1;
    const platform = multiPlatform ? undefined : platforms[0];
    const given: OutputSpec[] = options.output.map((spec) => parseOutputSpec(spec));
    // `type=cacheonly` with no other output: the steps and their cache only, as buildx; no image
    // is named (whatever -t says) or kept.
    const cacheOnly = given.length > 0 && given.every((output) => output.type === 'cacheonly') && options.push !== true;
    const outputs = given.filter((output) => output.type !== 'cacheonly');
    // BuildKit's words, said before anything runs rather than after every step.
    if (multiPlatform && outputs.some((output) => output.type === 'docker')) throw new TsbuildError('INVALID_ARGUMENT', 'build --output type=docker: docker exporter does not currently support exporting manifest lists');
    const { sandbox, warnings: flagWarnings } = sandboxOptionsOf(options);
    for (const message of flagWarnings) io.stderr.write(`WARNING: ${message}\n`);
    // As buildx: an ID file names an image, which a root filesystem output does not make.
    if (options.iidfile !== undefined && outputs.some((output) => output.type === 'local' || output.type === 'tar')) {
      throw new TsbuildError('INVALID_ARGUMENT', 'build: local and tar exporters are incompatible with image ID file');
    }
    // Whether an output makes an image that reports its ID (-q, --metadata-file): not when every one is a root filesystem.
    const imageOutput = options.push === true || outputs.length === 0 || outputs.some((output) => output.type !== 'local' && output.type !== 'tar');
    const toStdout = outputs.filter((output) => output.dest === '-').length;
    if (toStdout > 1) throw new TsbuildError('INVALID_ARGUMENT', `build --output: ${toStdout} outputs write to standard output; only one can`);
    const tagsGiven = cacheOnly ? [] : options.tag;
    const tags = tagsGiven.map((tag) => formatReference(parseTag(tag)));
    const annotations = parseAnnotations(options.annotation, multiPlatform);
    if (options.push === true && tags.length === 0) throw new TsbuildError('INVALID_ARGUMENT', 'build --push: name the image with -t');
    const namedContexts = parseNamedContexts(options.buildContext);
    // As docker: an ID file left from an earlier build must not pass for this one's if it fails.
    if (options.iidfile !== undefined) {
      await rm(options.iidfile, { force: true }).catch((error: unknown) => {
        throw new TsbuildError('INVALID_ARGUMENT', `build --iidfile: remove ${options.iidfile}: ${messageOf(error)}`, { cause: error });
      });
    }
    // The proxies of docker's client configuration join them, as buildx passes them on, and
    // SOURCE_DATE_EPOCH of the environment unless given (buildx's reproducible builds).
    const [buildArgs, store] = await Promise.all([withProxyBuildArgs(withEnvironmentEpoch(parseBuildArgs(options.buildArg, process.env))), storeFromOptions(options)]);
    // A context checked out from git or unpacked from standard input lives in a scratch directory
    // of the store's, removed after the build (or by the next one, if this one is killed).
    let gitContext: { readonly dir: string; cleanup(): Promise<void> } | undefined;
    let stdinInput: StdinInput | undefined;
    const releaseInputs = async (): Promise<void> => {
      await stdinInput?.cleanup();
      await gitContext?.cleanup();
    };
    let contextDir: string | undefined;
    let dockerfile: { source: string; file: string; path?: string };
    try {
      if (contextArg !== '-' && isGitSource(contextArg)) {
        gitContext = await checkoutContext(contextArg, store.temporaryDirectory, buildArgs.BUILDKIT_CONTEXT_KEEP_GIT_DIR === '1');
        contextDir = gitContext.dir;
        // -f names a file of the repository, as docker takes it for a remote context.
        dockerfile = options.file === '-' ? await dockerfileOf(contextDir, '-', false) : await dockerfileInContext(contextDir, options.file);
      } else if ((contextArg === '-' && options.file !== '-') || /^https?:\/\//i.test(contextArg)) {
        // `-` or a URL: a context tar (then -f names a file inside it) or a Dockerfile, as docker tells them.
        stdinInput = contextArg === '-' ? await readStdinInput(process.stdin, store.temporaryDirectory) : await readUrlInput(contextArg, store.temporaryDirectory);
        if (stdinInput.kind === 'context') {
          contextDir = stdinInput.dir;
          dockerfile = await dockerfileInContext(stdinInput.dir, options.file);
        } else {
          if (options.file !== undefined) throw new TsbuildError('INVALID_ARGUMENT', `build: -f names a file of the context, and ${contextArg === '-' ? 'standard input' : contextArg} holds a Dockerfile, not a context tar`);
          dockerfile = { source: stdinInput.source, file: 'Dockerfile' };
        }
      } else {
        contextDir = contextArg === '-' ? undefined : resolve(contextArg);
        if (contextDir !== undefined) {
          const info = await stat(contextDir).catch(() => undefined);
          if (info === undefined || !info.isDirectory()) throw new TsbuildError('NOT_FOUND', `build: unable to prepare context: path ${JSON.stringify(contextArg)} not found`);
        }
        dockerfile = await dockerfileOf(contextDir, options.file, contextArg === '-');
      }
    } catch (error) {
      await releaseInputs();
      throw error;
    }

    const quiet = options.quiet === true;
    const mode = quiet ? 'quiet' : progressMode(options.progress, process.env);
    const progress = createProgress(mode, { stderr: io.stderr, isTTY: io.isTty });
    const request = async (): Promise<BuildRequest> => ({
      dockerfile: { ...dockerfile, ...(dockerfile.path === undefined ? {} : { path: dockerfile.path }) },
      ...(contextDir === undefined ? {} : { contextDir }),
      buildArgs,
      ...(options.target === undefined ? {} : { target: options.target }),
      labels: keyValueMap(options.label),
      noCache: !options.cache,
      ...(options.cacheFilter.length === 0 ? {} : { noCacheFilter: options.cacheFilter }),
      explainCache: options.explainCache === true,
      pull: options.pull === true,
      network: options.network as 'default' | 'host' | 'none',
      ...(platform === undefined ? {} : { platform }),
      tags,
      tagsAsGiven: tagsGiven.map((tag) => formatReference(parseReference(tag, { defaultTag: false }))),
      ...(namedContexts.size === 0 ? {} : { namedContexts }),
      secrets: await parseSecrets(options.secret, process.env),
      ssh: parseSsh(options.ssh, process.env),
      allow: parseAllow(options.allow),
      ...(sandbox === undefined ? {} : { sandbox }),
      ...(Object.keys(annotations.manifest).length === 0 ? {} : { annotations: annotations.manifest }),
    });
    const call = callOf(options);
    if (call.method === 'targets') {
      await releaseInputs();
      printTargets(io, dockerfile, call.format);
      return;
    }
    if (call.method === 'check' || call.method === 'outline') {
      const deps = { store, runtime: selectRuntime(options.runtime), registry: async () => (await import('./registry-options.js')).registryClient(options) };
      try {
        if (call.method === 'check') await runCheck(io, await request(), dockerfile, progress, call.format, deps);
        else await runOutline(io, await request(), dockerfile, progress, call.format, deps);
      } finally {
        await releaseInputs();
      }
      return;
    }
    let client: RegistryClient | undefined;
    // Loaded only when a base image is pulled or the image pushed: a rebuild from local images
    // never loads the HTTP client.
    const registry = async (): Promise<RegistryClient> => (client ??= (await import('./registry-options.js')).registryClient(options));
    const caching = planBuildCache(withInlineCacheArg(options, buildArgs), store, registry, (message) => progress.onEvent({ kind: 'warning', message, time: Date.now() }), options.push === true || outputs.length > 0);
    const running = await caching.begin();
    // While the steps run, a signal cancels them as docker build's first Ctrl-C does: running
    // commands are killed, their mounts and scratch directories removed. After the steps (an
    // export, a push) it ends the process at once; a step's command dies with the process (the
    // runtime-shim's parent-death signal). A reader of the progress that goes away cancels them too.
    const interrupt = new AbortController();
    const interruption = watchInterrupts(interrupt, { outputClosed: true });
    // Whether the solve gave an image: an error after it (an export, a push) is not the solve's.
    let solved = false;
    try {
      let result: BuildResult;
      let built: OutputImage | undefined;
      // The image the metadata file describes: an image output's, else a push's, else the first archive's, else the stored one.
      let exported: { descriptor: Descriptor; names: readonly string[] } | undefined;
      const exportWarnings: string[] = [];
      try {
        const buildRequest: BuildRequest = { ...(await request()), ...(caching.configExtras === undefined ? {} : { configExtras: caching.configExtras }) };
        const buildDeps: BuildDeps = { store, runtime: selectRuntime(options.runtime), cache: caching.cache, registry, interrupted: interrupt.signal, onEvent: (event) => { progress.onEvent(event); caching.observe(event); } };
        result = multiPlatform
          ? await storeManifestList(store, await buildPlatforms(buildRequest, buildDeps, platforms), tags, buildRequest.tagsAsGiven ?? tags, annotations)
          : singleResult(await build(buildRequest, buildDeps));
        interruption.stop();
        solved = true;
        built = { descriptor: result.descriptor, names: tags, firstBuiltLayers: new Map(result.images.map((image) => [image.manifest.digest, image.baseLayers])) };
        const step = result.step;
        // Image outputs and --push in the build's progress, each push a step, as buildx shows them.
        for (const output of outputs) {
          if (output.type !== 'image' && output.type !== 'registry') continue;
          const written = await writeImageOutput(built, output, { store, registry, step });
          if (written.names.length === 0) await store.keepUnnamed(written.descriptor);
          exported ??= written;
        }
        // What --push sends: the image with its layers compressed, as the metadata file then names it.
        if (options.push === true) {
          const document = await pushableImage(store, result.descriptor);
          exported ??= { descriptor: document, names: tags };
          for (const tag of tags) await pushInProgress(tag, { store, registry }, step(`pushing ${tag}`), document);
        }
        // In the build's progress, as BuildKit's cache export steps; warnings after it.
        await caching.exportAll(result.images, (message) => exportWarnings.push(message));
      } finally {
        await progress.finish();
        for (const message of exportWarnings) io.stderr.write(`WARNING: ${message}\n`);
        io.stderr.write(caching.explanation());
      }
      // As `docker build` without -t: the image stays, without a name (`<none>:<none>`), found by its ID.
      // An --output is where the result goes instead, as with buildx.
      if (tags.length === 0 && outputs.length === 0 && !cacheOnly) await store.keepUnnamed(result.descriptor);
      let archived: { descriptor: Descriptor; names: readonly string[] } | undefined;
      for (const output of outputs) {
        if (output.type === 'image' || output.type === 'registry') continue;
        const written = await writeOutput(store, built, await result.rootfs(), output, io.stdout, result.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: result.sourceDateEpoch });
        archived ??= written;
      }
      if (options.metadataFile !== undefined) {
        exported ??= archived ?? (imageOutput ? { descriptor: result.descriptor, names: tags } : undefined);
        await writeMetadataFile(options.metadataFile, { ...(exported === undefined ? {} : { image: { ...(multiPlatform ? {} : { configDigest: result.id }), ...exported } }), cacheVerdicts: caching.verdicts() });
      }
      await caching.afterBuild((message) => io.stderr.write(`WARNING: ${message}\n`));
      if (options.iidfile !== undefined) await writeFile(options.iidfile, result.id);
      // Standard output carrying an archive gets nothing else, as docker.
      // As buildx: an empty line when no output reports an image.
      if (quiet && toStdout === 0) io.stdout.write(`${imageOutput ? result.id : ''}\n`);
    } catch (error) {
      if (error instanceof BuildInterrupted) {
        io.stderr.write(`ERROR: ${error.message}\n`);
        throw new ExitError(interruption.interrupted() ?? 130);
      }
      if (error instanceof BuildStepError) {
        io.stderr.write(renderFailure(error, dockerfile.source, mode === 'quiet' || mode === 'rawjson'));
        throw new ExitError(1);
      }
      if (isTsbuildError(error) && !solved) {
        io.stderr.write(renderSolveFailure(error, dockerfile.file, dockerfile.source));
        throw new ExitError(1);
      }
      throw error;
    } finally {
      interruption.stop();
      await running();
      await client?.close();
      await releaseInputs();
    }
  }));
}

interface Call {
  readonly method: 'build' | 'check' | 'outline' | 'targets';
  /** `format=json`: the frontend's result as JSON (what editors' Dockerfile tools read). */
  readonly format: 'text' | 'json';
}

const callMethods: readonly Call['method'][] = ['build', 'check', 'outline', 'targets'];

/** `--call NAME[,format=json]` (or `--check`): what buildx asks its frontend for. */
function callOf(options: BuildOptions): Call {
  if (options.check === true) return { method: 'check', format: 'text' };
  const [name = '', ...rest] = (options.call ?? 'build').split(',').map((part) => part.trim());
  const method = callMethods.find((candidate) => candidate === name.toLowerCase());
  if (method === undefined) {
    throw new TsbuildError('INVALID_ARGUMENT', `build --call ${JSON.stringify(options.call)}: tsbuild answers ${callMethods.join(', ')}`);
  }
  let format: Call['format'] = 'text';
  for (const option of rest) {
    if (option === 'format=json' && method !== 'build') format = 'json';
    else if (option !== 'format=text' && option !== '') throw new TsbuildError('INVALID_ARGUMENT', `build --call ${JSON.stringify(options.call)}: unknown option ${JSON.stringify(option)}`);
  }
  return { method, format };
}

/** `--call=targets`: the Dockerfile's stages, the default (last) one marked. */
function printTargets(io: CliIo, dockerfile: { source: string; file: string }, format: Call['format']): void {
  let targets;
  try {
    targets = listTargets({ source: dockerfile.source, file: dockerfile.file });
  } catch (error) {
    if (!isTsbuildError(error)) throw error;
    io.stderr.write(renderSolveFailure(error, dockerfile.file, dockerfile.source));
    throw new ExitError(1);
  }
  io.stdout.write(format === 'json' ? `${targetsJson(targets, dockerfile.source)}\n` : targetsText(targets));
}

/**
 * `--call=outline`: the progress of loading the definition and the base images, then on standard
 * output the build args, secrets and ssh agents the target reads; status 1 when the Dockerfile
 * does not resolve.
 */
async function runOutline(io: CliIo, request: BuildRequest, dockerfile: { source: string; file: string }, progress: ReturnType<typeof createProgress>, format: Call['format'], deps: Pick<BuildDeps, 'store' | 'runtime' | 'registry'>): Promise<void> {
  let outline;
  try {
    // Build checks are not an outline's answer: buildx shows none for it.
    outline = await outlineBuild(request, { ...deps, onEvent: (event) => (event.kind === 'warning' && event.check !== undefined ? undefined : progress.onEvent(event)) });
  } catch (error) {
    await progress.finish();
    if (error instanceof BuildStepError) io.stderr.write(renderFailure(error, dockerfile.source, true));
    else if (isTsbuildError(error)) io.stderr.write(renderSolveFailure(error, dockerfile.file, dockerfile.source));
    else throw error;
    throw new ExitError(1);
  }
  await progress.finish();
  io.stdout.write(format === 'json' ? `${outlineJson(outline, dockerfile.source)}\n` : outlineText(outline));
}

/**
 * `docker build --check`: the progress of loading the definition and the base images, then on
 * standard output what buildx prints of the frontend's lint result (each warning with its rule,
 * link, message and the Dockerfile lines around it); status 1 when anything was found, or the
 * Dockerfile does not resolve (its error after the warnings).
 */
async function runCheck(io: CliIo, request: BuildRequest, dockerfile: { source: string; file: string }, progress: ReturnType<typeof createProgress>, format: Call['format'], deps: Pick<BuildDeps, 'store' | 'runtime' | 'registry'>): Promise<void> {
  const found: LintWarning[] = [];
  let failure: unknown;
  try {
    await checkBuild(request, {
      ...deps,
      onEvent: (event) => {
        if (event.kind === 'warning' && event.check !== undefined) {
          found.push(event.check);
        } else {
          progress.onEvent(event);
        }
      },
    });
  } catch (error) {
    failure = error;
  } finally {
    await progress.finish();
  }
  if (format === 'json') {
    io.stdout.write(`${JSON.stringify(lintResultsJson(found, dockerfile, failure), null, 2)}\n`);
  } else {
    io.stdout.write(checkReport(found, dockerfile, failure === undefined));
  }
  if (failure !== undefined) {
    if (failure instanceof BuildStepError) io.stderr.write(renderFailure(failure, dockerfile.source, true));
    else if (isTsbuildError(failure)) io.stderr.write(renderSolveFailure(failure, dockerfile.file, dockerfile.source));
    else throw failure;
    throw new ExitError(1);
  }
  if (found.length > 0) throw new ExitError(1);
}

/** buildx's text of a lint result: the count, then each warning (by line) with the Dockerfile lines around it. */
function checkReport(found: readonly LintWarning[], dockerfile: { source: string; file: string }, finished: boolean): string {
  const lines: string[] = [];
  if (found.length > 0) lines.push(`Check complete, ${found.length === 1 ? '1 warning has' : `${found.length} warnings have`} been found!`);
  const sorted = found.map((warning, order) => ({ warning, order })).sort((a, b) => a.warning.range.start.line - b.warning.range.start.line || a.order - b.order);
  for (const { warning } of sorted) {
    lines.push('', `WARNING: ${warning.rule}${warning.url === '' ? '' : ` - ${warning.url}`}`, warning.detail, ...sourceExcerpt(dockerfile.file, dockerfile.source, warning.range));
  }
  if (found.length === 0 && finished) lines.push('Check complete, no warnings found.');
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/**
 * BuildKit's LintResults as `--call=check,format=json` prints them: each warning with its rule,
 * description, link, message and lines (BuildKit locates checks by whole lines), the Dockerfile
 * as the one source, and the error that stopped the check, if any. Go's protobuf JSON leaves
 * zero fields out (source index 0, character 0).
 */
function lintResultsJson(found: readonly LintWarning[], dockerfile: { source: string; file: string }, failure: unknown): object {
  const location = (range: SourceRange): object => ({ ranges: wholeLineRanges(range) });
  const [errorRange] = isTsbuildError(failure) ? failure.ranges : [];
  return {
    warnings: found.map((warning) => ({ ruleName: warning.rule, description: warning.description, ...(warning.url === '' ? {} : { url: warning.url }), detail: warning.detail, location: location(warning.range) })),
    sources: [{ filename: dockerfile.file, data: Buffer.from(dockerfile.source).toString('base64'), language: 'Dockerfile' }],
    ...(failure === undefined ? {} : { buildError: { message: withoutPlannerLocation(messageOf(failure)), location: errorRange === undefined ? {} : location(errorRange) } }),
  };
}

/** `--build-context NAME=VALUE`, each NAME once. */
function parseNamedContexts(values: readonly string[]): Map<string, NamedContextSource> {
  const contexts = new Map<string, NamedContextSource>();
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new TsbuildError('INVALID_ARGUMENT', `build --build-context ${JSON.stringify(value)}: expected NAME=VALUE`);
    const name = value.slice(0, eq);
    checkContextName(name);
    if (contexts.has(name)) throw new TsbuildError('INVALID_ARGUMENT', `build --build-context: ${name} given twice`);
    contexts.set(name, parseNamedContextValue(name, value.slice(eq + 1)));
  }
  return contexts;
}

/** BUILDARGS with SOURCE_DATE_EPOCH of the environment, as buildx adds it, unless a --build-arg gives it. */
function withEnvironmentEpoch(buildArgs: Record<string, string>): Record<string, string> {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  return epoch === undefined || epoch === '' || Object.hasOwn(buildArgs, 'SOURCE_DATE_EPOCH') ? buildArgs : { ...buildArgs, SOURCE_DATE_EPOCH: epoch };
}

/**
 * `--platform` as buildx reads it: comma-separated and repeatable, each normalized, `local` for
 * this machine's, the same platform once; none for this machine's.
 */
function platformsOf(values: readonly string[]): Platform[] {
  const platforms = new Map<string, Platform>();
  for (const value of values.flatMap((text) => text.split(','))) {
    if (value.trim() === '') continue;
    // buildx's `local`: this machine's platform.
    const platform = value.trim() === 'local' ? hostPlatform() : normalizePlatform(parsePlatform(value.trim()));
    platforms.set(formatPlatform(platform), platform);
  }
  return [...platforms.values()];
}
