import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { LocalStepCache } from '../../cache/index.js';
import { TsbuildError, messageOf, formatPosition, formatReference, hostPlatform, parsePlatform, parseReference, platformMatches, formatPlatform } from '../../common/index.js';
import { BuildStepError, build } from '../../executor/index.js';
import { parseOutputSpec, writeOutput, type OutputSpec } from '../../exporter/index.js';
import { parseBuildArgs } from '../../planner/index.js';
import type { RegistryClient } from '../../registry/index.js';
import { selectRuntime } from '../../runtime/index.js';
import { ExitError, type CliIo } from '../io.js';
import { createProgress, progressMode } from '../progress/index.js';
import { runInUserNamespace } from '../rootless.js';
import { addRootOption, storeFromOptions } from '../store-options.js';
import { addInsecureRegistryOption, collect } from '../common-options.js';
import { parseAllow, parseSecrets, parseSsh } from './build-secrets.js';

interface BuildOptions {
  tag: string[];
  file?: string;
  buildArg: string[];
  target?: string;
  label: string[];
  cache: boolean;
  pull?: boolean;
  network: string;
  progress?: string;
  quiet?: boolean;
  iidfile?: string;
  output: string[];
  push?: boolean;
  runtime?: string;
  platform?: string;
  root?: string;
  insecureRegistry: string[];
  secret: string[];
  ssh: string[];
  allow: string[];
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `-f`: a path (relative to the current directory, as docker), `-` for stdin, or CONTEXT/Dockerfile (or dockerfile). */
async function dockerfileOf(contextDir: string | undefined, file: string | undefined, stdinUsed: boolean): Promise<{ source: string; file: string; path?: string }> {
  if (file === '-') {
    if (stdinUsed) throw new TsbuildError('INVALID_ARGUMENT', 'build: the Dockerfile and the context cannot both come from standard input');
    return { source: await readStdin(), file: 'Dockerfile' };
  }
  const candidates = file !== undefined ? [resolve(file)] : contextDir === undefined ? [] : [join(contextDir, 'Dockerfile'), join(contextDir, 'dockerfile')];
  for (const path of candidates) {
    try {
      return { source: await readFile(path, 'utf8'), file: file ?? basename(path), path };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new TsbuildError('INVALID_ARGUMENT', `build: read ${path}: ${(error as Error).message}`);
    }
  }
  throw new TsbuildError('NOT_FOUND', `build: failed to read dockerfile: open ${candidates[0] ?? 'Dockerfile'}: no such file or directory`);
}

function parseLabels(values: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    labels[eq < 0 ? value : value.slice(0, eq)] = eq < 0 ? '' : value.slice(eq + 1);
  }
  return labels;
}

/**
 * BuildKit's failure report: the step's last output lines (when the progress did not show them),
 * the Dockerfile lines around the instruction, then the error itself, last.
 */
function renderFailure(error: BuildStepError, source: string, withOutput: boolean): string {
  const lines: string[] = [];
  if (withOutput && error.output.length > 0) lines.push('------', ` > ${error.step}:`, ...error.output.map((line) => `   ${line}`), '------');
  if (error.range !== undefined) {
    const text = source.split(/\r?\n/);
    const first = Math.max(1, error.range.start.line - 2);
    const last = Math.min(text.length, error.range.end.line + 1);
    lines.push(`${formatPosition(error.file, error.range)}`, '--------------------');
    for (let n = first; n <= last; n++) {
      const mark = n >= error.range.start.line && n <= error.range.end.line ? '>>>' : '   ';
      lines.push(` ${String(n).padStart(3)} | ${mark} ${text[n - 1] ?? ''}`);
    }
    lines.push('--------------------');
  }
  lines.push(`error: failed to solve: ${error.message}`);
  return `${lines.join('\n')}\n`;
}

export function registerBuild(program: Command, io: CliIo): void {
  const command = program
    .command('build')
    .description('build an image from a Dockerfile and a context')
    .argument('<context>', 'the build context: a directory, or - for a Dockerfile on standard input and no context')
    .option('-t, --tag <name>', 'name the image (repeatable)', collect, [])
    .option('-f, --file <path>', 'the Dockerfile (default: CONTEXT/Dockerfile); - reads it from standard input')
    .option('--build-arg <name[=value]>', 'set a build-time variable; NAME alone takes its value from the environment (repeatable)', collect, [])
    .option('--target <stage>', 'build this stage and what it needs')
    .option('--label <key=value>', 'set a label on the image (repeatable)', collect, [])
    .option('--no-cache', 'run every step, using no cached result')
    .option('--pull', 'always pull base images, even when the store has them')
    .option('--network <mode>', 'network of RUN steps: default, host or none', 'default')
    .option('--secret <id=ID,src=FILE|env=VAR>', 'a secret RUN --mount=type=secret can read (repeatable)', collect, [])
    .option('--ssh <default|ID=SOCKET|ID=KEYFILE>', 'an ssh agent (or key files) RUN --mount=type=ssh can reach; default: SSH_AUTH_SOCK (repeatable)', collect, [])
    .option('--allow <entitlement>', 'allow security.insecure (RUN --security=insecure) or network.host (repeatable)', collect, [])
    .option('--progress <mode>', 'progress output: auto, tty, plain, rawjson or quiet (default: BUILDKIT_PROGRESS, else auto)')
    .option('-q, --quiet', 'print only the image ID')
    .option('--iidfile <file>', 'write the image ID to this file')
    .option('-o, --output <spec>', 'also write the result: type=oci|docker|tar|local,dest=PATH (repeatable)', collect, [])
    .option('--push', 'push every -t name to its registry')
    .option('--runtime <name>', 'OCI runtime for RUN: runtime-shim (default), crun, runc or a path')
    .option('--platform <os/arch[/variant]>', "the image's platform (this machine's by default)");
  addRootOption(addInsecureRegistryOption(command)).action(async (contextArg: string, options: BuildOptions) => {
    const inner = await runInUserNamespace(options.root);
    if (inner !== undefined) throw new ExitError(inner);
    if (!['default', 'host', 'none'].includes(options.network)) throw new TsbuildError('INVALID_ARGUMENT', `build: invalid --network ${JSON.stringify(options.network)}: use default, host or none`);
    const platform = options.platform === undefined ? undefined : parsePlatform(options.platform);
    if (platform !== undefined && !platformMatches(platform, hostPlatform())) {
      throw new TsbuildError('INVALID_ARGUMENT', `build --platform ${formatPlatform(platform)}: building for a platform other than this machine's (${formatPlatform(hostPlatform())}) needs emulation (binfmt_misc with QEMU), which tsbuild does not provide yet`);
    }
    const outputs: OutputSpec[] = options.output.map((spec) => parseOutputSpec(spec));
    const toStdout = outputs.filter((output) => output.dest === '-').length;
    if (toStdout > 1) throw new TsbuildError('INVALID_ARGUMENT', `build --output: ${toStdout} outputs write to standard output; only one can`);
    const tags = options.tag.map((tag) => formatReference(parseReference(tag)));
    if (options.push === true && tags.length === 0) throw new TsbuildError('INVALID_ARGUMENT', 'build --push: name the image with -t');
    const contextDir = contextArg === '-' ? undefined : resolve(contextArg);
    if (contextDir !== undefined) {
      const info = await stat(contextDir).catch(() => undefined);
      if (info === undefined || !info.isDirectory()) throw new TsbuildError('NOT_FOUND', `build: unable to prepare context: path ${JSON.stringify(contextArg)} not found`);
    }
    // As docker: an ID file left from an earlier build must not pass for this one's if it fails.
    if (options.iidfile !== undefined) {
      await rm(options.iidfile, { force: true }).catch((error: unknown) => {
        throw new TsbuildError('INVALID_ARGUMENT', `build --iidfile: remove ${options.iidfile}: ${messageOf(error)}`, { cause: error });
      });
    }
    const dockerfile = contextArg === '-' && options.file === undefined ? { source: await readStdin(), file: 'Dockerfile' } : await dockerfileOf(contextDir, options.file, contextArg === '-');

    const quiet = options.quiet === true;
    const mode = quiet ? 'quiet' : progressMode(options.progress, process.env);
    const progress = createProgress(mode, { stderr: io.stderr, isTTY: io.isTty });
    const store = await storeFromOptions(options);
    let client: RegistryClient | undefined;
    // Loaded only when a base image is pulled or the image pushed: a rebuild from local images
    // never loads the HTTP client.
    const registry = async (): Promise<RegistryClient> => (client ??= (await import('./registry-options.js')).registryClient(options));
    try {
      let image;
      try {
        image = await build(
          {
            dockerfile: { ...dockerfile, ...(dockerfile.path === undefined ? {} : { path: dockerfile.path }) },
            ...(contextDir === undefined ? {} : { contextDir }),
            buildArgs: parseBuildArgs(options.buildArg, process.env),
            ...(options.target === undefined ? {} : { target: options.target }),
            labels: parseLabels(options.label),
            noCache: !options.cache,
            pull: options.pull === true,
            network: options.network as 'default' | 'host' | 'none',
            ...(platform === undefined ? {} : { platform }),
            tags,
            secrets: await parseSecrets(options.secret, process.env),
            ssh: parseSsh(options.ssh, process.env),
            allow: parseAllow(options.allow),
          },
          { store, runtime: selectRuntime(options.runtime), cache: new LocalStepCache(store), registry, onEvent: (event) => progress.onEvent(event) },
        );
      } finally {
        await progress.finish();
      }
      for (const output of outputs) {
        await writeOutput(store, { descriptor: image.manifest, names: tags }, await image.rootfs(), output, io.stdout, image.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: image.sourceDateEpoch });
      }
      if (options.push === true) {
        for (const tag of tags) {
          const { push } = await import('../../registry/index.js');
          const result = await push({ source: tag, store, client: await registry() });
          if (!quiet) io.stderr.write(`pushed ${tag}: digest: ${result.digest} size: ${result.size}\n`);
        }
      }
      if (options.iidfile !== undefined) await writeFile(options.iidfile, image.id);
      // Standard output carrying an archive gets nothing else, as docker.
      if (quiet && toStdout === 0) io.stdout.write(`${image.id}\n`);
    } catch (error) {
      if (error instanceof BuildStepError) {
        io.stderr.write(renderFailure(error, dockerfile.source, mode === 'quiet' || mode === 'rawjson'));
        throw new ExitError(1);
      }
      throw error;
    } finally {
      await client?.close();
    }
  });
}
