/** The proxy variables a RUN gets from the proxy build args, as BuildKit's executor adds them. */
import { describe, expect, it } from 'vitest';
import { proxyEnvironment } from '../../src/executor/run-op.js';
import { overrideEnvironment } from '../../src/runtime/index.js';

describe('the proxy build args in a RUN environment', () => {
  it('gives each proxy set in upper and lower case, in BuildKit order, and skips empty ones', () => {
    expect(proxyEnvironment({ noProxy: 'localhost', httpProxy: 'http://p:3128', allProxy: '' })).toEqual([
      'HTTP_PROXY=http://p:3128',
      'http_proxy=http://p:3128',
      'NO_PROXY=localhost',
      'no_proxy=localhost',
    ]);
    expect(proxyEnvironment(undefined)).toEqual([]);
  });

  it('replaces a variable of the same name in place and appends the others', () => {
    expect(overrideEnvironment(['PATH=/bin', 'no_proxy=old', 'A=x=y'], ['no_proxy=new', 'NO_PROXY=new', 'A=z'])).toEqual([
      'PATH=/bin',
      'no_proxy=new',
      'A=z',
      'NO_PROXY=new',
    ]);
  });
});
