/**
 * Builders of planner input for tests that exercise resolution rules without going through
 * the parser. Each instruction gets the next line number, so ranges in errors can be checked.
 */
import type { SourceRange } from '../../src/common/index.js';
import type { RawDockerfile, RawInstruction, RawStage } from '../../src/planner/index.js';

let line = 0;

export function resetLines(): void {
  line = 0;
}

function nextRange(): SourceRange {
  line += 1;
  return { start: { line, column: 1 }, end: { line, column: 40 } };
}

type Without<T> = T extends unknown ? Omit<T, 'range' | 'name' | 'code'> : never;

export function ins(fields: Without<RawInstruction>): RawInstruction {
  return { ...fields, range: nextRange(), name: fields.kind, code: fields.kind } as RawInstruction;
}

export const arg = (...args: [string, string?][]): RawInstruction =>
  ins({ kind: 'ARG', args: args.map(([key, value]) => ({ key, value, comment: '' })) });

export const env = (...pairs: [string, string][]): RawInstruction =>
  ins({ kind: 'ENV', pairs: pairs.map(([key, value]) => ({ key, value, noDelim: false })) });

export const run = (command: string, mounts: string[] = []): RawInstruction =>
  ins({ kind: 'RUN', shellForm: true, cmdLine: [command], files: [], mounts, network: 'default', security: '', flagsUsed: mounts.length > 0 ? ['mount'] : [] });

export function copy(sources: string[], dest: string, flags: { from?: string; chown?: string; chmod?: string } = {}): RawInstruction {
  return ins({
    kind: 'COPY',
    sources,
    contents: [],
    dest,
    from: flags.from ?? '',
    chown: flags.chown ?? '',
    chmod: flags.chmod ?? '',
    link: false,
    parents: false,
    exclude: [],
    checksum: '',
    keepGitDir: undefined,
    unpack: undefined,
  });
}

export function stage(baseName: string, options: { name?: string; platform?: string }, ...instructions: (() => RawInstruction)[]): () => RawStage {
  return () => ({
    name: options.name ?? '',
    baseName,
    platform: options.platform ?? '',
    comment: '',
    code: `FROM ${baseName}`,
    range: nextRange(),
    instructions: instructions.map((make) => make()),
  });
}

/** Builds in source order: meta ARGs, then each stage's FROM followed by its instructions. */
export function dockerfile(metaArgs: (() => RawInstruction)[], ...stages: (() => RawStage)[]): RawDockerfile {
  resetLines();
  const metas = metaArgs.map((make) => make()) as Extract<RawInstruction, { kind: 'ARG' }>[];
  return { escapeToken: '\\', metaArgs: metas, stages: stages.map((make) => make()) };
}
