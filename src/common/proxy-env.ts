/**
 * Which proxy, if any, a request goes through, read from the environment as Go's
 * http.ProxyFromEnvironment reads it (golang.org/x/net/http/httpproxy) — what docker's daemon,
 * BuildKit, skopeo and podman use for registries and ADD's URLs:
 *
 * - `HTTPS_PROXY` (else `https_proxy`) for https requests, `HTTP_PROXY` (else `http_proxy`) for
 *   http ones; a value without a scheme is taken as `http://…`;
 * - never for `localhost` nor a loopback address;
 * - `NO_PROXY` (else `no_proxy`): comma-separated, `*` for every host; an IP address or a CIDR
 *   range matches addresses; `example.com` matches it and its subdomains, `.example.com` and
 *   `*.example.com` its subdomains only; any entry may name a port (`example.com:5000`).
 */
import { BlockList, isIP } from 'node:net';

export interface ProxyEnvironment {
  readonly http: URL | undefined;
  readonly https: URL | undefined;
  readonly noProxy: NoProxy;
}

interface NoProxy {
  readonly all: boolean;
  readonly ranges: BlockList;
  readonly addresses: readonly { readonly address: BlockList; readonly port: string }[];
  readonly domains: readonly { readonly suffix: string; readonly port: string; readonly matchHost: boolean }[];
}

function firstSet(env: NodeJS.ProcessEnv, names: readonly string[]): string {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
  }
  return '';
}

function parseProxy(value: string): URL | undefined {
  if (value === '') return undefined;
  try {
    const url = new URL(value);
    if (url.host !== '' && /^[a-z][a-z0-9+.-]*:$/i.test(url.protocol)) return url;
  } catch {
    // Not a URL as written: tried again with a scheme, as Go does.
  }
  try {
    return new URL(`http://${value}`);
  } catch {
    return undefined;
  }
}

/** Splits `host:port` (`[v6]:port`); the port is '' when none is written. */
function splitHostPort(entry: string): { host: string; port: string } {
  const bracketed = /^\[([^\]]*)\](?::(\d*))?$/.exec(entry);
  if (bracketed !== null) return { host: bracketed[1] ?? '', port: bracketed[2] ?? '' };
  const colon = entry.lastIndexOf(':');
  // An IPv6 address alone has colons of its own and no port.
  if (colon < 0 || entry.indexOf(':') !== colon) return { host: entry, port: '' };
  return { host: entry.slice(0, colon), port: entry.slice(colon + 1) };
}

function parseNoProxy(value: string): NoProxy {
  const ranges = new BlockList();
  const addresses: { address: BlockList; port: string }[] = [];
  const domains: { suffix: string; port: string; matchHost: boolean }[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return { all: true, ranges, addresses: [], domains: [] };
    const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
    const family = cidr === null ? 0 : isIP(cidr[1] ?? '');
    if (cidr !== null && family !== 0) {
      ranges.addSubnet(cidr[1] ?? '', Number(cidr[2]), family === 4 ? 'ipv4' : 'ipv6');
      continue;
    }
    const { host, port } = splitHostPort(entry);
    if (host === '') continue;
    const ipFamily = isIP(host);
    if (ipFamily !== 0) {
      const address = new BlockList();
      address.addAddress(host, ipFamily === 4 ? 'ipv4' : 'ipv6');
      addresses.push({ address, port });
      continue;
    }
    const name = host.startsWith('*.') ? host.slice(1) : host;
    domains.push(name.startsWith('.') ? { suffix: name, port, matchHost: false } : { suffix: `.${name}`, port, matchHost: true });
  }
  return { all: false, ranges, addresses, domains };
}

/** The proxies ENV names; undefined when it names none (requests go direct). */
export function proxyEnvironment(env: NodeJS.ProcessEnv = process.env): ProxyEnvironment | undefined {
  const http = parseProxy(firstSet(env, ['HTTP_PROXY', 'http_proxy']));
  const https = parseProxy(firstSet(env, ['HTTPS_PROXY', 'https_proxy']));
  if (http === undefined && https === undefined) return undefined;
  return { http, https, noProxy: parseNoProxy(firstSet(env, ['NO_PROXY', 'no_proxy'])) };
}

/** The proxy a request to URL goes through, or undefined for a direct connection. */
export function proxyFor(environment: ProxyEnvironment, url: URL): URL | undefined {
  const proxy = url.protocol === 'https:' ? environment.https : url.protocol === 'http:' ? environment.http : undefined;
  if (proxy === undefined) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  if (host === 'localhost') return undefined;
  const family = isIP(host);
  const kind = family === 4 ? 'ipv4' : 'ipv6';
  if (family !== 0 && loopbackAddresses().check(host, kind)) return undefined;
  const { noProxy } = environment;
  if (noProxy.all) return undefined;
  if (family !== 0) {
    if (noProxy.ranges.check(host, kind)) return undefined;
    if (noProxy.addresses.some((entry) => entry.address.check(host, kind) && (entry.port === '' || entry.port === port))) return undefined;
  }
  const bypassed = noProxy.domains.some((entry) => (host.endsWith(entry.suffix) || (entry.matchHost && host === entry.suffix.slice(1))) && (entry.port === '' || entry.port === port));
  return bypassed ? undefined : proxy;
}

let loopback: BlockList | undefined;

/** Made when first asked: every command loads this module, few send a request. */
function loopbackAddresses(): BlockList {
  if (loopback === undefined) {
    loopback = new BlockList();
    loopback.addSubnet('127.0.0.0', 8, 'ipv4');
    loopback.addAddress('::1', 'ipv6');
  }
  return loopback;
}
