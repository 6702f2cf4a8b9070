/**
 * Run as the unprivileged test user by rootless.test.ts: tsbuild's own defaults, end to end —
 * the config a rootless caller gets without saying anything about ids, run by the default
 * runtime with its default state directory. Prints one JSON document for the parent to check.
 *
 *   node --import tsx test/runtime/rootless-child.ts ROOTFS BUNDLE_PARENT
 */
import { join } from 'node:path';
import { generateConfig, selectRuntime } from '../../src/runtime/index.js';

const [rootfs, parent] = process.argv.slice(2);
if (rootfs === undefined || parent === undefined) throw new Error('usage: rootless-child.ts ROOTFS BUNDLE_PARENT');
const runtime = selectRuntime();
const results: Record<string, unknown> = {};
for (const [name, user] of [['root', undefined], ['user1000', { uid: 1000, gid: 1000, additionalGids: [10] }]] as const) {
  const bundle = join(parent, name);
  const spec = { args: ['/test-init', 'ids'], rootfs, ...(user === undefined ? {} : { user }) };
  await runtime.prepare(bundle, spec);
  const result = await runtime.run(bundle, `rootless-child-${name}-${process.pid}`, { stdio: 'pipe' });
  results[name] = { status: result.status, ids: JSON.parse(result.stdout) as unknown, stderr: result.stderr };
}
// crun as the same user: on cgroup v1 "hybrid" hosts it cannot run, and must say so clearly.
const crun = await selectRuntime('crun')
  .run(join(parent, 'root'), `rootless-child-crun-${process.pid}`, { stdio: 'pipe' })
  .then((result) => ({ status: result.status }), (error: unknown) => ({ error: error instanceof Error ? error.message : String(error) }));
results['crun'] = crun;
const config = generateConfig({ args: ['x'], rootfs }) as { linux: { uidMappings?: unknown; gidMappings?: unknown; namespaces: { type: string }[] } };
process.stdout.write(`${JSON.stringify({ runtime: runtime.name, uidMappings: config.linux.uidMappings, gidMappings: config.linux.gidMappings, namespaces: config.linux.namespaces.map((n) => n.type), results })}\n`);
