/**
 * From Dockerfile text to the resolved view: parse, stop on the parser's errors (all of them,
 * rendered, in one message), then resolve stages, scopes and expansions.
 */
import { TsbuildError, type SourceRange } from '../common/index.js';
import { parseDockerfile, primaryError, renderAt, renderDiagnostic, type Channel, type Diagnostic, type ParseResult } from '../parser/index.js';
import type { ResolveOptions, ResolvedDockerfile } from './model.js';
import { errorRanges } from './errors.js';
import { resolveRaw } from './resolve.js';

export interface DockerfileInput {
  readonly source: string;
  /** For messages: the path as the user gave it. */
  readonly file: string;
  readonly channel?: Channel;
  /** A build's reading: see ParseOptions.asFrontend (a `syntax` here is BUILDKIT_SYNTAX's). */
  readonly frontend?: { readonly syntax?: string };
}

export interface ResolvedBuild {
  readonly parsed: ParseResult;
  readonly resolved: ResolvedDockerfile;
}

/**
 * The parser's errors, every one rendered in the message; `primary` is the one BuildKit reports
 * (its parser stops at the first), for a caller that shows a build's failure as docker build does.
 */
export class DockerfileParseError extends TsbuildError {
  constructor(
    message: string,
    readonly primary: Diagnostic,
    ranges: readonly Diagnostic['range'][],
  ) {
    super('DOCKERFILE_PARSE', message, { ranges });
  }
}

/** The parse, or every error it found, rendered, in one DockerfileParseError. */
function parsedOrThrown(input: DockerfileInput): ParseResult {
  const parsed = parseDockerfile(input.source, { ...(input.channel === undefined ? {} : { channel: input.channel }), ...(input.frontend === undefined ? {} : { asFrontend: input.frontend }) });
  if (parsed.ok) return parsed;
  const errors = parsed.diagnostics.filter((d) => d.severity === 'error');
  const rendered = errors.map((d) => renderDiagnostic(d, input.file, input.source)).join('\n');
  throw new DockerfileParseError(`parse ${input.file}: ${errors.length} error${errors.length === 1 ? '' : 's'}\n${rendered}`, primaryError(errors) ?? (errors[0] as Diagnostic), errors.map((d) => d.range));
}

/** A stage as buildx's `--call=targets` lists it: its name and the description comment above it. */
export interface BuildTarget {
  readonly name: string;
  readonly description: string;
  readonly default: boolean;
  /** FROM's base and --platform, as written. */
  readonly base: string;
  readonly platform: string;
  /** The FROM instruction. */
  readonly range: SourceRange;
}

/** The stages of a Dockerfile, parsed only (BuildKit's ListTargets resolves nothing); the last is the default. */
export function listTargets(input: DockerfileInput): BuildTarget[] {
  const parsed = parsedOrThrown(input);
  const stages = parsed.dockerfile.stages;
  return stages.map((stage, index) => ({ name: stage.name, description: stage.comment, default: index === stages.length - 1, base: stage.baseName, platform: stage.platform, range: stage.range }));
}

/** ONPARSED sees the parse before resolution, which may fail (a build check's warnings come first). */
export function resolveDockerfile(input: DockerfileInput, options: ResolveOptions = {}, onParsed?: (parsed: ParseResult) => void): ResolvedBuild {
  const parsed = parsedOrThrown(input);
  onParsed?.(parsed);
  let resolved: ResolvedDockerfile;
  try {
    resolved = resolveRaw(parsed.dockerfile, { channel: parsed.channel, frontendMinor: parsed.frontendMinor, ...options });
  } catch (error) {
    // The instruction an error is located at, as a parse error is shown: file, line, column, the line itself.
    const [range] = errorRanges(error);
    if (!(error instanceof TsbuildError) || range === undefined) throw error;
    throw new TsbuildError(error.code, renderAt(range, input.file, input.source, error.message), { cause: error, ranges: error.ranges });
  }
  return { parsed, resolved };
}
