import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCliCaptured as run } from '../helpers/run-cli.js';

// A build's mistakes as docker build (buildx 0.13) reports them: BuildKit's excerpt of the
// Dockerfile, then one `ERROR: ` line in its words, and status 1. Nothing here needs an image:
// each build stops before its base image is looked up.
describe("build's errors in docker build's words", () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbuild-build-errors-'));
  const root = join(dir, 'root');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function context(name: string, dockerfile?: string): string {
    const path = join(dir, name);
    mkdirSync(path);
    if (dockerfile !== undefined) writeFileSync(join(path, 'Dockerfile'), dockerfile);
    return path;
  }

  it('shows a syntax error as BuildKit does: file:line (and the column after it), the lines around it, then the parse error of that line', async () => {
    const result = await run(['build', '--root', root, '--progress', 'quiet', context('unknown', 'FROM busybox\nRUNN echo hi\nRUN true\n')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      [
        'Dockerfile:2:1',
        '--------------------',
        '   1 |     FROM busybox',
        '   2 | >>> RUNN echo hi',
        '   3 |     RUN true',
        '   4 |     ',
        '--------------------',
        'ERROR: failed to solve: dockerfile parse error on line 2: unknown instruction: RUNN (did you mean RUN?)',
        '',
      ].join('\n'),
    );
    // The suggestion follows the case of what was written, as BuildKit's.
    const lower = await run(['build', '--root', root, '--progress', 'quiet', context('lower', 'FROM busybox\nrunn echo hi\n')]);
    expect(lower.stderr.trimEnd().split('\n').at(-1)).toBe('ERROR: failed to solve: dockerfile parse error on line 2: unknown instruction: runn (did you mean run?)');
    const env = await run(['build', '--root', root, '--progress', 'quiet', context('env', 'FROM busybox\nENV\nRUN true\n')]);
    expect(env).toMatchObject({ status: 1 });
    expect(env.stderr.trimEnd().split('\n').at(-1)).toBe('ERROR: failed to solve: dockerfile parse error on line 2: ENV requires at least one argument');
    // The column of what is wrong inside the line, where BuildKit names the line alone.
    const flag = await run(['build', '--root', root, '--progress', 'quiet', context('flag', 'FROM busybox\nCOPY --bogus=1 a /\n')]);
    expect(flag.stderr.split('\n')[0]).toBe('Dockerfile:2:6');
    expect(flag.stderr.trimEnd().split('\n').at(-1)).toBe('ERROR: failed to solve: dockerfile parse error on line 2: unknown flag: bogus');
    // Errors found while resolving an instruction: BuildKit's words after the excerpt, not tsbuild's own place in them.
    const expansion = await run(['build', '--root', root, '--progress', 'quiet', context('expansion', 'FROM busybox\nENV A=${B\n')]);
    expect(expansion.stderr.split('\n')[0]).toBe('Dockerfile:2:1');
    expect(expansion.stderr.trimEnd().split('\n').at(-1)).toBe('ERROR: failed to solve: failed to process "${B": unsupported modifier (\uFFFD) in substitution');
    const mount = await run(['build', '--root', root, '--progress', 'quiet', context('mount', 'FROM busybox\nRUN --mount=type=bogus true\n')]);
    expect(mount.stderr.trimEnd().split('\n').at(-1)).toBe('ERROR: failed to solve: unsupported mount type "bogus"');
  });

  it('reports a context or Dockerfile that is not there with buildx\'s ERROR line', async () => {
    expect(await run(['build', '--root', root, join(dir, 'nonexistent')])).toMatchObject({
      status: 1,
      stderr: `ERROR: unable to prepare context: path ${JSON.stringify(join(dir, 'nonexistent'))} not found\n`,
    });
    expect(await run(['build', '--root', root, context('empty')])).toMatchObject({
      status: 1,
      stderr: 'ERROR: failed to solve: failed to read dockerfile: open Dockerfile: no such file or directory\n',
    });
    expect(await run(['build', '--root', root, '-f', join(dir, 'no-such.Dockerfile'), context('with-f', 'FROM busybox\n')])).toMatchObject({
      status: 1,
      stderr: 'ERROR: failed to solve: failed to read dockerfile: open no-such.Dockerfile: no such file or directory\n',
    });
  });

  it("refuses a bad -t and flags that do not go together in buildx's words", async () => {
    const dir = context('flags', 'FROM busybox\n');
    expect(await run(['build', '--root', root, '-t', 'Bad:x', dir])).toMatchObject({ status: 1, stderr: 'ERROR: invalid tag "Bad:x": repository name must be lowercase\n' });
    expect(await run(['build', '--root', root, '--iidfile', join(dir, 'id'), '-o', `type=local,dest=${join(dir, 'out')}`, dir])).toMatchObject({
      status: 1,
      stderr: 'ERROR: local and tar exporters are incompatible with image ID file\n',
    });
  });

  it('reports a --target no stage has as a failure of the solve', async () => {
    const result = await run(['build', '--root', root, '--progress', 'quiet', '--target', 'nope', context('target', 'FROM busybox AS a\nRUN true\n')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^ERROR: failed to solve: .*target stage "nope" could not be found/);
  });
});
