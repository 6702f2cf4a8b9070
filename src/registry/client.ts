/**
 * A client for the registries of one operation: per registry host, the scheme is found once
 * (HTTPS, or plain HTTP for loopback and `insecureRegistries`), the auth challenge learnt, and
 * requests go through the policy stack: user agent → retry → auth → redirect → verify → undici.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { Agent, loadProxyAgent, type BuildOptions } from './undici.js';
import { connector } from './connector.js';
import { TsbuildError, nodeTls, registryApiHost, withProxies } from '../common/index.js';
import { AuthState, authPolicy } from './auth.js';
import { dockerConfigCredentials, type CredentialProvider } from './credentials.js';
import { readCapped, statusError } from './errors.js';
import { redirectPolicy } from './redirect.js';
import { backoff, retryPolicy, type RetryOptions } from './retry.js';
import { compose, discard, undiciSend, type Send } from './transport.js';
import { userAgentPolicy } from './user-agent.js';
import { verifyPolicy } from './verify.js';

export interface TlsOptions {
  /** Extra certificate authorities to trust, PEM (a self-signed registry). */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
}

export interface TimeoutOptions {
  readonly connectMs?: number;
  /** Time to wait for response headers; default 60 s. */
  readonly headersMs?: number;
  /** Longest silence inside a body before the transfer counts as stalled; default 60 s. */
  readonly bodyMs?: number;
}

export interface RegistryClientOptions {
  /** Where credentials come from; default docker's config file and helpers. */
  readonly credentials?: CredentialProvider;
  /** Hosts (`host` or `host:port`) reached over plain HTTP or with unverified TLS. */
  readonly insecureRegistries?: readonly string[];
  readonly tls?: TlsOptions;
  /**
   * Directories holding a folder per registry host (`host` or `host:port`) with its CA
   * certificates (`*.crt`) and a client certificate (`*.cert` with its `*.key`), as docker's and
   * podman's certs.d. Default: /etc/docker/certs.d, /etc/containers/certs.d and
   * ~/.config/containers/certs.d.
   */
  readonly certsDirectories?: readonly string[];
  readonly retry?: RetryOptions;
  readonly timeouts?: TimeoutOptions;
  readonly userAgent?: string;
  /**
   * Whether a loopback registry is reached over plain HTTP without being named insecure, as
   * docker's daemon does (default true). docker's CLI, reading a registry itself (`manifest
   * create`, `manifest inspect`), takes plain HTTP only from a registry named insecure.
   */
  readonly loopbackOverHttp?: boolean;
  /**
   * Registries' mirrors (docker's `registry-mirrors` for Docker Hub, registries.conf's for any),
   * each `https://host[:port]` or `http://` for one reached over plain HTTP, tried in order before
   * the registry itself when one of its images is pulled.
   */
  readonly mirrors?: readonly { readonly registry: string; readonly url: string; readonly digestOnly?: boolean }[];
}

export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name.endsWith('.localhost') || /^127(?:\.\d{1,3}){3}$/.test(name) || name === '[::1]';
}

function hostName(host: string): string {
  return host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
}

const cidrPattern = /^(?:[0-9.]+|[0-9a-f:]+)\/\d{1,3}$/i;

function rangesOf(entries: readonly string[]): BlockList | undefined {
  if (entries.length === 0) return undefined;
  const ranges = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix = ''] = entry.split('/');
    const family = isIP(address);
    const bits = Number(prefix);
    if (family === 0 || bits > (family === 4 ? 32 : 128)) throw new TsbuildError('INVALID_ARGUMENT', `insecure registry ${JSON.stringify(entry)}: not an IP address range`);
    ranges.addSubnet(address, bits, family === 4 ? 'ipv4' : 'ipv6');
  }
  return ranges;
}

/** One registry host as seen by the client. */
export class Registry {
  readonly apiHost: string;
  readonly send: Send;
  readonly auth: AuthState;
  private baseUrl: Promise<URL> | undefined;

  constructor(
    readonly domain: string,
    private readonly client: RegistryClient,
  ) {
    this.apiHost = registryApiHost(domain);
    const base = undiciSend((url) => client.dispatcherFor(url.host));
    const allowPlainHttp = (host: string): boolean => client.allowsPlainHttp(host);
    const retry = retryPolicy(client.backoff);
    const userAgent = userAgentPolicy(client.userAgent);
    const tokenSend = compose(undiciSend((url) => client.dispatcherFor(url.host)), userAgent, retry, redirectPolicy({ allowPlainHttp }));
    const credentials = client.credentials;
    this.auth = new AuthState({ domain, host: this.apiHost, credentials: () => credentials(domain), tokenSend, allowPlainHttp });
    this.send = compose(base, userAgent, retry, authPolicy(this.auth), redirectPolicy({ allowPlainHttp }), verifyPolicy());
  }

  /** `https://host/v2/` or, where allowed and needed, `http://host/v2/`. */
  url(path: string): Promise<URL> {
    this.baseUrl ??= this.ping();
    this.baseUrl.catch(() => {
      this.baseUrl = undefined;
    });
    return this.baseUrl.then((base) => new URL(path.replace(/^\//, ''), base));
  }

  /**
   * Starts finding the scheme and the auth challenge now, so that it overlaps the caller's local
   * work (opening the store, reading the image). A failure is met again, and reported, by the
   * first request that needs the registry.
   */
  connectAhead(): void {
    this.url('/').catch(() => undefined);
  }

  private pingSend(retries: boolean, dispatcher: Dispatcher = this.client.dispatcherFor(this.apiHost)): Send {
    const base = compose(undiciSend(dispatcher), userAgentPolicy(this.client.userAgent));
    return retries ? compose(base, retryPolicy(this.client.backoff)) : base;
  }

  private async ping(): Promise<URL> {
    const context = { action: `ping registry ${this.domain}` };
    const https = new URL(`https://${this.apiHost}/v2/`);
    if (!this.client.allowsPlainHttp(this.apiHost)) {
      await this.checkPing(await this.pingSend(true)({ method: 'GET', url: https, context }), https);
      return https;
    }
    // As docker: a registry allowed plain HTTP is asked over HTTPS once, without retries, then
    // over plain HTTP with them. The answer is kept for the client's life (`url`).
    let httpsFailure: unknown;
    try {
      const probe = this.client.probeDispatcherFor(this.apiHost);
      const answer = await this.pingSend(false, probe.dispatcher)({ method: 'GET', url: https, context });
      if (probe.verified) {
        await this.checkPing(answer, https);
      } else {
        // The registry speaks TLS; what it says counts only over a verified connection.
        await discard(answer);
        await this.checkPing(await this.pingSend(false)({ method: 'GET', url: https, context }), https);
      }
      return https;
    } catch (error) {
      if (error instanceof TsbuildError && error.code === 'UNAUTHORIZED') throw error;
      httpsFailure = error;
    }
    const http = new URL(`http://${this.apiHost}/v2/`);
    try {
      await this.checkPing(await this.pingSend(true)({ method: 'GET', url: http, context }), http);
      return http;
    } catch (error) {
      if (error instanceof TsbuildError && error.code === 'UNAUTHORIZED') throw error;
      // Both failed: the HTTPS failure (an untrusted certificate, say) is usually the one that matters.
      const reason = (failure: unknown): string => (failure instanceof Error ? failure.message : String(failure));
      // Not temporary: the HTTP attempt had its retries already, and a caller retrying the
      // whole operation would multiply them (a registry that is down took minutes to report).
      throw new TsbuildError('REGISTRY', `${context.action}: over HTTPS: ${reason(httpsFailure)}; over HTTP: ${reason(error)}`, { cause: error });
    }
  }

  private async checkPing(response: Parameters<AuthState['learn']>[0], url: URL): Promise<void> {
    if (response.status === 200) {
      await discard(response);
      return;
    }
    if (response.status === 401 && this.auth.learn(response)) {
      await discard(response);
      return;
    }
    const body = await readCapped(response.body);
    throw statusError({ context: { action: `ping registry ${this.domain}` }, method: 'GET', url, status: response.status, body });
  }
}

/**
 * AGENT, or a dispatcher that sends what goes to a host the environment's proxies serve through
 * them (proxy-dispatcher.ts), its connection to the registry made with the same TLS options.
 */
function proxied(agent: Agent, tls: BuildOptions, timeouts: { headersTimeout: number; bodyTimeout: number }): Dispatcher {
  // A router has what undici's request uses of a dispatcher (dispatch, close, destroy): the
  // client's transport sends every request through sendRequest.
  return withProxies(agent, { requestTls: tls, ...timeouts }, loadProxyAgent) as Dispatcher;
}

export class RegistryClient {
  readonly credentials: CredentialProvider;
  readonly backoff: ReturnType<typeof backoff>;
  readonly userAgent: string;
  private readonly loopbackOverHttp: boolean;
  private readonly secure: Dispatcher;
  private readonly insecure: Dispatcher;
  private readonly probe: Dispatcher;
  private readonly insecureHosts: ReadonlySet<string>;
  private readonly mirrors: readonly { readonly registry: string; readonly host: string; readonly digestOnly: boolean }[];
  /** CIDR ranges (docker's `insecure-registries: ["10.0.0.0/8"]`), matched by IP address. */
  private readonly insecureRanges: BlockList | undefined;
  /** registries.conf's `*.example.com` prefixes, kept as `.example.com`. */
  private readonly insecureDomains: readonly string[];
  private readonly registries = new Map<string, Registry>();
  private readonly certsDirectories: readonly string[];
  private readonly hostAgents = new Map<string, Dispatcher | undefined>();
  private readonly agentOptions: { timeouts: { headersTimeout: number; bodyTimeout: number }; connectTimeout: number; ca: readonly (string | Buffer)[] };

  constructor(options: RegistryClientOptions = {}) {
    this.credentials = options.credentials ?? dockerConfigCredentials();
    this.backoff = backoff(options.retry);
    this.userAgent = options.userAgent ?? 'tsbuild';
    this.loopbackOverHttp = options.loopbackOverHttp ?? true;
    const insecureEntries = (options.insecureRegistries ?? []).map((entry) => entry.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, ''));
    this.mirrors = (options.mirrors ?? []).map((mirror) => ({ registry: mirror.registry, host: new URL(mirror.url).host, digestOnly: mirror.digestOnly === true }));
    // A mirror named over http:// is reached over plain HTTP, as docker's daemon reaches it.
    const plainMirrors = (options.mirrors ?? []).filter((mirror) => mirror.url.startsWith('http://')).map((mirror) => new URL(mirror.url).host);
    this.insecureHosts = new Set([...insecureEntries.filter((entry) => !cidrPattern.test(entry) && !entry.startsWith('*.')), ...plainMirrors]);
    this.insecureDomains = insecureEntries.filter((entry) => entry.startsWith('*.')).map((entry) => entry.slice(1));
    this.insecureRanges = rangesOf(insecureEntries.filter((entry) => cidrPattern.test(entry)));
    const timeouts = {
      headersTimeout: options.timeouts?.headersMs ?? 60_000,
      bodyTimeout: options.timeouts?.bodyMs ?? 60_000,
    };
    const ca = options.tls?.ca;
    const caList = ca === undefined ? undefined : Array.isArray(ca) ? [...(ca as ReadonlyArray<string | Buffer>)] : [ca as string | Buffer];
    const connectTimeout = options.timeouts?.connectMs ?? 30_000;
    // Extra CAs are added to the system's, not put in their place.
    const connect = caList === undefined ? { timeout: connectTimeout } : { timeout: connectTimeout, ca: [...tlsRootCertificates(), ...caList] };
    this.secure = proxied(new Agent({ ...timeouts, connect: connector(connect) }), connect, timeouts);
    // Without verification the CA list is never read: an empty one spares building the system's
    // store of root certificates (some 30 ms) on the first TLS connection.
    const unverified = { timeout: connectTimeout, rejectUnauthorized: false, ca: [] };
    this.insecure = proxied(new Agent({ ...timeouts, connect: connector(unverified) }), unverified, timeouts);
    this.probe = proxied(new Agent({ ...timeouts, connect: unverified }), unverified, timeouts);
    this.certsDirectories = options.certsDirectories ?? ['/etc/docker/certs.d', '/etc/containers/certs.d', join(homedir(), '.config', 'containers', 'certs.d')];
    this.agentOptions = { timeouts, connectTimeout, ca: caList ?? [] };
  }

  /** An agent with the host's own CAs and client certificate, when its certs.d folder has any. */
  private hostAgent(host: string): Dispatcher | undefined {
    if (this.hostAgents.has(host)) return this.hostAgents.get(host);
    const material = readCertsDirectory(this.certsDirectories, host);
    let agent: Dispatcher | undefined;
    if (material !== undefined) {
      const tls = {
        timeout: this.agentOptions.connectTimeout,
        ca: [...tlsRootCertificates(), ...this.agentOptions.ca, ...material.ca],
        ...(material.cert === undefined ? {} : { cert: material.cert, key: material.key }),
      };
      agent = proxied(new Agent({ ...this.agentOptions.timeouts, connect: connector(tls) }), tls, this.agentOptions.timeouts);
    }
    this.hostAgents.set(host, agent);
    return agent;
  }

  /** The hosts to pull DOMAIN's images from before DOMAIN itself (a pull BYDIGEST, or by tag). */
  mirrorsFor(domain: string, byDigest: boolean): string[] {
    return this.mirrors.filter((mirror) => mirror.registry === domain && (byDigest || !mirror.digestOnly)).map((mirror) => mirror.host);
  }

  registry(domain: string): Registry {
    let found = this.registries.get(domain);
    if (found === undefined) {
      found = new Registry(domain, this);
      this.registries.set(domain, found);
    }
    return found;
  }

  isInsecure(host: string): boolean {
    if (this.insecureHosts.has(host) || this.insecureHosts.has(hostName(host))) return true;
    if (this.insecureDomains.some((domain) => hostName(host).endsWith(domain))) return true;
    // Ranges hold addresses: a host named by its IP address is matched; a name is not resolved.
    const address = hostName(host).replace(/^\[|\]$/g, '');
    const family = isIP(address);
    return this.insecureRanges !== undefined && family !== 0 && this.insecureRanges.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  allowsPlainHttp(host: string): boolean {
    return (this.loopbackOverHttp && isLoopbackHost(host)) || this.isInsecure(host);
  }

  /**
   * Where to find out whether a registry that may speak plain HTTP speaks TLS, and whether its
   * answer there counts as it is. A loopback registry without a certs.d folder is asked over a
   * connection that verifies nothing, which costs no root certificates: most speak plain HTTP.
   */
  probeDispatcherFor(host: string): { readonly dispatcher: Dispatcher; readonly verified: boolean } {
    if (this.isInsecure(host)) return { dispatcher: this.insecure, verified: true };
    const own = this.hostAgent(host);
    return own === undefined ? { dispatcher: this.probe, verified: false } : { dispatcher: own, verified: true };
  }

  dispatcherFor(host: string): Dispatcher {
    if (this.isInsecure(host)) return this.insecure;
    return this.hostAgent(host) ?? this.secure;
  }

  async close(): Promise<void> {
    const own = [...this.hostAgents.values()].filter((agent): agent is Dispatcher => agent !== undefined);
    await Promise.all([this.secure.close(), this.insecure.close(), this.probe.close(), ...own.map((agent) => agent.close())]);
  }
}

interface HostCertificates {
  readonly ca: readonly string[];
  readonly cert?: string;
  readonly key?: string;
}

/** The first certs.d folder of the host that has anything in it. */
function readCertsDirectory(directories: readonly string[], host: string): HostCertificates | undefined {
  // The host names a folder: nothing but a host name, an IP (v6 in brackets) and a port.
  if (!/^[A-Za-z0-9.\-[\]:]+$/.test(host) || host.split(/[:\]]/).some((part) => part === '..' || part === '.')) return undefined;
  for (const directory of directories) {
    const folder = join(directory, host);
    let names: string[];
    try {
      names = readdirSync(folder).sort();
    } catch {
      continue;
    }
    const ca = names.filter((name) => name.endsWith('.crt')).map((name) => readFileSync(join(folder, name), 'utf8'));
    const certName = names.find((name) => name.endsWith('.cert') && names.includes(`${name.slice(0, -'.cert'.length)}.key`));
    const client = certName === undefined ? {} : { cert: readFileSync(join(folder, certName), 'utf8'), key: readFileSync(join(folder, `${certName.slice(0, -'.cert'.length)}.key`), 'utf8') };
    if (ca.length > 0 || certName !== undefined) return { ca, ...client };
  }
  return undefined;
}

/** Node's root CAs; node:tls is loaded here, not with the module: a plain-HTTP registry never needs it. */
function tlsRootCertificates(): string[] {
  return [...nodeTls().rootCertificates];
}
