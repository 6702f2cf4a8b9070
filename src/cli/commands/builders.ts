/**
 * The builder names `buildx create` made, kept in the store's `builders.json` (every builder is
 * tsbuild itself, on this machine), and buildx's rule for a builder a command names: one of
 * those or `default`, else `ERROR: no builder "NAME" found` and status 1.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../store/index.js';
import { ExitError, type CliIo } from '../io.js';
import { storeFromOptions, type RootOption } from '../store-options.js';

export interface Builder {
  readonly name: string;
  readonly driver: string;
}

export interface Builders {
  readonly current: string;
  readonly builders: readonly Builder[];
}

export const defaultBuilder: Builder = { name: 'default', driver: 'docker' };

async function buildersFile(options: RootOption): Promise<string> {
  return join((await storeFromOptions(options)).root, 'builders.json');
}

export async function readBuilders(options: RootOption): Promise<Builders> {
  const path = await buildersFile(options);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { current: 'default', builders: [] };
    throw error;
  }
  const value = JSON.parse(text) as Partial<Builders>;
  const builders = Array.isArray(value.builders) ? value.builders.filter((entry): entry is Builder => typeof entry?.name === 'string' && typeof entry.driver === 'string') : [];
  const current = typeof value.current === 'string' && builders.some((entry) => entry.name === value.current) ? value.current : 'default';
  return { current, builders };
}

export async function writeBuilders(options: RootOption, builders: Builders): Promise<void> {
  await writeFileAtomic(await buildersFile(options), `${JSON.stringify(builders)}\n`);
}

export function findBuilder(state: Builders, name: string): Builder | undefined {
  return name === 'default' ? defaultBuilder : state.builders.find((entry) => entry.name === name);
}

/** buildx's refusals: `ERROR: ` and the message, status 1. */
export function refuse(io: CliIo, message: string): never {
  io.stderr.write(`ERROR: ${message}\n`);
  throw new ExitError(1);
}

/**
 * Refuses, as buildx does before anything else, a builder that a build or imagetools command
 * names (`--builder`, else BUILDX_BUILDER) when it is neither `default` nor one `buildx create`
 * made. Without either, the current builder is used, which always exists.
 */
export async function checkNamedBuilder(io: CliIo, flag: string | undefined, options: RootOption, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const name = flag ?? (env.BUILDX_BUILDER === '' ? undefined : env.BUILDX_BUILDER);
  if (name === undefined) return;
  if (findBuilder(await readBuilders(options), name) === undefined) refuse(io, `no builder ${JSON.stringify(name)} found`);
}
