import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../helpers/run-cli.js';
import { corpusCases, corpusRoot } from './corpus.js';

/** Temporary directories of this file's cases, removed when they are done. */
const scratchDirectories: string[] = [];
async function scratch(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  scratchDirectories.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(scratchDirectories.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('tsbuild debug parse', () => {
  it('prints the reference tree dump and the typed instructions of a corpus file', async () => {
    const dir = join(corpusRoot, 'buildkit', 'testfiles', 'docker');
    const dump = await runCliCaptured(['debug', 'parse', '-f', join(dir, 'Dockerfile')]);
    expect(dump.status).toBe(0);
    expect(dump.stdout).toBe(await readFile(join(dir, 'result'), 'utf8'));
    const typed = await runCliCaptured(['debug', 'parse', '--dump', 'instructions', '-f', join(dir, 'Dockerfile')]);
    expect(typed.status).toBe(0);
    expect(JSON.parse(typed.stdout)).toEqual(JSON.parse(await readFile(join(dir, 'instructions.json'), 'utf8')));
  });

  it('fails with every error rendered with its line and a caret, in file order', async () => {
    const file = join(await scratch('tsbuild-parse-'), 'Dockerfile');
    await writeFile(file, 'FROM busybox\nCOPPY a b\nRUN --mont=type=cache,target=/x make\n');
    const result = await runCliCaptured(['debug', 'parse', '--dump', 'instructions', '-f', file]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      [
        `${file}:2:1: unknown instruction: COPPY (did you mean COPY?)`,
        ' 2 | COPPY a b',
        '   | ^^^^^',
        `${file}:3:5: unknown flag: mont (did you mean mount?)`,
        ' 3 | RUN --mont=type=cache,target=/x make',
        '   |     ^^^^^^^^^^^^^^^^^^^^^^^^^^^',
        '',
      ].join('\n'),
    );
  });

  it('dumps the tree of a file whose lines parse even where typing its instructions fails', async () => {
    const file = join(await scratch('tsbuild-parse-'), 'Dockerfile');
    await writeFile(file, 'FROM busybox AS Build_Stage!\nCOPPY a b\nRUN --mont=type=cache,target=/x make\nCOPY --parents a b\n');
    const tree = await runCliCaptured(['debug', 'parse', '--dump', 'ast', '-f', file, '--channel', 'stable']);
    expect(tree.stderr).toBe('');
    expect(tree.status).toBe(0);
    expect(tree.stdout).toBe('(from "busybox" "AS" "Build_Stage!")\n(coppy "")\n(run ["--mont=type=cache,target=/x"] "make")\n(copy ["--parents"] "a" "b")\n');
    // An unknown instruction's arguments are ignored, as BuildKit's parser does. The default dump is the tree too.
    expect(await runCliCaptured(['debug', 'parse', '-f', file, '--channel', 'stable'])).toEqual(tree);

    const typed = await runCliCaptured(['debug', 'parse', '--dump', 'instructions', '-f', file, '--channel', 'stable']);
    expect(typed.status).toBe(1);
    expect(typed.stdout).toBe('');
    expect(typed.stderr).toMatch(/Build_Stage!/);
    expect(typed.stderr).toMatch(/COPPY/);
    expect(typed.stderr).toMatch(/unknown flag: mont/);
    expect(typed.stderr).toMatch(/unknown flag: parents/);
    const everything = await runCliCaptured(['debug', 'parse', '--dump', 'json', '-f', file, '--channel', 'stable']);
    expect(everything.status).toBe(1);
  });

  it('dumps the reference tree of every corpus file the reference parses but cannot type', async () => {
    const cases = corpusCases().filter((c) => c.stable.status === 'error:instructions' && c.stable.result !== undefined);
    expect(cases.length).toBeGreaterThan(10);
    const dir = await scratch('tsbuild-parse-');
    for (const [position, corpusCase] of cases.entries()) {
      const file = join(dir, `Dockerfile.${position}`);
      await writeFile(file, corpusCase.dockerfile);
      const tree = await runCliCaptured(['debug', 'parse', '--dump', 'ast', '--channel', 'stable', '-f', file]);
      expect({ name: corpusCase.name, status: tree.status, stdout: tree.stdout }).toEqual({ name: corpusCase.name, status: 0, stdout: corpusCase.stable.result });
      const typed = await runCliCaptured(['debug', 'parse', '--dump', 'instructions', '--channel', 'stable', '-f', file]);
      expect({ name: corpusCase.name, status: typed.status }).toEqual({ name: corpusCase.name, status: 1 });
    }
  });

  it('still fails the tree dump when a line does not parse, and prints only that error', async () => {
    const file = join(await scratch('tsbuild-parse-'), 'Dockerfile');
    await writeFile(file, 'FROM busybox\nCOPPY a b\nENV ONLY_A_NAME\n');
    const result = await runCliCaptured(['debug', 'parse', '--dump', 'ast', '-f', file]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(new RegExp(`^${file}:3:`));
    expect(result.stderr).not.toMatch(/COPPY/);
  });

  it('names a missing file', async () => {
    const result = await runCliCaptured(['debug', 'parse', '-f', '/nonexistent/Dockerfile']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('/nonexistent/Dockerfile');
  });
});

describe('tsbuild debug resolve', () => {
  it('expands with build args and scopes, and names the base image as docker would', async () => {
    const file = join(await scratch('tsbuild-resolve-'), 'Dockerfile');
    await writeFile(file, 'ARG BASE=alpine\nFROM ${BASE} AS one\nARG V=1\nENV W=${V}-x\nWORKDIR /w/$W\nFROM one\n');
    const result = await runCliCaptured(['debug', 'resolve', '-f', file, '--build-arg', 'BASE=busybox:1', '--build-arg', 'V=2', '--platform', 'linux/arm64']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const resolved = JSON.parse(result.stdout) as { target: number; stages: { base: { normalized?: string }; platform: { architecture: string }; instructions: { kind: string; path?: string }[] }[] };
    expect(resolved.target).toBe(1);
    expect(resolved.stages[0]?.base.normalized).toBe('docker.io/library/busybox:1');
    expect(resolved.stages[0]?.platform.architecture).toBe('arm64');
    expect(resolved.stages[0]?.instructions.find((i) => i.kind === 'WORKDIR')?.path).toBe('/w/2-x');
  });
});
