/**
 * How every `inspect` prints (`inspect`, `container|image|volume|network inspect`), as docker's:
 * the objects found, as a JSON array indented by four spaces or through a Go template, then one
 * error line for each name that named nothing, and status 1 if any did. `[]` is printed even when
 * nothing was found, so that a script parsing the output always has JSON.
 */
import { isTsbuildError } from '../../common/index.js';
import { inspectWithTemplate, parseGoTemplateOrExit } from '../go-template.js';
import { ExitError, daemonError, type CliIo } from '../io.js';

/** LOOKUP gives a name's object, or rejects with a NOT_FOUND error in docker's words (`No such container: x`). */
export async function printInspected(io: CliIo, names: readonly string[], format: string | undefined, lookup: (name: string) => Promise<unknown>): Promise<void> {
  // A template that cannot be read fails before anything is looked up, as docker's.
  if (format !== undefined) parseGoTemplateOrExit(io, format);
  const found: unknown[] = [];
  const missing: string[] = [];
  for (const name of names) {
    try {
      found.push(await lookup(name));
    } catch (error) {
      if (!isTsbuildError(error, 'NOT_FOUND')) throw error;
      missing.push(error.message);
    }
  }
  io.stdout.write(format === undefined ? `${JSON.stringify(found, null, 4)}\n` : inspectWithTemplate(format, found));
  if (missing.length === 0) return;
  // `No such object` is docker's CLI's own, after it asked for each type; the others its daemon's.
  io.stderr.write(missing.map((message) => (message.startsWith('No such object: ') ? `Error: ${message}\n` : daemonError(message))).join(''));
  throw new ExitError(1);
}
