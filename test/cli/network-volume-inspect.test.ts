/**
 * `network inspect` and `volume inspect`: the fields scripts read, as docker 26 prints them for
 * the built-in networks, the default bridge, a network `network create` made, and volumes with
 * and without labels. Nothing here touches the host's network: the records are the store's.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeNetwork, type NetworkRecord } from '../../src/runtime/network/state.js';
import { runCliCaptured } from '../helpers/run-cli.js';
import { useTemporaryStores } from '../helpers/temporary-store.js';

describe('network and volume inspect', () => {
  const stores = useTemporaryStores();

  const inspect = async (...args: string[]): Promise<unknown> => {
    const result = await runCliCaptured([...args, '--root', stores.root()]);
    expect(result.status, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as unknown;
  };

  it("shows IPAM as docker 26 does: no config for host and none, options {} for a created network and null for the default bridge", async () => {
    const store = await stores.open();
    await mkdir(join(store.root, 'networks'), { recursive: true });
    const made: NetworkRecord = { id: 'cd'.padEnd(64, '0'), name: 'made', created: '2026-01-01T00:00:00Z', driver: 'bridge', internal: false, labels: { team: 'web' }, isDefault: false, subnetGiven: false, subnet: '172.18.0.0/16', gateway: '172.18.0.1', bridge: 'tsb-cd00000000', endpoints: {} };
    await writeNetwork(store, made);
    // docker 26: `network inspect host -f '{{json .IPAM}}'` is {"Driver":"default","Options":null,"Config":null}.
    expect(await inspect('network', 'inspect', '-f', '{{json .IPAM}}', 'host')).toEqual({ Driver: 'default', Options: null, Config: null });
    expect(await inspect('network', 'inspect', '-f', '{{json .IPAM}}', 'none')).toEqual({ Driver: 'default', Options: null, Config: null });
    // A network of `network create`: {"Driver":"default","Options":{},"Config":[{"Subnet":…,"Gateway":…}]}.
    expect(await inspect('network', 'inspect', '-f', '{{json .IPAM}}', 'made')).toEqual({ Driver: 'default', Options: {}, Config: [{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }] });
    expect(await inspect('network', 'inspect', '-f', '{{json .IPAM.Options}}', 'bridge')).toBeNull();
  });

  it('shows null labels and options for a volume that has none, as docker 26 does', async () => {
    for (const args of [['bare'], ['--label', 'team=web', 'labelled']]) expect((await runCliCaptured(['volume', 'create', '--root', stores.root(), ...args])).status).toBe(0);
    // docker 26 `volume create bare; volume inspect bare`: "Labels": null, "Options": null (20.10 showed {}).
    expect(await inspect('volume', 'inspect', 'bare', 'labelled')).toEqual([
      expect.objectContaining({ Name: 'bare', Labels: null, Options: null }),
      expect.objectContaining({ Name: 'labelled', Labels: { team: 'web' }, Options: null }),
    ]);
  });

  it('runs a template as docker 26 does: on the typed struct, then on the raw JSON with missingkey=error', async () => {
    expect((await runCliCaptured(['volume', 'create', '--root', stores.root(), 'bare'])).status).toBe(0);
    const run = (...args: string[]) => runCliCaptured([...args, '--root', stores.root()]);
    // Fields JSON leaves out or has as null, as Go holds them; Id by its Go name too.
    expect(await run('volume', 'inspect', '-f', '{{.Labels}} {{.Status}} {{.UsageData}} {{index .Options "x"}}|', 'bare')).toMatchObject({ status: 0, stdout: 'map[] map[] <nil> |\n' });
    expect(await run('network', 'inspect', '-f', '{{.ID}} {{.IPAM.Config}}', 'none')).toMatchObject({ status: 0, stdout: expect.stringMatching(/^[0-9a-f]{64} \[\]\n$/) });
    // A field neither has: the raw document's error, after what the other names printed; a newline when nothing was printed.
    expect(await run('volume', 'inspect', '-f', '{{.Nope}}', 'bare')).toEqual({
      status: 1,
      stdout: '\n',
      stderr: 'template parsing error: template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"\n',
    });
    const mixed = await run('inspect', '-f', '{{.Name}} {{.Scope}}', 'none', 'missing', 'bare');
    expect(mixed).toEqual({ status: 1, stdout: 'none local\nbare local\n', stderr: 'Error: No such object: missing\n' });
    // `-f json`: the documents as one compact array.
    const json = await run('volume', 'inspect', '-f', 'json', 'bare');
    expect(json.stdout).toBe(`${JSON.stringify(JSON.parse(json.stdout))}\n`);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ Name: 'bare', Labels: null })]);
  });
});
