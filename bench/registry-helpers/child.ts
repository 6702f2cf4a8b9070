/**
 * One tsbuild registry operation in its own process, so that its peak memory can be measured:
 * `node --import tsx bench/registry-helpers/child.ts pull|push ROOT REFERENCE [DESTINATION]`.
 * Prints one JSON line: the operation's own duration, excluding process start-up.
 */
import { performance } from 'node:perf_hooks';
import { RegistryClient, pull, push } from '../../src/registry/index.js';
import { openStore } from '../../src/store/index.js';

const [operation, root, reference, destination] = process.argv.slice(2);
if ((operation !== 'pull' && operation !== 'push') || root === undefined || reference === undefined) {
  throw new Error('usage: child.ts pull|push ROOT REFERENCE [DESTINATION]');
}
const store = await openStore({ root });
const client = new RegistryClient({ credentials: () => Promise.resolve(undefined) });
const started = performance.now();
if (operation === 'pull') await pull({ reference, store, client });
else await push({ source: reference, destinations: [destination ?? reference], store, client });
const ms = performance.now() - started;
await client.close();
process.stdout.write(`${JSON.stringify({ ms, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`);
