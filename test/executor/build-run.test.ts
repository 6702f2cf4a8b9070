/**
 * `tsbuild build` with RUN and metadata instructions: the real image is read back — its config,
 * history and the entries of each layer — and the cache is checked by what the progress says.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Descriptor } from '../../src/common/index.js';
import { sandboxResolvConfs } from '../../src/executor/resolv-conf.js';
import { chainIds } from '../../src/store/index.js';
import { buildFixture, cachedSteps, imageFiles, ranSteps, type BuildFixture } from '../helpers/build.js';
import { runCliCaptured } from '../helpers/run-cli.js';

describe('build: RUN and the image config', () => {
  let fx: BuildFixture;
  beforeAll(async () => {
    fx = await buildFixture();
  });
  afterAll(async () => {
    await fx.cleanup();
  });

  it('runs RUN in the sandbox and writes its changes as a layer, with the config and history BuildKit writes', async () => {
    const dir = await fx.context('meta', {
      Dockerfile: [
        'FROM busybox',
        'ARG GREETING=hello',
        'ENV A=1 B="two words"',
        'LABEL org.example.a=1 b=2',
        'RUN echo "$GREETING $A $B" > /greeting && hostname > /hostname && cat /etc/hosts > /hosts && id -u > /uid && rm /etc/group',
        'EXPOSE 80 443/udp 7000-7001',
        'WORKDIR /app',
        'RUN pwd > where',
        'USER nobody',
        'VOLUME /data',
        'STOPSIGNAL SIGINT',
        'HEALTHCHECK --interval=5m --timeout=3s CMD wget -q localhost',
        'SHELL ["/bin/sh", "-ec"]',
        'ENTRYPOINT ["/bin/echo"]',
        'CMD echo hi',
        'ONBUILD RUN echo triggered',
      ].join('\n'),
    });
    const result = await fx.build(['-t', 'meta', '-q', dir]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const image = await fx.image('meta');
    expect(image.manifest.config.digest).toBe(result.stdout.trim());
    const c = image.config.config ?? {};
    expect(c.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1', 'B=two words']);
    expect(c.Labels).toEqual({ 'org.example.a': '1', b: '2' });
    expect(c.ExposedPorts).toEqual({ '80/tcp': {}, '443/udp': {}, '7000/tcp': {}, '7001/tcp': {} });
    expect(c.WorkingDir).toBe('/app');
    expect(c.User).toBe('nobody');
    expect(c.Volumes).toEqual({ '/data': {} });
    expect(c.StopSignal).toBe('SIGINT');
    expect(c.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'wget -q localhost'], Interval: 300e9, Timeout: 3e9 });
    expect(c.Shell).toEqual(['/bin/sh', '-ec']);
    expect(c.Entrypoint).toEqual(['/bin/echo']);
    expect(c.Cmd).toEqual(['/bin/sh', '-ec', 'echo hi']);
    expect(c.OnBuild).toEqual(['RUN echo triggered']);
    expect(c.ArgsEscaped).toBe(true);

    // busybox's one layer, the first RUN, WORKDIR's mkdir, the second RUN.
    expect(image.manifest.layers).toHaveLength(4);
    const history = image.config.history ?? [];
    expect(history.slice(1).map((h) => [h.created_by, h.empty_layer === true])).toEqual([
      ['ARG GREETING=hello', true],
      ['ENV A=1 B=two words', true],
      ['LABEL org.example.a=1 b=2', true],
      ['RUN |1 GREETING=hello /bin/sh -c echo "$GREETING $A $B" > /greeting && hostname > /hostname && cat /etc/hosts > /hosts && id -u > /uid && rm /etc/group # buildkit', false],
      // BuildKit's instruction parser sorts EXPOSE's words.
      ['EXPOSE map[443/udp:{} 7000/tcp:{} 7001/tcp:{} 80/tcp:{}]', true],
      ['WORKDIR /app', false],
      ['RUN |1 GREETING=hello /bin/sh -c pwd > where # buildkit', false],
      ['USER nobody', true],
      ['VOLUME [/data]', true],
      ['STOPSIGNAL SIGINT', true],
      ['HEALTHCHECK &{["CMD-SHELL" "wget -q localhost"] "5m0s" "3s" "0s" "0s" \'\\x00\'}', true],
      ['SHELL [/bin/sh -ec]', true],
      ['ENTRYPOINT ["/bin/echo"]', true],
      ['CMD ["/bin/sh" "-ec" "echo hi"]', true],
    ]);
    for (const entry of history.slice(1)) expect(entry.comment).toBe('buildkit.dockerfile.v0');

    const run = await fx.layerFiles(image.manifest.layers[1] as never);
    const byPath = new Map(run.map((file) => [file.path, file]));
    expect(byPath.get('greeting')?.text).toBe('hello 1 two words\n');
    expect(byPath.get('hostname')?.text).toBe('buildkitsandbox\n');
    expect(byPath.get('hosts')?.text).toContain('buildkitsandbox');
    expect(byPath.get('uid')?.text).toBe('0\n');
    // The deletion is a whiteout; the files the sandbox mounted never enter the layer. The
    // directories proc, the /dev tmpfs and sysfs are mounted on, which this busybox lacks, do:
    // empty, 0755 and root's, as runc leaves them in BuildKit's first RUN on such a root.
    expect(byPath.get('etc/.wh.group')?.type).toBe('file');
    for (const path of ['etc/hosts', 'etc/resolv.conf']) expect(byPath.has(path)).toBe(false);
    for (const path of ['dev', 'proc', 'sys']) {
      expect(byPath.get(path), path).toMatchObject({ type: 'directory', mode: 0o755, uid: 0, gid: 0 });
      expect(run.filter((file) => file.path.startsWith(`${path}/`))).toEqual([]);
    }

    const workdir = await fx.layerFiles(image.manifest.layers[2] as never);
    expect(workdir.map((file) => [file.path, file.type, file.mode])).toEqual([['app', 'directory', 0o755]]);
    const second = await fx.layerFiles(image.manifest.layers[3] as never);
    expect(second.find((file) => file.path === 'app/where')?.text).toBe('/app\n');
  });

  it('shares a parent stage’s labels, exposed ports and volumes with the stages FROM it, as docker/dockerfile before 1.24 (BuildKit’s built-in frontend), and copies them from 1.24 on', async () => {
    // What docker 26 made of each: a map the parent has is written by every stage FROM it that
    // the target needs (the last in the file wins), one it lacks is made by each stage for itself.
    const cases: Array<[string, string, Record<string, unknown>]> = [
      [
        'siblings',
        'FROM busybox AS s0\nLABEL base=0\nEXPOSE 7\nFROM s0 AS s1\nRUN sleep 1\nLABEL a=1 k=1\nEXPOSE 1\nVOLUME /v1\nFROM s0 AS s2\nLABEL k=2\nCOPY --from=s1 /etc/passwd /p\n',
        { Labels: { base: '0', a: '1', k: '2' }, ExposedPorts: { '1/tcp': {}, '7/tcp': {} } },
      ],
      ['scratch', 'FROM scratch AS s0\nLABEL x=1\nFROM s0 AS s1\nLABEL y=2\nFROM s0 AS s2\nCOPY --from=s1 / /\n', { Labels: { x: '1', y: '2' } }],
      ['own maps', 'FROM busybox AS s0\nFROM s0 AS s1\nLABEL a=1\nVOLUME /v\nFROM s0 AS s2\nLABEL mine=2\nCOPY --from=s1 /etc/passwd /p\n', { Labels: { mine: '2' } }],
      ['unneeded', 'FROM scratch AS s0\nLABEL x=1\nFROM s0 AS s1\nLABEL a=1\nFROM s0 AS s2\nLABEL b=2\nFROM s0 AS s3\nCOPY --from=s1 / /\n', { Labels: { x: '1', a: '1' } }],
      ['1.24', '# syntax=docker/dockerfile:1.24\nFROM scratch AS s0\nLABEL x=1\nFROM s0 AS s1\nLABEL y=2\nFROM s0 AS s2\nCOPY --from=s1 / /\n', { Labels: { x: '1' } }],
    ];
    for (const [index, [name, text, expected]] of cases.entries()) {
      const dir = await fx.context(`shared-maps-${index}`, { Dockerfile: text });
      const result = await fx.build(['-q', '-t', `shared-maps-${index}`, dir]);
      expect({ name, status: result.status, stderr: result.stderr }).toEqual({ name, status: 0, stderr: '' });
      const c = (await fx.image(`shared-maps-${index}`)).config.config ?? {};
      expect({ name, Labels: c.Labels, ExposedPorts: c.ExposedPorts, Volumes: c.Volumes }).toEqual({ name, Labels: undefined, ExposedPorts: undefined, Volumes: undefined, ...expected });
    }
  });

  it('rebuilds from the cache: every step CACHED, the same image ID', async () => {
    const dir = await fx.context('cache', { Dockerfile: 'FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n' });
    const first = await fx.build(['-t', 'cache', '--iidfile', join(dir, '..', 'iid1'), dir]);
    expect(first.status).toBe(0);
    expect(ranSteps(first.stderr)).toEqual(['[2/3] RUN echo one > /one', '[3/3] RUN echo two > /two']);
    const second = await fx.build(['-t', 'cache', '--iidfile', join(dir, '..', 'iid2'), dir]);
    expect(second.status).toBe(0);
    expect(cachedSteps(second.stderr)).toEqual(['[2/3] RUN echo one > /one', '[3/3] RUN echo two > /two']);
    expect(ranSteps(second.stderr)).toEqual([]);
    // As BuildKit: cached steps keep their times, so the config, and the image ID, are the same.
    const firstId = await readFile(join(dir, '..', 'iid1'), 'utf8');
    expect(firstId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await readFile(join(dir, '..', 'iid2'), 'utf8')).toBe(firstId);
    expect((await fx.image('cache')).manifest.config.digest).toBe(firstId);

    const noCache = await fx.build(['-t', 'cache', '--no-cache', '--iidfile', join(dir, '..', 'iid3'), dir]);
    expect(noCache.status).toBe(0);
    expect(await readFile(join(dir, '..', 'iid3'), 'utf8')).not.toBe(firstId);
    expect(cachedSteps(noCache.stderr)).toEqual([]);
    expect(ranSteps(noCache.stderr)).toHaveLength(2);
  });

  it('records every step that ran before the build ends, and leaves no working directory, after a success or a failure', async () => {
    // Records are written, and steps' working directories removed, while the next step runs.
    const steps = ['RUN echo 1 > /one', 'RUN echo 2 > /two', 'COPY f /f', 'RUN echo 3 > /three'];
    const dir = await fx.context('background', { Dockerfile: ['FROM busybox', ...steps, ''].join('\n'), f: 'f\n' });
    const first = await fx.build(['--no-cache', '-t', 'background', dir]);
    expect(first.status, first.stderr).toBe(0);
    expect(await readdir(join(fx.root, 'tmp'))).toEqual([]);
    const again = await fx.build(['-t', 'background', dir]);
    expect(cachedSteps(again.stderr).filter((step) => !step.includes('FROM'))).toHaveLength(steps.length);
    await writeFile(join(dir, 'Dockerfile'), ['FROM busybox', 'RUN echo 1 > /one', 'RUN echo new > /new', 'RUN exit 7', ''].join('\n'));
    const failed = await fx.build(['-t', 'background', dir]);
    expect(failed.status).not.toBe(0);
    expect(await readdir(join(fx.root, 'tmp'))).toEqual([]);
    // The step that ran just before the failure is a hit for the next build.
    await writeFile(join(dir, 'Dockerfile'), ['FROM busybox', 'RUN echo 1 > /one', 'RUN echo new > /new', ''].join('\n'));
    const after = await fx.build(['-t', 'background', dir]);
    expect(cachedSteps(after.stderr)).toContain('[3/3] RUN echo new > /new');
  });

  it('misses at the first use of a changed build arg, not at its declaration', async () => {
    const dir = await fx.context('args', { Dockerfile: 'FROM busybox\nARG V=1\nRUN echo before > /before\nRUN echo $V > /v\nRUN echo after > /after\n' });
    expect((await fx.build(['-t', 'args', dir])).status).toBe(0);
    const changed = await fx.build(['-t', 'args', '--build-arg', 'V=2', dir]);
    expect(changed.status).toBe(0);
    // An ARG in effect is part of every later RUN's environment, as in BuildKit: the first RUN
    // after the ARG misses, whatever it reads.
    expect(ranSteps(changed.stderr)).toEqual(['[2/4] RUN echo before > /before', '[3/4] RUN echo 2 > /v', '[4/4] RUN echo after > /after']);
    const late = await fx.context('late-arg', { Dockerfile: 'FROM busybox\nRUN echo before > /before\nARG V=1\nRUN echo $V > /v\n' });
    expect((await fx.build(['-t', 'late', late])).status).toBe(0);
    const lateChanged = await fx.build(['-t', 'late', '--build-arg', 'V=3', late]);
    expect(cachedSteps(lateChanged.stderr)).toEqual(['[2/3] RUN echo before > /before']);
    expect(ranSteps(lateChanged.stderr)).toEqual(['[3/3] RUN echo 3 > /v']);
    const image = await fx.image('late');
    const files = await fx.layerFiles(image.manifest.layers.at(-1) as never);
    expect(files.find((file) => file.path === 'v')?.text).toBe('3\n');
  });

  it('fails on a non-zero exit with the Dockerfile line, the status and the output, and names nothing', async () => {
    const dir = await fx.context('fail', { Dockerfile: 'FROM busybox\nRUN echo fine\nRUN echo some output; echo oops >&2; exit 3\nRUN echo never\n' });
    const result = await fx.build(['-t', 'failed', dir]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('did not complete successfully: exit code: 3');
    // BuildKit's excerpt: the line without a column, two lines on each side (the empty one
    // after the file's last newline among them).
    expect(result.stderr).toContain(
      [
        'Dockerfile:3',
        '--------------------',
        '   1 |     FROM busybox',
        '   2 |     RUN echo fine',
        '   3 | >>> RUN echo some output; echo oops >&2; exit 3',
        '   4 |     RUN echo never',
        '   5 |     ',
        '--------------------',
      ].join('\n'),
    );
    expect(result.stderr).toContain('oops');
    expect(result.stderr).not.toContain('[4/4] RUN echo never\n#');
    expect(result.stderr.trimEnd().split('\n').at(-1)).toBe('ERROR: failed to solve: process "/bin/sh -c echo some output; echo oops >&2; exit 3" did not complete successfully: exit code: 3');
    expect(await fx.store.resolveReference('docker.io/library/failed:latest')).toBeUndefined();
  });

  it('cancels a step of another stage that still runs when one fails, as BuildKit, and starts nothing more', async () => {
    const dir = await fx.context('cancel-parallel', {
      Dockerfile: 'FROM busybox AS a\nRUN sleep 1 && exit 3\nFROM busybox AS b\nRUN sleep 30 && echo b > /b\nRUN echo never > /never\nFROM scratch\nCOPY --from=a /etc/passwd /a\nCOPY --from=b /b /b\n',
    });
    const started = Date.now();
    const result = await fx.build(['--progress', 'plain', '-t', 'cancel-parallel', dir]);
    expect(result.status).toBe(1);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(result.stderr).toMatch(/^#\d+ CANCELED$/m);
    expect(result.stderr).not.toContain('RUN echo never');
    expect(result.stderr.trimEnd().split('\n').at(-1)).toBe('ERROR: failed to solve: process "/bin/sh -c sleep 1 && exit 3" did not complete successfully: exit code: 3');
  });

  it('shows an ADD whose download the failure of another stage cut short as CANCELED, the image below it loaded first', async () => {
    // A server that sends part of a body and then nothing: the download is under way when the other stage fails.
    const server = createServer((request, response) => {
      response.writeHead(200, { 'content-length': '1000000' });
      response.write(Buffer.alloc(1000));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const dir = await fx.context('cancel-download', {
        Dockerfile: `FROM busybox AS download\nADD http://127.0.0.1:${port}/slow /slow\nFROM busybox AS fail\nRUN sleep 1 && exit 3\nFROM scratch\nCOPY --from=download /slow /\nCOPY --from=fail /etc/passwd /\n`,
      });
      const result = await fx.build(['--progress', 'plain', '-t', 'cancel-download', dir]);
      expect(result.status).toBe(1);
      const add = /^#(\d+) \[download 2\/2\] ADD http:\/\/127\.0\.0\.1:\d+\/slow \/slow$/m.exec(result.stderr);
      expect(add, result.stderr).not.toBeNull();
      expect(result.stderr).toMatch(new RegExp(`^#${add?.[1] ?? ''} CANCELED$`, 'm'));
      expect(result.stderr.trimEnd().split('\n').at(-1)).toBe('ERROR: failed to solve: process "/bin/sh -c sleep 1 && exit 3" did not complete successfully: exit code: 3');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('shows nothing of a step whose source stage failed before it began, as BuildKit never starts it', async () => {
    const dir = await fx.context('failed-source', { Dockerfile: 'FROM busybox AS p\nRUN exit 4\nFROM scratch\nCOPY --from=p /out /out\n' });
    const result = await fx.build(['--progress', 'plain', '-t', 'failed-source', dir]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('ERROR: process "/bin/sh -c exit 4" did not complete successfully: exit code: 4');
    expect(result.stderr).not.toContain('1/1] COPY --from=p');
  });

  it('names a program that cannot start by the step\'s command, as a failed one, and logs no runtime line', async () => {
    const dir = await fx.context('no-program', { Dockerfile: 'FROM busybox\nRUN ["/no/such/program", "arg"]\nRUN echo never\n' });
    const result = await fx.build(['--progress', 'plain', '-t', 'no-program', dir]);
    expect(result.status).toBe(1);
    expect(result.stderr.trimEnd().split('\n').at(-1)).toMatch(/^ERROR: failed to solve: process "\/no\/such\/program arg" did not complete successfully: execve \/no\/such\/program: No such file or directory/);
    expect(result.stderr).not.toContain('{"error"');
    expect(result.stderr).not.toContain('run container tsbuild-');
  });

  it('keeps the sandbox out of the image, but the directories its stubs were made in, as BuildKit', async () => {
    // BuildKit removes the empty /etc/hosts and /etc/resolv.conf it mounted over and gives /etc
    // the times it had just before (those of the stubs' making): /etc is in every RUN's layer.
    // The first RUN also keeps /dev, /proc and /sys, which this busybox lacks and runc makes to
    // mount on; the second finds them and changes nothing there.
    const dir = await fx.context('nothing', { Dockerfile: 'FROM busybox\nRUN true\nRUN cat /etc/resolv.conf > /dev/null && ls /proc/self > /dev/null\n' });
    const started = Date.now() / 1000;
    expect((await fx.build(['-t', 'nothing', dir])).status).toBe(0);
    const image = await fx.image('nothing');
    expect(image.manifest.layers).toHaveLength(3);
    expect((image.config.history ?? []).slice(1).map((h) => h.empty_layer)).toEqual([undefined, undefined]);
    const [first, second] = await Promise.all(image.manifest.layers.slice(1).map((layer) => fx.layerFiles(layer)));
    expect(first?.map((file) => [file.path, file.type, file.mode])).toEqual([
      ['dev', 'directory', 0o755],
      ['etc', 'directory', 0o755],
      ['proc', 'directory', 0o755],
      ['sys', 'directory', 0o755],
    ]);
    expect(second?.map((file) => [file.path, file.type])).toEqual([['etc', 'directory']]);
    for (const file of [...(first ?? []), ...(second ?? [])]) expect(file.mtime).toBeGreaterThanOrEqual(Math.floor(started));
  });

  it("stacks each step's kept changes under the next, and unpacks the tree once the stack outgrows overlay's options", async () => {
    // Each step removes a file and a directory a step below it made (whiteouts, opaque
    // directories in a lower of the stack) and appends to a file of the base's layer.
    const steps = 60;
    const runs = Array.from({ length: steps }, (_, index) => {
      const step = index + 1;
      return `RUN echo ${step} >> /etc/log && rm -f /f${step - 1} && touch /f${step} && rm -rf /d && mkdir /d && echo ${step} > /d/x${step}`;
    });
    const dir = await fx.context('stacked', {
      Dockerfile: ['FROM busybox', 'RUN : > /etc/log && mkdir /d && touch /d/base /f0', ...runs, 'RUN (ls / | grep "^f"; ls /d; wc -l < /etc/log) > /state'].join('\n'),
    });
    const result = await fx.build(['-t', 'stacked', dir]);
    expect(result.status, result.stderr).toBe(0);
    const image = await fx.image('stacked');
    const state = (await fx.layerFiles(image.manifest.layers.at(-1) as Descriptor)).find((file) => file.path === 'state');
    expect(state?.text).toBe(`f${steps}\nx${steps}\n${steps}\n`);
    const chains = chainIds(image.config.rootfs.diff_ids).map((chain) => chain.slice('sha256:'.length));
    const kept = new Set(await readdir(join(fx.root, 'layers', 'diff')));
    expect(chains.slice(1).every((chain) => kept.has(chain))).toBe(true);
    // The paths of 60 diffs do not fit in one page of mount options: some chain in the middle
    // was unpacked, by hard links from the diffs, for the steps above it to stack on.
    const unpacked = new Set(await readdir(join(fx.root, 'layers', 'sha256')));
    expect(chains.slice(2, -2).some((chain) => unpacked.has(chain))).toBe(true);
    // And a tree unpacked from the diffs is the image's, as `tsbuild run` sees it.
    const run = await runCliCaptured(['run', '--root', fx.root, '--rm', '--network', 'none', 'stacked', 'sh', '-c', 'cat /state; ls /d; wc -l < /etc/log']);
    expect(run.stdout).toBe(`f${steps}\nx${steps}\n${steps}\nx${steps}\n${steps}\n`);
  });

  it('keeps the layer of a step that changed nothing, empty, as BuildKit does', async () => {
    // With /etc/hosts and /etc/resolv.conf in the image the sandbox makes no stub, and with
    // /dev, /proc and /sys no mount point (busybox here lacks them: a COPY makes them): RUN true
    // and a WORKDIR that is there change nothing, and each is still a layer (an empty tar).
    const dir = await fx.context('unchanged', {
      Dockerfile: 'FROM busybox\nCOPY hosts /etc/hosts\nCOPY hosts /etc/resolv.conf\nCOPY root/ /\nRUN true\nWORKDIR /tmp\nWORKDIR /\n',
      hosts: '127.0.0.1 localhost\n',
      'root/dev/.keep': '',
      'root/proc/.keep': '',
      'root/sys/.keep': '',
    });
    expect((await fx.build(['-t', 'unchanged', dir])).status).toBe(0);
    const image = await fx.image('unchanged');
    expect(image.manifest.layers).toHaveLength(6);
    expect((image.config.history ?? []).slice(1).map((h) => [h.created_by, h.empty_layer])).toEqual([
      ['COPY hosts /etc/hosts # buildkit', undefined],
      ['COPY hosts /etc/resolv.conf # buildkit', undefined],
      ['COPY root/ / # buildkit', undefined],
      ['RUN /bin/sh -c true # buildkit', undefined],
      ['WORKDIR /tmp', undefined],
      ['WORKDIR /', true],
    ]);
    for (const layer of image.manifest.layers.slice(4)) expect(await fx.layerFiles(layer)).toEqual([]);
    // The empty tar is the end-of-archive blocks alone.
    expect(image.config.rootfs.diff_ids[4]).toBe(`sha256:${createHash('sha256').update(Buffer.alloc(1024)).digest('hex')}`);
  });

  it('removes the sandbox stubs only at their own path: never through a link the command planted', async () => {
    // The image's /etc is a link; the command points it at a host directory holding an empty
    // `hosts` and `resolv.conf`, which look like the stubs the sandbox would have made.
    const victim = join(fx.dir, 'victim');
    await mkdir(victim);
    await writeFile(join(victim, 'hosts'), '');
    await writeFile(join(victim, 'resolv.conf'), '');
    const dir = await fx.context('planted', {
      Dockerfile: [
        'FROM busybox AS tools',
        'FROM scratch',
        'COPY --from=tools /bin/busybox /bin/busybox',
        'ADD etc.tar /',
        `RUN ["/bin/busybox", "sh", "-c", "/bin/busybox rm /etc && /bin/busybox ln -s ${victim} /etc"]`,
      ].join('\n'),
    });
    const tree = join(fx.dir, 'planted-tree');
    await mkdir(tree);
    await mkdir(join(tree, 'elsewhere'));
    await symlink('/elsewhere', join(tree, 'etc'));
    execFileSync('tar', ['-C', tree, '-cf', join(dir, 'etc.tar'), 'etc', 'elsewhere']);
    const result = await fx.build(['-t', 'planted', dir]);
    expect(result.stderr).not.toContain('victim/hosts');
    expect(existsSync(join(victim, 'hosts'))).toBe(true);
    expect(existsSync(join(victim, 'resolv.conf'))).toBe(true);
    // The stubs the sandbox made where the image's link led are gone, as every stub; the
    // directory they were made in stays, with their time, as BuildKit leaves it, and so do the
    // mount points of /dev, /proc and /sys the scratch root lacked.
    const image = await fx.image('planted');
    const files = await fx.layerFiles(image.manifest.layers.at(-1) as never);
    expect(files.map((file) => file.path).sort()).toEqual(['dev', 'elsewhere', 'etc', 'proc', 'sys']);
  });

  it("gives every RUN docker build's --add-host, --ulimit and --shm-size, keyed by them, and takes docker's and buildx's flags that change nothing", async () => {
    const dir = await fx.context('sandbox-flags', {
      Dockerfile: ['FROM busybox', 'RUN tail -n 2 /etc/hosts > /hosts && ulimit -c > /core && ulimit -n > /nofile && df -k /dev/shm | tail -n 1 | awk \'{print $2}\' > /shm'].join('\n'),
    });
    const flags = ['--add-host', 'db:10.1.2.3', '--add-host', 'host.docker.internal:host-gateway', '--ulimit', 'core=0:0', '--shm-size', '128m'];
    // With the classic builder's flags buildx takes without a word, and the default builder's name.
    const ignored = ['-m', '1g', '--memory-swap', '2g', '-c', '512', '--cpu-period', '100000', '--cpu-quota', '50000', '--cpuset-cpus', '0', '--cpuset-mems', '0', '--compress', '--builder', 'default'];
    const given = await fx.build(['-t', 'sandbox-flags', ...flags, '--rm', '--force-rm', '--load', '--provenance=false', '--sbom', 'false', ...ignored, dir]);
    expect(given.stderr).not.toMatch(/ERROR|WARNING/);
    expect(given.status).toBe(0);
    const files = await imageFiles(fx, 'sandbox-flags');
    expect(files.get('hosts')?.text).toBe('10.1.2.3\tdb\n127.0.0.1\thost.docker.internal\n');
    expect(files.get('core')?.text).toBe('0\n');
    expect(files.get('shm')?.text).toBe('131072\n');
    // Without --ulimit nofile, the open-files limit stays the one every RUN gets.
    const plain = await fx.build(['-t', 'sandbox-plain', dir]);
    expect(plain.status).toBe(0);
    expect(ranSteps(plain.stderr)).toHaveLength(1);
    const plainFiles = await imageFiles(fx, 'sandbox-plain');
    expect(plainFiles.get('nofile')?.text).toBe(files.get('nofile')?.text);
    expect(plainFiles.get('hosts')?.text).toBe('127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n');
    expect(plainFiles.get('shm')?.text).toBe('65536\n');
    // The same flags again: every step from the cache.
    const again = await fx.build(['-t', 'sandbox-flags', ...flags, dir]);
    expect(ranSteps(again.stderr)).toEqual([]);
    // An attestation asked for is a warning: there is none.
    const attested = await fx.build(['-t', 'sandbox-flags', ...flags, '--provenance', 'mode=max', dir]);
    expect(attested.status).toBe(0);
    expect(attested.stderr).toContain('WARNING: --provenance=mode=max: tsbuild makes no attestations');
    // buildx's --attest: the same, none when disabled, and a type it knows.
    const attest = await fx.build(['-t', 'sandbox-flags', ...flags, '--attest', 'type=provenance,mode=max', '--attest', 'type=sbom,disabled=true', dir]);
    expect(attest.status).toBe(0);
    expect(attest.stderr).toContain('WARNING: --attest=type=provenance,mode=max: tsbuild makes no attestations');
    expect(attest.stderr).not.toContain('--attest=type=sbom');
    const untyped = await fx.build(['-t', 'sandbox-flags', '--attest', 'mode=max', dir]);
    expect([untyped.status, untyped.stderr]).toEqual([1, expect.stringContaining('attestation type not specified')]);
    // Those docker warns of, in its words; the step still from the cache.
    const warned = await fx.build(['-t', 'sandbox-flags', ...flags, '--squash', '--isolation', 'default', '--security-opt', 'seccomp=unconfined', '--cgroup-parent', 'ci.slice', dir]);
    expect(warned.status).toBe(0);
    expect(ranSteps(warned.stderr)).toEqual([]);
    expect(warned.stderr).toContain('WARNING: experimental flag squash is removed with BuildKit. You should squash inside build using a multi-stage Dockerfile for efficiency.\n');
    expect(warned.stderr).toContain('WARNING: isolation flag is deprecated with BuildKit.\n');
    expect(warned.stderr).toContain('WARNING: security-opt flag is deprecated. "RUN --security=insecure" should be used with BuildKit.\n');
    expect(warned.stderr).toContain('WARNING: --cgroup-parent ci.slice: not applied');
    const bad = await fx.build(['-t', 'sandbox-flags', '--add-host', 'nocolon', dir]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('invalid argument "nocolon" for "--add-host" flag');
  });

  it('names the sandbox by the build argument BUILDKIT_SANDBOX_HOSTNAME, in every stage, keyed by it', async () => {
    const dir = await fx.context('sandbox-hostname', {
      Dockerfile: ['FROM busybox AS first', 'RUN hostname > /first', 'FROM first', 'RUN hostname > /second && head -n 1 /etc/hosts > /hosts'].join('\n'),
    });
    const named = await fx.build(['-t', 'sandbox-hostname', '--build-arg', 'BUILDKIT_SANDBOX_HOSTNAME=builder.example', dir]);
    expect(named.status, named.stderr).toBe(0);
    expect(named.stderr).not.toContain('were not consumed');
    const files = await imageFiles(fx, 'sandbox-hostname');
    expect(files.get('first')?.text).toBe('builder.example\n');
    expect(files.get('second')?.text).toBe('builder.example\n');
    expect(files.get('hosts')?.text).toBe('127.0.0.1\tlocalhost builder.example\n');
    // Another name runs the steps again; an empty one is BuildKit's default, as no name at all.
    const other = await fx.build(['-t', 'sandbox-hostname-other', '--build-arg', 'BUILDKIT_SANDBOX_HOSTNAME=other', dir]);
    expect(ranSteps(other.stderr)).toHaveLength(2);
    expect((await imageFiles(fx, 'sandbox-hostname-other')).get('second')?.text).toBe('other\n');
    const empty = await fx.build(['-t', 'sandbox-hostname-empty', '--build-arg', 'BUILDKIT_SANDBOX_HOSTNAME=', dir]);
    expect(empty.status, empty.stderr).toBe(0);
    expect((await imageFiles(fx, 'sandbox-hostname-empty')).get('second')?.text).toBe('buildkitsandbox\n');
  });

  it('reads a JSON form with text after it as the shell form where the syntax directive names a frontend of 1.9 or later, as the first JSON value otherwise', async () => {
    // The ONBUILD trigger is read by the frontend of the build that runs it.
    const lines = ['FROM busybox AS base', 'ONBUILD RUN ["sh", "-c", "echo exec > /trig"] ; echo shell > /trig', 'FROM base', 'RUN ["sh", "-c", "echo exec > /ran"] ; echo shell > /ran', 'CMD ["echo", "hi"] # greet'];
    const modern = await fx.build(['-t', 'json-trailing-modern', await fx.context('json-trailing-modern', { Dockerfile: ['# syntax=docker/dockerfile:1', ...lines].join('\n') })]);
    expect(modern.status, modern.stderr).toBe(0);
    const modernImage = await fx.image('json-trailing-modern');
    expect(modernImage.config.config?.Cmd).toEqual(['/bin/sh', '-c', '["echo", "hi"] # greet']);
    // The shell finds no command `["sh",` and goes on after the `;`.
    expect((await imageFiles(fx, 'json-trailing-modern')).get('ran')?.text).toBe('shell\n');
    expect((await imageFiles(fx, 'json-trailing-modern')).get('trig')?.text).toBe('shell\n');
    expect(modernImage.config.history?.at(-2)?.created_by).toBe('RUN /bin/sh -c ["sh", "-c", "echo exec > /ran"] ; echo shell > /ran # buildkit');
    const reference = await fx.build(['-t', 'json-trailing-reference', await fx.context('json-trailing-reference', { Dockerfile: lines.join('\n') })]);
    expect(reference.status, reference.stderr).toBe(0);
    expect((await fx.image('json-trailing-reference')).config.config?.Cmd).toEqual(['echo', 'hi']);
    expect((await imageFiles(fx, 'json-trailing-reference')).get('ran')?.text).toBe('exec\n');
    expect((await imageFiles(fx, 'json-trailing-reference')).get('trig')?.text).toBe('exec\n');
  });

  it("gives a step that asked for the host's network BuildKit's resolv-host.conf, every other step its resolv.conf", async () => {
    const dir = await fx.context('sandbox-resolv', {
      Dockerfile: ['FROM busybox', 'RUN cat /etc/resolv.conf > /default', 'RUN --network=none cat /etc/resolv.conf > /none', 'RUN --network=host cat /etc/resolv.conf > /host'].join('\n'),
    });
    const result = await fx.build(['-t', 'sandbox-resolv', '--allow', 'network.host', dir]);
    expect(result.status, result.stderr).toBe(0);
    const expected = await sandboxResolvConfs();
    const files = await imageFiles(fx, 'sandbox-resolv');
    expect(files.get('default')?.text).toBe(expected.other);
    expect(files.get('none')?.text).toBe(expected.other);
    expect(files.get('host')?.text).toBe(expected.host);
    // A build on the host's network: its steps asked for it.
    const onHost = await fx.build(['-t', 'sandbox-resolv-host', '--network', 'host', dir]);
    expect(onHost.status, onHost.stderr).toBe(0);
    const hostFiles = await imageFiles(fx, 'sandbox-resolv-host');
    expect(hostFiles.get('default')?.text).toBe(expected.host);
    expect(hostFiles.get('none')?.text).toBe(expected.other);
  });
});
