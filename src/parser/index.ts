/**
 * The Dockerfile front end: text to a located syntax tree and typed instructions, with
 * diagnostics instead of exceptions. Imports nothing but common.
 */
import type { Channel, Command, Dockerfile, EscapeToken, SyntaxTree } from './ast.js';
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
export { parseMount, parseRamSize, splitCsvRecord, type CacheSharing, type MountType, type RunMount } from './mounts.js';

export interface ParseOptions {
  /**
   * Default: `labs` when the `syntax` directive names a labs frontend, else `stable`, as the
   * reference's parse reads a file; a build asks channelOfSyntax (see resolveDockerfile).
   */
  readonly channel?: Channel;
}

export interface ParseResult {
  readonly tree: SyntaxTree;
  /** Typed stages; instructions that failed typing are left out (see `diagnostics`). */
  readonly dockerfile: Dockerfile;
  readonly channel: Channel;
  /** Errors and warnings, in the order found. */
  readonly diagnostics: readonly Diagnostic[];
  readonly ok: boolean;
}

const labsSyntax = /(?:^|[/:])[^/:@]*-labs(?:@|$)|:(?:[\d.]+-)?labs(?:@|$)/;
/** Docker's own Dockerfile frontends, as a `syntax` directive names them. */
const dockerFrontend = /^(?:(?:docker\.io|index\.docker\.io|registry-1\.docker\.io)\/)?docker\/dockerfile(?:-upstream)?$/;

/**
 * The channel the frontend a `syntax` directive names reads a Dockerfile with, when it builds
 * (the reference's parse packages, which the conformance corpus records, know no versions and
 * take the directive's `-labs` alone: parseDockerfile's default). A labs frontend's
 * flags (`COPY --parents`, `COPY/ADD --exclude`, `RUN --security`), the only ones the labs
 * channel adds here, became stable in docker/dockerfile 1.19 (--exclude) and 1.20 (the others),
 * so a frontend of 1.19 or later, or a floating one (`1`, `latest`, no tag, upstream's `master`,
 * all of them later than 1.20 now), takes them too; 1.19's --parents and --security are taken
 * with its --exclude. Any other frontend, and a digest alone, whose version the name does not
 * tell, reads the stable channel of the reference (1.8).
 */
export function channelOfSyntax(directive: string): Channel {
  const reference = directive.trim().split(/\s/)[0] ?? '';
  if (labsSyntax.test(reference)) return 'labs';
  const [named = '', digest] = reference.split('@');
  const colon = named.lastIndexOf(':');
  const tag = colon > named.lastIndexOf('/') ? named.slice(colon + 1) : undefined;
  if (!dockerFrontend.test(tag === undefined ? named : named.slice(0, colon))) return 'stable';
  // No tag: the latest frontend, unless a digest pins one the name does not date.
  if (tag === undefined) return digest === undefined ? 'labs' : 'stable';
  if (['1', 'latest', 'master'].includes(tag)) return 'labs';
  const minor = /^1\.(\d+)(?:\.\d+)?(?:-rc\d+)?$/.exec(tag)?.[1];
  return minor !== undefined && Number(minor) >= 19 ? 'labs' : 'stable';
}

/** Never throws on user input: every problem is a diagnostic. */
export function parseDockerfile(source: string, options: ParseOptions = {}): ParseResult {
  const syntax = parseSyntax(source);
  const tree: SyntaxTree = { escapeToken: syntax.escapeToken, directives: syntax.directives, instructions: syntax.instructions };
  const syntaxDirective = syntax.directives.find((d) => d.name === 'syntax')?.value ?? '';
  const channel = options.channel ?? (labsSyntax.test(syntaxDirective.split(/\s/)[0] ?? '') ? 'labs' : 'stable');
  const typed = typeInstructions(syntax.instructions, syntax.escapeToken, channel);
  const diagnostics = [...syntax.diagnostics, ...typed.diagnostics];
  return { tree, dockerfile: typed.dockerfile, channel, diagnostics, ok: !diagnostics.some((d) => d.severity === 'error') };
}

/**
 * One instruction from text, for ONBUILD triggers (kept as text in the image config). Returns
 * the typed command or the diagnostics that reject it.
 */
export function parseTrigger(text: string, escapeToken: EscapeToken, channel: Channel = 'stable'): { readonly command?: Command; readonly diagnostics: readonly Diagnostic[] } {
  const prefix = escapeToken === '`' ? '# escape=`\nFROM scratch\n' : 'FROM scratch\n';
  const parsed = parseDockerfile(prefix + text, { channel });
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
