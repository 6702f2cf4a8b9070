/**
 * How every `inspect` prints (`inspect`, `container|image|volume|network inspect`), as docker's:
 * the objects found, as a JSON array indented by four spaces, compact with `-f json`, or each
 * through a Go template, then one error line for each name that named nothing or whose object
 * the template failed on, and status 1 if any did. `[]` is printed even when nothing was found,
 * so that a script parsing the output always has JSON; a template that printed nothing at all
 * still ends its output with a newline, as docker's inspector flushes one.
 */
import { isTsbuildError } from '../../common/index.js';
import { inspectOne, parseGoTemplateOrExit, TemplateExecuteError, type InspectDocument } from '../go-template.js';
import { ExitError, daemonError, type CliIo } from '../io.js';

/** LOOKUP gives a name's object, or rejects with a NOT_FOUND error in docker's words (`No such container: x`). */
export async function printInspected(io: CliIo, names: readonly string[], format: string | undefined, lookup: (name: string) => Promise<InspectDocument>): Promise<void> {
  // A template that cannot be read fails before anything is looked up, as docker's.
  const template = format === undefined || format === 'json' ? undefined : parseGoTemplateOrExit(io, format);
  const found: unknown[] = [];
  const rendered: string[] = [];
  const failures: string[] = [];
  for (const name of names) {
    let document: InspectDocument;
    try {
      document = await lookup(name);
    } catch (error) {
      if (!isTsbuildError(error, 'NOT_FOUND')) throw error;
      // `No such object` is docker's CLI's own, after it asked for each type; the others its daemon's.
      failures.push(error.message.startsWith('No such object: ') ? `Error: ${error.message}\n` : daemonError(error.message));
      continue;
    }
    if (template === undefined) {
      found.push(document.document);
      continue;
    }
    try {
      rendered.push(`${inspectOne(template, document)}\n`);
    } catch (error) {
      if (!(error instanceof TemplateExecuteError)) throw error;
      failures.push(`${error.message}\n`);
    }
  }
  if (template !== undefined) io.stdout.write(rendered.length === 0 ? '\n' : rendered.join(''));
  else io.stdout.write(format === 'json' ? `${JSON.stringify(found)}\n` : `${JSON.stringify(found, null, 4)}\n`);
  if (failures.length === 0) return;
  io.stderr.write(failures.join(''));
  throw new ExitError(1);
}
