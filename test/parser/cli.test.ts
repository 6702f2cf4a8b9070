import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliCaptured } from '../helpers/run-cli.js';
import { corpusRoot } from './corpus.js';

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
    const file = join(await mkdtemp(join(tmpdir(), 'tsbuild-parse-')), 'Dockerfile');
    await writeFile(file, 'FROM busybox\nCOPPY a b\nRUN --mont=type=cache,target=/x make\n');
    const result = await runCliCaptured(['debug', 'parse', '-f', file]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      [
        `${file}:2:1: unknown instruction "COPPY" (did you mean COPY?)`,
        ' 2 | COPPY a b',
        '   | ^^^^^',
        `${file}:3:5: unknown flag: mont (did you mean mount?)`,
        ' 3 | RUN --mont=type=cache,target=/x make',
        '   |     ^^^^^^^^^^^^^^^^^^^^^^^^^^^',
        '',
      ].join('\n'),
    );
  });

  it('names a missing file', async () => {
    const result = await runCliCaptured(['debug', 'parse', '-f', '/nonexistent/Dockerfile']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('/nonexistent/Dockerfile');
  });
});

describe('tsbuild debug resolve', () => {
  it('expands with build args and scopes, and names the base image as docker would', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'tsbuild-resolve-')), 'Dockerfile');
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
