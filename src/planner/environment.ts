/**
 * The environment half of resolution: build args, the predefined platform ARGs, proxy
 * variables, global ARGs, and the expansion of one instruction's words in a scope.
 */
import { TsbuildError, expandWord, formatPlatform, messageOf, type EscapeToken, type ExpansionResult, type Platform, type SourceRange } from '../common/index.js';
import { describeLines, locatedAt } from './errors.js';
import type { EnvPairs, ProxyEnv, RawArg, RawDockerfile, ResolveOptions, VariableUse } from './model.js';

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

/**
 * How an environment came to be: its pairs at some point, then one change at a time on top.
 * Scopes share these links, so a scope costs one link per change, not a list of every pair.
 */
export type ScopeLink =
  | { readonly pairs: EnvPairs }
  | { readonly previous: ScopeLink; readonly pair: readonly [string, string]; readonly depth: number; readonly base: number };

/** How many links are on top of the list LINK starts from, and how long that list is. */
const depthOf = (link: ScopeLink): number => ('depth' in link ? link.depth : 0);
const baseOf = (link: ScopeLink): number => ('base' in link ? link.base : link.pairs.length);

/** The pairs LINK stands for, in order: a name set again is where it was set last. */
function pairsOf(link: ScopeLink): EnvPairs {
  if (!('previous' in link)) return link.pairs;
  const seen = new Set<string>();
  const newestFirst: (readonly [string, string])[] = [];
  let at: ScopeLink = link;
  while ('previous' in at) {
    if (!seen.has(at.pair[0])) {
      seen.add(at.pair[0]);
      newestFirst.push(at.pair);
    }
    at = at.previous;
  }
  const pairs = at.pairs.filter(([name]) => !seen.has(name));
  for (let i = newestFirst.length - 1; i >= 0; i--) pairs.push(newestFirst[i] as readonly [string, string]);
  return pairs;
}

/**
 * The environment an instruction sees, fixed when it was taken. It shares its links with the
 * scopes before and after it, so a Dockerfile of thousands of ENV lines keeps one link per
 * line, not a list of every pair per instruction (which held 3.4 GB for 20,000 ENV lines).
 * The pairs are made when asked for, and not kept: only a step's own work asks.
 */
export class EnvScope {
  /** @internal A scope is taken from an Env. */
  constructor(readonly link: ScopeLink) {}

  pairs(): EnvPairs {
    return pairsOf(this.link);
  }

  /** `debug resolve` prints the pairs. */
  toJSON(): EnvPairs {
    return this.pairs();
  }
}

/**
 * An environment: insertion-ordered, and setting a name again moves it to the end. Its lookup
 * map is made when first asked for: a stage whose base is another stage starts from that
 * stage's scopes, and its image environment, which nothing expands against, needs none.
 */
export class Env {
  private lookup: Map<string, string> | undefined;
  private head: ScopeLink;
  /** The scope as it was at the last change: instructions between changes share it. */
  private current: EnvScope | undefined;
  /** Its pairs, while this environment holds them (a scope does not keep them). */
  private currentPairs: EnvPairs | undefined;

  constructor(from: Iterable<readonly [string, string]> | EnvScope = []) {
    if (from instanceof EnvScope) {
      this.head = from.link;
      this.current = from;
    } else {
      this.lookup = new Map(from);
      this.head = { pairs: [...this.lookup].map(([name, value]) => [name, value] as const) };
    }
  }

  private get map(): Map<string, string> {
    this.lookup ??= new Map(this.pairs());
    return this.lookup;
  }

  get(name: string): string | undefined {
    return this.map.get(name);
  }

  has(name: string): boolean {
    return this.lookup === undefined ? this.pairs().some(([key]) => key === name) : this.lookup.has(name);
  }

  set(name: string, value: string): void {
    if (this.lookup !== undefined) {
      this.lookup.delete(name);
      this.lookup.set(name, value);
    }
    const previous = this.head;
    this.head = { previous, pair: [name, value], depth: depthOf(previous) + 1, base: baseOf(previous) };
    this.current = undefined;
    this.currentPairs = undefined;
    // Making a scope's pairs walks its links down to a list: a list made again once the links
    // outnumber half of it keeps that walk within a few times the variables, and the lists,
    // each made after as many changes as half its length, add up to a few times the changes.
    if (this.head.depth > this.head.base / 2 + 16) this.head = { pairs: this.pairs() };
  }

  /** Sets each of PAIRS in turn, unless the environment ends with them already (then it would not change). */
  setAll(pairs: EnvPairs): void {
    const own = this.pairs();
    const offset = own.length - pairs.length;
    if (offset >= 0 && pairs.every(([name, value], i) => own[offset + i]?.[0] === name && own[offset + i]?.[1] === value)) return;
    for (const [name, value] of pairs) this.set(name, value);
  }

  view(): ReadonlyMap<string, string> {
    return this.map;
  }

  /** The environment as it is now, for an instruction to keep. */
  scope(): EnvScope {
    this.current ??= new EnvScope(this.head);
    return this.current;
  }

  pairs(): EnvPairs {
    this.currentPairs ??= pairsOf(this.head);
    return this.currentPairs;
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

/** A global ARG as resolution gave it: its value, and the names its default's expansion read. */
export type GlobalArgSeen = (arg: RawArg, range: SourceRange, value: string | undefined, reads: readonly string[]) => void;

/**
 * Expands the global ARGs (before the first FROM) with build args and predefined values, one
 * after another (`ARG A=1 B=$A` gives B 1); SEEN hears of each.
 */
export function resolveGlobalArgs(dockerfile: RawDockerfile, options: ResolveOptions, build: Platform, target: Platform, seen?: GlobalArgSeen): Env {
  const buildArgs = buildArgsOf(options);
  const last = dockerfile.stages[dockerfile.stages.length - 1];
  const targetStage = options.target ?? last?.name ?? '';
  const globals = predefinedArgs(build, target, targetStage, buildArgs);
  for (const instruction of dockerfile.metaArgs) {
    locatedAt(instruction.range, () => {
      for (const arg of instruction.args) {
        const expander = new Expander(dockerfile.escapeToken, globals.view(), { range: instruction.range, what: 'ARG' });
        const value = Object.hasOwn(buildArgs, arg.key)
          ? buildArgs[arg.key]
          : arg.value === undefined
            ? undefined
            : expander.word(arg.value);
        if (value !== undefined) globals.set(arg.key, value);
        seen?.(arg, instruction.range, value, [...expander.used]);
      }
    });
  }
  return globals;
}

