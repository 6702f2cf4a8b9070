import { posix } from 'node:path';
import { pathMatch, TsbuildError } from '../common/index.js';
import { PatternAutomaton } from './pattern-automaton.js';

/*
 * The path patterns of docker and BuildKit, ported from the Go code that reads them, so that a
 * context selects exactly the files docker would send:
 * - Go's path.Match is common's `pathMatch`, used per path for COPY wildcards;
 * - `PatternMatcher`: moby/patternmatcher, used by BuildKit (through fsutil) for .dockerignore,
 *   COPY --exclude and --parents include patterns;
 * - `readIgnoreFile`: moby/patternmatcher/ignorefile.ReadAll, the .dockerignore parser docker's
 *   client and BuildKit's frontend share.
 */

/** Whether NAME has a wildcard character (`*`, `?`, `[`) not escaped by `\`, as BuildKit tests a COPY source. */
export function containsWildcards(name: string): boolean {
  for (let index = 0; index < name.length; index++) {
    const char = name[index];
    if (char === '\\') index++;
    else if (char === '*' || char === '?' || char === '[') return true;
  }
  return false;
}

/** Go's path.Dir: everything before the last `/`, cleaned (so `a/b/` gives `a/b`, unlike Node's dirname). */
function goDir(path: string): string {
  return goClean(path.slice(0, path.lastIndexOf('/') + 1));
}

/** Go's path.Clean. */
export function goClean(path: string): string {
  if (path === '') return '.';
  const normal = posix.normalize(path);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

const escapedInRegexp = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp';

/** One pattern of a PatternMatcher: its cleaned text, whether it is a `!` exception, and how it matches. */
export class IgnorePattern {
  readonly cleaned: string;
  readonly exclusion: boolean;
  readonly dirs: readonly string[];
  /**
   * The most path components a path this pattern matches can have: its own count, unless `**`
   * or a character class (which may hold `/`) lets it match deeper.
   */
  readonly depth: number;
  private readonly matchType: MatchType;
  private readonly regexp: PatternAutomaton | undefined;

  constructor(cleaned: string, exclusion: boolean) {
    this.cleaned = cleaned;
    this.exclusion = exclusion;
    this.dirs = cleaned.split('/');
    const compiled = compile(cleaned);
    this.matchType = compiled.type;
    this.regexp = compiled.regexp;
    this.depth = cleaned.includes('**') || cleaned.includes('[') ? Infinity : this.dirs.length;
  }

  matches(path: string): boolean {
    switch (this.matchType) {
      case 'exact':
        return path === this.cleaned;
      case 'prefix':
        return path.startsWith(this.cleaned.slice(0, -2));
      case 'suffix': {
        const suffix = this.cleaned.slice(2);
        if (path.endsWith(suffix)) return true;
        // `**/foo` matches `foo`.
        return suffix.startsWith('/') && path === suffix.slice(1);
      }
      case 'regexp':
        return (this.regexp as PatternAutomaton).test(path);
    }
  }

  /** The pattern without a trailing `/**` or `/*`, as fsutil compares it with a directory. */
  withoutTrailingGlob(): string {
    let text = this.cleaned;
    if (text.endsWith('/**')) text = text.slice(0, -3);
    if (text.endsWith('/*')) text = text.slice(0, -2);
    return text;
  }
}

/** moby/patternmatcher's Pattern.compile: a pattern to a match type, and a regexp when one is needed. */
function compile(pattern: string): { type: MatchType; regexp: PatternAutomaton | undefined } {
  const chars = Array.from(pattern);
  let source = '^';
  let type: MatchType = 'exact';
  let iteration = 0;
  for (let index = 0; index < chars.length; iteration++) {
    const char = chars[index++] as string;
    if (char === '*') {
      if (chars[index] === '*') {
        index++;
        // `**/` is `**`: the slash is eaten.
        if (chars[index] === '/') index++;
        if (index >= chars.length) {
          // A trailing `**` matches everything below, as .gitignore has it.
          if (type === 'exact') type = 'prefix';
          else {
            source += '.*';
            type = 'regexp';
          }
        } else {
          // Any number of directories, none included; `**/**/` is one group, not a chain that backtracks.
          if (!source.endsWith('(.*/)?')) source += '(.*/)?';
          type = 'regexp';
        }
        if (iteration === 0) type = 'suffix';
      } else {
        // A run of `*` in a name is one `*`, not a chain that backtracks.
        if (!source.endsWith('[^/]*')) source += '[^/]*';
        type = 'regexp';
      }
    } else if (char === '?') {
      source += '[^/]';
      type = 'regexp';
    } else if (escapedInRegexp.has(char)) {
      source += `\\${char}`;
    } else if (char === '\\') {
      if (index < chars.length) {
        source += `\\${chars[index++] as string}`;
        type = 'regexp';
      } else {
        source += '\\\\';
      }
    } else if (char === '[' || char === ']') {
      source += char;
      type = 'regexp';
    } else {
      source += char;
    }
  }
  if (type !== 'regexp') return { type, regexp: undefined };
  try {
    // Matched in linear time, never by V8's backtracking engine (pattern-automaton.ts).
    return { type, regexp: PatternAutomaton.compile(`${source}$`) };
  } catch (error) {
    throw new TsbuildError('INVALID_ARGUMENT', `match pattern ${JSON.stringify(pattern)}: ${(error as Error).message}`, { cause: error });
  }
}

/** What a directory's match was per pattern, handed to its children (moby/patternmatcher's MatchInfo). */
export type MatchInfo = readonly boolean[] | undefined;

/**
 * moby/patternmatcher's PatternMatcher: patterns matched in order, the last that matches a path
 * or one of its parents decides; a `!` pattern (an exception) re-includes what earlier ones matched.
 */
export class PatternMatcher {
  readonly patterns: readonly IgnorePattern[];
  /** Whether any pattern is a `!` exception. */
  readonly exclusions: boolean;

  constructor(patterns: readonly string[]) {
    const compiled: IgnorePattern[] = [];
    let exclusions = false;
    for (const raw of patterns) {
      let pattern = raw.trim();
      if (pattern === '') continue;
      pattern = goClean(pattern);
      let exclusion = false;
      if (pattern.startsWith('!')) {
        if (pattern.length === 1) throw new TsbuildError('INVALID_ARGUMENT', 'match pattern "!": illegal exclusion pattern');
        exclusion = true;
        pattern = pattern.slice(1);
        exclusions = true;
      }
      // As moby, Go's own matcher checks the syntax.
      pathMatch(pattern, '.');
      compiled.push(new IgnorePattern(pattern, exclusion));
    }
    this.patterns = compiled;
    this.exclusions = exclusions;
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /**
   * Whether every path below DIRECTORY (cleaned, relative, '' for the top) gets DIRECTORY's own
   * decision: no pattern can match a path that deep, so only DIRECTORY and its parents, the
   * candidates DIRECTORY's decision was made from, can match. A walk then skips the matching.
   */
  decidesBelow(directory: string): boolean {
    const depth = directory === '' ? 0 : directory.split('/').length;
    return this.patterns.every((pattern) => pattern.depth <= depth);
  }

  /** Whether FILE (slash-separated, relative) or one of its parents is matched, the last pattern deciding. */
  matchesOrParentMatches(file: string): boolean {
    let matched = false;
    const parent = goDir(file);
    const parentDirs = parent === '.' ? [] : parent.split('/');
    for (const pattern of this.patterns) {
      if (pattern.exclusion !== matched) continue;
      let match = pattern.matches(file);
      for (let index = 0; !match && index < parentDirs.length; index++) {
        match = pattern.matches(parentDirs.slice(0, index + 1).join('/'));
      }
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }

  /**
   * matchesOrParentMatches for many files: a file below a directory no pattern can match paths
   * below (decidesBelow) gets the directory's decision, made once for all of them.
   */
  parentDecisions(): (file: string) => boolean {
    const byDirectory = new Map<string, boolean | undefined>();
    return (file) => {
      const cut = file.lastIndexOf('/');
      if (cut < 0) return this.matchesOrParentMatches(file);
      const directory = file.slice(0, cut);
      let decision = byDirectory.get(directory);
      if (!byDirectory.has(directory)) {
        decision = this.decidesBelow(directory) ? this.matchesOrParentMatches(directory) : undefined;
        byDirectory.set(directory, decision);
      }
      return decision ?? this.matchesOrParentMatches(file);
    };
  }

  /**
   * The same decision made during a walk: each pattern that matched the parent directory matches
   * its children without being tried again. Returns the decision and what to hand the children.
   */
  matchesUsingParentResults(file: string, parent: MatchInfo): { matched: boolean; info: boolean[] } {
    let matched = false;
    const info: boolean[] = [];
    this.patterns.forEach((pattern, index) => {
      let match = parent?.[index] ?? false;
      if (!match) {
        if (pattern.exclusion !== matched) {
          info.push(false);
          return;
        }
        match = pattern.matches(file);
        if (!match && parent === undefined) {
          const dir = goDir(file);
          if (dir !== '.') {
            const dirs = dir.split('/');
            for (let length = 1; !match && length <= dirs.length; length++) match = pattern.matches(dirs.slice(0, length).join('/'));
          }
        }
      }
      info.push(match);
      if (match) matched = !pattern.exclusion;
    });
    return { matched, info };
  }

  /**
   * matchesUsingParentResults as fsutil's walk of a context applies it, from the top down, for
   * paths asked for in any order: each directory's results are kept for its children. Not the
   * same as matchesOrParentMatches: a pattern skipped at a directory (the directory was already
   * excluded when the pattern came) is not carried to its children. With `*`, an exception for
   * every yaml file below deploy, then `deploy/helm/templates`, the templates' yaml files stay
   * in the context, as BuildKit sends them.
   */
  walkDecisions(): (file: string) => boolean {
    const infos = new Map<string, boolean[]>();
    const decide = (file: string): { matched: boolean; info: boolean[] } => {
      const cut = file.lastIndexOf('/');
      return this.matchesUsingParentResults(file, cut < 0 ? undefined : infoOf(file.slice(0, cut)));
    };
    const infoOf = (directory: string): boolean[] => {
      let info = infos.get(directory);
      if (info === undefined) {
        info = decide(directory).info;
        infos.set(directory, info);
      }
      return info;
    };
    return (file) => decide(file).matched;
  }

  /**
   * Whether a directory these patterns exclude may still hold a path an exception re-includes, so
   * that it must be walked (fsutil's test: with only literal exceptions, one must lie below it).
   */
  mayIncludeBelow(directory: string): boolean {
    if (!this.exclusions) return false;
    const exceptions = this.patterns.filter((pattern) => pattern.exclusion);
    const literal = exceptions.every((pattern) => !/[*[\]?^\\]/.test(pattern.withoutTrailingGlob()));
    if (!literal) return true;
    const prefix = `${directory}/`;
    return exceptions.some((pattern) => `${pattern.withoutTrailingGlob()}/`.startsWith(prefix));
  }
}

/**
 * moby/patternmatcher/ignorefile.ReadAll: a .dockerignore's patterns. A UTF-8 BOM is dropped,
 * lines starting with `#` are comments, each line is trimmed and cleaned (Go's path.Clean),
 * and a leading `/` is dropped (so `/a` and `a` are the same); `!` is kept in front.
 */
export function readIgnoreFile(text: string): string[] {
  const patterns: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  // bufio.Scanner drops a final newline and the \r of a \r\n line ending.
  if (lines.at(-1) === '') lines.pop();
  for (const raw of lines) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.startsWith('#')) continue;
    let pattern = line.trim();
    if (pattern === '') continue;
    const invert = pattern.startsWith('!');
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern.length > 0) {
      pattern = goClean(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    patterns.push(invert ? `!${pattern}` : pattern);
  }
  return patterns;
}
