import { describe, expect, it } from 'vitest';
import { parseEnvFile } from '../../src/runtime/index.js';

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
