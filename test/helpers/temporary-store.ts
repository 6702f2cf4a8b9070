/**
 * Test scaffolding for stores: a scratch directory per test, and the stores a test opens in it.
 * At teardown every store the test opened (or named with `validateAtTeardown`) must validate as
 * an OCI image layout — schemas, every named image, every blob's digest, as umoci checks its
 * images after each test step — before the directory goes.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { removeTree } from '../../src/common/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { validateLayout } from './validate.js';

/** A fresh directory, removed by the returned cleanup. */
export async function temporaryDirectory(prefix = 'tsbuild-test-'): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  // A step may leave a tree deeper than PATH_MAX in the store, which rm alone cannot remove.
  return { path, cleanup: () => removeTree(path) };
}

export interface TemporaryStores {
  /** The running test's scratch directory. */
  readonly dir: string;
  /** The root of store NAME (`store` by default) in the scratch directory. */
  root(name?: string): string;
  /** Opens store NAME; its layout is validated when the test ends. */
  open(name?: string): Promise<Store>;
  /** Validates this root too when the test ends (a store a command, not the test, writes). */
  validateAtTeardown(root: string): void;
  /** Leaves store NAME (or a root given by path) unvalidated: the test breaks it on purpose. */
  broken(name?: string): void;
}

/** Registers the hooks for the enclosing `describe` (or file) and gives the running test's stores. */
export function useTemporaryStores(prefix = 'tsbuild-test-'): TemporaryStores {
  let current: { path: string; cleanup: () => Promise<void> } | undefined;
  const toValidate = new Set<string>();
  const skipped = new Set<string>();
  const scratch = (): string => {
    if (current === undefined) throw new Error('temporary stores are only there while a test runs');
    return current.path;
  };
  const rootOf = (name = 'store'): string => (name.startsWith('/') ? name : join(scratch(), name));

  beforeEach(async () => {
    current = await temporaryDirectory(prefix);
    toValidate.clear();
    skipped.clear();
  });
  afterEach(async () => {
    try {
      for (const root of toValidate) if (!skipped.has(root)) await validateLayout(root);
    } finally {
      await current?.cleanup();
      current = undefined;
    }
  });

  return {
    get dir(): string {
      return scratch();
    },
    root: rootOf,
    async open(name?: string): Promise<Store> {
      const root = rootOf(name);
      toValidate.add(root);
      return openStore({ root });
    },
    validateAtTeardown(root: string): void {
      toValidate.add(root);
    },
    broken(name?: string): void {
      skipped.add(rootOf(name));
    },
  };
}
