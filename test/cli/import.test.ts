/**
 * `import` (and `image import`) as docker's: a root filesystem tar from a file, standard input or
 * an http URL, in any of the compressions docker reads, becomes an image of one layer whose diff
 * ID is the tar's own digest, with only the `--change` instructions in its config and docker's
 * "Imported from" comment; the image runs. Input that is not a tar stores nothing.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, resolveImage } from '../../src/store/index.js';
import { layoutBlobs, validateImage } from '../helpers/validate.js';
import { repoRoot, runInstalledCli, runInstalledCliBytes, scratchDir, toolExists } from '../runtime/helpers.js';

interface InspectedImage {
  readonly Id: string;
  readonly RepoTags: string[];
  readonly Comment: string;
  readonly Config: { Env: string[] | null; Cmd: string[] | null; WorkingDir: string; Entrypoint: string[] | null };
  readonly RootFS: { Layers: string[] };
}

describe('import', () => {
  let dir: string;
  let root: string;
  /** The root filesystem as a plain tar, and its sha256 (the layer's diff ID). */
  let plainTar: Buffer;
  let tarDigest: string;

  const tsbuild = (args: string[], input?: Buffer): { status: number | null; stdout: string; stderr: string } => runInstalledCli(args, { root, ...(input === undefined ? {} : { input }) });
  const inspect = (name: string): InspectedImage => {
    const result = tsbuild(['inspect', '--type', 'image', name]);
    expect(result.status, result.stderr).toBe(0);
    return (JSON.parse(result.stdout) as InspectedImage[])[0] as InspectedImage;
  };

  beforeAll(() => {
    dir = scratchDir('tsbuild-import-');
    root = join(dir, 'root');
    const rootfs = join(dir, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    mkdirSync(join(rootfs, 'etc'));
    mkdirSync(join(rootfs, 'srv'));
    writeFileSync(join(rootfs, 'bin', 'busybox'), readFileSync('/bin/busybox'), { mode: 0o755 });
    symlinkSync('busybox', join(rootfs, 'bin', 'sh'));
    symlinkSync('busybox', join(rootfs, 'bin', 'cat'));
    writeFileSync(join(rootfs, 'etc', 'motd'), 'imported\n');
    execFileSync('tar', ['-C', rootfs, '--numeric-owner', '-cf', join(dir, 'rootfs.tar'), '.']);
    plainTar = readFileSync(join(dir, 'rootfs.tar'));
    tarDigest = `sha256:${createHash('sha256').update(plainTar).digest('hex')}`;
    execFileSync('sh', ['-c', `gzip -c rootfs.tar > rootfs.tar.gz && xz -c rootfs.tar > rootfs.tar.xz && bzip2 -c rootfs.tar > rootfs.tar.bz2`], { cwd: dir });
  });
  afterAll(() => {
    execFileSync('rm', ['-rf', dir]);
  });

  it('makes a runnable image of one layer, the tar as given, from a file with --change, named', async () => {
    const imported = tsbuild(['import', '-c', 'ENV GREETING=hello', '-c', 'WORKDIR /srv', '-c', 'CMD ["/bin/sh","-c","cat /etc/motd; echo $GREETING; pwd"]', join(dir, 'rootfs.tar.gz'), 'imported:v1']);
    expect(imported.status, imported.stderr).toBe(0);
    const id = imported.stdout.trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);

    const image = inspect('imported:v1');
    expect(image).toMatchObject({ Id: id, RepoTags: ['imported:v1'], Comment: 'Imported from -', RootFS: { Layers: [tarDigest] } });
    expect(image.Config).toMatchObject({ Env: ['GREETING=hello'], Cmd: ['/bin/sh', '-c', 'cat /etc/motd; echo $GREETING; pwd'], WorkingDir: '/srv', Entrypoint: null });

    // The config as docker's ImportImage writes it: one history entry, no created_by.
    const store = await openStore({ root });
    const descriptor = await store.resolveReference('docker.io/library/imported:v1');
    if (descriptor === undefined) throw new Error('no image imported:v1');
    const resolved = await resolveImage(store, descriptor);
    expect(resolved.config).toMatchObject({ comment: 'Imported from -', history: [{ comment: 'Imported from -' }], rootfs: { type: 'layers', diff_ids: [tarDigest] } });
    expect(resolved.config.history?.[0]?.created_by).toBeUndefined();
    // Written as a build writes its config (Go's encoding/json): keys sorted.
    expect(resolved.configBytes.toString('utf8')).toMatch(/^\{"architecture":"[^"]+","comment":"Imported from -","config":\{"Env":\["GREETING=hello"\],"Cmd":\[[^\]]*\],"WorkingDir":"\/srv"\},"created":/);
    expect(resolved.manifest.layers).toHaveLength(1);
    await validateImage(layoutBlobs(root), descriptor);

    const ran = tsbuild(['run', '--rm', '--network', 'none', 'imported:v1']);
    expect(ran, ran.stderr).toMatchObject({ status: 0, stdout: 'imported\nhello\n/srv\n' });
    if (toolExists('skopeo')) {
      const config = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${root}:docker.io/library/imported:v1`], { encoding: 'utf8' })) as { rootfs: { diff_ids: string[] } };
      expect(config.rootfs.diff_ids).toEqual([tarDigest]);
    }
  });

  it('reads standard input (`-`) in every compression, keeps an image without a name, and takes -m as its comment', () => {
    const ids = new Set<string>();
    for (const file of ['rootfs.tar', 'rootfs.tar.xz', 'rootfs.tar.bz2']) {
      const imported = runInstalledCliBytes(['image', 'import', '-m', 'from stdin', '-'], { root, input: readFileSync(join(dir, file)) });
      expect(imported.status, imported.stderr).toBe(0);
      ids.add(imported.stdout.toString().trim());
    }
    // The same tar, the same layer; the time in the config makes each import an image of its own.
    for (const id of ids) {
      const image = inspect(id);
      expect(image).toMatchObject({ RepoTags: [], Comment: 'from stdin', RootFS: { Layers: [tarDigest] } });
      expect(image.Config.Cmd).toBeNull();
    }
    const listed = tsbuild(['images', '--filter', 'dangling=true', '-q', '--no-trunc']);
    for (const id of ids) expect(listed.stdout).toContain(id);
    // Without a CMD the image runs what it is given.
    const [first] = ids;
    expect(tsbuild(['run', '--rm', '--network', 'none', first ?? '', '/bin/cat', '/etc/motd'])).toMatchObject({ status: 0, stdout: 'imported\n' });
  });

  it('downloads an http URL, whose address becomes the comment', async () => {
    const server = createServer((request, response) => {
      if (request.url === '/to-file') {
        // To a file of the host: a redirect only http and https may follow.
        response.writeHead(302, { location: `file://${join(dir, 'rootfs.tar.gz')}` }).end();
        return;
      }
      if (request.url !== '/rootfs.tar.gz') {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/gzip' }).end(readFileSync(join(dir, 'rootfs.tar.gz')));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rootfs.tar.gz`;
      // Not spawnSync: this process serves the download meanwhile.
      const importing = (source: string, name: string): Promise<{ status: number; stderr: string }> =>
        promisify(execFile)(process.execPath, [join(repoRoot, 'bin', 'tsbuild.js'), 'import', source, name], { env: { ...process.env, TSBUILD_ROOT: root }, timeout: 60_000 }).then(
          (done) => ({ status: 0, stderr: done.stderr }),
          (error: { code?: number; stderr?: string }) => ({ status: error.code ?? -1, stderr: error.stderr ?? '' }),
        );
      const imported = await importing(url, 'fromurl');
      expect(imported.status, imported.stderr).toBe(0);
      expect(inspect('fromurl')).toMatchObject({ Comment: `Imported from ${url}`, RootFS: { Layers: [tarDigest] } });
      const missing = await importing(url.replace('rootfs', 'nothing'), 'nothing');
      expect(missing.status).not.toBe(0);
      expect(missing.stderr).toContain(`import ${url.replace('rootfs', 'nothing')}: invalid response status 404`);
      const redirected = await importing(url.replace('rootfs.tar.gz', 'to-file'), 'tofile');
      expect(redirected.status).not.toBe(0);
      expect(redirected.stderr).toMatch(/import http:\/\/\S+\/to-file: .*must start with `http:` or `https:`/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('stores nothing for input that is not a tar, a bad change or a foreign platform, naming the problem', () => {
    const blobs = (): string[] => readdirSync(join(root, 'blobs', 'sha256')).sort();
    const index = (): string => readFileSync(join(root, 'index.json'), 'utf8');
    const [blobsBefore, indexBefore] = [blobs(), index()];
    writeFileSync(join(dir, 'not-a-tar'), 'this is no archive\n');
    const garbage = tsbuild(['import', join(dir, 'not-a-tar'), 'bad:1']);
    expect(garbage.status).not.toBe(0);
    expect(garbage.stderr).toContain(`import ${join(dir, 'not-a-tar')}: not a tar archive`);
    const truncated = tsbuild(['import', '-', 'bad:2'], plainTar.subarray(0, 700));
    expect(truncated.status).not.toBe(0);
    expect(truncated.stderr).toContain('not a tar archive');
    const badChange = tsbuild(['import', '-c', 'RUN true', join(dir, 'rootfs.tar'), 'bad:3']);
    expect(badChange).toMatchObject({ status: 1, stderr: expect.stringContaining('run is not a valid change command') as unknown });
    const foreign = tsbuild(['import', '--platform', 'linux/s390x', join(dir, 'rootfs.tar'), 'bad:4']);
    expect(foreign.status).not.toBe(0);
    expect(foreign.stderr).toContain("only this machine's platform");
    const missing = tsbuild(['import', join(dir, 'no-such-file.tar'), 'bad:5']);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('no-such-file.tar');
    expect(blobs()).toEqual(blobsBefore);
    expect(index()).toBe(indexBefore);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
  });
});
