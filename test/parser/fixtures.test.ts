/**
 * What the corpus does not pin down: columns, several errors in one pass, warnings as data,
 * heredoc edge cases, line endings and the escape directive.
 */
import { describe, expect, it } from 'vitest';
import { dumpSyntaxTree, frontendOfSyntax, parseDockerfile, renderDiagnostic, type Command } from '../../src/parser/index.js';

function commands(text: string): readonly Command[] {
  const parsed = parseDockerfile(text);
  expect(parsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return parsed.dockerfile.stages.flatMap((s) => s.instructions);
}

describe('source ranges', () => {
  it('locates keywords, flags and arguments by line and column, across continuations', () => {
    const parsed = parseDockerfile('FROM busybox\n  RUN --mount=type=cache,target=/c \\\n      --network=none \\\n    make all\n');
    const run = parsed.tree.instructions[1];
    expect(run?.keyword.range).toEqual({ start: { line: 2, column: 3 }, end: { line: 2, column: 5 } });
    expect(run?.flags.map((f) => [f.name, f.range.start, f.range.end])).toEqual([
      ['mount', { line: 2, column: 7 }, { line: 2, column: 34 }],
      ['network', { line: 3, column: 7 }, { line: 3, column: 20 }],
    ]);
    expect(run?.args[0]?.range.start).toEqual({ line: 4, column: 5 });
    expect(run?.range).toEqual({ start: { line: 2, column: 3 }, end: { line: 4, column: 12 } });
  });

  it('locates JSON array elements and key=value words', () => {
    const parsed = parseDockerfile('FROM x\nCMD ["a", "b c"]\nENV k1=v1 k2="v 2"\n');
    const cmd = parsed.tree.instructions[1];
    expect(cmd?.args.map((a) => [a.value, a.range.start.column, a.range.end.column])).toEqual([
      ['a', 6, 8],
      ['b c', 11, 15],
    ]);
    const env = parsed.tree.instructions[2];
    expect(env?.args.map((a) => [a.value, a.range.start.column])).toEqual([
      ['k1', 5],
      ['v1', 8],
      ['=', 7],
      ['k2', 11],
      ['"v 2"', 14],
      ['=', 13],
    ]);
  });

  it('counts columns after a byte-order mark and ignores CRLF endings', () => {
    const parsed = parseDockerfile('\uFEFFFROM x\r\nCOPPY a b\r\n');
    expect(parsed.diagnostics).toHaveLength(1);
    expect(parsed.diagnostics[0]?.range).toEqual({ start: { line: 2, column: 1 }, end: { line: 2, column: 5 } });
    expect(dumpSyntaxTree(parsed.tree)).toBe('(from "x")\n(coppy "")\n');
  });
});

describe('diagnostics', () => {
  const text = ['FROM busybox', 'COPPY a b', 'RUN --mont=type=cache,target=/x make', 'ENV onlykey', 'EXPOSE', 'FROM x AS 1bad', 'HEALTHCHECK --interval=1ns CMD true', ''].join('\n');

  it('reports every error of a file in one pass, each with a code and a range', () => {
    const parsed = parseDockerfile(text);
    expect(parsed.ok).toBe(false);
    const found = parsed.diagnostics.map((d) => [d.code, d.range.start.line, d.range.start.column]);
    expect(found).toEqual(
      expect.arrayContaining([
        ['missing-value', 4, 5],
        ['unknown-instruction', 2, 1],
        ['unknown-flag', 3, 5],
        ['argument-count', 5, 1],
        ['invalid-stage-name', 6, 11],
        ['invalid-healthcheck', 7, 13],
      ]),
    );
    expect(found).toHaveLength(6);
  });

  it('suggests the closest instruction and flag', () => {
    const parsed = parseDockerfile(text);
    const messages = parsed.diagnostics.map((d) => d.message);
    expect(messages).toContain('unknown instruction: COPPY (did you mean COPY?)');
    expect(messages).toContain('unknown flag: mont (did you mean mount?)');
  });

  it('renders like a compiler: file, line, column, the line and a caret under the range', () => {
    const parsed = parseDockerfile(text);
    const unknown = parsed.diagnostics.find((d) => d.code === 'unknown-instruction');
    expect(unknown).toBeDefined();
    if (unknown === undefined) return;
    expect(renderDiagnostic(unknown, 'Dockerfile', text)).toBe(
      ['Dockerfile:2:1: unknown instruction: COPPY (did you mean COPY?)', ' 2 | COPPY a b', '   | ^^^^^'].join('\n'),
    );
  });

  it('returns warnings as data and does not fail on them', () => {
    const parsed = parseDockerfile('FROM x\nRUN echo a \\\n\n  b\n');
    expect(parsed.ok).toBe(true);
    expect(parsed.diagnostics).toEqual([expect.objectContaining({ code: 'empty-continuation', severity: 'warning', lines: { start: 4, end: 4 } })]);
  });

  it('rejects ONBUILD triggers the reference forbids, and an instruction before FROM', () => {
    for (const trigger of ['ONBUILD RUN x', 'FROM y', 'MAINTAINER me']) {
      const parsed = parseDockerfile(`FROM x\nONBUILD ${trigger}\n`);
      expect(parsed.diagnostics.map((d) => d.code)).toEqual(['invalid-onbuild']);
    }
    expect(parseDockerfile('RUN x\nFROM y\n').diagnostics.map((d) => d.code)).toEqual(['no-stage']);
  });

  it('never throws on an empty file or a file of comments', () => {
    expect(parseDockerfile('').diagnostics.map((d) => [d.code, d.lines.start])).toEqual([['no-instructions', 0]]);
    expect(parseDockerfile('# a\n# b\n').diagnostics.map((d) => [d.code, d.lines.start])).toEqual([['no-instructions', 2]]);
  });
});

describe('heredocs', () => {
  it('reads several heredocs on one instruction, in order', () => {
    const [run] = commands('FROM x\nRUN <<A cat - /dev/fd/3 3<<B\nfirst\nA\nsecond\nB\n').slice(0, 1);
    expect(run).toMatchObject({ kind: 'RUN', files: [{ name: 'A', data: 'first\n', chomp: false }, { name: 'B', data: 'second\n' }] });
    expect(run?.range).toEqual({ start: { line: 2, column: 1 }, end: { line: 6, column: 1 } });
  });

  it('strips leading tabs of <<- bodies for COPY sources and its terminator, keeps quoted bodies literal', () => {
    const [copy] = commands('FROM x\nCOPY <<-"EOT" <<PLAIN /dst/\n\tline $A\n\tEOT\nplain $B\nPLAIN\n');
    expect(copy).toMatchObject({
      kind: 'COPY',
      sources: [],
      contents: [
        { path: 'EOT', data: 'line $A\n', expand: false },
        { path: 'PLAIN', data: 'plain $B\n', expand: true },
      ],
      dest: '/dst/',
    });
  });

  it('keeps CRLF inside bodies and matches a terminator followed by CR', () => {
    const [run] = commands('FROM x\r\nRUN <<EOF\r\necho hi\r\nEOF\r\n');
    expect(run).toMatchObject({ kind: 'RUN', files: [{ name: 'EOF', data: 'echo hi\r\n' }] });
  });

  it('treats a heredoc in exec form as a plain word, and reports a heredoc without terminator', () => {
    const [run] = commands('FROM x\nRUN ["<<EOF"]\n');
    expect(run).toMatchObject({ kind: 'RUN', shellForm: false, cmdLine: ['<<EOF'], files: [] });
    const parsed = parseDockerfile('FROM x\nRUN <<EOF\necho\n');
    expect(parsed.diagnostics.map((d) => [d.code, d.lines.start, d.lines.end])).toEqual([['unterminated-heredoc', 2, 3]]);
  });

  it('rejects a heredoc as COPY destination', () => {
    expect(parseDockerfile('FROM x\nCOPY a <<EOF\nbody\nEOF\n').diagnostics.map((d) => d.code)).toEqual(['invalid-heredoc-use']);
  });
});

describe('directives and escapes', () => {
  it('uses the backtick as escape and continuation character when the directive says so', () => {
    const parsed = parseDockerfile('# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo done\n');
    expect(parsed.tree.escapeToken).toBe('`');
    expect(dumpSyntaxTree(parsed.tree)).toBe('(from "x")\n(run "dir c:\\\\   && echo done")\n');
  });

  it('reads directives only at the very top, and rejects one given twice', () => {
    expect(parseDockerfile('FROM x\n# escape=`\nRUN a \\\n b\n').tree.escapeToken).toBe('\\');
    expect(parseDockerfile('# escape=`\n# escape=\\\nFROM x\n').diagnostics.map((d) => d.code)).toEqual(['duplicate-directive']);
    expect(parseDockerfile('# escape=x\nFROM x\n').diagnostics.map((d) => d.code)).toEqual(['invalid-escape']);
  });

  it('selects the labs channel from the syntax directive', () => {
    const labs = parseDockerfile('# syntax=docker/dockerfile:1-labs\nFROM x\nCOPY --parents a/b /c\nRUN --security=insecure true\n');
    expect(labs.channel).toBe('labs');
    expect(labs.ok).toBe(true);
    // As the reference's parse, which knows no versions: docker/dockerfile:1 reads the stable
    // channel here (a build reads it as the frontends of 1.19 and later do, below).
    const stable = parseDockerfile('# syntax=docker/dockerfile:1\nFROM x\nCOPY --parents a/b /c\n');
    expect(stable.channel).toBe('stable');
    expect(stable.diagnostics.map((d) => d.code)).toEqual(['unknown-flag']);
    expect(parseDockerfile('FROM x\nCOPY --exclude=*.md a /c\n').diagnostics.map((d) => d.code)).toEqual(['unknown-flag']);
  });

  it("gives a build labs' flags where the syntax directive names a frontend in which they are stable (1.19: --exclude; 1.20: --parents, --security; or a floating tag)", () => {
    const text = 'FROM x\nCOPY --parents --exclude=*.md a/./b /c\nADD --exclude=*.md d /e\nRUN --security=insecure true\n';
    /** The flags each instruction refused, read as SYNTAX names. */
    const refused = (syntax: string): string[] => parseDockerfile(`# syntax=${syntax}\n${text}`, { asFrontend: {} }).diagnostics.filter((d) => d.severity === 'error').map((d) => /unknown flag: (\w+)/.exec(d.message)?.[1] ?? d.message);
    const promoted = ['docker/dockerfile:1', 'docker/dockerfile', 'docker/dockerfile:latest', 'docker.io/docker/dockerfile:1.20', 'docker/dockerfile:1.26.0', 'docker/dockerfile:1.20.0-rc1', 'docker/dockerfile:1@sha256:' + 'a'.repeat(64), 'docker/dockerfile-upstream:master', 'docker/dockerfile:1.20 # a comment', 'docker/dockerfile:1.7-labs'];
    for (const syntax of promoted) expect({ syntax, refused: refused(syntax) }).toEqual({ syntax, refused: [] });
    // 1.19 made --exclude stable alone.
    expect(refused('docker/dockerfile:1.19')).toEqual(['parents', 'security']);
    // Older frontends, others', and a digest that dates nothing: the reference's stable channel.
    const older = ['docker/dockerfile:1.18', 'docker/dockerfile:1.4.3', 'docker/dockerfile:0.1', 'docker/dockerfile@sha256:' + 'a'.repeat(64), 'example.com/docker/dockerfile:1', 'docker/dockerfile-other:1', 'myorg/frontend:1.20', 'docker/dockerfile:experimental', ''];
    for (const syntax of older) expect({ syntax, refused: refused(syntax) }).toEqual({ syntax, refused: ['parents', 'exclude', 'security'] });
  });

  it('reads a file as a build does, as the frontend the directive or BUILDKIT_SYNTAX names', () => {
    const text = '# syntax=docker/dockerfile:1\nFROM x\nCOPY --parents a/./b /c\nCMD ["a"] b\n';
    const read = parseDockerfile(text, { asFrontend: {} });
    expect([read.channel, read.frontendMinor, read.ok, read.tree.instructions[2]?.json]).toEqual(['stable', Infinity, true, false]);
    const pinned = parseDockerfile(text, { asFrontend: { syntax: 'docker/dockerfile:1.8' } });
    expect([pinned.channel, pinned.frontendMinor, pinned.ok, pinned.tree.instructions[2]?.json]).toEqual(['stable', 8, false, true]);
    // Without asFrontend, the reference parse's reading.
    const reference = parseDockerfile(text);
    expect([reference.channel, reference.frontendMinor, reference.ok]).toEqual(['stable', 8, false]);
  });

  it('reads a JSON form followed by other text as the shell form for a frontend of 1.9 or later, and as the first JSON value for the reference', () => {
    expect(['docker/dockerfile:1', 'docker/dockerfile:1.9', 'docker/dockerfile:1-labs', 'docker/dockerfile:labs'].map((syntax) => frontendOfSyntax(syntax).minor >= 9)).toEqual([true, true, true, true]);
    expect(['docker/dockerfile:1.8', 'docker/dockerfile:1.7-labs', 'myorg/frontend:1.20', 'docker/dockerfile@sha256:' + 'b'.repeat(64)].map((syntax) => frontendOfSyntax(syntax).minor)).toEqual([8, 7, 8, 8]);
    const text = 'FROM x\nCMD ["run", "it"] # start it\nENTRYPOINT ["a"] \t \nONBUILD RUN ["b"] c\nHEALTHCHECK CMD ["d"] e\n';
    /** Each instruction's keyword, whether it is in JSON form, its words (an ONBUILD's trigger's). */
    const forms = (minor: number | undefined): Array<[string, boolean, string[]]> =>
      parseDockerfile(text, minor === undefined ? {} : { frontendMinor: minor })
        .tree.instructions.slice(1)
        .map((node) => node.trigger ?? node)
        .map((node) => [node.keyword.value, node.json, node.args.map((word) => word.value)]);
    expect(forms(undefined)).toEqual([
      ['CMD', true, ['run', 'it']],
      ['ENTRYPOINT', true, ['a']],
      ['RUN', true, ['b']],
      ['HEALTHCHECK', true, ['CMD', 'd']],
    ]);
    expect(forms(9)).toEqual([
      ['CMD', false, ['["run", "it"] # start it']],
      ['ENTRYPOINT', true, ['a']],
      ['RUN', false, ['["b"] c']],
      ['HEALTHCHECK', false, ['CMD', '["d"] e']],
    ]);
  });

  it('takes instruction names in any case and every instruction of the reference', () => {
    const all = commands(
      [
        'from x as Build', 'run true', 'cmd ["a"]', 'label a=b "c d"=e', 'maintainer me', 'expose 80/tcp 8000-8010/udp', 'env A 1 B 2',
        'add --checksum=sha256:00 --keep-git-dir --unpack=true a /b', 'copy --from=build --chown=1:1 --chmod=755 --link ["a", "/b"]',
        'entrypoint x', 'volume ["/v"]', 'user 1000', 'workdir /w', 'arg A B=2', 'onbuild RUN x', 'stopsignal SIGTERM',
        'healthcheck --interval=30s --timeout=1m --start-period=1s --start-interval=2s --retries=3 CMD curl -f x', 'shell ["/bin/sh", "-c"]', '',
      ].join('\n'),
    );
    expect(all.map((c) => c.kind)).toEqual(['RUN', 'CMD', 'LABEL', 'MAINTAINER', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL']);
    expect(all.find((c) => c.kind === 'ENV')).toMatchObject({ pairs: [{ key: 'A', value: '1 B 2', noDelim: true }] });
    expect(all.find((c) => c.kind === 'ADD')).toMatchObject({ checksum: 'sha256:00', keepGitDir: true, unpack: true, sources: ['a'], dest: '/b' });
    expect(all.find((c) => c.kind === 'HEALTHCHECK')).toMatchObject({ test: ['CMD-SHELL', 'curl -f x'], interval: 30e9, timeout: 60e9, startPeriod: 1e9, startInterval: 2e9, retries: 3 });
  });
});

describe('exec form', () => {
  it('reads JSON arrays as the reference decoder does', () => {
    const cases: [string, boolean, readonly string[]][] = [
      ['CMD ["a", "b\\u00e9\\n\\"q\\""]', false, ['a', 'bé\n"q"']],
      ['CMD [ ]', false, []],
      ['CMD ["a"] trailing text', false, ['a']],
      ['CMD [ -f /x ] && echo', true, ['[ -f /x ] && echo']],
      ["CMD ['single']", true, ["['single']"]],
      ['CMD ["a", ]', true, ['["a", ]']],
      ['CMD ["unterminated', true, ['["unterminated']],
    ];
    for (const [line, shellForm, cmdLine] of cases) {
      const [cmd] = commands(`FROM x\n${line}\n`);
      expect(cmd, line).toMatchObject({ kind: 'CMD', shellForm, cmdLine });
    }
    for (const line of ['CMD ["a", 1]', 'CMD [null]', 'CMD [{"a": "b"}]']) {
      expect(parseDockerfile(`FROM x\n${line}\n`).diagnostics.map((d) => d.code), line).toEqual(['json-not-strings']);
    }
  });
});

describe('hostile nesting', () => {
  it('reads JSON nested deeper than the reference decoder allows as shell form, and never throws', () => {
    const deep = parseDockerfile(`FROM x\nCMD ${'['.repeat(10001)}${']'.repeat(10001)}\n`);
    expect(deep.ok).toBe(true);
    expect(deep.dockerfile.stages[0]?.instructions[0]).toMatchObject({ kind: 'CMD', shellForm: true });
    const shallow = parseDockerfile(`FROM x\nCMD ${'['.repeat(100)}${']'.repeat(100)}\n`);
    expect(shallow.diagnostics.map((d) => d.code)).toEqual(['json-not-strings']);
  });
});
