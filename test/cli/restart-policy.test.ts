import { describe, expect, it } from 'vitest';
import { parseRestartPolicy } from '../../src/cli/commands/container-options.js';

describe('--restart', () => {
  it('reads the policies docker reads, a count only for on-failure', () => {
    expect(parseRestartPolicy('no')).toEqual({ name: 'no', maximumRetryCount: 0 });
    expect(parseRestartPolicy('on-failure')).toEqual({ name: 'on-failure', maximumRetryCount: 0 });
    expect(parseRestartPolicy('on-failure:3')).toEqual({ name: 'on-failure', maximumRetryCount: 3 });
    // A zero count is no count, as docker's.
    expect(parseRestartPolicy('always:0')).toEqual({ name: 'always', maximumRetryCount: 0 });
    expect(parseRestartPolicy('on-failure:3', false)).toEqual({ name: 'on-failure', maximumRetryCount: 3 });
    expect(parseRestartPolicy('no', true)).toEqual({ name: 'no', maximumRetryCount: 0 });
  });

  it("refuses the others in docker's words and order: the form, then --rm, then the policy", () => {
    const refused: Array<[string, boolean, string]> = [
      ['on-failure:x', false, 'invalid restart policy format: maximum retry count must be an integer'],
      ['a:b:c', false, 'invalid restart policy format: maximum retry count must be an integer'],
      [':3', false, 'invalid restart policy format: no policy provided before colon'],
      ['bogus', true, 'Conflicting options: --restart and --rm'],
      ['always', true, 'Conflicting options: --restart and --rm'],
      ['bogus', false, "invalid restart policy: unknown policy 'bogus'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"],
      ['always:3', false, "invalid restart policy: maximum retry count can only be used with 'on-failure'"],
      ['on-failure:-1', false, 'invalid restart policy: maximum retry count cannot be negative'],
    ];
    for (const [text, autoRemove, message] of refused) expect(() => parseRestartPolicy(text, autoRemove), text).toThrow(message);
  });
});
