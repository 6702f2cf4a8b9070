/**
 * `system df` in docker's figures and words: images in use are those a container was made from,
 * an image's shared size is what other images hold of it, what is reclaimable follows docker's
 * rules (no percentage of nothing), `-v` lists images, containers, volumes and cache records
 * under docker's headings, and `--format` takes json and templates.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatBytes } from '../../src/cli/format.js';
import { layerContentSize } from '../../src/store/index.js';
import { buildFixture, type BuildFixture } from '../helpers/build.js';
import { runCliCaptured } from '../helpers/run-cli.js';

describe('system df', () => {
  let fx: BuildFixture;
  beforeEach(async () => {
    fx = await buildFixture();
  });
  afterEach(async () => {
    await fx.cleanup();
  });

  const cli = async (...args: string[]): Promise<string> => {
    const words = args[0] === 'system' ? 2 : 1;
    const result = await runCliCaptured([...args.slice(0, words), '--root', fx.root, ...args.slice(words)]);
    expect(result.status, result.stderr).toBe(0);
    return result.stdout;
  };

  it("counts images by the containers made from them, and sizes them as docker's", async () => {
    const context = await fx.context('ctx', { Dockerfile: 'FROM busybox\nRUN head -c 300000 /dev/urandom > /blob\nRUN echo two > /two\n' });
    expect((await fx.build(['-t', 'app', context])).status).toBe(0);
    await cli('create', '--name', 'made', '-v', 'kept:/kept', 'app', 'true');

    const sizes = async (name: string): Promise<number[]> => {
      const image = await fx.image(name);
      return Promise.all(image.manifest.layers.map((layer) => layerContentSize(fx.store, layer)));
    };
    const [base = 0] = await sizes('busybox');
    const app = (await sizes('app')).reduce((sum, bytes) => sum + bytes, 0);
    const unique = app - base;
    // Every layer once: busybox's, and app's above it. The one in use (app) keeps its unique part.
    const total = app;
    const reclaimable = total - unique;
    const summary = await cli('system', 'df');
    expect(summary).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\n/);
    expect(summary).toMatch(new RegExp(`^Images\\s+2\\s+1\\s+${formatBytes(total, 4, '')}\\s+${formatBytes(reclaimable, 4, '')} \\(${Math.floor((reclaimable * 100) / total)}%\\)$`, 'm'));
    expect(summary).toMatch(/^Containers\s+1\s+0\s+0B\s+0B$/m);
    expect(summary).toMatch(/^Local Volumes\s+1\s+1\s+/m);

    const json = (await cli('system', 'df', '--format', 'json'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, string>);
    expect(json.map((row) => Object.keys(row))).toEqual(Array(4).fill(['Active', 'Reclaimable', 'Size', 'TotalCount', 'Type']));
    expect(json.map((row) => row.Type)).toEqual(['Images', 'Containers', 'Local Volumes', 'Build Cache']);
    expect(await cli('system', 'df', '--format', '{{.Type}}={{.Active}}/{{.TotalCount}}')).toBe('Images=1/2\nContainers=0/1\nLocal Volumes=1/1\nBuild Cache=0/' + (json[3]?.TotalCount ?? '') + '\n');

    const verbose = await cli('system', 'df', '-v');
    const sections = ['Images space usage:', 'Containers space usage:', 'Local Volumes space usage:', 'Build cache usage:'].map((title) => verbose.indexOf(title));
    expect(sections.every((at, index) => at >= 0 && (index === 0 || at > (sections[index - 1] ?? 0)))).toBe(true);
    expect(verbose).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\s+SHARED SIZE\s+UNIQUE SIZE\s+CONTAINERS$/m);
    expect(verbose).toMatch(new RegExp(`^app\\s+latest\\s+[0-9a-f]{12}\\s+.+ ago\\s+${formatBytes(app, 3, '')}\\s+${formatBytes(base, 4, '')}\\s+${formatBytes(unique, 4, '')}\\s+1$`, 'm'));
    expect(verbose).toMatch(/^busybox\s+latest\s+[0-9a-f]{12}\s+.+ ago\s+\S+\s+\S+\s+0B\s+0$/m);
    expect(verbose).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+LOCAL VOLUMES\s+SIZE\s+CREATED\s+STATUS\s+NAMES$/m);
    expect(verbose).toMatch(/^[0-9a-f]{12}\s+app\s+"true"\s+1\s+0B\s+.+\s+Created\s+made$/m);
    expect(verbose).toMatch(/^VOLUME NAME\s+LINKS\s+SIZE\nkept\s+1\s+0B$/m);
    // One row per record, each under an ID of its own.
    const ids = verbose
      .slice(sections[3])
      .split('\n')
      .slice(3)
      .filter((line) => line !== '')
      .map((line) => line.split(/\s+/)[0]);
    expect(ids.length).toBeGreaterThan(0);
    expect(new Set(ids).size).toBe(ids.length);
    await cli('rm', '-v', 'made');
  });
});
