/**
 * Build checks through `tsbuild build`, as docker build (buildx 0.15 and later) shows them: the
 * warnings listed after the progress, `--check` listing them with the Dockerfile lines and
 * status 1, `check=error=true` failing the build before any step with nothing stored, and the
 * rawjson progress carrying each as BuildKit's VertexWarning; and `--call=targets`, buildx's
 * list of the stages.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { runCliCaptured as run } from '../helpers/run-cli.js';

describe('build checks in docker build’s output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbuild-build-checks-'));
  const root = join(dir, 'root');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function context(name: string, dockerfile: string): string {
    const path = join(dir, name);
    mkdirSync(path);
    writeFileSync(join(path, 'Dockerfile'), dockerfile);
    writeFileSync(join(path, 'a'), 'a\n');
    return path;
  }

  it('lists the warnings after a build that goes on, and builds the image', async () => {
    const result = await run(['build', '--root', root, '--progress', 'plain', '-t', 'checked', context('warned', 'FROM scratch as base\nCOPY a /a\nCMD run me\n')]);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain(
      [
        ' 2 warnings found:',
        " - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)",
        ' - JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 3)',
        '',
      ].join('\n'),
    );
    const store = await openStore({ root });
    expect(await store.resolveReference('docker.io/library/checked:latest')).toBeDefined();
    // A syntax directive naming a frontend from before build checks runs none, as that frontend would.
    const older = await run(['build', '--root', root, '--progress', 'plain', context('older', '# syntax=docker/dockerfile:1.4\nFROM scratch as base\nCOPY a /a\n')]);
    expect(older.status).toBe(0);
    expect(older.stderr).not.toContain('warning');
    // Quiet builds print none of it.
    const quiet = await run(['build', '--root', root, '-q', context('quiet', 'FROM scratch as base\nCOPY a /a\n')]);
    expect(quiet.stderr).toBe('');
  });

  it('fails with error=true before any step, naming the rules, and stores no image', async () => {
    const result = await run(['build', '--root', root, '--progress', 'plain', '-t', 'refused', context('error', '# check=skip=ConsistentInstructionCasing;error=true\nFROM scratch as base\ncopy a /a\n')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(" - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 2)");
    expect(result.stderr.trimEnd().split('\n').at(-1)).toBe('ERROR: failed to solve: lint violation found for rules: FromAsCasing');
    expect(result.stderr).not.toContain('COPY a /a');
    const store = await openStore({ root });
    expect(await store.resolveReference('docker.io/library/refused:latest')).toBeUndefined();
    // BUILDKIT_DOCKERFILE_CHECK replaces the directive.
    const skipped = await run(['build', '--root', root, '--progress', 'plain', '--build-arg', 'BUILDKIT_DOCKERFILE_CHECK=skip=all', context('error-skipped', '# check=error=true\nFROM scratch as base\ncopy a /a\n')]);
    expect(skipped.status).toBe(0);
    expect(skipped.stderr).not.toContain('warning');
  });

  it('--check lists every stage’s warnings with their lines and runs nothing', async () => {
    const dockerfile = '\nFROM scratch AS first\nCOPY $foo /a\n\nFROM scratch AS second\nCMD run\n';
    const result = await run(['build', '--root', root, '--check', '--progress', 'quiet', context('check', dockerfile)]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe(
      [
        'Check complete, 2 warnings have been found!',
        '',
        'WARNING: UndefinedVar - https://docs.docker.com/go/dockerfile/rule/undefined-var/',
        "Usage of undefined variable '$foo'",
        'Dockerfile:3',
        '--------------------',
        '   1 |     ',
        '   2 |     FROM scratch AS first',
        '   3 | >>> COPY $foo /a',
        '   4 |     ',
        '   5 |     FROM scratch AS second',
        '--------------------',
        '',
        'WARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/',
        'JSON arguments recommended for CMD to prevent unintended behavior related to OS signals',
        'Dockerfile:6',
        '--------------------',
        '   4 |     ',
        '   5 |     FROM scratch AS second',
        '   6 | >>> CMD run',
        '   7 |     ',
        '--------------------',
        '',
      ].join('\n'),
    );
    // --call=check is the same; a target narrows it to the stages it needs.
    const target = await run(['build', '--root', root, '--call', 'check', '--target', 'first', '--progress', 'quiet', context('check-target', dockerfile)]);
    expect(target.stdout.split('\n')[0]).toBe('Check complete, 1 warning has been found!');
    const clean = await run(['build', '--root', root, '--check', '--progress', 'quiet', context('check-clean', 'FROM scratch\nCOPY a /a\nCMD ["run"]\n')]);
    expect(clean).toMatchObject({ status: 0, stdout: 'Check complete, no warnings found.\n' });
    // As editors' Dockerfile tools ask for it: BuildKit's LintResults as JSON, the same status.
    const json = await run(['build', '--root', root, '--call', 'check,format=json', '--progress', 'quiet', context('check-json', dockerfile)]);
    expect(json.status).toBe(1);
    const results = JSON.parse(json.stdout) as { warnings: unknown[]; sources: { filename: string; data: string; language: string }[]; buildError?: unknown };
    expect(results.warnings).toEqual([
      { ruleName: 'UndefinedVar', description: 'Variables should be defined before their use', url: 'https://docs.docker.com/go/dockerfile/rule/undefined-var/', detail: "Usage of undefined variable '$foo'", location: { ranges: [{ start: { line: 3 }, end: { line: 3 } }] } },
      {
        ruleName: 'JSONArgsRecommended',
        description: 'JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals',
        url: 'https://docs.docker.com/go/dockerfile/rule/json-args-recommended/',
        detail: 'JSON arguments recommended for CMD to prevent unintended behavior related to OS signals',
        location: { ranges: [{ start: { line: 6 }, end: { line: 6 } }] },
      },
    ]);
    expect(results.sources).toEqual([{ filename: 'Dockerfile', data: Buffer.from(dockerfile).toString('base64'), language: 'Dockerfile' }]);
    expect(results.buildError).toBeUndefined();
    const failing = await run(['build', '--root', root, '--call', 'check,format=json', '--progress', 'quiet', context('check-json-error', 'FROM scratch AS Base\nFROM ${NOPE}\n')]);
    expect(failing.status).toBe(1);
    const failed = JSON.parse(failing.stdout) as { warnings: { ruleName: string }[]; buildError: { message: string; location: unknown } };
    expect(failed.warnings.map((warning) => warning.ruleName)).toEqual(['StageNameCasing', 'InvalidDefaultArgInFrom', 'UndefinedArgInFrom']);
    expect(failed.buildError).toMatchObject({ message: expect.stringContaining('base name (${NOPE}) should not be blank'), location: { ranges: [{ start: { line: 2 }, end: { line: 2 } }] } });
    expect((await run(['build', '--root', root, '--call', 'check,format=yaml', context('check-yaml', 'FROM scratch\n')])).stderr).toContain('unknown option "format=yaml"');
    const unknown = await run(['build', '--root', root, '--call', 'outline', context('call-unknown', 'FROM scratch\n')]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('--call "outline"');
  });

  it('--call=targets lists the stages with their description comments, the last as the default', async () => {
    const dockerfile = '# base is where the tools are\nFROM scratch AS base\nFROM base\n# release the image we ship\nFROM base AS release\n';
    const result = await run(['build', '--root', root, '--call', 'targets', context('targets', dockerfile)]);
    expect(result).toMatchObject({ status: 0, stderr: '' });
    // As Go's tabwriter pads the first column: to the longest name, plus one space.
    const column = 'release (default) '.length;
    expect(result.stdout).toBe([`${'TARGET'.padEnd(column)}DESCRIPTION`, `${'base'.padEnd(column)}is where the tools are`, ' '.repeat(column), `${'release (default)'.padEnd(column)}the image we ship`, ''].join('\n'));
    const broken = await run(['build', '--root', root, '--call', 'targets', context('targets-broken', 'FROM scratch\nCOPPY a b\n')]);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toContain('unknown instruction: COPPY');
  });

  it('gives each warning in rawjson as BuildKit’s VertexWarning', async () => {
    const result = await run(['build', '--root', root, '--progress', 'rawjson', context('rawjson', 'FROM scratch\nMAINTAINER me\n')]);
    expect(result.status).toBe(0);
    const objects = result.stderr
      .split(/\n(?=\{)/)
      .filter((chunk) => chunk.trim() !== '')
      .map((chunk) => JSON.parse(chunk) as { warnings?: { level: number; short: string; detail?: string[]; url?: string; range?: unknown }[] });
    const warnings = objects.flatMap((object) => object.warnings ?? []);
    expect(warnings).toHaveLength(1);
    const [warning] = warnings;
    expect(Buffer.from(warning?.short ?? '', 'base64').toString()).toBe('MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (line 2)');
    expect(warning?.detail?.map((line) => Buffer.from(line, 'base64').toString())).toEqual(['The MAINTAINER instruction is deprecated, use a label instead to define an image author']);
    expect(warning).toMatchObject({ level: 1, url: 'https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/', range: [{ start: { line: 2, character: 0 }, end: { line: 2, character: 0 } }] });
  });
});
