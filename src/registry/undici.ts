/**
 * The three parts of undici the client uses, loaded from their own modules rather than from
 * undici's index, which also loads fetch, WebSocket, the caches and mocks, and with them
 * node:tls, node:zlib and node:worker_threads. Measured on a 300 MB push and pull (2026-12-03):
 * through the index, a command starts about 10 ms later, and the 2 MB more of live heap has V8
 * run 7 full collections during the transfer instead of 1, some 0.1 s of CPU per command.
 * These paths are undici's own, not its public API: package.json pins undici to one version,
 * and test/registry/undici.test.ts checks that they are what its index exports.
 */
import type { Agent as AgentType, Dispatcher, ProxyAgent as ProxyAgentType, buildConnector as BuildConnectorType } from 'undici';
import AgentModule from 'undici/lib/dispatcher/agent.js';
import buildConnectorModule from 'undici/lib/core/connect.js';
import requestModule from 'undici/lib/api/api-request.js';

export const Agent = AgentModule as typeof AgentType;
export type Agent = AgentType;
export const buildConnector = buildConnectorModule as typeof BuildConnectorType;
export type BuildOptions = BuildConnectorType.BuildOptions;
export type Connector = BuildConnectorType.connector;

/**
 * undici's `request` on `dispatcher`: the method its index adds to every dispatcher's
 * prototype, called here as a function instead.
 */
export function sendRequest(dispatcher: Dispatcher, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
  return (requestModule as Dispatcher['request']).call(dispatcher, options) as Promise<Dispatcher.ResponseData>;
}

/** undici's ProxyAgent, loaded only when the environment names a proxy (proxy-dispatcher.ts). */
export async function loadProxyAgent(): Promise<typeof ProxyAgentType> {
  return (await import('undici/lib/dispatcher/proxy-agent.js')).default as typeof ProxyAgentType;
}
