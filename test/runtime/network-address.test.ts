import { describe, expect, it } from 'vitest';
import { allocateAddress, exposedPortSpecs, formatAddress, formatSubnet, overlaps, parseAddress, parsePortSpec, parsePortSpecs, parseSubnet } from '../../src/runtime/network/address.js';

describe('network addresses', () => {
  it('reads subnets as docker does, host bits dropped', () => {
    expect(formatSubnet(parseSubnet('10.1.2.3/24'))).toBe('10.1.2.0/24');
    expect(formatSubnet(parseSubnet('172.20.0.0/16'))).toBe('172.20.0.0/16');
    for (const bad of ['10.1.2.0', '10.1.2.0/31', '10.1.2.0/7', '300.1.2.0/24', 'x/24', '10.1.2.0/2x']) expect(() => parseSubnet(bad)).toThrow(/invalid subnet/);
    expect(overlaps(parseSubnet('10.0.0.0/8'), parseSubnet('10.5.0.0/16'))).toBe(true);
    expect(overlaps(parseSubnet('10.5.1.0/24'), parseSubnet('10.5.2.0/24'))).toBe(false);
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

  it('reads -p as docker does', () => {
    expect(parsePortSpec('80')).toEqual({ hostPort: 0, containerPort: 80, protocol: 'tcp' });
    expect(parsePortSpec('8080:80')).toEqual({ hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    expect(parsePortSpec('127.0.0.1:8080:80/udp')).toEqual({ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'udp' });
    expect(parsePortSpec('127.0.0.1::80')).toEqual({ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' });
    expect(parsePortSpec('0.0.0.0:53:53/udp')).toEqual({ hostPort: 53, containerPort: 53, protocol: 'udp' });
    for (const bad of ['80/sctp', 'a:80', '70000:80', '1.2.3:80:80', '1:2:3:4']) expect(() => parsePortSpec(bad)).toThrow();
    // Ranges, as docker 26 publishes `-p 18183-18184:7000-7001` (7000/tcp -> 0.0.0.0:18183, 7001/tcp -> 0.0.0.0:18184).
    expect(parsePortSpecs('18183-18184:7000-7001')).toEqual([
      { hostPort: 18183, containerPort: 7000, protocol: 'tcp' },
      { hostPort: 18184, containerPort: 7001, protocol: 'tcp' },
    ]);
    expect(parsePortSpecs('127.0.0.1::53-54/udp')).toEqual([
      { hostIp: '127.0.0.1', hostPort: 0, containerPort: 53, protocol: 'udp' },
      { hostIp: '127.0.0.1', hostPort: 0, containerPort: 54, protocol: 'udp' },
    ]);
    expect(parsePortSpecs('7000-7001')).toEqual([
      { hostPort: 0, containerPort: 7000, protocol: 'tcp' },
      { hostPort: 0, containerPort: 7001, protocol: 'tcp' },
    ]);
    expect(parsePortSpecs('8080:80')).toEqual([parsePortSpec('8080:80')]);
    expect(() => parsePortSpecs('18283:7000-7001')).toThrow('invalid ranges specified for container and host Ports: 7000-7001 and 18283');
    expect(() => parsePortSpecs('1-3:7000-7001')).toThrow('invalid ranges specified for container and host Ports: 7000-7001 and 1-3');
    expect(() => parsePortSpecs('8000-8010:80')).toThrow('not supported');
    expect(() => parsePortSpecs('9-8:80-81')).toThrow('invalid range specified for port: 9-8');
    expect(exposedPortSpecs({ '80/tcp': {}, '53/udp': {} })).toEqual([
      { hostPort: 0, containerPort: 80, protocol: 'tcp' },
      { hostPort: 0, containerPort: 53, protocol: 'udp' },
    ]);
  });
});
