import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allocateAddress, defaultPool, exposedPortSpecs, formatAddress, formatSubnet, overlaps, parseAddress, parsePortSpec, parseRequestedRange, parseSubnet, portsToPublish } from '../../src/runtime/network/address.js';
import { createNetwork, type CreateNetworkOptions } from '../../src/runtime/network/attach.js';
import { checkPortFree, chooseHostPort } from '../../src/runtime/network/ports.js';
import { writeNetwork, type NetworkRecord } from '../../src/runtime/network/state.js';
import type { Store } from '../../src/store/index.js';

describe('network addresses', () => {
  it('reads subnets as docker does, host bits dropped', () => {
    expect(formatSubnet(parseSubnet('10.1.2.3/24'))).toBe('10.1.2.0/24');
    expect(formatSubnet(parseSubnet('172.20.0.0/16'))).toBe('172.20.0.0/16');
    for (const bad of ['10.1.2.0', '10.1.2.0/31', '10.1.2.0/7', '300.1.2.0/24', 'x/24', '10.1.2.0/2x']) expect(() => parseSubnet(bad)).toThrow(/invalid subnet/);
    expect(overlaps(parseSubnet('10.0.0.0/8'), parseSubnet('10.5.0.0/16'))).toBe(true);
    expect(overlaps(parseSubnet('10.5.1.0/24'), parseSubnet('10.5.2.0/24'))).toBe(false);
  });

  it("picks user networks' subnets from docker's pools without the default bridge's 172.17.0.0/16", () => {
    // docker 26 with its default bridge on 172.17.0.0/16: the first `network create` gets 172.18.0.0/16.
    expect(formatSubnet(defaultPool()[0] ?? expect.fail('empty pool'))).toBe('172.17.0.0/16');
    expect(formatSubnet(defaultPool(false)[0] ?? expect.fail('empty pool'))).toBe('172.18.0.0/16');
    expect(defaultPool(false).map(formatSubnet)).not.toContain('172.17.0.0/16');
    expect(defaultPool(false).map(formatSubnet)).toContain('192.168.240.0/20');
  });

  it('gives the lowest free host address, never the network, broadcast or gateway one', () => {
    const subnet = parseSubnet('10.9.0.0/29');
    const gateway = parseAddress('10.9.0.1') ?? 0;
    const used = new Set<number>();
    const given: string[] = [];
    for (let address = allocateAddress(subnet, gateway, used); address !== undefined; address = allocateAddress(subnet, gateway, used)) {
      used.add(address);
      given.push(formatAddress(address));
    }
    expect(given).toEqual(['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);
    used.delete(parseAddress('10.9.0.3') ?? 0);
    expect(formatAddress(allocateAddress(subnet, gateway, used) ?? 0)).toBe('10.9.0.3');
  });

  it('gives addresses of an --ip-range only, never the subnet\'s own or its broadcast, and reads the range in docker 26\'s words', () => {
    const subnet = parseSubnet('10.9.0.0/29');
    const gateway = parseAddress('10.9.0.1') ?? 0;
    const drain = (range: ReturnType<typeof parseSubnet>): string[] => {
      const used = new Set<number>();
      const given: string[] = [];
      for (let address = allocateAddress(subnet, gateway, used, range); address !== undefined; address = allocateAddress(subnet, gateway, used, range)) {
        used.add(address);
        given.push(formatAddress(address));
      }
      return given;
    };
    expect(drain(parseRequestedRange('10.9.0.4/30', subnet))).toEqual(['10.9.0.4', '10.9.0.5', '10.9.0.6']);
    expect(drain(parseRequestedRange('10.9.0.0/30', subnet))).toEqual(['10.9.0.2', '10.9.0.3']);
    expect(() => parseRequestedRange('10.9.0.0/x', subnet)).toThrow('invalid ip-range 10.9.0.0/x: invalid CIDR block notation');
    expect(() => parseRequestedRange('10.9.0.5/30', subnet)).toThrow('invalid ip-range 10.9.0.5/30: it should be 10.9.0.4/30');
    expect(() => parseRequestedRange('10.10.0.0/30', subnet)).toThrow("invalid ip-range 10.10.0.0/30: parent subnet 10.9.0.0/29 doesn't contain ip-range");
    expect(() => parseRequestedRange('10.9.0.0/24', subnet)).toThrow('invalid ip-range 10.9.0.0/24: CIDR block is bigger than its parent subnet 10.9.0.0/29');
  });

  it('reads -p as docker does', () => {
    expect(parsePortSpec('80')).toEqual([{ hostPort: 0, containerPort: 80, protocol: 'tcp' }]);
    expect(parsePortSpec('8080:80')).toEqual([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
    expect(parsePortSpec('127.0.0.1:8080:80/udp')).toEqual([{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'udp' }]);
    expect(parsePortSpec('127.0.0.1::80')).toEqual([{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }]);
    expect(parsePortSpec('0.0.0.0:53:53/udp')).toEqual([{ hostPort: 53, containerPort: 53, protocol: 'udp' }]);
    // docker 26 takes the protocol in any case, and host port 0 as "choose one".
    expect(parsePortSpec('0:80/TCP')).toEqual([{ hostPort: 0, containerPort: 80, protocol: 'tcp' }]);
    for (const bad of ['80/sctp', '[::1]:8080:80', '0']) expect(() => parsePortSpec(bad)).toThrow();
    expect(exposedPortSpecs({ '80/tcp': {}, '53/udp': {} })).toEqual([
      { hostPort: 0, containerPort: 80, protocol: 'tcp' },
      { hostPort: 0, containerPort: 53, protocol: 'udp' },
    ]);
  });

  it('gives -P only the exposed ports no -p binds, as docker 26', () => {
    // docker 26 `run --expose 81 -p 8080:8080 -P` (8080 exposed by -p too): 81/tcp on a free port, 8080/tcp on 8080 only.
    const publish = parsePortSpec('8080:8080');
    expect(portsToPublish(publish, exposedPortSpecs({ '8080/tcp': {}, '81/tcp': {}, '8080/udp': {} }))).toEqual([
      { hostPort: 8080, containerPort: 8080, protocol: 'tcp' },
      { hostPort: 0, containerPort: 81, protocol: 'tcp' },
      { hostPort: 0, containerPort: 8080, protocol: 'udp' },
    ]);
  });

  it('reads -p ranges as docker 26 does: one port each, or a host range to choose one from', () => {
    // docker 26 `run -p 8000-8001:80-81` publishes 80/tcp on 8000 and 81/tcp on 8001.
    expect(parsePortSpec('8000-8001:80-81')).toEqual([
      { hostPort: 8000, containerPort: 80, protocol: 'tcp' },
      { hostPort: 8001, containerPort: 81, protocol: 'tcp' },
    ]);
    // `-p 80-81`: each container port on a host port of its own, chosen when published.
    expect(parsePortSpec('80-81/udp')).toEqual([
      { hostPort: 0, containerPort: 80, protocol: 'udp' },
      { hostPort: 0, containerPort: 81, protocol: 'udp' },
    ]);
    // `-p 8000-8010:80`: docker keeps HostPort "8000-8010" and publishes on the first free one.
    expect(parsePortSpec('127.0.0.1:8000-8010:80')).toEqual([{ hostIp: '127.0.0.1', hostPort: 8000, hostPortEnd: 8010, containerPort: 80, protocol: 'tcp' }]);
  });

  it("refuses bad -p in docker 26's words", () => {
    // As `docker run -p …` says them (the CLI adds a final period).
    const refusals: Record<string, string> = {
      '70000:80': 'Invalid hostPort: 70000',
      'a:80': 'Invalid hostPort: a',
      '80-x': 'Invalid containerPort: 80-x',
      '1.2.3:80:80': 'Invalid ip address: 1.2.3',
      '8000-8002:80-81': 'Invalid ranges specified for container and host Ports: 80-81 and 8000-8002',
      '80/xyz': 'Invalid proto: xyz',
      '': 'No port specified: <empty>',
    };
    for (const [spec, message] of Object.entries(refusals)) expect(() => parsePortSpec(spec), spec).toThrow(message);
  });
});

describe('host ports chosen for -p', () => {
  it("takes the first free port of a host range, and says a taken port in docker's words", async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as AddressInfo).port;
    try {
      const chosen = await chooseHostPort({ hostIp: '127.0.0.1', hostPort: taken, hostPortEnd: taken + 50, containerPort: 80, protocol: 'tcp' });
      expect(chosen.hostPort).toBeGreaterThan(taken);
      expect(chosen.hostPort).toBeLessThanOrEqual(taken + 50);
      expect(chosen).not.toHaveProperty('hostPortEnd');
      // `-p R:80 -p R:81` over one range: each its own port of it.
      const second = await chooseHostPort({ hostIp: '127.0.0.1', hostPort: taken, hostPortEnd: taken + 50, containerPort: 81, protocol: 'tcp' }, [chosen]);
      expect(second.hostPort).not.toBe(chosen.hostPort);
      // docker 26: `Bind for 0.0.0.0:8080 failed: port is already allocated`.
      await expect(checkPortFree({ hostIp: '127.0.0.1', hostPort: taken, protocol: 'tcp' })).rejects.toThrow(`Bind for 127.0.0.1:${taken} failed: port is already allocated`);
    } finally {
      holder.close();
    }
  });
});

describe('network create refusals', () => {
  it("refuses a bad --subnet or --gateway, and a subnet another network holds, in docker 26's words", async () => {
    const root = await mkdtemp(join(tmpdir(), 'tsbuild-netcreate-'));
    try {
      const store = { root } as Store;
      const held: NetworkRecord = { id: 'ab'.padEnd(64, '0'), name: 'held', created: '2026-01-01T00:00:00Z', driver: 'bridge', internal: false, labels: {}, isDefault: false, subnetGiven: true, subnet: '10.201.0.0/16', gateway: '10.201.0.1', bridge: 'tsb-ab00000000', endpoints: {} };
      await mkdir(join(root, 'networks'));
      await writeNetwork(store, held);
      // What docker 26's `network create` prints after "Error response from daemon: " (or alone, for the client's own check).
      const refusals: [CreateNetworkOptions, string][] = [
        [{ name: 'n', subnet: 'foo' }, 'invalid network config:\ninvalid subnet foo: invalid CIDR block notation'],
        [{ name: 'n', subnet: '10.200.0.0/33' }, 'invalid network config:\ninvalid subnet 10.200.0.0/33: invalid CIDR block notation'],
        [{ name: 'n', subnet: '10.200.1.5/24' }, 'invalid network config:\ninvalid subnet 10.200.1.5/24: it should be 10.200.1.0/24'],
        [{ name: 'n', gateway: '10.1.0.1' }, 'every ip-range or gateway must have a corresponding subnet'],
        [{ name: 'n', subnet: '10.200.0.0/24', gateway: '10.201.0.1' }, 'no matching subnet for gateway 10.201.0.1'],
        [{ name: 'n', subnet: '10.200.0.0/24', gateway: 'foo' }, 'no matching subnet for gateway foo'],
        [{ name: 'n', subnet: '10.200.0.0/24', gateway: '10.200.0.0' }, 'failed to allocate gateway (10.200.0.0): Address already in use'],
        [{ name: 'n', subnet: '10.200.0.0/24', gateway: '10.200.0.255' }, 'failed to allocate gateway (10.200.0.255): Address already in use'],
        [{ name: 'n', subnet: '10.201.3.0/24' }, 'Pool overlaps with other one on this address space'],
        [{ name: 'held' }, 'network with name held already exists'],
      ];
      for (const [options, message] of refusals) await expect(createNetwork(store, options), JSON.stringify(options)).rejects.toThrow(message);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
