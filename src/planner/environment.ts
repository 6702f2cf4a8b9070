/**
 * The environment half of resolution: build args, the predefined platform ARGs, proxy
 * variables, global ARGs, and the expansion of one instruction's words in a scope.
 */
import { TsbuildError, expandWord, formatPlatform, messageOf, type EscapeToken, type ExpansionResult, type Platform, type SourceRange } from '../common/index.js';
import { describeLines, locatedAt } from './errors.js';
import type { EnvPairs, ProxyEnv, RawDockerfile, ResolveOptions, VariableUse } from './model.js';

/**
 * `--build-arg` values as docker reads them: `KEY=VALUE`, or `KEY` alone for the value of
 * `KEY` in `env` (left out when `env` has none). A later value for a key wins; an empty key
 * is an `INVALID_ARGUMENT` error.
 */
export function parseBuildArgs(values: readonly string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const buildArgs: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    const key = eq < 0 ? value : value.slice(0, eq);
    // As buildx: a pair without a name is refused rather than passed on.
    if (key === '') throw new TsbuildError('INVALID_ARGUMENT', `parse build arg ${JSON.stringify(value)}: empty key`);
    const given = eq < 0 ? env[key] : value.slice(eq + 1);
    if (given !== undefined) buildArgs[key] = given;
  }
  return buildArgs;
}

export const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const proxyKeys: Readonly<Record<string, keyof ProxyEnv>> = {
  http_proxy: 'httpProxy',
  https_proxy: 'httpsProxy',
  ftp_proxy: 'ftpProxy',
  no_proxy: 'noProxy',
  all_proxy: 'allProxy',
};
/** Build args that need no ARG to have an effect. */
export const builtinArgs = new Set(['SOURCE_DATE_EPOCH']);

/** An environment: insertion-ordered, and setting a name again moves it to the end. */
export class Env {
  private readonly map: Map<string, string>;
  /** Each variable's pair, made once: the snapshots of one stage share them. */
  private readonly entries: Map<string, readonly [string, string]>;
  /** The pairs as they were at the last change: instructions between changes share one list. */
  private snapshot: EnvPairs | undefined;

  constructor(from: Iterable<readonly [string, string]> = []) {
    this.map = new Map(from);
    this.entries = new Map([...this.map].map(([name, value]) => [name, [name, value] as const]));
  }

  get(name: string): string | undefined {
    return this.map.get(name);
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  set(name: string, value: string): void {
    this.map.delete(name);
    this.map.set(name, value);
    this.entries.delete(name);
    this.entries.set(name, [name, value]);
    this.snapshot = undefined;
  }

  view(): ReadonlyMap<string, string> {
    return this.map;
  }

  /**
   * The pairs in order, each instruction keeping its own: a list of shared pairs, made again
   * only after a change, so that thousands of ENV lines cost a list of references each, not a
   * copy of every pair (which ran 8,000 ENV lines out of memory).
   */
  pairs(): EnvPairs {
    this.snapshot ??= [...this.entries.values()];
    return this.snapshot;
  }

  clone(): Env {
    return new Env(this.map);
  }
}

export function parseEnvEntry(entry: string): [string, string] {
  const eq = entry.indexOf('=');
  return eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
}

/** The predefined platform ARGs, each replaceable by a build arg of the same name. */
export function predefinedArgs(build: Platform, target: Platform, targetStage: string, buildArgs: Readonly<Record<string, string>>): Env {
  const env = new Env();
  const values: [string, string][] = [
    ['BUILDPLATFORM', formatPlatform(build)],
    ['BUILDOS', build.os],
    ['BUILDOSVERSION', build['os.version'] ?? ''],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
    ['TARGETPLATFORM', formatPlatform(target)],
    ['TARGETOS', target.os],
    ['TARGETOSVERSION', target['os.version'] ?? ''],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
    ['TARGETSTAGE', targetStage === '' ? 'default' : targetStage],
  ];
  for (const [name, value] of values) env.set(name, Object.hasOwn(buildArgs, name) ? (buildArgs[name] as string) : value);
  return env;
}

export function proxyFromBuildArgs(buildArgs: Readonly<Record<string, string>>): ProxyEnv {
  const proxy: Record<string, string> = {};
  // Sorted so that, of two spellings of one name, the result does not depend on object order.
  for (const name of Object.keys(buildArgs).sort()) {
    const field = proxyKeys[name.toLowerCase()];
    if (field !== undefined) proxy[field] = buildArgs[name] as string;
  }
  return proxy;
}

export const sortedNames = (names: ReadonlySet<string>): string[] => [...names].sort();

/** Tracks what one instruction's expansions referred to. */
export class Expander {
  readonly used = new Set<string>();
  readonly undefinedNames = new Set<string>();

  constructor(
    private readonly escapeToken: EscapeToken,
    private readonly env: ReadonlyMap<string, string>,
    private readonly at: { range: SourceRange; what: string },
  ) {}

  private run(word: string, raw: boolean): ExpansionResult {
    try {
      const result = raw
        ? expandWord(word, this.env, { escapeToken: '\\', skipProcessQuotes: true })
        : expandWord(word, this.env, { escapeToken: this.escapeToken });
      for (const name of result.matched) this.used.add(name);
      for (const name of result.unmatched) this.undefinedNames.add(name);
      return result;
    } catch (error) {
      throw new TsbuildError('EXPANSION', `resolve ${this.at.what} (${describeLines(this.at.range)}): ${messageOf(error)}`, { cause: error });
    }
  }

  word(word: string): string {
    return this.run(word, false).value;
  }

  words(word: string): readonly string[] {
    return this.run(word, false).words;
  }

  /** Heredoc bodies: quotes are text, only `$` and `\` are special, whatever the escape directive. */
  heredoc(data: string): string {
    return this.run(data, true).value;
  }

  variables(): VariableUse {
    return { used: sortedNames(this.used), undefined: sortedNames(this.undefinedNames) };
  }
}

export function buildArgsOf(options: ResolveOptions): Readonly<Record<string, string>> {
  return options.buildArgs ?? {};
}

/** Expands the global ARGs (before the first FROM) with build args and predefined values. */
export function resolveGlobalArgs(dockerfile: RawDockerfile, options: ResolveOptions, build: Platform, target: Platform): Env {
  const buildArgs = buildArgsOf(options);
  const last = dockerfile.stages[dockerfile.stages.length - 1];
  const targetStage = options.target ?? last?.name ?? '';
  const globals = predefinedArgs(build, target, targetStage, buildArgs);
  for (const instruction of dockerfile.metaArgs) {
    locatedAt(instruction.range, () => {
      const expander = new Expander(dockerfile.escapeToken, globals.view(), { range: instruction.range, what: 'ARG' });
      for (const arg of instruction.args) {
        const value = Object.hasOwn(buildArgs, arg.key)
          ? buildArgs[arg.key]
          : arg.value === undefined
            ? undefined
            : expander.word(arg.value);
        if (value !== undefined) globals.set(arg.key, value);
      }
    });
  }
  return globals;
}

