/**
 * The pieces of BuildKit's history text that are Go's fmt: %q of an int (HEALTHCHECK's Retries);
 * the config's fields as Go's encoding/json writes them.
 */
import { describe, expect, it } from 'vitest';
import { containerConfig, goQuotedRune } from '../../src/executor/image-config.js';

describe('goQuotedRune', () => {
  it('quotes as strconv.QuoteRune does', () => {
    const cases: Array<[number, string]> = [
      [0, "'\\x00'"],
      [4, "'\\x04'"],
      [10, "'\\n'"],
      [9, "'\\t'"],
      [65, "'A'"],
      [39, "'\\''"],
      [92, "'\\\\'"],
      [127, "'\\x7f'"],
      [0x80, "'\\u0080'"],
      [233, "'é'"],
      [0x2028, "'\\u2028'"],
      [-1, "'\u{fffd}'"],
    ];
    for (const [code, quoted] of cases) expect([code, goQuotedRune(code)]).toEqual([code, quoted]);
  });
});

describe('containerConfig', () => {
  it('leaves out empty lists, maps and strings and false, as omitempty does', () => {
    const config = containerConfig({ env: [], cmd: [], entrypoint: [], shell: [], onBuild: [], labels: {}, volumes: {}, exposedPorts: {}, cmdSet: true, history: [] });
    expect(config).toEqual({});
    // Empty strings and false too (USER of an empty variable; a base image's ArgsEscaped false).
    expect(containerConfig({ env: [], user: '', stopSignal: '', argsEscaped: false, cmdSet: false, history: [] })).toEqual({});
    expect(containerConfig({ env: ['A=1'], cmd: ['sh'], labels: { a: '' }, cmdSet: true, history: [] })).toEqual({ Env: ['A=1'], Cmd: ['sh'], Labels: { a: '' } });
  });
});
