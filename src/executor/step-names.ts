/**
 * The names a build's steps go by in its progress and errors, as BuildKit's Dockerfile frontend
 * gives them (dockerfile2llb's prefixCommand, uppercaseCmd and processCmdEnv): the instruction as
 * the parser's node keeps it, its variables expanded in the environment the step sees. RUN keeps
 * its quotes and the references to unset variables (the command is the shell's to read), and a
 * RUN that is one heredoc shows the document's first line; COPY, ADD and WORKDIR are processed as
 * their arguments are (quotes removed, unset variables empty). A text that does not expand is
 * shown as written.
 */
import { processWord, type EscapeToken, type ShellOptions, type SourceRange } from '../common/index.js';
import type { ResolvedInstruction } from '../planner/index.js';
import { loneHeredoc } from './run-op.js';

/**
 * The instruction's text as BuildKit's parser keeps it (a node's Original, trimmed): the first
 * line without its leading blanks, each continuation line as written (its indentation kept),
 * every escape at a line's end removed with the blanks after it, comment and blank continuation
 * lines left out; the heredocs' contents are not part of it.
 */
/** The Dockerfile's lines, split once for all of its steps' names. */
export function sourceLines(source: string): readonly string[] {
  return source.split(/\r?\n/);
}

export function originalText(source: readonly string[], range: SourceRange, escapeToken: EscapeToken): string {
  const lines = source.slice(range.start.line - 1, range.end.line);
  const continuation = new RegExp(`\\${escapeToken}[ \\t]*$`);
  let text = '';
  let first = true;
  for (const line of lines) {
    if (!first && (/^\s*#/.test(line) || line.trim() === '')) continue;
    const written = first ? line.trimStart() : line;
    first = false;
    if (!continuation.test(written)) {
      text += written;
      break;
    }
    text += written.replace(continuation, '');
  }
  return text.trim();
}

/** The first word in capitals, as uppercaseCmd. */
function uppercaseCommand(text: string): string {
  const space = text.indexOf(' ');
  return space < 0 ? text.toUpperCase() : `${text.slice(0, space).toUpperCase()}${text.slice(space)}`;
}

/** A heredoc's first line, and `...` when it has more (summarizeHeredoc). */
function summarizeHeredoc(data: string): string {
  const lines = data.trim().replace(/\r\n/g, '\n').split('\n');
  return `${lines[0] ?? ''}${lines.length > 1 ? '...' : ''}`;
}

/** The name of INSTRUCTION's step, before its `[stage n/m]` prefix. */
export function stepText(instruction: ResolvedInstruction, source: readonly string[], escapeToken: EscapeToken): string {
  let text = originalText(source, instruction.range, escapeToken);
  let options: ShellOptions = { escapeToken };
  if (instruction.kind === 'RUN') {
    const [first] = instruction.files;
    if (first !== undefined && instruction.shellForm && instruction.cmdLine.length === 1 && loneHeredoc.test((instruction.cmdLine[0] ?? '').trim())) {
      text += ` (${summarizeHeredoc(first.data)})`;
    }
    options = { escapeToken, rawQuotes: true, skipUnsetEnv: true };
  }
  try {
    text = processWord(text, new Map(instruction.env.pairs()), options);
  } catch {
    // As processCmdEnv: a text that does not expand is shown as written.
  }
  return uppercaseCommand(text);
}
