/**
 * The Dockerfile front end: text to a located syntax tree and typed instructions, with
 * diagnostics instead of exceptions. Imports nothing but common.
 */
import type { Channel, Command, Directive, Dockerfile, EscapeToken, SyntaxTree } from './ast.js';
import type { Diagnostic } from './diagnostics.js';
import { renderDiagnostic } from './diagnostics.js';
import { dumpSyntaxTree } from './dump.js';
import { instructionsJson } from './instructions-json.js';
import { typeInstructions } from './instructions.js';
import { parseSyntax } from './syntax.js';

export type * from './ast.js';
export { diagnosticCatalogue, primaryError, renderAt, renderDiagnostic, type Diagnostic, type DiagnosticCode } from './diagnostics.js';
export { dumpSyntaxTree } from './dump.js';
export { instructionsJson } from './instructions-json.js';
export { instructionNames } from './instructions.js';
export { parseMount, parseRamSize, secretMountId, splitCsvRecord, type CacheSharing, type MountType, type RunMount } from './mounts.js';

export interface ParseOptions {
  /**
   * Default: `labs` when the `syntax` directive names a labs frontend, else `stable`, as the
   * reference's parse reads a file (and a build: see asFrontend).
   */
  readonly channel?: Channel;
  /**
   * The docker/dockerfile 1.x minor whose rules apply where they differ from the reference's
   * (referenceFrontendMinor, the default): from 9 on, a JSON form must be the whole rest of its
   * line, or the line is in shell form; from 19 on `COPY/ADD --exclude`, from 20 on `COPY
   * --parents` and `RUN --security` are taken in the stable channel too.
   */
  readonly frontendMinor?: number;
  /**
   * Read as the frontend the `syntax` directive names (or SYNTAX, when not empty: the build
   * argument BUILDKIT_SYNTAX, which BuildKit takes over the directive) would read the file
   * (frontendOfSyntax): a build's reading, where the defaults are the reference parse's.
   * CHANNEL and FRONTENDMINOR, when given, still win.
   */
  readonly asFrontend?: { readonly syntax?: string };
}

export interface ParseResult {
  readonly tree: SyntaxTree;
  /** Typed stages; instructions that failed typing are left out (see `diagnostics`). */
  readonly dockerfile: Dockerfile;
  readonly channel: Channel;
  /** See ParseOptions.frontendMinor. */
  readonly frontendMinor: number;
  /** Errors and warnings, in the order found. */
  readonly diagnostics: readonly Diagnostic[];
  readonly ok: boolean;
}

const labsSyntax = /(?:^|[/:])[^/:@]*-labs(?:@|$)|:(?:[\d.]+-)?labs(?:@|$)/;
/** Docker's own Dockerfile frontends, as a `syntax` directive names them. */
const dockerFrontend = /^(?:(?:docker\.io|index\.docker\.io|registry-1\.docker\.io)\/)?docker\/dockerfile(?:-upstream)?$/;
/** The minor version of docker/dockerfile 1.x whose parse the conformance corpus records. */
const referenceFrontendMinor = 8;

/** What a build reads a Dockerfile as: a channel, and the docker/dockerfile 1.x minor whose rules apply. */
export interface Frontend {
  readonly channel: Channel;
  /** `Infinity` for a floating tag: the latest frontend. */
  readonly minor: number;
}

/**
 * The frontend a `syntax` directive names, as a build reads the file with it (the reference's
 * parse packages, which the conformance corpus records, know no versions and take the
 * directive's `-labs` alone: parseDockerfile's default). Docker's frontend at a floating tag
 * (`1`, `latest`, `labs`, no tag, upstream's `master`) is the latest; at `1.N` it is 1.N; any
 * other frontend, and a digest alone, which dates nothing, is the reference's 1.8. The labs
 * channel is a `-labs` frontend's; what later minors made stable of it the typing takes by the
 * minor (instructions.ts `laterFlags`).
 */
export function frontendOfSyntax(directive: string): Frontend {
  const reference = directive.trim().split(/\s/)[0] ?? '';
  const [named = '', digest] = reference.split('@');
  const colon = named.lastIndexOf(':');
  const tag = colon > named.lastIndexOf('/') ? named.slice(colon + 1) : undefined;
  const docker = dockerFrontend.test(tag === undefined ? named : named.slice(0, colon));
  return { channel: labsSyntax.test(reference) ? 'labs' : 'stable', minor: docker ? minorOfTag(tag, digest !== undefined) : referenceFrontendMinor };
}

function minorOfTag(tag: string | undefined, pinned: boolean): number {
  if (tag === undefined) return pinned ? referenceFrontendMinor : Infinity;
  const bare = tag.replace(/-?labs$/, '');
  if (['', '1', 'latest', 'master'].includes(bare)) return Infinity;
  const minor = /^1\.(\d+)(?:\.\d+)?(?:-rc\d+)?$/.exec(bare)?.[1];
  return minor === undefined ? referenceFrontendMinor : Number(minor);
}

/** Never throws on user input: every problem is a diagnostic. */
export function parseDockerfile(source: string, options: ParseOptions = {}): ParseResult {
  let frontend: Frontend | undefined;
  // Decided once the directives are read, before the first instruction line.
  const frontendOf = (directives: readonly Directive[]): Frontend => {
    if (frontend !== undefined) return frontend;
    const directive = directives.find((d) => d.name === 'syntax')?.value ?? '';
    const syntaxArgument = options.asFrontend?.syntax;
    // The reference parse takes the directive's channel too, but no version.
    const named = frontendOfSyntax(syntaxArgument === undefined || syntaxArgument === '' ? directive : syntaxArgument);
    frontend = {
      channel: options.channel ?? named.channel,
      minor: options.frontendMinor ?? (options.asFrontend === undefined ? referenceFrontendMinor : named.minor),
    };
    return frontend;
  };
  const syntax = parseSyntax(source, { wholeJson: (directives) => frontendOf(directives).minor >= 9 });
  const tree: SyntaxTree = { escapeToken: syntax.escapeToken, directives: syntax.directives, instructions: syntax.instructions };
  const { channel, minor: frontendMinor } = frontendOf(syntax.directives);
  const typed = typeInstructions(syntax.instructions, syntax.escapeToken, channel, frontendMinor);
  const diagnostics = [...syntax.diagnostics, ...typed.diagnostics];
  return { tree, dockerfile: typed.dockerfile, channel, frontendMinor, diagnostics, ok: !diagnostics.some((d) => d.severity === 'error') };
}

/**
 * One instruction from text, for ONBUILD triggers (kept as text in the image config). Returns
 * the typed command or the diagnostics that reject it.
 */
export function parseTrigger(text: string, escapeToken: EscapeToken, channel: Channel = 'stable', frontendMinor = referenceFrontendMinor): { readonly command?: Command; readonly diagnostics: readonly Diagnostic[] } {
  const prefix = escapeToken === '`' ? '# escape=`\nFROM scratch\n' : 'FROM scratch\n';
  const parsed = parseDockerfile(prefix + text, { channel, frontendMinor });
  const errors = parsed.diagnostics.filter((d) => d.severity === 'error');
  const command = parsed.dockerfile.stages[0]?.instructions[0];
  return errors.length > 0 || command === undefined ? { diagnostics: errors } : { command, diagnostics: [] };
}

/** What `debug parse` prints: the reference tree dump, the typed instructions, or everything. */
export type DumpFormat = 'ast' | 'instructions' | 'json';

export interface ParseDump {
  readonly ok: boolean;
  /** Every diagnostic, rendered with its source line, in source order. */
  readonly diagnostics: readonly string[];
  /** The dump in the format asked for; empty when the Dockerfile has errors. */
  readonly dump: string;
}

/** Parses SOURCE (named FILE in messages) and dumps it in FORMAT. */
export function dumpDockerfile(source: string, file: string, format: DumpFormat, options: ParseOptions = {}): ParseDump {
  const parsed = parseDockerfile(source, options);
  // As BuildKit, whose parse and instruction typing are two steps: the tree exists once the
  // lines parse, so the tree dump answers to the syntax phase only.
  const relevant = format === 'ast' ? parsed.diagnostics.filter((d) => d.phase === 'syntax') : parsed.diagnostics;
  const inOrder = [...relevant].sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.column - b.range.start.column);
  const diagnostics = inOrder.map((diagnostic) => renderDiagnostic(diagnostic, file, source));
  if (relevant.some((d) => d.severity === 'error')) return { ok: false, diagnostics, dump: '' };
  const warnings = parsed.diagnostics.filter((d) => d.severity === 'warning');
  let dump: string;
  if (format === 'ast') dump = dumpSyntaxTree(parsed.tree);
  else if (format === 'instructions') dump = `${JSON.stringify(instructionsJson(parsed.dockerfile, parsed.tree.directives, warnings, parsed.channel), null, 2)}\n`;
  else dump = `${JSON.stringify({ channel: parsed.channel, tree: parsed.tree, dockerfile: parsed.dockerfile, diagnostics: parsed.diagnostics }, null, 2)}\n`;
  return { ok: true, diagnostics, dump };
}
