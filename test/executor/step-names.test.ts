/**
 * Step names against the ones docker 26's BuildKit (0.13) printed for the same Dockerfiles in
 * its plain progress (`docker build --progress plain`), recorded here.
 */
import { describe, expect, it } from 'vitest';
import { resolveDockerfile } from '../../src/planner/index.js';
import { originalText, sourceLines, stepText } from '../../src/executor/step-names.js';

function names(source: string): string[] {
  const { resolved } = resolveDockerfile({ source, file: 'Dockerfile' });
  return resolved.stages.flatMap((stage) => stage.instructions.filter((instruction) => ['RUN', 'COPY', 'ADD', 'WORKDIR'].includes(instruction.kind)).map((instruction) => stepText(instruction, sourceLines(source), resolved.escapeToken)));
}

describe('step names', () => {
  it('expand RUN as BuildKit shows it: quotes and unset references kept, escapes processed; COPY and WORKDIR as their arguments', () => {
    const source = [
      'FROM busybox',
      'ENV FOO=bar',
      'ARG A=1',
      `RUN echo "hi there" $FOO \${A} '$FOO' \\$FOO && echo x`,
      'RUN ["echo", "$FOO", "b"]',
      'WORKDIR /w$FOO',
      'COPY --chown=1:1 Dockerfile /d$FOO',
      'COPY ["Dockerfile", "/q y$FOO"]',
      'RUN echo "a  b" \\',
      '    && echo $UNSET_X "${FOO:-z}"',
      '',
    ].join('\n');
    expect(names(source)).toEqual([
      `RUN echo "hi there" bar 1 '$FOO' $FOO && echo x`,
      'RUN ["echo", "bar", "b"]',
      'WORKDIR /wbar',
      'COPY --chown=1:1 Dockerfile /dbar',
      'COPY [Dockerfile, /q ybar]',
      'RUN echo "a  b"     && echo $UNSET_X "bar"',
    ]);
  });

  it('summarize a RUN that is one heredoc by its first line, and leave other heredocs to their first line', () => {
    const source = ['FROM busybox', 'ENV FOO=bar', 'RUN <<EOT', 'echo one $FOO', 'echo two', 'EOT', 'RUN <<EOT cat', 'hello $FOO', 'EOT', 'COPY <<EOT /x$FOO', 'content', 'EOT', ''].join('\n');
    expect(names(source)).toEqual(['RUN <<EOT (echo one bar...)', 'RUN <<EOT cat', 'COPY <<EOT /xbar']);
  });

  it('keep a continuation line as written, comments and blank lines in it left out, with the escape directive', () => {
    const source = ['# escape=`', 'FROM busybox', 'run echo a `', '# a comment', '', '   b  `  ', 'c', ''].join('\n');
    const { resolved } = resolveDockerfile({ source, file: 'Dockerfile' });
    const [run] = resolved.stages[0]?.instructions ?? [];
    expect(run === undefined ? '' : originalText(sourceLines(source), run.range, '`')).toBe('run echo a    b  c');
    expect(names(source)).toEqual(['RUN echo a    b  c']);
  });
});
