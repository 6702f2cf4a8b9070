import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../helpers/run-cli.js';
import { openStore } from '../../src/store/index.js';
import { busyboxImage, type BusyboxImage } from '../helpers/busybox-image.js';
import { useTemporaryStores } from '../helpers/temporary-store.js';
import { validateLayout } from '../helpers/validate.js';

const run = runCliCaptured;

describe('image commands', () => {
  const stores = useTemporaryStores();
  let dir: string;
  let root: string;
  let busybox: BusyboxImage;
  beforeEach(async () => {
    dir = stores.dir;
    root = stores.root('root');
    busybox = await busyboxImage(await stores.open('root'));
  });

  it('lists, tags, inspects and removes images', async () => {
    expect(await run(['tag', 'busybox', 'localhost:5000/tools/bb:1', '--root', root])).toMatchObject({ status: 0 });
    const listed = await run(['images', '--format', 'json', '--root', root]);
    expect(listed.status).toBe(0);
    // docker's row, keys in Go's map order: IDs shortened unless --no-trunc.
    const shortRows = listed.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, string>);
    expect(Object.keys(shortRows[0] ?? {})).toEqual(['Containers', 'CreatedAt', 'CreatedSince', 'Digest', 'ID', 'Repository', 'SharedSize', 'Size', 'Tag', 'UniqueSize', 'VirtualSize']);
    expect(shortRows[0]?.['CreatedAt']).toMatch(/^1970-01-01 \d\d:00:00 [-+]\d{4} \S+$/);
    // The digest only with --digests, as docker's formatter gives it ("<none>" otherwise).
    expect(shortRows.map((row) => row['Digest'])).toEqual(['<none>', '<none>']);
    const rows = (await run(['images', '--format', 'json', '--digests', '--no-trunc', '--root', root])).stdout.trim().split('\n').map((line) => JSON.parse(line) as { Repository: string; Tag: string; Digest: string; ID: string }).map((row) => ({ repository: row.Repository, tag: row.Tag, digest: row.Digest, id: row.ID }));
    expect(rows.map((row) => [row.repository, row.tag, row.digest])).toEqual([
      ['busybox', 'latest', busybox.descriptor.digest],
      ['localhost:5000/tools/bb', '1', busybox.descriptor.digest],
    ]);
    expect(shortRows[0]?.['ID']).toBe(rows[0]?.id.slice(7, 19));
    const table = await run(['images', '--root', root]);
    expect(table.stdout.split('\n')[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(table.stdout).toContain(rows[0]?.id.slice(7, 19));
    const filtered = await run(['images', 'localhost:5000/*/bb', '--digests', '--no-trunc', '--root', root]);
    const filteredLines = filtered.stdout.trim().split('\n');
    expect(filteredLines[0]).toMatch(/^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(filteredLines.slice(1)).toHaveLength(1);
    expect(filteredLines[1]).toMatch(new RegExp(`^localhost:5000/tools/bb\\s+1\\s+${busybox.descriptor.digest}\\s+${rows[0]?.id ?? ''}\\s`));
    expect((await run(['images', '-q', '--no-trunc', 'busybox:latest', '--root', root])).stdout).toBe(`${rows[0]?.id ?? ''}\n`);
    expect((await run(['images', 'nosuch', '--root', root])).stdout).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\n$/);
    // docker's `image` forms run the same commands with the same arguments.
    const viaImage = await run(['image', 'ls', '--format', 'json', '--root', root]);
    expect(viaImage).toEqual(listed);
    expect((await run(['image', 'list', '-q', '--root', root])).stdout).toBe((await run(['images', '-q', '--root', root])).stdout);
    const help = await run(['image', 'ls', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: {2}tsbuild images \[OPTIONS\] /);
    expect((await run(['image', 'inspect', 'no-such-image', '--root', root])).stderr).toBe('Error response from daemon: No such image: no-such-image:latest\n');
    // The cleanup idiom of docker scripts: nothing here is dangling.
    expect((await run(['images', '-q', '-f', 'dangling=true', '--root', root])).stdout).toBe('');
    expect((await run(['images', '-q', '--filter', 'reference=busy*', '--root', root])).stdout).toBe(`${rows[0]?.id.slice(7, 19) ?? ''}\n`);
    expect((await run(['images', '-f', 'size=1', '--root', root])).status).toBe(1);
    // before= and since= name an image as every command does: here by an image ID prefix.
    const since = await run(['images', '-q', '-f', `since=${rows[0]?.id.slice(7, 15) ?? ''}`, '--root', root]);
    expect(since).toMatchObject({ status: 0, stdout: '' });
    expect((await run(['images', '-f', 'before=nosuch', '--root', root])).stderr).toBe('Error response from daemon: No such image: nosuch:latest\n');
    // The test image is made at SOURCE_DATE_EPOCH 0: docker would say decades ago.
    expect(table.stdout.split('\n')[1]).toMatch(/^busybox\s+latest\s+[0-9a-f]{12}\s+\d+ years ago\s+\S+B$/);

    const inspected = await run(['inspect', 'localhost:5000/tools/bb:1', '--root', root]);
    interface Inspected {
      Id: string;
      Digest: string;
      RepoTags: string[];
      RepoDigests: string[];
      Created: string;
      Config: { Env?: string[]; Cmd?: string[] };
      Architecture: string;
      Os: string;
      RootFS: { Type: string; Layers: string[] };
      Manifest: { layers: unknown[] };
      ImageConfig: { rootfs: { diff_ids: string[] } };
    }
    const [info] = JSON.parse(inspected.stdout) as Inspected[];
    expect(info?.Digest).toBe(busybox.descriptor.digest);
    expect(info?.Id).toBe(rows[0]?.id);
    // docker's names and shapes: familiar names, the container config under Config.
    expect(info?.RepoTags).toEqual(['busybox:latest', 'localhost:5000/tools/bb:1']);
    expect(info?.RepoDigests).toEqual([`busybox@${busybox.descriptor.digest}`, `localhost:5000/tools/bb@${busybox.descriptor.digest}`]);
    expect(info?.Config.Cmd).toEqual(['sh']);
    // Unset fields as docker's Go zero values, in docker's order.
    expect(Object.keys(info?.Config ?? {}).slice(0, 3)).toEqual(['Hostname', 'Domainname', 'User']);
    expect(info?.Config).toMatchObject({ User: '', Tty: false, WorkingDir: '', Entrypoint: null, Volumes: null, Labels: null });
    expect(info?.Config.Env?.[0]).toMatch(/^PATH=/);
    expect(info?.Created).toBe('1970-01-01T00:00:00Z');
    expect([info?.Os, info?.Architecture]).toEqual(['linux', process.arch === 'arm64' ? 'arm64' : 'amd64']);
    expect(info?.RootFS).toEqual({ Type: 'layers', Layers: info?.ImageConfig.rootfs.diff_ids });
    expect(info?.RootFS.Layers).toHaveLength(1);
    // Size as docker 26 gives it for a pulled or loaded image: its files' bytes and its
    // symlinks' targets' lengths (tar's listing says both); no VirtualSize since API 1.44.
    const layerDigest = (info?.Manifest.layers[0] as { digest: string }).digest;
    const listing = execFileSync('tar', ['-tvzf', join(root, 'blobs', 'sha256', layerDigest.slice(7))], { encoding: 'utf8' }).split('\n');
    const content = listing.reduce((sum, line) => sum + (line.startsWith('-') ? Number(line.split(/\s+/)[2]) : line.startsWith('l') ? Buffer.byteLength(line.split(' -> ')[1] ?? '') : 0), 0);
    expect(content).toBeGreaterThan(100_000);
    expect(info).toMatchObject({ Size: content });
    expect(info).not.toHaveProperty('VirtualSize');
    // docker's order around it: GraphDriver between Size and RootFS, Metadata after.
    expect(Object.keys(info ?? {}).slice(11, 15)).toEqual(['Size', 'GraphDriver', 'RootFS', 'Metadata']);
    expect(info).toMatchObject({ GraphDriver: { Data: null, Name: 'overlay' }, Metadata: { LastTagTime: expect.stringMatching(/^20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/) } });
    expect(info?.Manifest.layers).toHaveLength(1);
    // By image ID prefix, as docker accepts.
    expect((await run(['inspect', rows[0]?.id.slice(7, 19) ?? '', '--root', root])).status).toBe(0);

    // An ID with two names needs -f.
    expect((await run(['rmi', rows[0]?.id.slice(7, 19) ?? '', '--root', root])).status).toBe(1);
    // As docker's CLI: each image given is removed on its own; what failed is said at the end.
    const removed = await run(['rmi', 'nothing-named-so', 'localhost:5000/tools/bb:1', 'nor-so', '--root', root]);
    expect(removed).toMatchObject({ status: 1, stdout: 'Untagged: localhost:5000/tools/bb:1\n', stderr: 'Error response from daemon: No such image: nothing-named-so:latest\nError response from daemon: No such image: nor-so:latest\n' });
    const removedAll = await run(['rmi', 'busybox', '--root', root]);
    expect(removedAll.stdout).toMatch(/^Untagged: busybox:latest\n(Deleted: sha256:[0-9a-f]{64}\n){3}$/);
    expect((await run(['images', '--format', 'json', '--root', root])).stdout).toBe('');
    const missing = await run(['inspect', 'busybox', '--root', root]);
    expect(missing.status).toBe(1);
    // As docker's: what was found (nothing) as JSON, then the name that named no object of any kind.
    expect(missing.stdout).toBe('[]\n');
    expect(missing.stderr).toBe('Error: No such object: busybox\n');
    expect(await run(['inspect', '--type', 'image', 'busybox', '--root', root])).toMatchObject({ status: 1, stdout: '[]\n', stderr: 'Error response from daemon: No such image: busybox:latest\n' });
    expect(await run(['inspect', '--type', 'volume', 'busybox', '--root', root])).toMatchObject({ status: 1, stderr: 'Error response from daemon: get busybox: no such volume\n' });
    expect(await run(['inspect', '--type', 'network', '-f', '{{.Name}}', 'busybox', 'none', '--root', root])).toMatchObject({ status: 1, stdout: 'none\n', stderr: 'Error response from daemon: network busybox not found\n' });
    expect(await run(['inspect', '--type', 'bogus', 'busybox', '--root', root])).toMatchObject({ status: 1, stderr: '"bogus" is not a valid value for --type\n' });
  });

  it("builds through docker's `image build`, `builder build` and buildx's `build` as through `build`", async () => {
    const context = join(dir, 'context');
    await mkdir(context);
    await writeFile(join(context, 'Dockerfile'), 'FROM busybox\nLABEL made=by-group-form\n');
    const direct = await run(['build', '-q', '-t', 'direct', '--root', root, context]);
    expect(direct.status).toBe(0);
    expect(direct.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    for (const [group, command] of [['image', 'build'], ['builder', 'build'], ['buildx', 'build'], ['buildx', 'b']] as const) {
      const built = await run([group, command, '-q', '-t', `via-${group}`, '--root', root, context]);
      expect(built).toMatchObject({ status: 0, stdout: direct.stdout });
      const labels = await run(['image', 'inspect', '-f', '{{.Id}} {{.Config.Labels.made}}', '--root', root, `via-${group}`]);
      expect(labels.stdout).toBe(`${direct.stdout.trim()} by-group-form\n`);
    }
    expect((await run(['builder', 'build', '--help'])).stdout).toMatch(/^Usage: {2}tsbuild build \[OPTIONS\] CONTEXT\n/);
    expect((await run(['buildx', 'prune', '--help'])).stdout).toMatch(/^Usage: {2}tsbuild builder prune /);
    expect(await run(['buildx', 'prune', '-f', '--root', root])).toMatchObject({ status: 0, stdout: expect.stringMatching(/^Total reclaimed space: /m) as unknown });
  });

  it('inspects through Go templates as docker -f does: index, range, if, len, json, printf', async () => {
    expect((await run(['tag', 'busybox', 'localhost:5000/tools/bb:1', '--root', root])).status).toBe(0);
    const template = '{{.Os}}/{{.Architecture}} {{len .RootFS.Layers}} {{range $i, $tag := .RepoTags}}{{if $i}},{{end}}{{$tag}}{{end}} {{.Config.Cmd}} {{json .Config.Cmd}} {{index .Config.Cmd 0}} {{printf "%.7s" .Id}}';
    const inspected = await run(['image', 'inspect', '-f', template, 'busybox', '--root', root]);
    expect(inspected.stderr).toBe('');
    const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
    expect(inspected.stdout).toBe(`linux/${arch} 1 busybox:latest,localhost:5000/tools/bb:1 [sh] ["sh"] sh sha256:\n`);
    // One line per image; the template is read before anything is written.
    expect((await run(['inspect', '--format', '{{upper .Os}}', 'busybox', 'localhost:5000/tools/bb:1', '--root', root])).stdout).toBe('LINUX\nLINUX\n');
    // docker's CLI ends a template it cannot read with 64, its words alone; its lists with 1.
    expect(await run(['inspect', '-f', '{{.Os', 'busybox', '--root', root])).toMatchObject({ status: 64, stdout: '', stderr: 'template parsing error: template: :1: unclosed action\n' });
    expect(await run(['images', '--format', '{{.ID', '--root', root])).toMatchObject({ status: 1, stdout: '', stderr: 'template parsing error: template: :1: unclosed action\n' });
    expect(await run(['ps', '--format', '{{.ID', '--root', root])).toMatchObject({ status: 1, stdout: '', stderr: 'failed to parse template: template: :1: unclosed action\n' });
    expect((await run(['inspect', '-f', '{{nosuch .Os}}', 'busybox', '--root', root])).stderr).toMatch(/function "nosuch" not defined/);
  });

  it('saves, loads into a fresh root with the same digests, verifies and prunes', async () => {
    const dockerTar = join(dir, 'bb-docker.tar');
    const ociTar = join(dir, 'bb-oci.tar');
    expect(await run(['save', 'busybox', '-o', dockerTar, '--root', root])).toMatchObject({ status: 0 });
    expect(await run(['save', '--format', 'oci', 'busybox', '-o', ociTar, '--root', root])).toMatchObject({ status: 0 });
    expect(JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${dockerTar}`], { encoding: 'utf8' }))).toMatchObject({ Os: 'linux' });
    expect(JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${ociTar}`], { encoding: 'utf8' }))).toMatchObject({ Digest: busybox.descriptor.digest });
    for (const [archive, fresh] of [[dockerTar, 'from-docker'], [ociTar, 'from-oci']] as const) {
      const loaded = await run(['load', '-i', archive, '--root', join(dir, fresh)]);
      expect(loaded).toMatchObject({ status: 0, stdout: 'Loaded image: busybox:latest\n' });
      expect(JSON.parse(await readFile(join(dir, fresh, 'index.json'), 'utf8'))).toEqual(JSON.parse(await readFile(join(root, 'index.json'), 'utf8')));
      await validateLayout(join(dir, fresh));
      expect(await run(['verify', '--root', join(dir, fresh)])).toMatchObject({ status: 0, stdout: '3 blobs, 1 references, 0 problems\n' });
    }
    expect((await run(['save', '--format', 'zip', 'busybox', '--root', root])).status).toBe(1);

    const pruned = await run(['image', 'prune', '-f', '--grace', '0', '--root', root]);
    expect(pruned).toMatchObject({ status: 0, stdout: 'Total reclaimed space: 0B\n' });
  });

  it('finds the store through TSBUILD_ROOT when --root is not given', async () => {
    const previous = process.env.TSBUILD_ROOT;
    process.env.TSBUILD_ROOT = root;
    try {
      const listed = await run(['images', '--format', 'json', '--digests']);
      expect(listed.stdout).toContain(busybox.descriptor.digest);
    } finally {
      if (previous === undefined) delete process.env.TSBUILD_ROOT;
      else process.env.TSBUILD_ROOT = previous;
    }
  });

  it('verify fails on a damaged store', async () => {
    const store = await openStore({ root });
    const layer = (await store.listBlobs()).sort((a, b) => b.size - a.size)[0];
    const { writeFile } = await import('node:fs/promises');
    const path = join(root, 'blobs/sha256', layer?.digest.slice(7) ?? '');
    const original = await readFile(path);
    await writeFile(path, 'x');
    const result = await run(['verify', '--root', root]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('docker.io/library/busybox:latest:');
    await writeFile(path, original);
  });

  it('neither writes an archive to a terminal nor waits for one typed at it, as docker', () => {
    // `script` gives the command a pseudo-terminal for standard input and output.
    const bin = new URL('../../bin/tsbuild.js', import.meta.url).pathname;
    const onTerminal = (args: string): string => {
      try {
        return execFileSync('script', ['-qec', `${process.execPath} ${bin} ${args}`, '/dev/null'], { encoding: 'utf8', timeout: 20_000 });
      } catch (error) {
        const failed = error as { status: number; stdout: string };
        return `status ${failed.status}: ${failed.stdout}`;
      }
    };
    expect(onTerminal(`save --root ${root} busybox`)).toMatch(/^status 1: cowardly refusing to save to a terminal\. Use the -o flag or redirect/);
    expect(onTerminal(`load --root ${root}`)).toMatch(/^status 1: requested load from stdin, but stdin is empty/);
  });
});
