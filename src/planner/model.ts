/**
 * What resolution reads: the parser's typed Dockerfile — instructions with raw (unexpanded)
 * words and their source ranges. The names say "raw" from the planner's side: nothing in them
 * is expanded yet.
 */
import type { ArgDefinition, Command, CommandLine, CopyFields, Dockerfile, InlineFile, KeyValue, SourceContent, Stage } from '../parser/index.js';

export type RawKeyValue = KeyValue;
export type RawArg = ArgDefinition;
/** A heredoc used as a COPY/ADD source. */
export type RawSourceContent = SourceContent;
/** A heredoc attached to RUN, CMD or ENTRYPOINT. */
export type RawHeredocFile = InlineFile;
export type RawCopyFields = CopyFields;
export type RawCommandFields = CommandLine;
export type RawInstruction = Command;
export type RawInstructionKind = RawInstruction['kind'];
export type RawStage = Stage;
export type RawDockerfile = Dockerfile;
