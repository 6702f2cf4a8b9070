import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The import direction of DESIGN.md, as a whitelist: each stage may import only these.
 * Data flows parser → planner → executor → exporter → store / registry; common is below all.
 */
const allowed: Record<string, readonly string[]> = {
  common: [],
  parser: ['common'],
  planner: ['common', 'parser'],
  store: ['common'],
  registry: ['common', 'store'],
  cache: ['common', 'store', 'registry'],
  exporter: ['common', 'store', 'registry'],
  runtime: ['common', 'store', 'registry', 'exporter'],
  executor: ['common', 'parser', 'planner', 'cache', 'store', 'registry', 'exporter', 'runtime'],
  cli: ['common', 'parser', 'planner', 'executor', 'cache', 'exporter', 'registry', 'store', 'runtime'],
};

const srcRoot = resolve(import.meta.dirname, '../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

interface ImportEdge {
  readonly from: string;
  readonly target: string;
}

function relativeImports(file: string): ImportEdge[] {
  const text = readFileSync(file, 'utf8');
  const edges: ImportEdge[] = [];
  const pattern = /(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)|import\s+['"](\.[^'"]+)['"]/g;
  for (const match of text.matchAll(pattern)) {
    const specifier = match[1] ?? match[2] ?? match[3];
    if (specifier !== undefined) edges.push({ from: file, target: resolve(dirname(file), specifier) });
  }
  return edges;
}

const stageOf = (path: string): string => relative(srcRoot, path).split('/')[0] ?? '';

describe('architecture', () => {
  const files = sourceFiles(srcRoot);
  const edges = files.flatMap(relativeImports);

  it('has a rule for every folder under src', () => {
    for (const file of files) expect(Object.keys(allowed)).toContain(stageOf(file));
  });

  it('imports stages only in the direction of DESIGN.md', () => {
    const violations = edges
      .map((edge) => ({ from: stageOf(edge.from), to: stageOf(edge.target), file: relative(srcRoot, edge.from) }))
      .filter(({ from, to }) => from !== to && !(allowed[from] ?? []).includes(to))
      .map(({ from, to, file }) => `${file}: ${from} → ${to}`);
    expect(violations).toEqual([]);
  });

  it('reaches another stage only through its index', () => {
    const deep = edges
      .filter((edge) => stageOf(edge.from) !== stageOf(edge.target))
      .filter((edge) => relative(srcRoot, edge.target) !== `${stageOf(edge.target)}/index.js`)
      .map((edge) => `${relative(srcRoot, edge.from)} → ${relative(srcRoot, edge.target)}`);
    expect(deep).toEqual([]);
  });

  it('has no cycle between stages', () => {
    const graph = new Map<string, Set<string>>();
    for (const edge of edges) {
      const from = stageOf(edge.from);
      const to = stageOf(edge.target);
      if (from !== to) graph.set(from, (graph.get(from) ?? new Set()).add(to));
    }
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (node: string, path: string[]): void => {
      if (state.get(node) === 'done') return;
      if (state.get(node) === 'visiting') {
        cycles.push([...path, node].join(' → '));
        return;
      }
      state.set(node, 'visiting');
      for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
      state.set(node, 'done');
    };
    for (const node of graph.keys()) visit(node, []);
    expect(cycles).toEqual([]);
  });

  it('keeps the whitelist itself acyclic', () => {
    const order: string[] = [];
    const seen = new Set<string>();
    const visit = (stage: string, depth: number): void => {
      expect(depth).toBeLessThan(20);
      if (seen.has(stage)) return;
      for (const dependency of allowed[stage] ?? []) visit(dependency, depth + 1);
      seen.add(stage);
      order.push(stage);
    };
    for (const stage of Object.keys(allowed)) visit(stage, 0);
    expect(order).toHaveLength(Object.keys(allowed).length);
  });
});
