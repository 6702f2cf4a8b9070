/**
 * Planner input from the conformance corpus: BuildKit's typed instructions
 * (`instructions.json`, see the corpus README) turned into the planner's raw model.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { SourceRange } from '../../src/common/index.js';
import type { RawDockerfile, RawInstruction, RawStage } from '../../src/planner/index.js';

export const corpus = resolve(import.meta.dirname, '../../../shared/conformance');

interface JsonCommand {
  readonly type: string;
  readonly name: string;
  readonly code: string;
  readonly startLine: number;
  readonly endLine: number;
  readonly [key: string]: unknown;
}

interface JsonStage {
  readonly name: string;
  readonly comment: string;
  readonly sourceCode: string;
  readonly baseName: string;
  readonly platform: string;
  readonly startLine: number;
  readonly endLine: number;
  readonly commands: readonly JsonCommand[];
}

export interface JsonDockerfile {
  readonly escapeToken: '\\' | '`';
  readonly metaArgs: readonly JsonCommand[];
  readonly stages: readonly JsonStage[];
}

const lines = (start: number, end: number): SourceRange => ({ start: { line: start, column: 1 }, end: { line: end, column: 1 } });

/** `--mount=` values as written, from the logical line (the typed form has them parsed). */
function mountFlags(code: string): string[] {
  return [...code.matchAll(/--mount=("(?:[^"\\]|\\.)*"|\S+)/g)].map((m) => {
    const value = m[1] ?? '';
    return value.startsWith('"') ? (JSON.parse(value) as string) : value;
  });
}

function toInstruction(c: JsonCommand): RawInstruction {
  const range = lines(c.startLine, c.endLine);
  const base = { range, name: c.name, code: c.code };
  const get = <T>(key: string): T => c[key] as T;
  switch (c.type) {
    case 'ARG':
      return { ...base, kind: 'ARG', args: get<{ key: string; value: string | null; comment: string }[]>('args').map((a) => ({ key: a.key, value: a.value ?? undefined, comment: a.comment })) };
    case 'ENV':
      return { ...base, kind: 'ENV', pairs: get<{ key: string; value: string; noDelim: boolean }[]>('env') };
    case 'LABEL':
      return { ...base, kind: 'LABEL', pairs: get<{ key: string; value: string; noDelim: boolean }[]>('labels') };
    case 'COPY':
    case 'ADD':
      return {
        ...base,
        kind: c.type,
        sources: get<string[]>('sourcePaths'),
        contents: get<{ path: string; data: string; expand: boolean }[]>('sourceContents'),
        dest: get<string>('destPath'),
        from: (c['from'] as string | undefined) ?? '',
        chown: get<string>('chown'),
        chmod: get<string>('chmod'),
        link: get<boolean>('link'),
        parents: (c['parents'] as boolean | undefined) ?? false,
        exclude: get<string[]>('excludePatterns'),
        checksum: (c['checksum'] as string | undefined) ?? '',
        keepGitDir: c['keepGitDir'] as boolean | undefined,
        unpack: undefined,
      };
    case 'RUN':
      return {
        ...base,
        kind: 'RUN',
        shellForm: get<boolean>('prependShell'),
        cmdLine: get<string[]>('cmdLine'),
        files: get<{ name: string; data: string; chomp: boolean }[]>('files'),
        mounts: mountFlags(c.code),
        network: get<string>('network'),
        security: (c['security'] as string | null) ?? '',
        flagsUsed: get<string[]>('flagsUsed'),
      };
    case 'CMD':
    case 'ENTRYPOINT':
      return { ...base, kind: c.type, shellForm: get<boolean>('prependShell'), cmdLine: get<string[]>('cmdLine'), files: get('files') };
    case 'EXPOSE':
      return { ...base, kind: 'EXPOSE', ports: get<string[]>('ports') };
    case 'VOLUME':
      return { ...base, kind: 'VOLUME', volumes: get<string[]>('volumes') };
    case 'USER':
      return { ...base, kind: 'USER', user: get<string>('user') };
    case 'WORKDIR':
      return { ...base, kind: 'WORKDIR', path: get<string>('path') };
    case 'STOPSIGNAL':
      return { ...base, kind: 'STOPSIGNAL', signal: get<string>('signal') };
    case 'SHELL':
      return { ...base, kind: 'SHELL', shell: get<string[]>('shell') };
    case 'MAINTAINER':
      return { ...base, kind: 'MAINTAINER', maintainer: get<string>('maintainer') };
    case 'ONBUILD':
      return { ...base, kind: 'ONBUILD', expression: get<string>('expression') };
    case 'HEALTHCHECK': {
      const h = get<{ test: string[]; interval: number; timeout: number; startPeriod: number; startInterval: number; retries: number }>('health');
      return { ...base, kind: 'HEALTHCHECK', ...h };
    }
    default:
      throw new Error(`unexpected command type ${c.type}`);
  }
}

export function toRaw(json: JsonDockerfile): RawDockerfile {
  return {
    escapeToken: json.escapeToken,
    metaArgs: json.metaArgs.map(toInstruction) as Extract<RawInstruction, { kind: 'ARG' }>[],
    stages: json.stages.map(
      (s): RawStage => ({ name: s.name, baseName: s.baseName, platform: s.platform, comment: s.comment, code: s.sourceCode, range: lines(s.startLine, s.endLine), instructions: s.commands.map(toInstruction) }),
    ),
  };
}

export function cases(): { name: string; json: JsonDockerfile }[] {
  const out: { name: string; json: JsonDockerfile }[] = [];
  const walk = (dir: string, depth: number): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name === 'labs' || entry.name === 'LICENSES') continue;
      const path = join(dir, entry.name);
      const file = join(path, 'instructions.json');
      if (existsSync(file)) out.push({ name: path.slice(corpus.length + 1), json: JSON.parse(readFileSync(file, 'utf8')) as JsonDockerfile });
      else if (depth < 3) walk(path, depth + 1);
    }
  };
  walk(corpus, 0);
  return out;
}


export function loadCase(name: string): RawDockerfile {
  return toRaw(JSON.parse(readFileSync(join(corpus, name, 'instructions.json'), 'utf8')) as JsonDockerfile);
}
