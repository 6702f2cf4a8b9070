/**
 * `version` and `info` (and `system info`): docker's words and field names, read from the store
 * and the machine, with Go templates in --format.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { busyboxImage } from '../helpers/busybox-image.js';
import { runCliCaptured } from '../helpers/run-cli.js';
import { useTemporaryStores } from '../helpers/temporary-store.js';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('version and info', () => {
  const stores = useTemporaryStores();

  it('prints the version as docker version prints the client, and through a template', async () => {
    const text = await runCliCaptured(['version']);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^Client: tsbuild\\n Version:\\s+${version.replace(/\./g, '\\.')}\\n Node version:\\s+${process.version}\\n OS/Arch:\\s+linux/(amd64|arm64)\\n`));
    expect((await runCliCaptured(['version', '--format', '{{.Client.Version}} {{.Server}}'])).stdout).toBe(`${version} <no value>\n`);
    expect(JSON.parse((await runCliCaptured(['version', '-f', 'json'])).stdout)).toMatchObject({ Client: { Version: version }, Server: null });
  });

  it('counts the store\'s images and containers, names its root and the machine', async () => {
    const root = stores.root('root');
    const store = await stores.open('root');
    await busyboxImage(store);
    expect((await runCliCaptured(['tag', 'busybox', 'other:1', '--root', root])).status).toBe(0);
    const fields = await runCliCaptured(['info', '--root', root, '--format', '{{.Images}} {{.Containers}} {{.ContainersRunning}} {{.DockerRootDir}} {{.NCPU}} {{.OSType}} {{.Driver}}']);
    expect(fields.stderr).toBe('');
    // One image under two names is one image, as docker counts.
    expect(fields.stdout).toBe(`1 0 0 ${root} ${availableParallelism()} linux overlay\n`);
    const text = await runCliCaptured(['system', 'info', '--root', root]);
    expect(text.stdout).toMatch(/^Client: tsbuild\n/);
    expect(text.stdout).toMatch(/\n Containers: 0\n  Running: 0\n  Paused: 0\n  Stopped: 0\n Images: 1\n/);
    expect(text.stdout).toContain(`\n Docker Root Dir: ${root}\n`);
    expect(text.stdout).toMatch(/\n Cgroup Version: [12]\n/);
    expect(JSON.parse((await runCliCaptured(['info', '--root', root, '-f', '{{json .}}'])).stdout)).toMatchObject({ Images: 1, Containers: 0, DockerRootDir: root });
    // docker's CLI ends a template it cannot read with 64, its words alone.
    expect(await runCliCaptured(['info', '--root', root, '-f', '{{.Images'])).toMatchObject({ status: 64, stdout: '', stderr: 'template parsing error: template: :1: unclosed action\n' });
    expect(await runCliCaptured(['version', '-f', '{{.Client'])).toMatchObject({ status: 64, stdout: '' });
  });
});
