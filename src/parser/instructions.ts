/**
 * Typing the syntax nodes: flags read per instruction, argument counts checked, stages formed,
 * as the reference's `instructions.Parse` does. Every instruction is typed even after an
 * earlier one failed, so that one pass reports every error.
 */
import { messageOf, parseGoDuration, suggest, type SourceRange } from '../common/index.js';
import type { ArgCommand, ArgDefinition, Channel, Command, CopyFields, Dockerfile, FlagNode, InlineFile, InstructionNode, KeyValue, SourceContent, Stage, Word } from './ast.js';
import type { Diagnostic, DiagnosticCode } from './diagnostics.js';
import { parseMount } from './mounts.js';
import { parseHeredocWord } from './syntax.js';
import { trimGoSpace } from './text.js';

export const instructionNames = [
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL',
  'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
] as const;

/** Thrown inside typing only, caught per instruction; not an Error, as a stack trace is never wanted. */
class InstructionError {
  constructor(
    readonly code: DiagnosticCode,
    readonly message: string,
    readonly range?: SourceRange,
  ) {}
}

type FlagKind = 'bool' | 'string' | 'strings';

interface FlagState {
  readonly name: string;
  readonly kind: FlagKind;
  value: string;
  values: string[] | undefined;
  used: boolean;
}

/**
 * An instruction's flags, declared then read, with the reference's rules and messages. A short
 * list searched in order rather than a map: an instruction declares a handful of flags, and a
 * map per instruction was a good part of what typing allocates.
 */
class Flags {
  private readonly declared: FlagState[] = [];

  constructor(private readonly nodes: readonly FlagNode[]) {}

  declare(name: string, kind: FlagKind, fallback = kind === 'bool' ? 'false' : ''): this {
    this.declared.push({ name, kind, value: fallback, values: undefined, used: false });
    return this;
  }

  private find(name: string): FlagState | undefined {
    for (const flag of this.declared) if (flag.name === name) return flag;
    return undefined;
  }

  parse(): this {
    for (const node of this.nodes) {
      const flag = this.find(node.name);
      if (flag === undefined) {
        const best = suggest(node.name, this.declared.map((declared) => declared.name));
        const hint = best === undefined ? '' : ` (did you mean ${best}?)`;
        throw new InstructionError('unknown-flag', `unknown flag: ${node.name}${hint}`, node.range);
      }
      if (flag.used && flag.kind !== 'strings') throw new InstructionError('duplicate-flag', `duplicate flag specified: ${node.name}`, node.range);
      flag.used = true;
      const value = node.value;
      if (flag.kind === 'bool') {
        if (value === '') throw new InstructionError('invalid-flag-value', `missing a value on flag: ${node.name}`, node.range);
        const lower = (value ?? '').toLowerCase();
        if (lower !== 'true' && lower !== '' && lower !== 'false') {
          throw new InstructionError('invalid-flag-value', `expecting boolean value for flag ${node.name}, not: ${value ?? ''}`, node.range);
        }
        flag.value = lower === 'false' ? 'false' : 'true';
      } else {
        if (value === undefined) throw new InstructionError('invalid-flag-value', `missing a value on flag: ${node.name}`, node.range);
        if (flag.kind === 'string') flag.value = value;
        else (flag.values ??= []).push(value);
      }
    }
    return this;
  }

  string(name: string): string {
    return this.find(name)?.value ?? '';
  }

  bool(name: string): boolean {
    return this.find(name)?.value === 'true';
  }

  strings(name: string): string[] {
    return this.find(name)?.values ?? [];
  }

  isUsed(name: string): boolean {
    return this.find(name)?.used ?? false;
  }

  used(): string[] {
    const names: string[] = [];
    for (const flag of this.declared) if (flag.used) names.push(flag.name);
    return names.sort();
  }
}

export interface TypingResult {
  readonly dockerfile: Dockerfile;
  readonly diagnostics: readonly Diagnostic[];
}

const validStageName = /^[a-z][a-z0-9-_.]*$/;

/**
 * The flags beyond the reference's stable ones a reading takes: the labs channel's, which
 * docker/dockerfile made stable in 1.19 (`--exclude`) and 1.20 (`--parents`, `--security`).
 */
interface LaterFlags {
  readonly exclude: boolean;
  readonly parents: boolean;
  readonly security: boolean;
}

function laterFlags(channel: Channel, frontendMinor: number): LaterFlags {
  const labs = channel === 'labs';
  return { exclude: labs || frontendMinor >= 19, parents: labs || frontendMinor >= 20, security: labs || frontendMinor >= 20 };
}

/** FRONTENDMINOR: the docker/dockerfile 1.x minor read as (ParseOptions.frontendMinor). */
export function typeInstructions(nodes: readonly InstructionNode[], escapeToken: Dockerfile['escapeToken'], channel: Channel, frontendMinor: number): TypingResult {
  const later = laterFlags(channel, frontendMinor);
  const diagnostics: Diagnostic[] = [];
  const metaArgs: ArgCommand[] = [];
  const stages: { stage: Stage; instructions: Command[] }[] = [];
  for (const node of nodes) {
    try {
      const typed = typeNode(node, later);
      if (typed.kind === 'FROM') {
        stages.push({ stage: typed.stage, instructions: [] });
      } else if (stages.length === 0 && typed.command.kind === 'ARG') {
        metaArgs.push(typed.command);
      } else {
        const current = stages[stages.length - 1];
        if (current === undefined) throw new InstructionError('no-stage', 'no build stage in current context');
        current.instructions.push(typed.command);
      }
    } catch (error) {
      if (!(error instanceof InstructionError)) throw error;
      const lines = { start: node.range.start.line, end: node.range.end.line };
      diagnostics.push({ code: error.code, severity: 'error', phase: 'instruction', message: error.message, range: error.range ?? node.range, lines });
    }
  }
  return {
    dockerfile: { escapeToken, metaArgs, stages: stages.map(({ stage, instructions }) => Object.assign({}, stage, { instructions })) },
    diagnostics,
  };
}

type Typed = { readonly kind: 'FROM'; readonly stage: Omit<Stage, 'instructions'> & { readonly instructions: readonly Command[] } } | { readonly kind: 'command'; readonly command: Command };

/** The argument words the reference's instruction typing sees (ONBUILD: the trigger's words). */
function argsOf(node: InstructionNode): readonly Word[] {
  if (node.trigger !== undefined) return [node.trigger.keyword, ...argsOf(node.trigger)];
  return node.args;
}

function getComment(comments: readonly string[], name: string): string {
  if (name === '') return '';
  for (const line of comments) if (line.startsWith(`${name} `)) return line.slice(name.length + 1);
  return '';
}

// Helpers of typeNode at module level rather than closures made per instruction: typing is
// the parser's hot path.
function commandOf(command: Command): Typed {
  return { kind: 'command', command };
}

function exactlyOne(args: readonly string[], what: string): void {
  if (args.length !== 1) throw new InstructionError('argument-count', `${what} requires exactly one argument`);
}

function atLeastOne(args: readonly string[], what: string): void {
  if (args.length === 0) throw new InstructionError('argument-count', `${what} requires at least one argument`);
}

function cmdLineOf(node: InstructionNode, args: string[]): string[] {
  return args.length === 0 ? [] : node.json ? args : [args.join(' ')];
}

function filesOf(node: InstructionNode): InlineFile[] {
  return node.heredocs.map((h) => ({ name: h.name, data: h.content, chomp: h.chomp }));
}

function typeNode(node: InstructionNode, later: LaterFlags): Typed {
  const keyword = node.keyword.value;
  // Pushed into a literal rather than mapped: the literal's allocation site learns its element
  // kind, so that empty and filled argument lists look alike to the optimizing compiler (with
  // two kinds, typing was deoptimized and recompiled again and again while warming up).
  const args: string[] = [];
  for (const word of argsOf(node)) args.push(word.value);
  const flags = new Flags(node.flags);
  const code = trimGoSpace(node.code);
  const shellForm = !node.json;

  switch (keyword.toLowerCase()) {
    case 'env':
    case 'label': {
      const what = keyword.toUpperCase();
      flags.parse();
      const pairs = keyValues(args, what);
      return commandOf(what === 'ENV' ? { range: node.range, name: keyword, code, kind: 'ENV', pairs } : { range: node.range, name: keyword, code, kind: 'LABEL', pairs });
    }
    case 'maintainer':
      exactlyOne(args, 'MAINTAINER');
      flags.parse();
      return commandOf({ range: node.range, name: keyword, code, kind: 'MAINTAINER', maintainer: args[0] ?? '' });
    case 'add':
    case 'copy': {
      const isAdd = keyword.toLowerCase() === 'add';
      const what = isAdd ? 'ADD' : 'COPY';
      if (args.length < 2) {
        throw new InstructionError('argument-count', `${what} requires at least two arguments, but only one was provided. Destination could not be determined`);
      }
      if (later.exclude) flags.declare('exclude', 'strings');
      if (later.parents && !isAdd) flags.declare('parents', 'bool');
      flags.declare('chown', 'string');
      if (!isAdd) flags.declare('from', 'string');
      flags.declare('chmod', 'string').declare('link', 'bool');
      if (isAdd) flags.declare('keep-git-dir', 'bool').declare('checksum', 'string').declare('unpack', 'bool');
      flags.parse();
      const { sources, contents, dest } = sourcesAndDest(node, argsOf(node), what);
      const range = node.range;
      const chown = flags.string('chown');
      const chmod = flags.string('chmod');
      const link = flags.bool('link');
      const exclude = flags.strings('exclude');
      // Literal objects rather than spreads or assigns: building commands is the hot path.
      if (isAdd) {
        const unpack = flags.isUsed('unpack') ? flags.bool('unpack') : undefined;
        return commandOf({ kind: 'ADD', range, name: keyword, code, sources, contents, dest, from: '', chown, chmod, link, parents: false, exclude, checksum: flags.string('checksum'), keepGitDir: flags.bool('keep-git-dir'), unpack });
      }
      return commandOf({ kind: 'COPY', range, name: keyword, code, sources, contents, dest, from: flags.string('from'), chown, chmod, link, parents: flags.bool('parents'), exclude, checksum: '', keepGitDir: undefined, unpack: undefined });
    }
    case 'from': {
      let name = '';
      if (args.length === 3 && (args[1] ?? '').toLowerCase() === 'as') {
        name = (args[2] ?? '').toLowerCase();
        if (!validStageName.test(name)) {
          throw new InstructionError(
            'invalid-stage-name',
            `invalid name for build stage: ${JSON.stringify(args[2])}, name can't start with a number or contain symbols`,
            argsOf(node)[2]?.range,
          );
        }
      } else if (args.length !== 1) {
        throw new InstructionError('argument-count', 'FROM requires either one or three arguments');
      }
      flags.declare('platform', 'string').parse();
      return {
        kind: 'FROM',
        stage: { name, baseName: args[0] ?? '', platform: flags.string('platform'), comment: getComment(node.comments, name), code, range: node.range, instructions: [] },
      };
    }
    case 'onbuild': {
      atLeastOne(args, 'ONBUILD');
      flags.parse();
      const trigger = trimGoSpace(args[0] ?? '').toUpperCase();
      if (trigger === 'ONBUILD') throw new InstructionError('invalid-onbuild', 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed', node.trigger?.keyword.range);
      if (trigger === 'MAINTAINER' || trigger === 'FROM') throw new InstructionError('invalid-onbuild', `${trigger} isn't allowed as an ONBUILD trigger`, node.trigger?.keyword.range);
      let expression = node.code.replace(/^[\t\n\f\r ]*onbuild[\t\n\f\r ]*/i, '');
      for (const heredoc of node.heredocs) expression += `\n${heredoc.content}${heredoc.name}`;
      return commandOf({ range: node.range, name: keyword, code, kind: 'ONBUILD', expression });
    }
    case 'workdir':
      exactlyOne(args, 'WORKDIR');
      flags.parse();
      return commandOf({ range: node.range, name: keyword, code, kind: 'WORKDIR', path: args[0] ?? '' });
    case 'run': {
      flags.declare('mount', 'strings').declare('network', 'string', 'default');
      if (later.security) flags.declare('security', 'string', 'sandbox');
      flags.parse();
      const mounts = flags.strings('mount');
      for (const mount of mounts) {
        try {
          parseMount(mount);
        } catch (error) {
          const flag = node.flags.find((f) => f.name === 'mount' && f.value === mount);
          throw new InstructionError('invalid-mount', messageOf(error).replace(/^parse mount: /, ''), flag?.range);
        }
      }
      const network = flags.string('network');
      if (!['default', 'none', 'host'].includes(network)) {
        throw new InstructionError('invalid-network', `invalid network mode ${JSON.stringify(network)}`, node.flags.find((f) => f.name === 'network')?.range);
      }
      const security = later.security ? flags.string('security') : '';
      if (later.security && !['sandbox', 'insecure'].includes(security)) {
        throw new InstructionError('invalid-security', `security ${JSON.stringify(security)} is not valid`, node.flags.find((f) => f.name === 'security')?.range);
      }
      return commandOf({ range: node.range, name: keyword, code, kind: 'RUN', shellForm, cmdLine: cmdLineOf(node, args), files: filesOf(node), mounts, network, security, flagsUsed: flags.used() });
    }
    case 'cmd':
      flags.parse();
      return commandOf({ range: node.range, name: keyword, code, kind: 'CMD', shellForm, cmdLine: cmdLineOf(node, args), files: filesOf(node) });
    case 'entrypoint':
      flags.parse();
      return commandOf({ range: node.range, name: keyword, code, kind: 'ENTRYPOINT', shellForm, cmdLine: cmdLineOf(node, args), files: filesOf(node) });
    case 'healthcheck':
      return commandOf(Object.assign({ range: node.range, name: keyword, code, kind: 'HEALTHCHECK' as const }, healthcheck(args, flags, node)));
    case 'expose': {
      atLeastOne(args, 'EXPOSE');
      flags.parse();
      return commandOf({ range: node.range, name: keyword, code, kind: 'EXPOSE', ports: [...args].sort(compareBytes) });
    }
    case 'user':
      exactlyOne(args, 'USER');
      flags.parse();
      return commandOf({ range: node.range, name: keyword, code, kind: 'USER', user: args[0] ?? '' });
    case 'volume': {
      atLeastOne(args, 'VOLUME');
      flags.parse();
      const volumes = args.map((v) => trimGoSpace(v));
      if (volumes.includes('')) throw new InstructionError('empty-volume', 'VOLUME specified can not be an empty string');
      return commandOf({ range: node.range, name: keyword, code, kind: 'VOLUME', volumes });
    }
    case 'stopsignal':
      // The reference reads no flags here: they are ignored, not rejected.
      exactlyOne(args, 'STOPSIGNAL');
      return commandOf({ range: node.range, name: keyword, code, kind: 'STOPSIGNAL', signal: args[0] ?? '' });
    case 'arg': {
      // Flags are ignored here too.
      atLeastOne(args, 'ARG');
      const definitions: ArgDefinition[] = args.map((arg) => {
        const eq = arg.indexOf('=');
        const key = eq < 0 ? arg : arg.slice(0, eq);
        if (eq === 0) throw new InstructionError('blank-name', 'ARG names can not be blank');
        return { key, value: eq < 0 ? undefined : arg.slice(eq + 1), comment: getComment(node.comments, key) };
      });
      return commandOf({ range: node.range, name: keyword, code, kind: 'ARG', args: definitions });
    }
    case 'shell': {
      flags.parse();
      if (args.length === 0) throw new InstructionError('argument-count', 'SHELL requires at least one argument');
      if (!node.json) throw new InstructionError('not-json', `SHELL requires the arguments to be in JSON form`);
      return commandOf({ range: node.range, name: keyword, code, kind: 'SHELL', shell: args });
    }
    default: {
      const best = suggest(keyword, instructionNames);
      // BuildKit's words: the keyword as written, the suggestion in capitals only when it is.
      const hint = best === undefined ? '' : ` (did you mean ${keyword === keyword.toUpperCase() ? best.toUpperCase() : best.toLowerCase()}?)`;
      throw new InstructionError('unknown-instruction', `unknown instruction: ${keyword}${hint}`, node.keyword.range);
    }
  }
}

function keyValues(args: readonly string[], what: string): KeyValue[] {
  if (args.length === 0) throw new InstructionError('argument-count', `${what} requires at least one argument`);
  if (args.length % 3 !== 0) throw new InstructionError('argument-count', `Bad input to ${what}, too many arguments`);
  const pairs: KeyValue[] = [];
  for (let i = 0; i < args.length; i += 3) {
    const key = args[i] ?? '';
    if (key === '') throw new InstructionError('blank-name', `${what} names can not be blank`);
    pairs.push({ key, value: args[i + 1] ?? '', noDelim: (args[i + 2] ?? '') === '' });
  }
  return pairs;
}

function sourcesAndDest(node: InstructionNode, words: readonly Word[], what: string): Pick<CopyFields, 'sources' | 'contents' | 'dest'> {
  const dest = words[words.length - 1] as Word;
  if (heredocOf(dest) !== undefined) throw new InstructionError('invalid-heredoc-use', `${what} cannot accept a heredoc as a destination`, dest.range);
  const bodies = new Map(node.heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const contents: SourceContent[] = [];
  for (const word of words.slice(0, -1)) {
    const heredoc = heredocOf(word);
    if (heredoc === undefined) {
      sources.push(word.value);
      continue;
    }
    let data = bodies.get(heredoc.name)?.content ?? '';
    if (heredoc.chomp) data = data.split('\n').map((line) => line.replace(/^\t+/, '')).join('\n');
    contents.push({ path: heredoc.name, data, expand: heredoc.expand });
  }
  return { sources, contents, dest: dest.value };
}

function heredocOf(word: Word): ReturnType<typeof parseHeredocWord> {
  try {
    return parseHeredocWord(word.value, word.range);
  } catch {
    return undefined;
  }
}

function healthcheck(args: readonly string[], flags: Flags, node: InstructionNode): Omit<Extract<Command, { kind: 'HEALTHCHECK' }>, 'kind' | 'range' | 'name' | 'code'> {
  if (args.length === 0) throw new InstructionError('argument-count', 'HEALTHCHECK requires at least one argument');
  const type = (args[0] ?? '').toUpperCase();
  const rest = args.slice(1);
  const none = { test: ['NONE'], interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 };
  if (type === 'NONE') {
    if (rest.length !== 0) throw new InstructionError('invalid-healthcheck', 'HEALTHCHECK NONE takes no arguments');
    return none;
  }
  flags.declare('interval', 'string').declare('timeout', 'string').declare('start-period', 'string').declare('start-interval', 'string').declare('retries', 'string');
  flags.parse();
  if (type !== 'CMD') throw new InstructionError('invalid-healthcheck', `Unknown type ${JSON.stringify(type)} in HEALTHCHECK (try CMD)`, node.args[0]?.range);
  const command = rest.length === 0 ? [] : node.json ? rest : [rest.join(' ')];
  if (command.length === 0) throw new InstructionError('invalid-healthcheck', 'Missing command after HEALTHCHECK CMD');
  const duration = (name: string): number => {
    const text = flags.string(name);
    if (text === '') return 0;
    const parsed = parseGoDuration(text);
    const range = node.flags.find((f) => f.name === name)?.range;
    if (typeof parsed === 'string') throw new InstructionError('invalid-healthcheck', parsed, range);
    if (parsed === 0) return 0;
    if (parsed < 1e6) throw new InstructionError('invalid-healthcheck', `Interval ${JSON.stringify(name)} cannot be less than 1ms`, range);
    return parsed;
  };
  let retries = 0;
  const retriesText = flags.string('retries');
  if (retriesText !== '') {
    const range = node.flags.find((f) => f.name === 'retries')?.range;
    if (!/^[+-]?\d+$/.test(retriesText) || Math.abs(Number(retriesText)) > 2 ** 31 - 1) {
      throw new InstructionError('invalid-healthcheck', `strconv.ParseInt: parsing ${JSON.stringify(retriesText)}: invalid syntax`, range);
    }
    retries = Number(retriesText);
    if (retries < 0) throw new InstructionError('invalid-healthcheck', `--retries cannot be negative (${retries})`, range);
  }
  return {
    test: [node.json ? 'CMD' : 'CMD-SHELL', ...command],
    interval: duration('interval'),
    timeout: duration('timeout'),
    startPeriod: duration('start-period'),
    startInterval: duration('start-interval'),
    retries,
  };
}

/** Go's byte-wise string order (UTF-16 order differs only for astral characters). */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
