/**
 * Requests through the proxies the environment names (proxy-env.ts, Go's rules): a
 * dispatcher that sends each request direct or through its proxy, by the request's origin. A
 * proxy is reached through undici's ProxyAgent, made once per proxy and loaded only when one is
 * needed: https origins through a CONNECT tunnel, whose TLS to the origin is the direct
 * connection's (its CAs, client certificate, or none verified); http origins as Go's transport
 * sends them, in absolute form to the proxy (a proxy may refuse a CONNECT to other ports than 443).
 */
import type { Dispatcher, ProxyAgent, buildConnector } from 'undici';
import { proxyEnvironment, proxyFor, type ProxyEnvironment } from './proxy-env.js';

type BuildOptions = buildConnector.BuildOptions;

type Dispatch = Dispatcher['dispatch'];
type Handler = Parameters<Dispatch>[1];

export interface ProxyRouting {
  /** What undici's request and compose use of a dispatcher. */
  dispatch: Dispatch;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

export interface ProxiedOptions {
  /** The TLS options of a direct connection, for the connection to the origin through a tunnel. */
  readonly requestTls: BuildOptions;
  readonly headersTimeout?: number;
  readonly bodyTimeout?: number;
}

/** DIRECT when the environment names no proxy; else a dispatcher that routes each request. */
export function withProxies<T extends ProxyRouting>(direct: T, options: ProxiedOptions, loadProxyAgent: () => Promise<typeof ProxyAgent>, env: NodeJS.ProcessEnv = process.env): T | ProxyRouting {
  const environment = proxyEnvironment(env);
  return environment === undefined ? direct : new ProxyRouter(direct, environment, options, loadProxyAgent);
}

class ProxyRouter implements ProxyRouting {
  private readonly agents = new Map<string, Promise<ProxyAgent>>();

  constructor(
    private readonly direct: ProxyRouting,
    private readonly environment: ProxyEnvironment,
    private readonly options: ProxiedOptions,
    private readonly loadProxyAgent: () => Promise<typeof ProxyAgent>,
  ) {}

  dispatch(options: Parameters<Dispatch>[0], handler: Handler): boolean {
    const proxy = proxyFor(this.environment, new URL(String(options.origin)));
    if (proxy === undefined) return this.direct.dispatch(options, handler);
    // The agent may still be loading: the request goes once it is there, its failure to the handler.
    this.agentFor(proxy).then(
      (agent) => agent.dispatch(options, handler),
      (error: unknown) => failed(handler, error),
    );
    return true;
  }

  private agentFor(proxy: URL): Promise<ProxyAgent> {
    let agent = this.agents.get(proxy.href);
    if (agent === undefined) {
      agent = this.loadProxyAgent().then(
        (ProxyAgentClass) =>
          new ProxyAgentClass({
            uri: proxy.href,
            requestTls: this.options.requestTls,
            proxyTunnel: false,
            ...(this.options.headersTimeout === undefined ? {} : { headersTimeout: this.options.headersTimeout }),
            ...(this.options.bodyTimeout === undefined ? {} : { bodyTimeout: this.options.bodyTimeout }),
          }),
      );
      this.agents.set(proxy.href, agent);
    }
    return agent;
  }

  async close(): Promise<void> {
    await Promise.all([this.direct.close(), ...[...this.agents.values()].map(async (agent) => (await agent).close())]);
  }

  async destroy(): Promise<void> {
    await Promise.all([this.direct.destroy(), ...[...this.agents.values()].map(async (agent) => (await agent).destroy())]);
  }
}

/** Tells HANDLER of ERROR, in whichever of undici's handler forms it speaks. */
function failed(handler: Handler, error: unknown): void {
  const reason = error instanceof Error ? error : new Error(String(error));
  const legacy = handler as { onError?: (error: Error) => void };
  const current = handler as { onResponseError?: (controller: unknown, error: Error) => void };
  if (typeof legacy.onError === 'function') legacy.onError(reason);
  else current.onResponseError?.(null, reason);
}
