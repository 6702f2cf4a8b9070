/**
 * The parts of undici the client uses: the Agent and the request API on dispatchers. undici's
 * index also loads fetch, WebSocket, the cache, mocks and the cookie helpers, which in turn make
 * Node load its own copy of undici: about 40 ms at every start of a command that talks to a
 * registry, for code never run.
 */
import type { Agent as AgentType, Dispatcher as DispatcherType } from 'undici';
import AgentModule from 'undici/lib/dispatcher/agent.js';
import DispatcherModule from 'undici/lib/dispatcher/dispatcher.js';
import requestApi from 'undici/lib/api/index.js';

// What undici's index does: the request methods live on every dispatcher's prototype.
Object.assign((DispatcherModule as { prototype: object }).prototype, requestApi);

export const Agent = AgentModule as typeof AgentType;
export type Agent = AgentType;
export type Dispatcher = DispatcherType;
