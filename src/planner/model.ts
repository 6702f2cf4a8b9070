/**
 * What resolution reads: a Dockerfile's typed instructions with raw (unexpanded) words and the
 * source range of each instruction, built from the parser's typed instructions. Keeping this
 * shape separate lets resolution follow the reference implementation's instruction model
 * closely without depending on how the parser lays out its nodes.
 */
import type { SourceRange } from '../common/index.js';

export interface RawKeyValue {
  readonly key: string;
  readonly value: string;
}

export interface RawArg {
  readonly key: string;
  /** `undefined` for `ARG name` without `=`. */
  readonly value: string | undefined;
}

/** A heredoc used as a COPY/ADD source. */
export interface RawSourceContent {
  readonly path: string;
  readonly data: string;
  /** False when the heredoc word was quoted (`<<"EOF"`): the body is then taken literally. */
  readonly expand: boolean;
}

/** A heredoc attached to RUN, CMD or ENTRYPOINT. */
export interface RawHeredocFile {
  readonly name: string;
  readonly data: string;
  readonly chomp: boolean;
}

interface Base {
  readonly range: SourceRange;
  /** The instruction word as written (`run`, `Run`). */
  readonly name: string;
}

/** COPY and ADD (flags a command does not have are `''`, `false` or `undefined`). */
export interface RawCopyFields {
  readonly sources: readonly string[];
  readonly contents: readonly RawSourceContent[];
  readonly dest: string;
  readonly from: string;
  readonly chown: string;
  readonly chmod: string;
  readonly link: boolean;
  readonly parents: boolean;
  readonly exclude: readonly string[];
  readonly checksum: string;
  readonly keepGitDir: boolean | undefined;
  readonly unpack: boolean | undefined;
}

/** CMD and ENTRYPOINT. */
export interface RawCommandFields {
  readonly shellForm: boolean;
  readonly cmdLine: readonly string[];
  readonly files: readonly RawHeredocFile[];
}

export type RawInstruction =
  | (Base & { readonly kind: 'ARG'; readonly args: readonly RawArg[] })
  | (Base & { readonly kind: 'ENV'; readonly pairs: readonly RawKeyValue[] })
  | (Base & { readonly kind: 'LABEL'; readonly pairs: readonly RawKeyValue[] })
  | (Base & { readonly kind: 'COPY' } & RawCopyFields)
  | (Base & { readonly kind: 'ADD' } & RawCopyFields)
  | (Base & {
      readonly kind: 'RUN';
      readonly shellForm: boolean;
      readonly cmdLine: readonly string[];
      readonly files: readonly RawHeredocFile[];
      /** Each `--mount=` value as written. */
      readonly mounts: readonly string[];
      readonly network: string;
      readonly security: string;
    })
  | (Base & { readonly kind: 'CMD' } & RawCommandFields)
  | (Base & { readonly kind: 'ENTRYPOINT' } & RawCommandFields)
  | (Base & { readonly kind: 'EXPOSE'; readonly ports: readonly string[] })
  | (Base & { readonly kind: 'VOLUME'; readonly volumes: readonly string[] })
  | (Base & { readonly kind: 'USER'; readonly user: string })
  | (Base & { readonly kind: 'WORKDIR'; readonly path: string })
  | (Base & { readonly kind: 'STOPSIGNAL'; readonly signal: string })
  | (Base & { readonly kind: 'SHELL'; readonly shell: readonly string[] })
  | (Base & { readonly kind: 'MAINTAINER'; readonly maintainer: string })
  | (Base & { readonly kind: 'ONBUILD'; readonly expression: string })
  | (Base & {
      readonly kind: 'HEALTHCHECK';
      /** `['NONE']`, `['CMD', …]` or `['CMD-SHELL', command]`. */
      readonly test: readonly string[];
      readonly interval: number;
      readonly timeout: number;
      readonly startPeriod: number;
      readonly startInterval: number;
      readonly retries: number;
    });

export type RawInstructionKind = RawInstruction['kind'];

export interface RawStage {
  /** `AS` name, or `''`. */
  readonly name: string;
  readonly baseName: string;
  /** `--platform` value, or `''`. */
  readonly platform: string;
  /** The FROM instruction. */
  readonly range: SourceRange;
  readonly instructions: readonly RawInstruction[];
}

export interface RawDockerfile {
  readonly escapeToken: '\\' | '`';
  /** ARG instructions before the first FROM. */
  readonly metaArgs: readonly Extract<RawInstruction, { kind: 'ARG' }>[];
  readonly stages: readonly RawStage[];
}
