/**
 * Build checks, as BuildKit's Dockerfile frontend runs them (its `linter` package, the rules
 * `docker build` reports since docker 27 and `docker build --check` lists): each rule fires
 * where dockerfile2llb fires it, with its text, and obeys the `# check=skip=…;error=true;
 * experimental=…` directive (or the BUILDKIT_DOCKERFILE_CHECK build arg, which replaces it),
 * also a `check=` comment line right above one instruction, for that instruction.
 *
 * Three passes, in BuildKit's order: the parsed file (casing, stage names, MAINTAINER, empty
 * continuation lines, base names under the default ARG values), every FROM line against the
 * global ARGs, then each dispatched stage's instructions after expansion (undefined variables,
 * legacy `key value` pairs, shell-form CMD, repeated CMD, relative WORKDIR, secrets in ARG and
 * ENV names, EXPOSE forms). A build dispatches the stages its target needs; a check, all.
 */
import { expandWord, formatPlatform, normalizePlatform, parsePlatform, parseReference, suggestCaseSensitive, TsbuildError, type EscapeToken, type Platform, type SourceRange } from '../common/index.js';
import type { InstructionNode, ParseResult } from '../parser/index.js';
import { resolveGlobalArgs } from './environment.js';
import type { ResolveOptions, ResolvedInstruction, ResolvedStage } from './model.js';

interface Rule {
  readonly description: string;
  readonly url: string;
  readonly experimental?: boolean;
}

const docs = (slug: string): string => `https://docs.docker.com/go/dockerfile/rule/${slug}/`;

/** BuildKit's rule set (frontend/dockerfile/linter/ruleset.go): names, descriptions, links. */
export const lintRules = {
  StageNameCasing: { description: 'Stage names should be lowercase', url: docs('stage-name-casing') },
  FromAsCasing: { description: "The 'as' keyword should match the case of the 'from' keyword", url: docs('from-as-casing') },
  NoEmptyContinuation: { description: 'Empty continuation lines will become errors in a future release', url: docs('no-empty-continuation') },
  ConsistentInstructionCasing: { description: 'All commands within the Dockerfile should use the same casing (either upper or lower)', url: docs('consistent-instruction-casing') },
  DuplicateStageName: { description: 'Stage names should be unique', url: docs('duplicate-stage-name') },
  ReservedStageName: { description: 'Reserved words should not be used as stage names', url: docs('reserved-stage-name') },
  JSONArgsRecommended: { description: 'JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals', url: docs('json-args-recommended') },
  MaintainerDeprecated: { description: 'The MAINTAINER instruction is deprecated, use a label instead to define an image author', url: docs('maintainer-deprecated') },
  UndefinedArgInFrom: { description: 'FROM command must use declared ARGs', url: docs('undefined-arg-in-from') },
  WorkdirRelativePath: { description: 'Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes', url: docs('workdir-relative-path') },
  UndefinedVar: { description: 'Variables should be defined before their use', url: docs('undefined-var') },
  MultipleInstructionsDisallowed: { description: 'Multiple instructions of the same type should not be used in the same stage', url: docs('multiple-instructions-disallowed') },
  LegacyKeyValueFormat: { description: 'Legacy key/value format with whitespace separator should not be used', url: docs('legacy-key-value-format') },
  RedundantTargetPlatform: { description: 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior', url: docs('redundant-target-platform') },
  SecretsUsedInArgOrEnv: { description: 'Sensitive data should not be used in the ARG or ENV commands', url: docs('secrets-used-in-arg-or-env') },
  InvalidDefaultArgInFrom: { description: 'Default value for global ARG results in an empty or invalid base image name', url: docs('invalid-default-arg-in-from') },
  FromPlatformFlagConstDisallowed: { description: 'FROM --platform flag should not use a constant value', url: docs('from-platform-flag-const-disallowed') },
  ExposeProtoCasing: { description: 'Protocol in EXPOSE instruction should be lowercase', url: docs('expose-proto-casing') },
  ExposeInvalidFormat: { description: 'IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release', url: docs('expose-invalid-format') },
  InvalidBaseImagePlatform: { description: 'Base image platform does not match expected target platform', url: '' },
  InvalidDefinitionDescription: {
    description:
      'Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.',
    url: docs('invalid-definition-description'),
    experimental: true,
  },
} as const satisfies Record<string, Rule>;

export type LintRuleName = keyof typeof lintRules;

export interface LintWarning {
  readonly rule: LintRuleName;
  readonly description: string;
  readonly url: string;
  /** The rule's message for this case, as BuildKit formats it. */
  readonly detail: string;
  readonly range: SourceRange;
}

/** BuildKit's short form of a warning, as `docker build` lists it: `Rule: detail (line N)`. */
export function lintWarningShort(warning: LintWarning): string {
  return `${warning.rule}: ${warning.detail}${warning.range.start.line > 0 ? ` (line ${warning.range.start.line})` : ''}`;
}

export interface LintConfig {
  readonly skipAll: boolean;
  readonly skip: ReadonlySet<string>;
  readonly experimentalAll: boolean;
  readonly experimental: ReadonlySet<string>;
  /** `error=true`: a build with warnings fails. */
  readonly error: boolean;
}

const noConfig: LintConfig = { skipAll: false, skip: new Set(), experimentalAll: false, experimental: new Set(), error: false };

/** The value of a `check` directive or of BUILDKIT_DOCKERFILE_CHECK (linter.ParseLintOptions). */
export function parseCheckOptions(text: string): LintConfig {
  const trimmed = text.trim();
  if (trimmed === '') return noConfig;
  let skipAll = false;
  let experimentalAll = false;
  let error = false;
  let skip: string[] = [];
  let experimental: string[] = [];
  // As Go's strings.SplitN(s, ";", 3): the third part keeps any further separators.
  const parts = trimmed.split(';');
  const limited = parts.length > 3 ? [...parts.slice(0, 2), parts.slice(2).join(';')] : parts;
  for (const part of limited) {
    const equals = part.indexOf('=');
    if (equals < 0) throw new TsbuildError('DOCKERFILE_PARSE', `failed to parse check options: invalid check option ${JSON.stringify(part)}`);
    const key = part.slice(0, equals).trim();
    const value = part.slice(equals + 1).trim();
    if (key === 'skip') {
      if (value === 'all') skipAll = true;
      else skip = value.split(',').map((rule) => rule.trim());
    } else if (key === 'experimental') {
      if (value === 'all') experimentalAll = true;
      else experimental = value.split(',').map((rule) => rule.trim());
    } else if (key === 'error') {
      const parsed = parseGoBool(value);
      if (parsed === undefined) {
        throw new TsbuildError('DOCKERFILE_PARSE', `failed to parse check options: failed to parse check option ${JSON.stringify(part)}: strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`);
      }
      error = parsed;
    } else {
      throw new TsbuildError('DOCKERFILE_PARSE', `failed to parse check options: invalid check option ${JSON.stringify(key)}`);
    }
  }
  return { skipAll, skip: new Set(skip), experimentalAll, experimental: new Set(experimental), error };
}

function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

const directiveLine = /^([a-zA-Z][a-zA-Z0-9]*)\s*=/;

/**
 * The comment lines right above NODE, without the file's directives (the first instruction's
 * comments may begin with them): BuildKit keeps a directive line out of the comments.
 */
function commentsOf(parsed: ParseResult, node: InstructionNode | undefined): readonly string[] {
  if (node === undefined) return [];
  if (node !== parsed.tree.instructions[0]) return node.comments;
  let skip = 0;
  while (skip < node.comments.length && skip < parsed.tree.directives.length && directiveLine.test(node.comments[skip] ?? '')) skip++;
  return node.comments.slice(skip);
}

/** A `check=…` line among the comments right above an instruction (the directive's syntax, without `#`). */
function commentConfig(comments: readonly string[]): LintConfig | undefined {
  for (const comment of comments) {
    const match = /^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/.exec(comment);
    if (match === null || match[1]?.toLowerCase() !== 'check') continue;
    // As BuildKit: the value up to its first space; a value that does not parse changes nothing.
    const value = (match[2] ?? '').split(' ')[0] ?? '';
    try {
      return parseCheckOptions(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function merged(base: LintConfig, other: LintConfig | undefined): LintConfig {
  if (other === undefined) return base;
  return {
    skipAll: base.skipAll || other.skipAll,
    skip: new Set([...base.skip, ...other.skip]),
    experimentalAll: base.experimentalAll || other.experimentalAll,
    experimental: new Set([...base.experimental, ...other.experimental]),
    error: base.error,
  };
}

/** Collects the warnings of one build; what fired, in order, for `error=true`. */
export class Linter {
  readonly warnings: LintWarning[] = [];
  private readonly fired: string[] = [];

  constructor(readonly config: LintConfig) {}

  run(rule: LintRuleName, range: SourceRange, detail: string, config: LintConfig = this.config): void {
    const definition: Rule = lintRules[rule];
    if (definition.experimental === true) {
      if (!config.experimentalAll && !config.experimental.has(rule)) return;
    } else if (config.skipAll || config.skip.has(rule)) {
      return;
    }
    if (!this.fired.includes(rule)) this.fired.push(rule);
    this.warnings.push({ rule, description: definition.description, url: definition.url, detail, range });
  }

  /** With `error=true` and warnings: the error that fails the build, as BuildKit words it. */
  violation(): string | undefined {
    if (!this.config.error || this.fired.length === 0) return undefined;
    return `lint violation found for rules: ${this.fired.join(', ')}`;
  }
}

/** The build's lint configuration: BUILDKIT_DOCKERFILE_CHECK when given, else the `check` directive. */
export function lintConfigOf(parsed: ParseResult, buildArgs: Readonly<Record<string, string>>): LintConfig {
  const fromArg = buildArgs.BUILDKIT_DOCKERFILE_CHECK;
  if (fromArg !== undefined) return parseCheckOptions(fromArg);
  const directive = parsed.tree.directives.find((candidate) => candidate.name === 'check');
  return directive === undefined ? noConfig : parseCheckOptions(directive.value);
}

const reservedStageNames = new Set(['context', 'scratch']);
const isSelfConsistent = (word: string): boolean => word === word.toLowerCase() || word === word.toUpperCase();
const placeOf = (range: SourceRange): string => `${range.start.line}:${range.start.column}`;

/** The parsed file's nodes by where they start: a lookup per instruction stays linear in the file. */
function nodesByPlace(parsed: ParseResult): Map<string, InstructionNode> {
  return new Map(parsed.tree.instructions.map((node) => [placeOf(node.range), node]));
}

/**
 * The checks BuildKit runs before dispatching anything: on the parsed file, and on every FROM
 * line (all stages, needed or not). Their warnings stand even when resolution then fails.
 */
export function lintSyntax(linter: Linter, parsed: ParseResult, options: ResolveOptions): void {
  const nodes = parsed.tree.instructions;
  const byPlace = nodesByPlace(parsed);
  const nodeAt = (range: SourceRange): InstructionNode | undefined => byPlace.get(placeOf(range));
  const configAt = (range: SourceRange): LintConfig => merged(linter.config, commentConfig(commentsOf(parsed, nodeAt(range))));

  for (const diagnostic of parsed.diagnostics) {
    if (diagnostic.code === 'empty-continuation') linter.run('NoEmptyContinuation', diagnostic.range, 'Empty continuation line');
  }

  // instructions.Parse, node by node: MAINTAINER, and FROM's stage name and AS casing.
  const fromNodes = new Map<number, InstructionNode>();
  for (const stage of parsed.dockerfile.stages) {
    const node = nodeAt(stage.range);
    if (node !== undefined) fromNodes.set(stage.range.start.line, node);
  }
  for (const node of nodes) {
    const keyword = node.keyword.value;
    const lower = keyword.toLowerCase();
    const config = merged(linter.config, commentConfig(commentsOf(parsed, node)));
    if (lower === 'maintainer') linter.run('MaintainerDeprecated', node.range, 'Maintainer instruction is deprecated in favor of using label', config);
    if (lower === 'arg') definitionDescription(linter, 'ARG', node.args.map((arg) => arg.value.split('=')[0] ?? ''), commentsOf(parsed, node), node.range, config);
    if (lower !== 'from' || node.args.length !== 3) continue;
    const as = node.args[1]?.value ?? '';
    const stageName = node.args[2]?.value ?? '';
    if (stageName !== stageName.toLowerCase()) linter.run('StageNameCasing', node.range, `Stage name '${stageName}' should be lowercase`, config);
    definitionDescription(linter, 'FROM', [stageName.toLowerCase()], commentsOf(parsed, node), node.range, config);
    const fromLower = keyword === lower;
    const fromUpper = keyword === keyword.toUpperCase();
    // A FROM of mixed case is ConsistentInstructionCasing's to report.
    if ((fromLower && as !== as.toLowerCase()) || (!fromLower && fromUpper && as !== as.toUpperCase())) {
      linter.run('FromAsCasing', node.range, `'${as}' and '${keyword}' keywords' casing do not match`, config);
    }
  }

  // validateStageNames.
  const seen = new Set<string>();
  for (const stage of parsed.dockerfile.stages) {
    if (stage.name === '') continue;
    if (reservedStageNames.has(stage.name)) linter.run('ReservedStageName', stage.range, `Stage name should not use the same name as reserved stage ${JSON.stringify(stage.name)}`);
    if (seen.has(stage.name)) linter.run('DuplicateStageName', stage.range, `Duplicate stage name ${JSON.stringify(stage.name)}, stage names should be unique`);
    seen.add(stage.name);
  }

  // validateCommandCasing: FROM and every instruction of a stage (not the global ARGs).
  const words: { name: string; range: SourceRange }[] = [];
  for (const stage of parsed.dockerfile.stages) {
    words.push({ name: fromNodes.get(stage.range.start.line)?.keyword.value ?? 'FROM', range: stage.range });
    for (const instruction of stage.instructions) words.push({ name: instruction.name, range: instruction.range });
  }
  let lowerCount = 0;
  let upperCount = 0;
  for (const { name } of words) {
    if (!isSelfConsistent(name)) continue;
    if (name === name.toLowerCase()) lowerCount++;
    else upperCount++;
  }
  const majorityLower = lowerCount > upperCount;
  for (const { name, range } of words) {
    let casing: string | undefined;
    if (majorityLower && name.toLowerCase() !== name) casing = 'lowercase';
    else if (!majorityLower && name.toUpperCase() !== name) casing = 'uppercase';
    if (casing !== undefined) linter.run('ConsistentInstructionCasing', range, `Command '${name}' should match the case of the command majority (${casing})`);
  }

  const escapeToken = parsed.dockerfile.escapeToken;
  const build = options.platform?.build;
  const target = options.platform?.target ?? build;
  if (build === undefined || target === undefined) return;

  // validateBaseImagesWithDefaultArgs: each base name under the global ARGs' defaults alone.
  try {
    const defaults = resolveGlobalArgs(parsed.dockerfile, { ...options, buildArgs: {} }, build, target).view();
    for (const stage of parsed.dockerfile.stages) {
      const name = expandWord(stage.baseName, defaults, { escapeToken }).value;
      if (!isReference(name)) linter.run('InvalidDefaultArgInFrom', stage.range, `Default value for ARG ${stage.baseName} results in empty or invalid base image name`);
    }
  } catch {
    // As BuildKit: a global ARG that does not expand leaves this check out; resolution reports it.
  }

  // buildDispatchStates: each FROM's words against the global ARGs.
  let globals: ReadonlyMap<string, string>;
  try {
    globals = resolveGlobalArgs(parsed.dockerfile, options, build, target).view();
  } catch {
    return;
  }
  const declared = new Set<string>([...globals.keys()]);
  for (const instruction of parsed.dockerfile.metaArgs) for (const arg of instruction.args) declared.add(arg.key);
  const declaredNames = [...declared];
  const undeclared = (unmatched: ReadonlySet<string>, range: SourceRange, config: LintConfig): void => {
    for (const name of unmatched) {
      if (declared.has(name)) continue;
      const hint = suggestCaseSensitive(name, declaredNames);
      linter.run('UndefinedArgInFrom', range, `FROM argument '${name}' is not declared${hint === undefined ? '' : ` (did you mean ${hint}?)`}`, config);
    }
  };
  for (const stage of parsed.dockerfile.stages) {
    const config = configAt(stage.range);
    const base = tryExpand(stage.baseName, globals, escapeToken);
    if (base === undefined) continue;
    undeclared(base.unmatched, stage.range, config);
    if (stage.platform === '') continue;
    const platform = tryExpand(stage.platform, globals, escapeToken);
    if (platform === undefined) continue;
    undeclared(platform.unmatched, stage.range, config);
    if (platform.matched.size === 1 && platform.unmatched.size === 0 && platform.matched.has('TARGETPLATFORM') && platform.value === globals.get('TARGETPLATFORM')) {
      linter.run('RedundantTargetPlatform', stage.range, `Setting platform to predefined ${stage.platform} in FROM is redundant as this is the default behavior`, config);
    }
    if (platform.matched.size === 0 && platform.unmatched.size === 0) constantPlatform(linter, stage.name, platform.value, stage.range, config);
  }
}

/** A description comment (`# NAME text`) right above a named stage or an ARG must start with its name. */
function definitionDescription(linter: Linter, instruction: 'ARG' | 'FROM', names: readonly string[], comments: readonly string[], range: SourceRange, config: LintConfig): void {
  if (comments.length === 0 || names.length === 0) return;
  const first = (comments[comments.length - 1] ?? '').split(' ')[0] ?? '';
  if (names.includes(first)) return;
  const example = names.length > 1 ? '<arg_key>' : (names[0] ?? '');
  linter.run('InvalidDefinitionDescription', range, `Comment for ${instruction} should follow the format: \`# ${example} <description>\``, config);
}

function tryExpand(word: string, env: ReadonlyMap<string, string>, escapeToken: EscapeToken): ReturnType<typeof expandWord> | undefined {
  try {
    return expandWord(word, env, { escapeToken });
  } catch {
    return undefined;
  }
}

function constantPlatform(linter: Linter, stageName: string, value: string, range: SourceRange, config: LintConfig): void {
  let platform: Platform;
  try {
    platform = parsePlatform(value);
  } catch {
    // It fails later, with its own error.
    return;
  }
  // A stage named for its platform (`FROM --platform=linux/amd64 … AS build-amd64`) means it.
  if (stageName.includes(platform.os) || stageName.includes(platform.architecture)) return;
  linter.run('FromPlatformFlagConstDisallowed', range, `FROM --platform flag should not use constant value ${JSON.stringify(value)}`, config);
}

function isReference(name: string): boolean {
  try {
    parseReference(name);
    return true;
  } catch {
    return false;
  }
}

/** The instructions dispatch lints (Expand reports their undefined variables). */
const expandedKinds = new Set<ResolvedInstruction['kind']>(['ENV', 'LABEL', 'COPY', 'ADD', 'WORKDIR', 'RUN', 'USER', 'VOLUME', 'STOPSIGNAL']);
/** Args that never become environment variables (BuildKit's nonEnvArgs). */
const nonEnvArgs = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);

const secretWords = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const allowedWords = /(?:_|^)(?:public|file|version)(?:_|$)/i;

/** What a stage hands to a stage built FROM it, for the dispatch checks. */
interface StageLint {
  readonly workdirSet: boolean;
  readonly shell: boolean;
  readonly args: ReadonlySet<string>;
}

/** What the checks need of a stage's base image: whether its config sets a Shell, and its platform. */
export interface LintBaseImage {
  readonly shell: boolean;
  readonly platform: Platform;
}

/**
 * The checks of dispatch, stage by stage: `stages` are those the build dispatches (resolution
 * gives the ones the target needs; a check resolves them all). `baseImage` gives what a stage's
 * base image config says, when the stage is built on an image: a Shell there means a shell-form
 * CMD runs in it (no warning); a platform other than the stage's is warned about, as BuildKit
 * does once it has resolved the image, before any instruction.
 */
export function lintStages(linter: Linter, parsed: ParseResult, stages: readonly ResolvedStage[], baseImage: (stage: ResolvedStage) => LintBaseImage | undefined): void {
  const ordered = [...stages].sort((a, b) => a.index - b.index);
  for (const stage of ordered) {
    const image = stage.base.kind === 'image' ? baseImage(stage) : undefined;
    if (image === undefined || stage.base.kind !== 'image') continue;
    if (image.platform.os !== stage.platform.os || image.platform.architecture !== stage.platform.architecture) {
      const shown = (platform: Platform): string => formatPlatform(normalizePlatform(platform));
      linter.run('InvalidBaseImagePlatform', stage.range, `Base image ${stage.base.reference} was pulled with platform ${JSON.stringify(shown(image.platform))}, expected ${JSON.stringify(shown(stage.platform))} for current build`);
    }
  }
  const byPlace = nodesByPlace(parsed);
  const commentsAt = (range: SourceRange): readonly string[] => commentsOf(parsed, byPlace.get(placeOf(range)));
  const pairForms = new Map<string, boolean[]>();
  for (const stage of parsed.dockerfile.stages) {
    for (const instruction of stage.instructions) {
      if (instruction.kind === 'ENV' || instruction.kind === 'LABEL') pairForms.set(placeOf(instruction.range), instruction.pairs.map((pair) => pair.noDelim));
    }
  }
  const done = new Map<number, StageLint>();
  for (const stage of ordered) {
    const parent = stage.base.kind === 'stage' ? done.get(stage.base.stage) : undefined;
    let workdirSet = parent?.workdirSet ?? false;
    let shell = parent?.shell ?? (stage.base.kind === 'image' && baseImage(stage)?.shell === true);
    const args = new Set(parent?.args ?? []);
    const once = new Map<string, SourceRange>();
    for (const instruction of stage.instructions) {
      // ONBUILD triggers of the base come first, located at FROM: they are not this file's lines.
      if (placeOf(instruction.range) === placeOf(stage.range)) continue;
      const config = merged(linter.config, commentConfig(commentsAt(instruction.range)));
      const run = (rule: LintRuleName, detail: string, range = instruction.range): void => linter.run(rule, range, detail, config);
      if (instruction.kind === 'ARG') for (const arg of instruction.args) args.add(arg.key);
      if (expandedKinds.has(instruction.kind)) {
        for (const name of instruction.variables.undefined) {
          if (args.has(name) || nonEnvArgs.has(name)) continue;
          // The scope's names only now: making them for every instruction costs the square of the file.
          const hint = suggestCaseSensitive(name, instruction.env.pairs().map(([known]) => known));
          run('UndefinedVar', `Usage of undefined variable '$${name}'${hint === undefined ? '' : ` (did you mean $${hint}?)`}`);
        }
      }
      switch (instruction.kind) {
        case 'ENV':
        case 'LABEL': {
          const raw = pairForms.get(placeOf(instruction.range)) ?? [];
          raw.forEach((noDelim, index) => {
            if (noDelim) run('LegacyKeyValueFormat', `"${instruction.name} key=value" should be used instead of legacy "${instruction.name} key value" format`);
            const key = instruction.pairs[index]?.key;
            if (instruction.kind === 'ENV' && key !== undefined) secretKey(run, 'ENV', key);
          });
          break;
        }
        case 'ARG':
          for (const arg of instruction.args) secretKey(run, 'ARG', arg.key);
          break;
        case 'SHELL':
          shell = true;
          break;
        case 'CMD':
        case 'ENTRYPOINT':
        case 'HEALTHCHECK': {
          const previous = once.get(instruction.kind);
          if (previous !== undefined) run('MultipleInstructionsDisallowed', `Multiple ${instruction.name} instructions should not be used in the same stage because only the last one will be used`, previous);
          once.set(instruction.kind, instruction.range);
          if (instruction.kind !== 'HEALTHCHECK' && instruction.shellForm && !shell) run('JSONArgsRecommended', `JSON arguments recommended for ${instruction.name} to prevent unintended behavior related to OS signals`);
          break;
        }
        case 'WORKDIR':
          if (!workdirSet && !instruction.path.startsWith('/')) run('WorkdirRelativePath', `Relative workdir ${JSON.stringify(instruction.path)} can have unexpected results if the base image changes`);
          workdirSet = true;
          break;
        case 'EXPOSE':
          for (const port of instruction.ports) exposeForm(run, port);
          break;
        default:
          break;
      }
    }
    done.set(stage.index, { workdirSet, shell, args });
  }
}

function secretKey(run: (rule: LintRuleName, detail: string) => void, instruction: 'ARG' | 'ENV', key: string): void {
  if (secretWords.test(key) && !allowedWords.test(key)) run('SecretsUsedInArgOrEnv', `Do not use ARG or ENV instructions for sensitive data (${instruction} ${JSON.stringify(key)})`);
}

/** EXPOSE's `[ip:][hostPort:]port[/proto]`: the protocol's case, and a mapping that EXPOSE ignores. */
function exposeForm(run: (rule: LintRuleName, detail: string) => void, raw: string): void {
  const parts = raw.split(':');
  const container = parts[parts.length - 1] ?? '';
  const mapped = parts.length > 1 && parts.slice(0, -1).some((part) => part !== '');
  const slash = container.indexOf('/');
  const proto = slash < 0 ? 'tcp' : container.slice(slash + 1);
  if (proto !== proto.toLowerCase()) run('ExposeProtoCasing', `Defined protocol '${raw}' in EXPOSE instruction should be lowercase`);
  if (mapped) run('ExposeInvalidFormat', `EXPOSE instruction should not define an IP address or host-port mapping, found '${raw}'`);
}
