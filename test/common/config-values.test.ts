/**
 * EXPOSE and STOPSIGNAL values as docker 26's BuildKit takes or refuses them (each refusal here
 * was checked against its build: "Invalid proto: xyz", "invalid signal: 0", …); what it takes
 * is also the parity case expose-stopsignal-specs.
 */
import { describe, expect, it } from 'vitest';
import { checkStopSignal, exposedPortSet } from '../../src/common/index.js';

describe('exposedPortSet of one word', () => {
  it('keeps the container port of every spec docker reads', () => {
    const cases: Array<[string, string[]]> = [
      ['80', ['80/tcp']],
      ['80/', ['80/tcp']],
      ['80/UDP', ['80/udp']],
      ['80/sctp/extra', ['80/sctp']],
      ['8080:80', ['80/tcp']],
      [':80', ['80/tcp']],
      ['127.0.0.1:8080:80/udp', ['80/udp']],
      ['[::1]:8080:80', ['80/tcp']],
      ['127.0.0.1::80', ['80/tcp']],
      ['8000-8005:80', ['80/tcp']],
      ['8000-8001:80-81', ['80/tcp', '81/tcp']],
      ['90-92-100', ['90/tcp', '91/tcp', '92/tcp']],
      ['0085', ['85/tcp']],
      ['0', ['0/tcp']],
    ];
    for (const [spec, keys] of cases) expect([spec, exposedPortSet([spec])]).toEqual([spec, keys]);
  });

  it('refuses what docker refuses', () => {
    const cases: Array<[string, RegExp]> = [
      ['abc', /Invalid containerPort: abc/],
      ['80/xyz', /Invalid proto: xyz/],
      ['90-80', /Invalid containerPort: 90-80/],
      ['80-', /Invalid containerPort: 80-/],
      ['65536', /Invalid containerPort: 65536/],
      ['0x50', /Invalid containerPort/],
      ['1e2', /Invalid containerPort/],
      ['+80', /Invalid containerPort/],
      [' 80', /Invalid containerPort/],
      ['/tcp', /No port specified: \/tcp<empty>/],
      ['', /No port specified/],
      ['1.2.3:8080:80', /Invalid ip address: 1\.2\.3/],
      ['::1:8080:80', /Invalid ip address ::1/],
      ['[fe80::1%eth0]:1:80', /Invalid ip address/],
      ['x:80', /Invalid hostPort: x/],
      ['8000-8002:80-81', /Invalid ranges specified for container and host Ports: 80-81 and 8000-8002/],
    ];
    for (const [spec, message] of cases) expect(() => exposedPortSet([spec]), spec).toThrow(message);
  });
});

describe('exposedPortSet', () => {
  it('names each port once, in the order words first name it', () => {
    expect(exposedPortSet(['81-82', '80/udp', '8080:81', '80-81', '80/udp'])).toEqual(['81/tcp', '82/tcp', '80/udp', '80/tcp']);
    expect(() => exposedPortSet(['80', '80/xyz'])).toThrow('Invalid proto: xyz');
  });

  it('keeps a line of 3,000 full ranges to the distinct ports, in time and memory', () => {
    // Spellings of 1-65535 for each protocol: every word is another string, every port the same.
    const words = Array.from({ length: 3000 }, (_, index) => `${'0'.repeat(index % 1000)}1-65535/${['tcp', 'udp', 'sctp'][index % 3] ?? 'tcp'}`);
    const started = Date.now();
    const heapBefore = process.memoryUsage().heapUsed;
    const keys = exposedPortSet(words);
    expect(keys).toHaveLength(3 * 65535);
    expect(Date.now() - started).toBeLessThan(2000);
    // The keys themselves are some 12 MB; a list with each word's ports was 200 million strings.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(256 << 20);
  });
});

describe('checkStopSignal', () => {
  it('takes non-zero integers and Linux signal names in any case, with or without SIG', () => {
    for (const signal of ['9', '-9', '+15', '999', '0009', 'SIGKILL', 'sigkill', 'term', 'RTMIN', 'rtmin+3', 'SIGRTMIN+15', 'RTMAX-14', 'SIGRTMAX', 'cld', 'STKFLT', '9223372036854775807']) {
      expect(() => checkStopSignal(signal), signal).not.toThrow();
    }
  });

  it('refuses zero, names it does not know, an empty value and integers beyond int64', () => {
    for (const signal of ['0', '-0', '', 'SIGBOGUS', 'SIGSIGTERM', 'RTMAX-15', 'RTMIN+16', 'SIG', ' 9', '9223372036854775808', '99999999999999999999']) {
      expect(() => checkStopSignal(signal), signal).toThrow(`invalid signal: ${signal}`);
    }
  });
});
