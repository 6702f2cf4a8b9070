/**
 * What resolution reads and what it gives. It reads the parser's typed Dockerfile:
 * instructions with raw (unexpanded) words and their source ranges; the names say "raw" from
 * the planner's side, nothing in them is expanded yet. It gives stages whose words are
 * expanded, with the environment each instruction sees.
 */
import type { Platform, SourceRange } from '../common/index.js';
import type { EnvScope } from './environment.js';
import type { ArgDefinition, Channel, Command, CommandLine, CopyFields as ParsedCopyFields, Dockerfile, EscapeToken, InlineFile, KeyValue, RunMount, SourceContent, Stage } from '../parser/index.js';

export type { EnvScope };
export type RawKeyValue = KeyValue;
export type RawArg = ArgDefinition;
/** A heredoc used as a COPY/ADD source. */
export type RawSourceContent = SourceContent;
/** A heredoc attached to RUN, CMD or ENTRYPOINT. */
export type RawHeredocFile = InlineFile;
export type RawCopyFields = ParsedCopyFields;
export type RawCommandFields = CommandLine;
export type RawInstruction = Command;
export type RawInstructionKind = RawInstruction['kind'];
export type RawStage = Stage;
export type RawDockerfile = Dockerfile;

export interface BaseImageConfig {
  /** `KEY=VALUE` entries of the image config. */
  readonly env?: readonly string[];
  readonly workingDir?: string;
  readonly user?: string;
  /** ONBUILD triggers recorded in the image: run first in a stage built FROM it. */
  readonly onBuild?: readonly string[];
}

export interface ResolveOptions {
  /** `--build-arg` values. */
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** `--target`: the stage to build; the last stage by default. */
  readonly target?: string;
  /** The build machine's and the output's platform; the host's for both by default. */
  readonly platform?: { readonly build: Platform; readonly target: Platform };
  /**
   * The config of a base image, when known: its environment is in scope for every instruction
   * of the stage (`WORKDIR $GOPATH`). Without it a base image is taken to have an empty
   * environment (PATH aside). `baseImagesOf` lists which images a resolution will ask for.
   */
  readonly baseImage?: (reference: string, platform: Platform) => BaseImageConfig | undefined;
  /** The frontend channel ONBUILD triggers are parsed with; `stable` by default. */
  readonly channel?: Channel;
  /** The docker/dockerfile minor ONBUILD triggers are parsed with (ParseOptions.frontendMinor). */
  readonly frontendMinor?: number;
  /**
   * Named contexts (`--build-context NAME=…`): by NAME, the image reference that stands for it.
   * As BuildKit's dockerui: a stage named NAME is replaced by it (its instructions dropped), and
   * a FROM, COPY --from or RUN --mount from= naming an image whose short name (`alpine`,
   * `alpine:3`, `user/app`; `:latest` dropped) is NAME reads it instead.
   */
  readonly namedContexts?: ReadonlyMap<string, string>;
  /** Resolve every stage, not only those the target needs (a build check of the whole file). */
  readonly allStages?: boolean;
}

export type StageRef = { readonly kind: 'stage'; readonly stage: number } | { readonly kind: 'image'; readonly reference: string };

export type StageBase =
  | { readonly kind: 'stage'; readonly stage: number }
  | {
      readonly kind: 'image';
      /** As written, after expansion. */
      readonly reference: string;
      /** Fully qualified: `docker.io/library/alpine:latest`. */
      readonly normalized: string;
    }
  | { readonly kind: 'scratch' };

export type EnvPairs = readonly (readonly [string, string])[];

export interface VariableUse {
  /** Names the instruction's expanded words referred to and that were set. */
  readonly used: readonly string[];
  /** Names referred to but not set (they expanded to nothing). */
  readonly undefined: readonly string[];
}

/** Where the instruction is and how it was spelt, as the parser gave them, and its scope. */
type Common = Pick<RawInstruction, 'range' | 'name'> & {
  /** The environment the instruction sees (base image, ENV and ARG values so far). */
  readonly env: EnvScope;
  readonly variables: VariableUse;
};

type Passed<K extends RawInstruction['kind']> = Omit<Extract<RawInstruction, { kind: K }>, 'range' | 'name'> & Common;

interface CopyFields extends Omit<RawCopyFields, 'from'> {
  /** COPY --from: another stage or an image; `undefined` for the build context. */
  readonly from: StageRef | undefined;
}

/**
 * An ARG after resolution: its value in scope (`undefined` when it has none), and the default
 * the Dockerfile wrote, expanded (`undefined` when none), which its history entry shows.
 */
export type ResolvedArg = Pick<RawArg, 'key' | 'value'> & { readonly written?: string };
/** An ENV or LABEL pair after expansion. */
export type ResolvedPair = Pick<RawKeyValue, 'key' | 'value'>;

export type ResolvedInstruction =
  | (Common & { readonly kind: 'ARG'; readonly args: readonly ResolvedArg[] })
  | (Common & { readonly kind: 'ENV'; readonly pairs: readonly ResolvedPair[] })
  | (Common & { readonly kind: 'LABEL'; readonly pairs: readonly ResolvedPair[] })
  | (Common & { readonly kind: 'COPY' } & CopyFields)
  | (Common & { readonly kind: 'ADD' } & CopyFields)
  | (Common & {
      readonly kind: 'RUN';
      readonly shellForm: boolean;
      readonly cmdLine: readonly string[];
      readonly files: readonly RawHeredocFile[];
      readonly mounts: readonly ResolvedMount[];
      readonly network: string;
      readonly security: string;
      /** ARGs in scope with their values: they join the RUN environment and its history entry. */
      readonly args: readonly ResolvedArg[];
    })
  | (Common & { readonly kind: 'EXPOSE'; readonly ports: readonly string[] })
  | (Common & { readonly kind: 'VOLUME'; readonly volumes: readonly string[] })
  | (Common & { readonly kind: 'USER'; readonly user: string })
  | (Common & { readonly kind: 'WORKDIR'; readonly path: string })
  | (Common & { readonly kind: 'STOPSIGNAL'; readonly signal: string })
  | Passed<'CMD'>
  | Passed<'ENTRYPOINT'>
  | Passed<'SHELL'>
  | Passed<'MAINTAINER'>
  | Passed<'ONBUILD'>
  | Passed<'HEALTHCHECK'>;

export interface ResolvedMount extends RunMount {
  /** Where `from` points; `undefined` when the mount has no `from`. */
  readonly fromRef: StageRef | undefined;
}

export interface ResolvedStage {
  /** Position among the Dockerfile's stages (what `COPY --from=1` counts). */
  readonly index: number;
  /** `AS` name, lower-cased; `''` when the stage has none. */
  readonly name: string;
  /** The FROM instruction. */
  readonly range: SourceRange;
  readonly base: StageBase;
  readonly platform: Platform;
  /** Whether FROM gave `--platform` (otherwise the target platform, or the base stage's). */
  readonly platformExplicit: boolean;
  /** Stages this one needs: its base, COPY --from and RUN --mount from= sources. */
  readonly dependencies: readonly number[];
  /** Images this one reads files from (COPY --from, RUN --mount from= with an image). */
  readonly images: readonly string[];
  /** The global ARGs its FROM line used (they key the base image choice). */
  readonly fromArgs: readonly string[];
  readonly instructions: readonly ResolvedInstruction[];
  /** The environment after the last instruction. */
  readonly env: EnvScope;
  /** The environment of the image config (base image env, then ENV), after the last instruction. */
  readonly imageEnv: EnvScope;
}

export interface ProxyEnv {
  readonly httpProxy?: string;
  readonly httpsProxy?: string;
  readonly ftpProxy?: string;
  readonly noProxy?: string;
  readonly allProxy?: string;
}

export interface ResolvedDockerfile {
  readonly escapeToken: EscapeToken;
  /** Index of the stage to build. */
  readonly target: number;
  /** The stages the target needs (itself included), in Dockerfile order. */
  readonly stages: readonly ResolvedStage[];
  /** Global ARGs after build args and defaults, predefined platform ARGs included. */
  readonly globalArgs: EnvPairs;
  /** Proxy settings from build args; given to every RUN, never recorded in the image. */
  readonly proxy: ProxyEnv;
  /** Build args that no ARG in the built stages declares (worth a warning). */
  readonly unusedBuildArgs: readonly string[];
}
