import type { Policy } from './transport.js';

/** Names tsbuild to the registry, which some use for statistics and rate limits. */
export function userAgentPolicy(userAgent: string): Policy {
  return (next) => (request) => next({ ...request, headers: { ...request.headers, 'user-agent': userAgent } });
}
