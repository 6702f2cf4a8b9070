/**
 * The pieces of BuildKit's history text that are Go's fmt: %q of an int (HEALTHCHECK's Retries);
 * the config's fields as Go's encoding/json writes them; the copy of a config a stage starts
 * from.
 */
import { describe, expect, it } from 'vitest';
import { accountForLayers, addEnv, applyMetadata, cloneConfig, configFromImage, containerConfig, fillHistoryTimes, goQuotedRune } from '../../src/executor/image-config.js';
import { resolveDockerfile, type ResolvedInstruction } from '../../src/planner/index.js';

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

describe('cloneConfig', () => {
  const platform = { os: 'linux', architecture: 'amd64' };
  const instructions = (lines: readonly string[]): readonly ResolvedInstruction[] =>
    resolveDockerfile({ source: ['FROM busybox', ...lines, ''].join('\n'), file: 'Dockerfile' }, { platform: { build: platform, target: platform } }).resolved.stages[0]?.instructions ?? [];

  // A deep copy per stage made a chain of stages FROM one another hold every history entry once
  // per stage below it (555 MB for 1,000 stages).
  it('shares the history entries and keeps the copy apart from what it was made from', () => {
    const state = configFromImage(undefined, platform);
    for (const instruction of instructions(['ENV A=1', 'LABEL l=1', 'EXPOSE 80', 'VOLUME /v', 'ONBUILD RUN true'])) applyMetadata(state, instruction, undefined);
    const copy = cloneConfig(state);
    expect(copy.history).toHaveLength(state.history.length);
    copy.history.forEach((entry, index) => expect(entry).toBe(state.history[index]));
    const before = structuredClone(state);
    for (const instruction of instructions(['ENV A=2 B=3', 'LABEL l=2', 'EXPOSE 81', 'VOLUME /w', 'ONBUILD RUN false'])) applyMetadata(copy, instruction, undefined);
    expect(state).toEqual(before);
    expect(copy.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=2', 'B=3']);
    expect(copy.labels).toEqual({ l: '2' });
    expect(Object.keys(copy.exposedPorts ?? {})).toEqual(['80/tcp', '81/tcp']);
    expect(copy.onBuild).toEqual(['RUN true', 'RUN false']);
  });

  it('sets an ENV name where it first is, as a search from the start would', () => {
    const env = ['A=1', 'B', 'A=dup', 'C=3'];
    addEnv(env, 'A', 'x');
    addEnv(env, 'B', 'y');
    addEnv(env, 'D', '4');
    addEnv(env, 'D', '5');
    expect(env).toEqual(['A=x', 'B=y', 'A=dup', 'C=3', 'D=5']);
  });
});

describe('accountForLayers', () => {
  const origin = (description: string, created?: string): { description: string; created: string | undefined } => ({ description, created });

  it('leaves a history that accounts for every layer as it is', () => {
    const history = [{ created: 't0', created_by: 'a' }, { created_by: 'ENV', empty_layer: true }, { created: 't1', created_by: 'b' }];
    expect(accountForLayers(history, [origin('x', 'l0'), origin('y', 'l1')])).toEqual(history);
  });

  it('appends what is missing at the end, with the comment and time of BuildKit\'s exporter', () => {
    expect(accountForLayers([{ created_by: 'ENV', empty_layer: true }, { created: 't0', created_by: 'RUN' }], [origin('base', 'l0'), origin('run', 'l1'), origin('copy')])).toEqual([
      { created_by: 'ENV', empty_layer: true },
      { created: 't0', created_by: 'RUN' },
      { created: 'l1', created_by: 'run', comment: 'buildkit.exporter.image.v0' },
      { created_by: 'copy', comment: 'buildkit.exporter.image.v0' },
    ]);
  });

  it('makes the entries beyond the layers empty, counting from the bottom, and times the others by their layers', () => {
    expect(accountForLayers([{ created_by: 'a' }, { created_by: 'b', empty_layer: true }, { created_by: 'c' }, { created: 't', created_by: 'd' }], [origin('x', 'l0')])).toEqual([
      { created: 'l0', created_by: 'a' },
      { created_by: 'b', empty_layer: true },
      { created_by: 'c', empty_layer: true },
      { created: 't', created_by: 'd', empty_layer: true },
    ]);
    expect(accountForLayers([{ created_by: 'a' }], [])).toEqual([{ created_by: 'a', empty_layer: true }]);
  });
});

describe('fillHistoryTimes', () => {
  const now = (): string => 'now';
  const times = (history: Array<{ created?: string; created_by: string }>): Array<string | undefined> => fillHistoryTimes(history, now).map((entry) => entry.created);

  it('gives the metadata steps at the top of a stage the time of its first new layer, not the base\'s', () => {
    // What docker 26 wrote for FROM busybox, LABEL, ENV, RUN, ENV, RUN, CMD.
    expect(times([{ created: 'base', created_by: 'busybox' }, { created_by: 'LABEL' }, { created_by: 'ENV' }, { created: 'run1', created_by: 'RUN' }, { created_by: 'ENV' }, { created: 'run2', created_by: 'RUN' }, { created_by: 'CMD' }])).toEqual([
      'base',
      'run1',
      'run1',
      'run1',
      'run1',
      'run2',
      'run2',
    ]);
  });

  it('gives them the last time there is when no new layer follows, and the fallback when there is none at all', () => {
    expect(times([{ created: 'b0', created_by: 'a' }, { created: 'b1', created_by: 'b' }, { created_by: 'ENV' }, { created_by: 'CMD' }])).toEqual(['b0', 'b1', 'b1', 'b1']);
    expect(times([{ created_by: 'ENV' }, { created_by: 'CMD' }])).toEqual(['now', 'now']);
  });

  it('leaves timed entries as they are, and does not let the base\'s later times reach back', () => {
    expect(times([{ created: 'b1', created_by: 'a' }, { created: 'b0', created_by: 'b' }, { created_by: 'ENV' }, { created: 'r', created_by: 'RUN' }, { created: 'q', created_by: 'RUN' }, { created_by: 'CMD' }])).toEqual([
      'b1',
      'b0',
      'r',
      'r',
      'q',
      'q',
    ]);
  });
});
