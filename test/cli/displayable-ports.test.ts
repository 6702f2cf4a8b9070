import { describe, expect, it } from 'vitest';
import { displayablePorts, type ListedPort } from '../../src/cli/commands/containers.js';

const published = (privatePort: number, publicPort: number, ip = '0.0.0.0', type = 'tcp'): ListedPort => ({ privatePort, type, ip, publicPort });
const exposed = (privatePort: number, type = 'tcp'): ListedPort => ({ privatePort, type, ip: '', publicPort: 0 });

describe("ps's PORTS", () => {
  it('sorts and groups as docker 26 shows them', () => {
    // `docker run -p 18443:443 -p 18080:80 -p 80:8080 -p 18090-18091:18090-18091 --expose 5555-5556`, from docker 26.1.
    const ports = [published(443, 18443), published(80, 18080), published(8080, 80), published(18090, 18090), published(18091, 18091), exposed(5555), exposed(5556)];
    expect(displayablePorts(ports)).toBe('5555-5556/tcp, 0.0.0.0:18090-18091->18090-18091/tcp, 0.0.0.0:18080->80/tcp, 0.0.0.0:18443->443/tcp, 0.0.0.0:80->8080/tcp');
    // `-p 18181:8080 -p 127.0.0.1:18182:9090/udp -p 18183-18184:7000-7001 --expose 5555`.
    expect(displayablePorts([published(8080, 18181), published(9090, 18182, '127.0.0.1', 'udp'), published(7000, 18183), published(7001, 18184), exposed(5555)])).toBe(
      '5555/tcp, 0.0.0.0:18183->7000/tcp, 0.0.0.0:18184->7001/tcp, 0.0.0.0:18181->8080/tcp, 127.0.0.1:18182->9090/udp',
    );
    expect(displayablePorts([])).toBe('');
  });
});
