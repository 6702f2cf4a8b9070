/**
 * Scaffolding for tests against a registry: one registry and scratch directory for the file
 * (started before its tests, stopped and removed after them), the clients the tests make
 * (closed after them), and fresh stores that must validate as OCI layouts when each test ends
 * (see temporary-store.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { RegistryClient, type RegistryClientOptions } from '../../src/registry/index.js';
import type { Store } from '../../src/store/index.js';
import { startRegistry, type RegistryOptions, type TestRegistry } from './registry.js';
import { useTemporaryStores, type TemporaryStores } from './temporary-store.js';

export interface RegistryFixture {
  readonly registry: TestRegistry;
  /** A directory for the whole file, for what outlives one test. */
  readonly scratch: string;
  /** The running test's stores, validated when it ends. */
  readonly stores: TemporaryStores;
  /** A store of its own in the running test, validated when it ends. */
  freshStore(): Promise<Store>;
  /** A client closed after the file's tests; anonymous unless the options say otherwise. */
  client(options?: RegistryClientOptions): RegistryClient;
}

export function useRegistryFixture(options: { readonly registry?: RegistryOptions; readonly prefix?: string } = {}): RegistryFixture {
  let registry: TestRegistry | undefined;
  let scratch: string | undefined;
  const clients: RegistryClient[] = [];
  const stores = useTemporaryStores(options.prefix);
  let serial = 0;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), options.prefix ?? 'tsbuild-registry-'));
    registry = await startRegistry(options.registry);
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await registry?.stop();
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  });

  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the ${what} is there only while the file's tests run`);
    return value;
  };
  return {
    get registry(): TestRegistry {
      return started(registry, 'registry');
    },
    get scratch(): string {
      return started(scratch, 'scratch directory');
    },
    stores,
    freshStore(): Promise<Store> {
      serial += 1;
      return stores.open(`root-${serial}`);
    },
    client(clientOptions: RegistryClientOptions = { credentials: () => Promise.resolve(undefined) }): RegistryClient {
      const client = new RegistryClient(clientOptions);
      clients.push(client);
      return client;
    },
  };
}
