import { describe, expect, it } from 'vitest';
import { containerConfigEnv, containerEnvironment, execEnvironment, parseEnvFile } from '../../src/runtime/index.js';

describe('--env-file', () => {
  it("reads lines as the docker CLI does: comments and blank lines skipped, a bare name from the environment (one unset there stays bare: removed from the image's)", () => {
    expect(parseEnvFile('A=1\n# comment\n\n  F=lead\nG=trail  \nHOSTVAR\nUNSET\n', { HOSTVAR: 'fromhost' })).toEqual(['A=1', 'F=lead', 'G=trail  ', 'HOSTVAR=fromhost', 'UNSET']);
  });

  it("refuses a name holding a space in docker's words", () => {
    expect(() => parseEnvFile('C = spaced\n', {})).toThrow("poorly formatted environment: variable 'C ' contains whitespaces");
    expect(() => parseEnvFile('export D=4\n', {})).toThrow("poorly formatted environment: variable 'export D' contains whitespaces");
    // docker 26: `poorly formatted environment: no variable name on line '=bad'`.
    expect(() => parseEnvFile('A=1\n  =bad\n', {})).toThrow("poorly formatted environment: no variable name on line '=bad'");
  });
});

describe("a container's environment", () => {
  // docker 26, `run -t -e FOO=1 -e PATH=/x:/bin -e BAR -e BAZ= busybox`: inspect's Config.Env is
  // [FOO=1 PATH=/x:/bin BAR BAZ=] (and commit's image has it), while the process sees PATH,
  // HOSTNAME and TERM first, BAR removed, HOME from passwd.
  const image = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'IMG=1'];
  const run = ['FOO=1', 'PATH=/x:/bin', 'BAR', 'BAZ='];

  it("keeps docker's Config.Env: the run's variables as given, then the image's not overridden, nothing of the process's own", () => {
    expect(containerConfigEnv(image, run)).toEqual(['FOO=1', 'PATH=/x:/bin', 'BAR', 'BAZ=', 'IMG=1']);
    expect(containerConfigEnv(image, [])).toEqual(image);
  });

  it('gives the process PATH, HOSTNAME and TERM first, a bare name removed, HOME last', () => {
    expect(containerEnvironment(image, run, { hostname: 'abc', tty: true, home: '/root' })).toEqual(['PATH=/x:/bin', 'HOSTNAME=abc', 'TERM=xterm', 'FOO=1', 'BAZ=', 'IMG=1', 'HOME=/root']);
  });
});

describe("exec's environment", () => {
  const path = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  // A container of docker 26's `run -d -t -e FOO=1 busybox`: its process had TERM, its Config.Env has not.
  const record = { config: { hostname: 'h', env: [path, 'HOSTNAME=h', 'TERM=xterm', 'FOO=1', 'HOME=/root'], configEnv: ['FOO=1', path] } } as unknown as Parameters<typeof execEnvironment>[0];

  it('gives TERM only to exec -t, after HOSTNAME, as docker 26 (`exec c env` in a -t container has none)', () => {
    expect(execEnvironment(record, [], { tty: false, home: '/root', userGiven: false })).toEqual([path, 'HOSTNAME=h', 'FOO=1', 'HOME=/root']);
    expect(execEnvironment(record, [], { tty: true, home: '/root', userGiven: false })).toEqual([path, 'HOSTNAME=h', 'TERM=xterm', 'FOO=1', 'HOME=/root']);
  });

  it("takes exec's -e over the container's (a bare name removes it), HOME from the exec user unless set", () => {
    expect(execEnvironment(record, ['FOO', 'BAR=2'], { tty: false, home: '/nonexistent', userGiven: true })).toEqual([path, 'HOSTNAME=h', 'BAR=2', 'HOME=/nonexistent']);
    const withHome = { config: { ...record.config, configEnv: ['HOME=/custom', path] } } as unknown as Parameters<typeof execEnvironment>[0];
    expect(execEnvironment(withHome, [], { tty: false, home: '/nonexistent', userGiven: true })).toEqual([path, 'HOSTNAME=h', 'HOME=/custom']);
  });
});
