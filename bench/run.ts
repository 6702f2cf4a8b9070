/**
 * `npm run bench`: runs every benchmark of bench/ in turn (or those named on the command line),
 * each in its own process so that one's memory and JIT state do not colour the next.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const requested = process.argv.slice(2);
const available = readdirSync(benchDir)
  .filter((name) => name.endsWith('.ts') && name !== 'run.ts')
  .map((name) => name.slice(0, -'.ts'.length))
  .sort();
const selected = requested.length > 0 ? requested : available;

let failed = 0;
for (const name of selected) {
  const file = `${benchDir}${name}.ts`;
  if (!existsSync(file)) {
    process.stderr.write(`bench: no benchmark named ${name} (have: ${available.join(', ')})\n`);
    failed++;
    continue;
  }
  process.stdout.write(`\n## ${name}\n\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', file], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
process.exitCode = failed === 0 ? 0 : 1;
