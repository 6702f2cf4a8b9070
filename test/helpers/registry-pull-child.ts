/**
 * Run as a separate process by the resume test, which kills it mid-download:
 * `node --import tsx registry-pull-child.ts STORE_DIR REFERENCE`.
 */
import { RegistryClient, pull } from '../../src/registry/index.js';
import { openStore } from '../../src/store/index.js';

const [root, reference] = process.argv.slice(2);
if (root === undefined || reference === undefined) throw new Error('usage: registry-pull-child STORE_DIR REFERENCE');
const client = new RegistryClient({ credentials: () => Promise.resolve(undefined), retry: { attempts: 1 } });
await pull({ reference, store: await openStore({ root }), client, onProgress: (event) => process.stdout.write(`${JSON.stringify(event)}\n`) });
await client.close();
