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
    // An instruction over several lines is located by each of them, as BuildKit's parser ranges it.
    const lines = await run(['build', '--root', root, '--call', 'check,format=json', '--progress', 'quiet', context('check-json-lines', 'FROM scratch\nCMD run \\\n  me\n')]);
    expect((JSON.parse(lines.stdout) as { warnings: { location: unknown }[] }).warnings.map((warning) => warning.location)).toEqual([
      { ranges: [{ start: { line: 2 }, end: { line: 2 } }, { start: { line: 3 }, end: { line: 3 } }] },
    ]);
    const failing = await run(['build', '--root', root, '--call', 'check,format=json', '--progress', 'quiet', context('check-json-error', 'FROM scratch AS Base\nFROM ${NOPE}\n')]);
    expect(failing.status).toBe(1);
    const failed = JSON.parse(failing.stdout) as { warnings: { ruleName: string }[]; buildError: { message: string; location: unknown } };
    expect(failed.warnings.map((warning) => warning.ruleName)).toEqual(['StageNameCasing', 'InvalidDefaultArgInFrom', 'UndefinedArgInFrom']);
    expect(failed.buildError).toMatchObject({ message: expect.stringContaining('base name (${NOPE}) should not be blank'), location: { ranges: [{ start: { line: 2 }, end: { line: 2 } }] } });
    expect((await run(['build', '--root', root, '--call', 'check,format=yaml', context('check-yaml', 'FROM scratch\n')])).stderr).toContain('unknown option "format=yaml"');
    const unknown = await run(['build', '--root', root, '--call', 'lint', context('call-unknown', 'FROM scratch\n')]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('--call "lint"');
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

  it('--call=targets,format=json gives BuildKit’s list: each stage’s base, platform and FROM line', async () => {
    const dockerfile = 'ARG B=scratch\n# base is where the tools are\nFROM --platform=$BUILDPLATFORM $B AS base\nFROM base\n';
    const result = await run(['build', '--root', root, '--call', 'targets,format=json', context('targets-json', dockerfile)]);
    expect(result.status).toBe(0);
    // Go's MarshalIndent: two spaces, zero fields left out, the Dockerfile as the one source.
    expect(result.stdout).toMatch(/^\{\n {2}"targets": \[\n {4}\{\n {6}"name": "base",/);
    expect(JSON.parse(result.stdout)).toEqual({
      targets: [
        { name: 'base', description: 'is where the tools are', base: '$B', platform: '$BUILDPLATFORM', location: { ranges: [{ start: { line: 3 }, end: { line: 3 } }] } },
        { default: true, base: 'base', location: { ranges: [{ start: { line: 4 }, end: { line: 4 } }] } },
      ],
      sources: [Buffer.from(dockerfile).toString('base64')],
    });
  });

  describe('--call=outline', () => {
    // Printed by BuildKit 0.13 (buildx --print=outline) for this Dockerfile, the goldens below.
    const dockerfile = [
      'ARG VERSION=1.2',
      '# IMAGE the base image',
      'ARG IMAGE=127.0.0.1:5000/library/busybox:$VERSION',
      'ARG UNUSED=nothing',
      'ARG GLOBALONLY',
      'FROM scratch AS base',
      '# FOO a foo setting',
      'ARG FOO=bar',
      'ARG GLOBALONLY',
      'RUN --mount=type=secret,id=token --mount=type=secret,id=key,required=true echo',
      '# build the thing',
      'FROM base AS build',
      'ARG BAR=x$FOO BAZ',
      'RUN --mount=type=ssh --mount=type=ssh,id=deploy,required echo',
      'RUN --mount=type=secret,target=/root/.npmrc echo',
      'FROM scratch AS other',
      'ARG OTHER=1',
      '# release the final image',
      'FROM build AS release',
      'ARG VERSION',
      'COPY --from=other / /',
      '',
    ].join('\n');
    const secretsAndSsh = ['SECRET   REQUIRED', 'token    ', 'key      true', '.npmrc   ', '', 'SSH       REQUIRED', 'default   ', 'deploy    true', ''];

    it('lists what the target, its base stages and the stages it copies from read, as BuildKit', async () => {
      const result = await run(['build', '--root', root, '--call', 'outline', context('outline', dockerfile)]);
      expect(result.status).toBe(0);
      expect(result.stdout).toBe(
        [
          'TARGET:      release',
          'DESCRIPTION: the final image',
          '',
          'BUILD ARG    VALUE   DESCRIPTION',
          'VERSION      1.2     ',
          'GLOBALONLY           ',
          'FOO          bar     a foo setting',
          'BAR          xbar    ',
          'BAZ                  ',
          'OTHER        1       ',
          '',
          ...secretsAndSsh,
          '',
        ].join('\n'),
      );
      expect(result.stderr).toContain('[internal] load build definition from Dockerfile');
    });

    it('follows --target and --build-arg', async () => {
      const result = await run(['build', '--root', root, '--call', 'outline', '--target', 'build', '--build-arg', 'FOO=zz', '--build-arg', 'BAZ=q', context('outline-target', dockerfile)]);
      expect(result.status).toBe(0);
      expect(result.stdout).toBe(
        ['TARGET:      build', 'DESCRIPTION: the thing', '', 'BUILD ARG    VALUE   DESCRIPTION', 'GLOBALONLY           ', 'FOO          zz      a foo setting', 'BAR          xzz     ', 'BAZ          q       ', '', ...secretsAndSsh, ''].join('\n'),
      );
    });

    it('format=json gives BuildKit’s outline document', async () => {
      const result = await run(['build', '--root', root, '--call', 'outline,format=json', '--target', 'base', context('outline-json', dockerfile)]);
      expect(result.status).toBe(0);
      const line = (n: number): object => ({ ranges: [{ start: { line: n }, end: { line: n } }] });
      expect(JSON.parse(result.stdout)).toEqual({
        name: 'base',
        args: [
          { name: 'GLOBALONLY', location: line(5) },
          { name: 'FOO', description: 'a foo setting', value: 'bar', location: line(8) },
        ],
        secrets: [
          { name: 'token', location: line(10) },
          { name: 'key', required: true, location: line(10) },
        ],
        sources: [Buffer.from(dockerfile).toString('base64')],
      });
      expect(result.stdout.split('\n').slice(0, 3)).toEqual(['{', '  "name": "base",', '  "args": [']);
    });

    it('fails as a build would on a Dockerfile that does not resolve', async () => {
      const result = await run(['build', '--root', root, '--call', 'outline', context('outline-broken', 'FROM scratch\nARG Q<"&>=1\n')]);
      expect(result.status).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('failed to process "Q<\\"&>": unexpected end of statement while looking for matching double-quote');
    });
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
    expect(warning).toMatchObject({ level: 1, url: 'https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/', range: [{ start: { line: 2 }, end: { line: 2 } }] });
  });
});
