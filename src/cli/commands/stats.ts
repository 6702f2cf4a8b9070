/**
 * `tsbuild stats` (`container stats`), docker's: a live table of the running containers' CPU,
 * memory, network and block I/O and tasks, redrawn every half second until interrupted, or one
 * table with `--no-stream`. The figures are read from the containers' processes
 * (src/runtime/stats.ts); CPU % needs two samples, so each table follows the one before it, and
 * the first comes half a second after the command starts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { TsbuildError } from '../../common/index.js';
import { cpuPercent, findContainer, listContainerRecords, observeState, sampleContainer, type ContainerRecord, type ContainerSample } from '../../runtime/index.js';
import type { Store } from '../../store/index.js';
import { formatBinaryBytes, formatBytes } from '../format.js';
import { formatListTemplate, sortedKeys } from '../go-template.js';
import { ExitError, type CliIo } from '../io.js';
import { listFormat } from '../docker-config.js';
import { addRootOption, storeFromOptions, type RootOption } from '../store-options.js';

interface StatsFlags extends RootOption {
  readonly all?: boolean;
  readonly stream: boolean;
  readonly trunc: boolean;
  readonly format?: string;
}

const interval = 500;

const statsHeaders: Readonly<Record<string, string>> = {
  ID: 'CONTAINER ID',
  Container: 'CONTAINER',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  NetIO: 'NET I/O',
  BlockIO: 'BLOCK I/O',
  PIDs: 'PIDS',
};

const defaultFormat = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';

/** One container's row, in docker's words; a container that does not run shows zeros, as docker's. */
function statsFields(record: ContainerRecord, given: string, previous: ContainerSample | undefined, current: ContainerSample | undefined, truncate: boolean): Record<string, string> {
  const sample = current ?? { memory: 0, memoryLimit: 0, netRx: 0, netTx: 0, blockRead: 0, blockWrite: 0, pids: 0 };
  const percent = current === undefined ? 0 : cpuPercent(previous, current);
  const memoryPercent = sample.memoryLimit > 0 ? (sample.memory / sample.memoryLimit) * 100 : 0;
  return {
    ID: truncate ? record.id.slice(0, 12) : record.id,
    Container: given,
    Name: record.name ?? '--',
    CPUPerc: `${percent.toFixed(2)}%`,
    MemUsage: `${formatBinaryBytes(sample.memory)} / ${formatBinaryBytes(sample.memoryLimit)}`,
    MemPerc: `${memoryPercent.toFixed(2)}%`,
    NetIO: `${formatBytes(sample.netRx, 3, '')} / ${formatBytes(sample.netTx, 3, '')}`,
    BlockIO: `${formatBytes(sample.blockRead, 3, '')} / ${formatBytes(sample.blockWrite, 3, '')}`,
    PIDs: String(sample.pids),
  };
}

/** The containers to show: those named (each must exist), or every running one (every one with -a), newest first. */
async function selectContainers(store: Store, names: readonly string[], all: boolean): Promise<Array<{ record: ContainerRecord; given: string }>> {
  if (names.length > 0) {
    const found = [];
    for (const name of names) {
      const record = await findContainer(store, name).catch((error: unknown) => {
        if (error instanceof TsbuildError && error.code === 'NOT_FOUND') throw new TsbuildError('NOT_FOUND', `No such container: ${name}`, { cause: error });
        throw error;
      });
      found.push({ record, given: name });
    }
    return found;
  }
  const records = (await listContainerRecords(store)).sort((a, b) => Date.parse(b.created) - Date.parse(a.created));
  const chosen = [];
  for (const record of records) {
    if (all || (await observeState(record)).running) chosen.push({ record, given: record.id.slice(0, 12) });
  }
  return chosen;
}

function render(format: string, rows: ReadonlyArray<Record<string, string>>): string {
  if (format === 'json') return rows.map((row) => `${JSON.stringify(sortedKeys(row))}\n`).join('');
  return formatListTemplate(format, rows, statsHeaders);
}

export function registerStats(program: Command, io: CliIo): void {
  addRootOption(
    program
      .command('stats')
      .description("a live view of containers' CPU, memory, network and block I/O, and tasks (running ones unless -a or named)")
      .argument('[containers...]', 'names or IDs')
      .option('-a, --all', 'all containers, not only running ones')
      .option('--no-stream', 'print one table and end')
      .option('--no-trunc', 'do not shorten IDs')
      .option('--format <format>', 'table (default, or statsFormat of docker\'s config.json), json (one object per line), or a Go template such as {{.Name}} {{.CPUPerc}}'),
  ).action(async (names: string[], flags: StatsFlags) => {
    const given = await listFormat(flags.format, 'statsFormat');
    const format = given === 'table' ? defaultFormat : given;
    // A bad template fails before anything is sampled.
    render(format, []);
    const store = await storeFromOptions(flags);
    let previous = new Map<string, ContainerSample>();
    const abort = new AbortController();
    const stop = (): void => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      let first = true;
      for (;;) {
        const chosen = await selectContainers(store, names, flags.all === true);
        const samples = new Map<string, ContainerSample>();
        await Promise.all(
          chosen.map(async ({ record }) => {
            const sample = (await observeState(record)).running ? await sampleContainer(record) : undefined;
            if (sample !== undefined) samples.set(record.id, sample);
          }),
        );
        // CPU % is a rate: the first table waits for a second sample.
        if (first) {
          first = false;
          previous = samples;
          await sleep(interval, undefined, { signal: abort.signal }).catch(() => undefined);
          if (abort.signal.aborted) return;
          continue;
        }
        const rows = chosen.map(({ record, given }) => statsFields(record, given, previous.get(record.id), samples.get(record.id), flags.trunc));
        const table = render(format, rows);
        // On a terminal the table is redrawn in place, as docker's.
        io.stdout.write(flags.stream && (io.stdout as { isTTY?: boolean }).isTTY === true ? `\x1b[2J\x1b[H${table}` : table);
        if (!flags.stream) return;
        previous = samples;
        await sleep(interval, undefined, { signal: abort.signal }).catch(() => undefined);
        if (abort.signal.aborted) return;
      }
    } catch (error) {
      if (error instanceof TsbuildError && error.code === 'NOT_FOUND') {
        io.stderr.write(`Error response from daemon: ${error.message}\n`);
        throw new ExitError(1);
      }
      throw error;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  });
}
