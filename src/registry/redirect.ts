/**
 * Follows redirects (blob GETs are often sent to object storage). Authorization and cookies
 * are credentials for the registry only: they are never forwarded to another origin.
 */
import { TsbuildError } from '../common/index.js';
import { redactUrl } from './redact.js';
import { discard, header, type Policy, type RegistryRequest } from './transport.js';

const maxRedirects = 5;
const sensitiveHeaders = ['authorization', 'cookie', 'proxy-authorization'];

export function redirectPolicy(options: { readonly allowPlainHttp: (host: string) => boolean }): Policy {
  return (next) => async (request) => {
    let current: RegistryRequest = request;
    for (let hop = 0; ; hop++) {
      const response = await next(current);
      const location = header(response, 'location');
      const isRedirect = response.status === 301 || response.status === 302 || response.status === 303 || response.status === 307 || response.status === 308;
      // Upload endpoints answer 201/202 with a Location that is data, not a redirect.
      if (!isRedirect || location === undefined || (current.method !== 'GET' && current.method !== 'HEAD')) return response;
      await discard(response);
      if (hop >= maxRedirects) {
        throw new TsbuildError('REGISTRY', `${request.context.action}: too many redirects from ${redactUrl(request.url)}`);
      }
      const target = new URL(location, current.url);
      if (target.protocol !== 'https:' && !(target.protocol === 'http:' && options.allowPlainHttp(target.host))) {
        throw new TsbuildError('REGISTRY', `${request.context.action}: refusing redirect to ${redactUrl(target)}`);
      }
      let headers = current.headers ?? {};
      if (target.origin !== current.url.origin) {
        headers = Object.fromEntries(Object.entries(headers).filter(([name]) => !sensitiveHeaders.includes(name.toLowerCase())));
      }
      current = { ...current, url: target, headers, scopes: target.origin === request.url.origin ? current.scopes : [] };
    }
  };
}
