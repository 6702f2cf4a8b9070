import { describe, expect, it } from 'vitest';
import { fixedNanoTime, shownCommand } from '../src/cli/commands/containers.js';
import { compareNatural, dockerTable, formatBytes, formatCreatedSince, formatRfc3339, humanDuration } from '../src/cli/format.js';

describe('docker-style figures', () => {
  it('says how long ago in the words of `docker images`', () => {
    const second = 1000;
    const minute = 60 * second;
    const hour = 60 * minute;
    const day = 24 * hour;
    expect(humanDuration(999)).toBe('Less than a second');
    expect(humanDuration(1 * second)).toBe('1 second');
    expect(humanDuration(59 * second)).toBe('59 seconds');
    expect(humanDuration(60 * second)).toBe('About a minute');
    expect(humanDuration(119 * second)).toBe('About a minute');
    expect(humanDuration(59 * minute)).toBe('59 minutes');
    // Hours are rounded: 89 minutes is about an hour, 90 are 2 hours.
    expect(humanDuration(89 * minute)).toBe('About an hour');
    expect(humanDuration(90 * minute)).toBe('2 hours');
    expect(humanDuration(47 * hour)).toBe('47 hours');
    expect(humanDuration(48 * hour)).toBe('2 days');
    expect(humanDuration(13 * day)).toBe('13 days');
    expect(humanDuration(14 * day)).toBe('2 weeks');
    expect(humanDuration(59 * day)).toBe('8 weeks');
    expect(humanDuration(60 * day)).toBe('2 months');
    expect(humanDuration(729 * day)).toBe('24 months');
    expect(humanDuration(730 * day)).toBe('2 years');
    const now = Date.parse('2026-12-02T12:00:00Z');
    expect(formatCreatedSince('2026-12-02T11:59:30Z', now)).toBe('30 seconds ago');
    expect(formatCreatedSince('1970-01-01T00:00:00Z', now)).toBe('56 years ago');
    expect(formatCreatedSince('', now)).toBe('N/A');
    expect(formatCreatedSince('not a time', now)).toBe('N/A');
  });

  it('prints sizes in decimal units with three significant digits', () => {
    expect(formatBytes(999, 3, '')).toBe('999B');
    expect(formatBytes(1_986_064, 3, '')).toBe('1.99MB');
    expect(formatBytes(1_090_000, 3, '')).toBe('1.09MB');
    // Go's %g: no trailing zeros, and an exponent where the digits run out.
    expect(formatBytes(2000, 3, '')).toBe('2kB');
    expect(formatBytes(91_000_000, 3, '')).toBe('91MB');
    expect(formatBytes(1_500_000, 4, '')).toBe('1.5MB');
    expect(formatBytes(0, 3, '')).toBe('0B');
    expect(formatBytes(999_999, 3, '')).toBe('1e+03kB');
  });

  it("writes tables as Go's tabwriter does for docker: cells ten wide at least, three apart, the last unpadded", () => {
    expect(dockerTable([['IMAGE', 'SIZE', 'COMMENT'], ['bc4a5701b52d', '1.99MB', ''], ['<missing>', '0B', 'buildkit.dockerfile.v0']])).toBe(
      'IMAGE          SIZE      COMMENT\nbc4a5701b52d   1.99MB    \n<missing>      0B        buildkit.dockerfile.v0\n',
    );
  });

  it('writes RFC 3339 times in the local zone', () => {
    const previous = process.env['TZ'];
    try {
      process.env['TZ'] = 'UTC';
      expect(formatRfc3339(Date.UTC(2024, 0, 1))).toBe('2024-01-01T00:00:00Z');
      process.env['TZ'] = 'Asia/Kolkata';
      expect(formatRfc3339(Date.UTC(2024, 0, 1))).toBe('2024-01-01T05:30:00+05:30');
    } finally {
      if (previous === undefined) delete process.env['TZ'];
      else process.env['TZ'] = previous;
    }
  });
});

describe('docker inspect Config', () => {
  it('keeps set fields in docker order, zero values for the rest, optional ones only when set', async () => {
    const { dockerContainerConfig } = await import('../src/cli/commands/inspect.js');
    const shaped = dockerContainerConfig({ Labels: { a: 'b' }, ExposedPorts: { '80/tcp': {} }, Env: ['A=1'], Custom: 1 });
    expect(Object.keys(shaped)).toEqual([
      'Hostname', 'Domainname', 'User', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'ExposedPorts', 'Tty', 'OpenStdin', 'StdinOnce',
      'Env', 'Cmd', 'Image', 'Volumes', 'WorkingDir', 'Entrypoint', 'OnBuild', 'Labels', 'Custom',
    ]);
    expect(JSON.parse(JSON.stringify(shaped))).toMatchObject({ Env: ['A=1'], Cmd: null, Volumes: null, Labels: { a: 'b' }, ExposedPorts: { '80/tcp': {} }, Custom: 1 });
    // An unset slice or map is Go's nil: null in JSON, printed by a template as docker prints it.
    const { renderGoTemplate } = await import('../src/cli/go-template.js');
    expect(renderGoTemplate('{{.Cmd}} {{.Volumes}} {{len .Entrypoint}} {{if .OnBuild}}x{{else}}none{{end}} {{json .Cmd}}', shaped)).toBe('[] map[] 0 none null');
    expect('Healthcheck' in shaped).toBe(false);
  });
});

describe("ps's COMMAND", () => {
  it('quotes an argument holding a space as the daemon does, then the whole as Go quotes a string', () => {
    expect(shownCommand({ path: 'sh', args: ['-c', 'echo out; echo err >&2; exit 2'] }, true)).toBe(`"sh -c 'echo out; ec…"`);
    expect(shownCommand({ path: 'sh', args: ['-c', 'echo "hi"'] }, false)).toBe(`"sh -c 'echo \\"hi\\"'"`);
    expect(shownCommand({ path: 'sleep', args: ['1000'] }, true)).toBe('"sleep 1000"');
  });
});

describe('logs -t', () => {
  it("prints each time with nine fractional digits, as docker's RFC3339NanoFixed", () => {
    expect(fixedNanoTime('2026-12-04T19:13:19.039Z')).toBe('2026-12-04T19:13:19.039000000Z');
    expect(fixedNanoTime('2026-12-04T19:13:19Z')).toBe('2026-12-04T19:13:19.000000000Z');
    expect(fixedNanoTime('2026-12-04T19:13:18.600859212Z')).toBe('2026-12-04T19:13:18.600859212Z');
  });

  it('sorts lines as docker port does: numbers by value', () => {
    // docker 26 `port` of a container publishing 81/tcp, 80/udp and 8080/tcp prints 80/udp, 81/tcp, 8080/tcp.
    expect(['8080/tcp -> 0.0.0.0:1', '81/tcp -> 0.0.0.0:3', '80/udp -> 0.0.0.0:2'].sort(compareNatural)).toEqual(['80/udp -> 0.0.0.0:2', '81/tcp -> 0.0.0.0:3', '8080/tcp -> 0.0.0.0:1']);
    expect(['0.0.0.0:32770', '0.0.0.0:9000', '127.0.0.1:80'].sort(compareNatural)).toEqual(['0.0.0.0:9000', '0.0.0.0:32770', '127.0.0.1:80']);
  });
});
