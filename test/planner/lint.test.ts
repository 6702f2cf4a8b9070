/**
 * Build checks against BuildKit's own expectations: the cases of its dockerfile_lint_test.go
 * (v0.14.1, the conformance corpus's reference; their Dockerfiles are also in
 * ../shared/conformance/buildkit/integration/dockerfile_lint__*), each with the warnings a
 * build reports (the stages its target needs) and those `--check` reports (every stage), plus
 * the rules later frontends added, from their documentation's examples.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatPlatform, hostPlatform, messageOf } from '../../src/common/index.js';
import { corpus } from './corpus-input.js';
import { Linter, lintConfigOf, lintStages, lintSyntax, lintWarningShort, parseCheckOptions, resolveDockerfile, type LintBaseImage, type ResolveOptions } from '../../src/planner/index.js';

interface Found {
  readonly warnings: readonly string[];
  readonly violation: string | undefined;
  readonly error: string | undefined;
}

/** The checks as a build runs them (or, with `all`, as `--check` does): `Rule: detail (line N)` each. */
function lint(source: string, options: { buildArgs?: Record<string, string>; all?: boolean; target?: string; base?: LintBaseImage } = {}): Found {
  const buildArgs = options.buildArgs ?? {};
  const resolveOptions: ResolveOptions = {
    buildArgs,
    platform: { build: hostPlatform(), target: hostPlatform() },
    ...(options.all === true ? { allStages: true } : {}),
    ...(options.target === undefined ? {} : { target: options.target }),
  };
  let linter: Linter | undefined;
  let error: string | undefined;
  try {
    const { parsed, resolved } = resolveDockerfile({ source, file: 'Dockerfile' }, resolveOptions, (file) => {
      linter = new Linter(lintConfigOf(file, buildArgs));
      lintSyntax(linter, file, resolveOptions);
    });
    if (linter !== undefined) lintStages(linter, parsed, resolved.stages, () => options.base);
  } catch (caught) {
    error = messageOf(caught);
  }
  const sorted = [...(linter?.warnings ?? [])].sort((a, b) => a.range.start.line - b.range.start.line);
  return { warnings: sorted.map(lintWarningShort), violation: linter?.violation(), error };
}

const fromAs = (line: number, as = 'as', from = 'FROM'): string => `FromAsCasing: '${as}' and '${from}' keywords' casing do not match (line ${line})`;

describe('build checks, as BuildKit reports them', () => {
  it('follows the check directive and BUILDKIT_DOCKERFILE_CHECK: skip, error', () => {
    const body = 'FROM scratch as base\ncopy Dockerfile .\n';
    expect(lint(`#check=skip=all\n${body}`)).toEqual({ warnings: [], violation: undefined, error: undefined });
    expect(lint(`#check=skip=all;error=true\n${body}`)).toEqual({ warnings: [], violation: undefined, error: undefined });
    expect(lint(`#check=skip=ConsistentInstructionCasing,FromAsCasing\n${body}`).warnings).toEqual([]);
    expect(lint(`#check=skip=ConsistentInstructionCasing,FromAsCasing;error=true\n${body}`).violation).toBeUndefined();
    expect(lint(`#check=skip=ConsistentInstructionCasing\n${body}`)).toEqual({ warnings: [fromAs(2)], violation: undefined, error: undefined });
    expect(lint(`#check=skip=ConsistentInstructionCasing;error=true\n${body}`)).toEqual({ warnings: [fromAs(2)], violation: 'lint violation found for rules: FromAsCasing', error: undefined });
    // The build argument replaces the directive whole.
    expect(lint(`#check=skip=all\n${body}`, { buildArgs: { BUILDKIT_DOCKERFILE_CHECK: 'skip=ConsistentInstructionCasing;error=true' } })).toMatchObject({ warnings: [fromAs(2)], violation: 'lint violation found for rules: FromAsCasing' });
    expect(lint(`#check=error=true\n${body}`, { buildArgs: { BUILDKIT_DOCKERFILE_CHECK: 'skip=all' } })).toMatchObject({ warnings: [], violation: undefined });
    // Without a directive, every rule and no error.
    expect(lint(body).warnings).toEqual([fromAs(1), "ConsistentInstructionCasing: Command 'copy' should match the case of the command majority (uppercase) (line 2)"]);
  });

  it('reads check options as BuildKit does, and refuses what it refuses', () => {
    expect(parseCheckOptions(' skip = A, B ; error = 1 ')).toMatchObject({ skip: new Set(['A', 'B']), error: true, skipAll: false });
    expect(parseCheckOptions('experimental=all')).toMatchObject({ experimentalAll: true });
    expect(() => parseCheckOptions('skip')).toThrow('failed to parse check options: invalid check option "skip"');
    expect(() => parseCheckOptions('bogus=1')).toThrow('failed to parse check options: invalid check option "bogus"');
    expect(() => parseCheckOptions('error=yes')).toThrow('failed to parse check option "error=yes"');
    expect(lint('#check=wrong\nFROM scratch\n').error).toMatch(/invalid check option "wrong"/);
  });

  it('takes a check comment right above an instruction for that instruction only', () => {
    const source = 'FROM scratch\n# check=skip=JSONArgsRecommended\nCMD one\nENTRYPOINT two\n';
    expect(lint(source).warnings).toEqual(['JSONArgsRecommended: JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals (line 4)']);
  });

  it('names stages in lower case, AS in FROM’s case, each name once and none reserved', () => {
    expect(lint('\n# warning: stage name should be lowercase\nFROM scratch AS BadStageName\n\n# warning\nFROM scratch as base2\n\nFROM scratch AS base3\n').warnings).toEqual([
      "StageNameCasing: Stage name 'BadStageName' should be lowercase (line 3)",
      fromAs(6),
    ]);
    expect(lint("\n# warning: 'AS' should match 'from' cmd casing.\nfrom scratch AS base\n\nfrom scratch as base2\n").warnings).toEqual([fromAs(3, 'AS', 'from')]);
    expect(lint('\nFROM scratch AS b\nFROM scratch AS b\n').warnings).toEqual(['DuplicateStageName: Duplicate stage name "b", stage names should be unique (line 3)']);
    expect(lint('\nFROM scratch AS b1\nFROM scratch AS b2\n').warnings).toEqual([]);
    expect(lint('\nFROM scratch AS scratch\nFROM scratch AS context\n').warnings).toEqual([
      'ReservedStageName: Stage name should not use the same name as reserved stage "scratch" (line 2)',
      'ReservedStageName: Stage name should not use the same name as reserved stage "context" (line 3)',
    ]);
    expect(lint('\nFROM scratch\nFROM scratch AS a\n').warnings).toEqual([]);
  });

  it('reports empty continuation lines at the instruction’s last line', () => {
    expect(lint('\nFROM scratch\n# warning: empty continuation line\nCOPY Dockerfile \\\n\n.\nCOPY Dockerfile \\\n.\n').warnings).toEqual(['NoEmptyContinuation: Empty continuation line (line 6)']);
  });

  it('wants instructions in the casing of the majority, each in one case', () => {
    const casing = (name: string, casing: string, line: number): string => `ConsistentInstructionCasing: Command '${name}' should match the case of the command majority (${casing}) (line ${line})`;
    expect(lint('\n# warning\nFrom scratch as base\nFROM scratch AS base2\n').warnings).toEqual([casing('From', 'uppercase', 3)]);
    expect(lint('\nFROM scratch\n# warning\ncopy Dockerfile /foo\nCOPY Dockerfile /bar\n').warnings).toEqual([casing('copy', 'uppercase', 4)]);
    expect(lint('\n# warning\nfrOM scratch as base\nfrom scratch as base2\n').warnings).toEqual([casing('frOM', 'lowercase', 3)]);
    expect(lint('\nfrom scratch\n# warning\nCOPY Dockerfile /foo\ncopy Dockerfile /bar\n').warnings).toEqual([casing('COPY', 'lowercase', 4)]);
    expect(lint('\n# warning\nfrom scratch\nCOPY Dockerfile /foo\nCOPY Dockerfile /bar\nCOPY Dockerfile /baz\n').warnings).toEqual([casing('from', 'uppercase', 3)]);
    expect(lint('\n# warning\nFROM scratch\ncopy Dockerfile /foo\ncopy Dockerfile /bar\ncopy Dockerfile /baz\n').warnings).toEqual([casing('FROM', 'lowercase', 3)]);
    expect(lint('\nfrom scratch\ncopy Dockerfile /foo\ncopy Dockerfile /bar\n').warnings).toEqual([]);
    expect(lint('\nFROM scratch\nCOPY Dockerfile /foo\nCOPY Dockerfile /bar\n').warnings).toEqual([]);
  });

  it('recommends JSON arguments for CMD and ENTRYPOINT unless a SHELL is set, in the stage or one it is built on', () => {
    expect(lint('\nFROM scratch\nCMD mycommand\n').warnings).toEqual(['JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 3)']);
    expect(lint('\nFROM scratch\nENTRYPOINT mycommand\n').warnings).toEqual(['JSONArgsRecommended: JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals (line 3)']);
    expect(lint('\nFROM scratch\nSHELL ["/usr/bin/customshell"]\nCMD mycommand\n').warnings).toEqual([]);
    expect(lint('\nFROM scratch\nSHELL ["/usr/bin/customshell"]\nENTRYPOINT mycommand\n').warnings).toEqual([]);
    expect(lint('\nFROM scratch AS base\nSHELL ["/usr/bin/customshell"]\n\nFROM base\nCMD mycommand\n').warnings).toEqual([]);
    expect(lint('\nFROM scratch AS base\nSHELL ["/usr/bin/customshell"]\n\nFROM base\nENTRYPOINT mycommand\n').warnings).toEqual([]);
  });

  it('calls MAINTAINER deprecated', () => {
    expect(lint('\nFROM scratch\nMAINTAINER me@example.org\n').warnings).toEqual(['MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (line 3)']);
    expect(lint('\nFROM scratch\nLABEL org.opencontainers.image.authors="me@example.org"\n').warnings).toEqual([]);
  });

  it('reports its warnings before the error that stops the build', () => {
    expect(lint('\n# warning: stage name should be lowercase\nFROM scratch AS BadStageName\nFROM ${BAR} AS base\n')).toMatchObject({
      // InvalidDefaultArgInFrom came after BuildKit 0.14's test, and fires here too.
      warnings: [
        "StageNameCasing: Stage name 'BadStageName' should be lowercase (line 3)",
        'InvalidDefaultArgInFrom: Default value for ARG ${BAR} results in empty or invalid base image name (line 4)',
        "UndefinedArgInFrom: FROM argument 'BAR' is not declared (line 4)",
      ],
      error: expect.stringContaining('base name (${BAR}) should not be blank'),
    });
  });

  it('wants the ARGs a FROM line uses declared', () => {
    expect(lint('\nARG base=scratch\nFROM $base\nCOPY Dockerfile .\n').warnings).toEqual([]);
    expect(lint('\nARG BUILDPLATFORM=linux/amd64\nFROM --platform=$BUILDPLATFORM scratch\nCOPY Dockerfile .\n').warnings).toEqual([]);
    expect(lint('\nFROM --platform=$BUILDPLATFORM scratch\nCOPY Dockerfile .\n').warnings).toEqual([]);
    expect(lint('\nFROM --platform=$BULIDPLATFORM scratch\nCOPY Dockerfile .\n')).toMatchObject({
      warnings: ["UndefinedArgInFrom: FROM argument 'BULIDPLATFORM' is not declared (did you mean BUILDPLATFORM?) (line 2)"],
      error: expect.stringContaining('empty platform value from expression $BULIDPLATFORM (did you mean BUILDPLATFORM?)'),
    });
    expect(lint('\nARG MY_OS=linux\nARG MY_ARCH=amd64\nFROM --platform=linux/${MYARCH} busybox\nCOPY Dockerfile .\n\t').warnings).toEqual([
      "UndefinedArgInFrom: FROM argument 'MYARCH' is not declared (did you mean MY_ARCH?) (line 4)",
    ]);
    expect(lint('\nARG tag=latest\nFROM busybox:${tag}${version} AS b\nCOPY Dockerfile .\n').warnings).toEqual(["UndefinedArgInFrom: FROM argument 'version' is not declared (line 3)"]);
  });

  it('warns of the first WORKDIR that is relative, unless a stage below set an absolute one', () => {
    expect(lint('\nFROM scratch\nWORKDIR app/\n').warnings).toEqual(['WorkdirRelativePath: Relative workdir "app/" can have unexpected results if the base image changes (line 3)']);
    expect(lint('\nFROM scratch AS a\nWORKDIR /app\n\nFROM a AS b\nWORKDIR subdir/\n').warnings).toEqual([]);
    expect(lint('\nFROM scratch\nWORKDIR app\nWORKDIR more\n').warnings).toHaveLength(1);
  });

  it('finds variables used before they are defined, with a suggestion', () => {
    expect(lint('\nFROM scratch\nARG foo\nCOPY Dockerfile${foo} .\n').warnings).toEqual([]);
    expect(lint('\nFROM alpine AS base\nARG foo=Dockerfile\n\nFROM base\nCOPY $foo .\n').warnings).toEqual([]);
    expect(lint('\nFROM alpine\nRUN echo $PATH\n').warnings).toEqual([]);
    expect(lint('\nFROM alpine\nCOPY $foo .\nARG foo=bar\nRUN echo $foo\n').warnings).toEqual(["UndefinedVar: Usage of undefined variable '$foo' (line 3)"]);
    expect(lint('\nFROM alpine\nARG DIR_BINARIES=binaries/\nARG DIR_ASSETS=assets/\nARG DIR_CONFIG=config/\nCOPY $DIR_ASSET .\n\t').warnings).toEqual([
      "UndefinedVar: Usage of undefined variable '$DIR_ASSET' (did you mean $DIR_ASSETS?) (line 6)",
    ]);
    expect(lint('\nFROM alpine\nENV PATH=$PAHT:/tmp/bin\n\t\t').warnings).toEqual(["UndefinedVar: Usage of undefined variable '$PAHT' (did you mean $PATH?) (line 3)"]);
    // Case is an edit to the linter's suggestion: a name that differs from a known one only in case
    // is three edits from PATH, too far for a hint, and one edit from "Pat" is closer than "PAT".
    expect(lint('\nFROM alpine\nENV PATH=$pat:/tmp/bin\n').warnings).toEqual(["UndefinedVar: Usage of undefined variable '$pat' (line 3)"]);
    expect(lint('\nFROM alpine\nARG PAT=1\nARG Pax=2\nENV x=$Pat\n').warnings).toEqual(["UndefinedVar: Usage of undefined variable '$Pat' (did you mean $Pax?) (line 5)"]);
  });

  it('checks the stages a build needs, and every stage with --check', () => {
    const source = '\nFROM scratch AS first\nCOPY $foo .\n\nFROM scratch AS second\nCOPY $bar .\n';
    expect(lint(source).warnings).toEqual(["UndefinedVar: Usage of undefined variable '$bar' (line 6)"]);
    expect(lint(source, { all: true }).warnings).toEqual(["UndefinedVar: Usage of undefined variable '$foo' (line 3)", "UndefinedVar: Usage of undefined variable '$bar' (line 6)"]);
    const legacy = '\nFROM scratch AS a\n\nFROM a AS b\nENV name value\nLABEL name value\n\nFROM a AS c\n';
    expect(lint(legacy).warnings).toEqual([]);
    expect(lint(legacy, { all: true }).warnings).toEqual([
      'LegacyKeyValueFormat: "ENV key=value" should be used instead of legacy "ENV key value" format (line 5)',
      'LegacyKeyValueFormat: "LABEL key=value" should be used instead of legacy "LABEL key value" format (line 6)',
    ]);
    expect(lint(legacy, { target: 'b' }).warnings).toHaveLength(2);
  });

  it('reports a CMD, ENTRYPOINT or HEALTHCHECK given again in one stage, at the one that is lost', () => {
    const once = (name: string, line: number): string => `MultipleInstructionsDisallowed: Multiple ${name} instructions should not be used in the same stage because only the last one will be used (line ${line})`;
    expect(lint('\nFROM scratch\nENTRYPOINT ["/myapp"]\nENTRYPOINT ["/myotherapp"]\nCMD ["/myapp"]\nCMD ["/myotherapp"]\nHEALTHCHECK CMD ["/myapp"]\nHEALTHCHECK CMD ["/myotherapp"]\n').warnings).toEqual([
      once('ENTRYPOINT', 3),
      once('CMD', 5),
      once('HEALTHCHECK', 7),
    ]);
    expect(lint('\nFROM scratch\nENTRYPOINT ["/myapp"]\nCMD ["/myapp"]\nHEALTHCHECK CMD ["/myapp"]\nCOPY <<EOF /a.txt\nHello, World!\nEOF\nENTRYPOINT ["/myotherapp"]\nCMD ["/myotherapp"]\nHEALTHCHECK CMD ["/myotherapp"]\n').warnings).toEqual([
      once('ENTRYPOINT', 3),
      once('CMD', 4),
      once('HEALTHCHECK', 5),
    ]);
    expect(lint('\nFROM scratch AS a\nENTRYPOINT ["/myapp"]\nCMD ["/myapp"]\nHEALTHCHECK CMD ["/myapp"]\n\nFROM a AS b\nENTRYPOINT ["/myotherapp"]\nCMD ["/myotherapp"]\nHEALTHCHECK CMD ["/myotherapp"]\n').warnings).toEqual([]);
  });

  it('wants ENV and LABEL as key=value', () => {
    expect(lint('\nFROM scratch\nENV name value\nLABEL name value\n').warnings).toEqual([
      'LegacyKeyValueFormat: "ENV key=value" should be used instead of legacy "ENV key value" format (line 3)',
      'LegacyKeyValueFormat: "LABEL key=value" should be used instead of legacy "LABEL key value" format (line 4)',
    ]);
    expect(lint('\nFROM scratch\nENV name=value\nLABEL name=value\n').warnings).toEqual([]);
  });

  it('applies the rules later frontends added: secrets, platforms, default ARGs, EXPOSE', () => {
    expect(lint('FROM scratch\nARG AWS_SECRET_ACCESS_KEY\nARG GITHUB_TOKEN=x\nENV db_password=x public_key=y KEYFILE=z\n').warnings).toEqual([
      'SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ARG "AWS_SECRET_ACCESS_KEY") (line 2)',
      'SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ARG "GITHUB_TOKEN") (line 3)',
      'SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ENV "db_password") (line 4)',
    ]);
    expect(lint('FROM --platform=$TARGETPLATFORM scratch AS builder\n').warnings).toEqual([
      'RedundantTargetPlatform: Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior (line 1)',
    ]);
    expect(lint('FROM --platform=linux/amd64 scratch AS base\n').warnings).toEqual(['FromPlatformFlagConstDisallowed: FROM --platform flag should not use constant value "linux/amd64" (line 1)']);
    expect(lint('FROM --platform=linux/amd64 scratch AS build_amd64\nFROM --platform=${BUILDPLATFORM} scratch AS base\n').warnings).toEqual([]);
    expect(lint('ARG TAG\nFROM busybox:${TAG}\n').warnings).toEqual(['InvalidDefaultArgInFrom: Default value for ARG busybox:${TAG} results in empty or invalid base image name (line 2)']);
    expect(lint('ARG TAG=latest\nFROM busybox:${TAG}\n').warnings).toEqual([]);
    expect(lint('ARG VARIANT\nFROM busybox:stable${VARIANT}\n').warnings).toEqual([]);
    expect(lint('ARG TAG\nFROM alpine:${TAG:-3.14}\n').warnings).toEqual([]);
    expect(lint('FROM scratch\nEXPOSE 80/TCP 127.0.0.1:80:80 8080:80 443/udp\n').warnings).toEqual([
      "ExposeInvalidFormat: EXPOSE instruction should not define an IP address or host-port mapping, found '127.0.0.1:80:80' (line 2)",
      "ExposeProtoCasing: Defined protocol '80/TCP' in EXPOSE instruction should be lowercase (line 2)",
      "ExposeInvalidFormat: EXPOSE instruction should not define an IP address or host-port mapping, found '8080:80' (line 2)",
    ]);
  });

  it('warns of a base image made for another platform, and takes the Shell its config sets', () => {
    const source = 'FROM example/tool:1\nCMD run\n';
    expect(lint(source, { base: { shell: false, platform: { os: 'linux', architecture: 'riscv64' } } }).warnings).toEqual([
      `InvalidBaseImagePlatform: Base image example/tool:1 was pulled with platform "linux/riscv64", expected "${formatPlatform(hostPlatform())}" for current build (line 1)`,
      'JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 2)',
    ]);
    expect(lint(source, { base: { shell: true, platform: hostPlatform() } }).warnings).toEqual([]);
    // A stage built on that stage inherits the Shell.
    expect(lint('FROM example/tool:1 AS base\nFROM base\nCMD run\n', { base: { shell: true, platform: hostPlatform() } }).warnings).toEqual([]);
  });

  it('checks description comments only when the experimental rule is asked for', () => {
    const source = '# the base stage\nFROM scratch AS base\n# version the tool is at\nARG VERSION=1\n# VERSION of the tool\nARG VERSION\n# two of them\nARG A B\n';
    expect(lint(source).warnings).toEqual([]);
    expect(lint(`# check=experimental=InvalidDefinitionDescription\n\n${source}`).warnings).toEqual([
      'InvalidDefinitionDescription: Comment for FROM should follow the format: `# base <description>` (line 4)',
      'InvalidDefinitionDescription: Comment for ARG should follow the format: `# VERSION <description>` (line 6)',
      'InvalidDefinitionDescription: Comment for ARG should follow the format: `# <arg_key> <description>` (line 10)',
    ]);
    expect(lint(`# check=experimental=all\n\n# base stage\nFROM scratch AS base\n`).warnings).toEqual([]);
  });

  it('lints every lint Dockerfile of the conformance corpus without failing where BuildKit accepts it', () => {
    const root = join(corpus, 'buildkit', 'integration');
    const cases = readdirSync(root).filter((name) => name.startsWith('dockerfile_lint__'));
    expect(cases.length).toBeGreaterThan(40);
    for (const name of cases) {
      const source = readFileSync(join(root, name, 'Dockerfile'), 'utf8');
      const found = lint(source, { all: true });
      // Each case file is one of the sources above; a rule's failure would show as an exception.
      expect(found.error === undefined || !/lint|check/.test(found.error), `${name}: ${found.error ?? ''}`).toBe(true);
    }
  });
});
