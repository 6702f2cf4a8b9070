/**
 * The parser's output, in two layers, both readonly plain data with source ranges:
 *
 * - the syntax tree (`InstructionNode`): one node per instruction as written — its keyword,
 *   flags and argument words split the way the reference splits each instruction — from which
 *   the reference's tree dump is produced;
 * - the typed Dockerfile (`Dockerfile`, `Command`): stages and a discriminated union of
 *   commands with their flags read, still with raw (unexpanded) words. The planner expands
 *   them; the field names follow the reference's instruction model so that resolution can
 *   follow it closely.
 */
import type { SourceRange } from '../common/index.js';

export type EscapeToken = '\\' | '`';

/** `stable` is the reference's default frontend; `labs` adds RUN --security, COPY --parents and --exclude. */
export type Channel = 'stable' | 'labs';

export interface Word {
  readonly value: string;
  readonly range: SourceRange;
}

export interface FlagNode {
  /** As the reference hands it on: `--name=value` with quotes removed and escapes resolved. */
  readonly text: string;
  readonly name: string;
  /** `undefined` for a bare `--flag`. */
  readonly value: string | undefined;
  readonly range: SourceRange;
}

export interface Heredoc {
  /** The delimiter word with its quotes removed. */
  readonly name: string;
  /** False when any part of the delimiter was quoted: the body is then taken literally. */
  readonly expand: boolean;
  /** `<<-`: leading tabs of body lines (and of the delimiter line) are not part of the text. */
  readonly chomp: boolean;
  /** The file descriptor written before `<<` (`3<<EOF`), 0 when none. */
  readonly fileDescriptor: number;
  /** The body, lines with their line endings, without the terminator line. */
  readonly content: string;
  /** From the `<<WORD` marker to the terminator line. */
  readonly range: SourceRange;
}

export interface Directive {
  /** Lower-cased: `syntax`, `escape` or `check`. */
  readonly name: string;
  readonly value: string;
  readonly range: SourceRange;
}

export interface InstructionNode {
  /** The instruction word as written (`run`, `Run`, `RUN`). */
  readonly keyword: Word;
  readonly flags: readonly FlagNode[];
  /** Argument words, split as the reference splits this instruction (see the corpus README). */
  readonly args: readonly Word[];
  /** ONBUILD's trigger instruction. */
  readonly trigger: InstructionNode | undefined;
  /** The arguments were a JSON array (exec form). */
  readonly json: boolean;
  readonly heredocs: readonly Heredoc[];
  /** The logical line: continuations joined, comment lines removed, heredoc bodies excluded. */
  readonly code: string;
  /** Comment lines directly above the instruction, for stage and ARG descriptions. */
  readonly comments: readonly string[];
  /** The whole instruction, continuation lines and heredoc bodies included. */
  readonly range: SourceRange;
}

export interface SyntaxTree {
  readonly escapeToken: EscapeToken;
  readonly directives: readonly Directive[];
  readonly instructions: readonly InstructionNode[];
}

interface CommandBase {
  readonly range: SourceRange;
  /** The instruction word as written. */
  readonly name: string;
  /** The logical line, trimmed. */
  readonly code: string;
}

export interface KeyValue {
  readonly key: string;
  readonly value: string;
  /** The old `ENV key value` form, without `=`. */
  readonly noDelim: boolean;
}

export interface ArgDefinition {
  readonly key: string;
  /** `undefined` for `ARG name` without `=`. */
  readonly value: string | undefined;
  /** The comment line above that starts with the name. */
  readonly comment: string;
}

export interface SourceContent {
  /** The heredoc word. */
  readonly path: string;
  readonly data: string;
  readonly expand: boolean;
}

export interface InlineFile {
  readonly name: string;
  readonly data: string;
  readonly chomp: boolean;
}

export interface CopyFields {
  readonly sources: readonly string[];
  /** Heredocs given as sources. */
  readonly contents: readonly SourceContent[];
  readonly dest: string;
  /** COPY --from; `''` for ADD or when not given. */
  readonly from: string;
  readonly chown: string;
  readonly chmod: string;
  readonly link: boolean;
  readonly parents: boolean;
  readonly exclude: readonly string[];
  /** ADD --checksum; `''` when not given. */
  readonly checksum: string;
  /** ADD --keep-git-dir; `undefined` for COPY. */
  readonly keepGitDir: boolean | undefined;
  /** ADD --unpack; `undefined` when not given. */
  readonly unpack: boolean | undefined;
}

export interface CommandLine {
  /** Shell form (`RUN make`) rather than exec form (`RUN ["make"]`). */
  readonly shellForm: boolean;
  /** One string in shell form, the array elements in exec form. */
  readonly cmdLine: readonly string[];
  readonly files: readonly InlineFile[];
}

export type ArgCommand = CommandBase & { readonly kind: 'ARG'; readonly args: readonly ArgDefinition[] };

export type Command =
  | ArgCommand
  | (CommandBase & { readonly kind: 'ENV'; readonly pairs: readonly KeyValue[] })
  | (CommandBase & { readonly kind: 'LABEL'; readonly pairs: readonly KeyValue[] })
  | (CommandBase & { readonly kind: 'COPY' } & CopyFields)
  | (CommandBase & { readonly kind: 'ADD' } & CopyFields)
  | (CommandBase &
      CommandLine & {
        readonly kind: 'RUN';
        /** Each `--mount=` value as written; read with `parseMount`. */
        readonly mounts: readonly string[];
        /** `default`, `none` or `host`. */
        readonly network: string;
        /** `sandbox` or `insecure` (labs); `''` in the stable channel. */
        readonly security: string;
        /** Names of the flags given, sorted. */
        readonly flagsUsed: readonly string[];
      })
  | (CommandBase & CommandLine & { readonly kind: 'CMD' })
  | (CommandBase & CommandLine & { readonly kind: 'ENTRYPOINT' })
  | (CommandBase & { readonly kind: 'EXPOSE'; readonly ports: readonly string[] })
  | (CommandBase & { readonly kind: 'VOLUME'; readonly volumes: readonly string[] })
  | (CommandBase & { readonly kind: 'USER'; readonly user: string })
  | (CommandBase & { readonly kind: 'WORKDIR'; readonly path: string })
  | (CommandBase & { readonly kind: 'STOPSIGNAL'; readonly signal: string })
  | (CommandBase & { readonly kind: 'SHELL'; readonly shell: readonly string[] })
  | (CommandBase & { readonly kind: 'MAINTAINER'; readonly maintainer: string })
  | (CommandBase & {
      readonly kind: 'ONBUILD';
      /** The trigger as written after ONBUILD, heredoc bodies appended. */
      readonly expression: string;
    })
  | (CommandBase & {
      readonly kind: 'HEALTHCHECK';
      /** `['NONE']`, `['CMD', …]` (exec form) or `['CMD-SHELL', command]`. */
      readonly test: readonly string[];
      /** Durations in nanoseconds; 0 when not given. */
      readonly interval: number;
      readonly timeout: number;
      readonly startPeriod: number;
      readonly startInterval: number;
      readonly retries: number;
    });

export type CommandKind = Command['kind'];

export interface Stage {
  /** The `AS` name lower-cased, or `''`. */
  readonly name: string;
  readonly baseName: string;
  /** `--platform` value, or `''`. */
  readonly platform: string;
  readonly comment: string;
  readonly code: string;
  /** The FROM instruction. */
  readonly range: SourceRange;
  readonly instructions: readonly Command[];
}

export interface Dockerfile {
  readonly escapeToken: EscapeToken;
  /** ARG instructions before the first FROM. */
  readonly metaArgs: readonly ArgCommand[];
  readonly stages: readonly Stage[];
}
