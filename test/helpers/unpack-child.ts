/** Unpacks the tar at argv[2] into the directory argv[3] and prints the result as JSON: for tests that run it as another user. */
import { createReadStream } from 'node:fs';
import { unpackLayer } from '../../src/store/index.js';

const [tar, target] = process.argv.slice(2);
if (tar === undefined || target === undefined) throw new Error('usage: unpack-child TAR TARGET');
const result = await unpackLayer(createReadStream(tar), target);
process.stdout.write(`${JSON.stringify(result)}\n`);
