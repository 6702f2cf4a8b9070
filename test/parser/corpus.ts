/** The conformance corpus (see its README): every case folder with its expected outcomes. */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const corpusRoot = resolve(import.meta.dirname, '../../../shared/conformance');

export type Status = 'ok' | 'error:parser' | 'error:instructions';

export interface Expectation {
  readonly status: Status;
  readonly result: string | undefined;
  readonly instructions: unknown;
  readonly error: string | undefined;
  /** `[start, end]` lines of the reference's error. */
  readonly errorLines: readonly [number, number] | undefined;
}

export interface CorpusCase {
  readonly name: string;
  readonly dockerfile: Buffer;
  readonly stable: Expectation;
  readonly labs: Expectation;
}

const tables = ['buildkit/testfiles', 'buildkit/testfiles-negative', 'buildkit/integration', 'realworld'];

function read(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

function expectation(dir: string, status: Status, errorLines: string): Expectation {
  const instructions = read(join(dir, 'instructions.json'));
  const lines = /^(\d+)-(\d+)$/.exec(errorLines);
  return {
    status,
    result: read(join(dir, 'result')),
    instructions: instructions === undefined ? undefined : (JSON.parse(instructions) as unknown),
    error: read(join(dir, 'error')),
    errorLines: lines === null ? undefined : [Number(lines[1]), Number(lines[2])],
  };
}

export function corpusCases(): CorpusCase[] {
  const cases: CorpusCase[] = [];
  for (const table of tables) {
    const tsv = readFileSync(join(corpusRoot, table, 'cases.tsv'), 'utf8').split('\n').filter((l) => l !== '');
    for (const row of tsv.slice(1)) {
      const [name = '', status = '', errorLines = '', labsStatus = ''] = row.split('\t');
      const dir = join(corpusRoot, table, name);
      const stable = expectation(dir, status as Status, errorLines);
      let labs: Expectation = { ...stable, instructions: undefined };
      if (existsSync(join(dir, 'labs'))) {
        const labsDir = join(dir, 'labs');
        const own = expectation(labsDir, (labsStatus === '' ? status : labsStatus) as Status, labsStatus === '' || labsStatus === status ? errorLines : '');
        labs = {
          status: own.status,
          result: own.result ?? stable.result,
          // Without its own instructions.json, the labs outcome is the same but fields such as
          // RUN's security differ from the stable file: only the outcome and tree are compared.
          instructions: own.instructions,
          error: own.error,
          errorLines: own.errorLines,
        };
      } else if (labsStatus !== '') {
        labs = { ...stable, status: labsStatus as Status, instructions: undefined, errorLines: undefined };
      }
      cases.push({ name: `${table}/${name}`, dockerfile: readFileSync(join(dir, 'Dockerfile')), stable, labs });
    }
  }
  return cases;
}
