/** Levenshtein distance, case-insensitive unless asked otherwise. */
export function editDistance(a: string, b: string, caseSensitive = false): number {
  const s = caseSensitive ? a : a.toLowerCase();
  const t = caseSensitive ? b : b.toLowerCase();
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    for (let j = 1; j <= t.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (s[i - 1] === t[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[t.length] ?? 0;
}

function closest(value: string, candidates: readonly string[], caseSensitive: boolean): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(value, candidate, caseSensitive);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** The closest candidate within an edit distance below 3, as BuildKit's util/suggest does. */
export function suggest(value: string, candidates: readonly string[]): string | undefined {
  return closest(value, candidates, false);
}

/**
 * BuildKit's suggest.Search with caseSensitive set (the linter's "did you mean"): case counts as
 * an edit, and a candidate spelt exactly as VALUE means the value is known and nothing is
 * suggested, whichever candidates came before it.
 */
export function suggestCaseSensitive(value: string, candidates: readonly string[]): string | undefined {
  return candidates.includes(value) ? undefined : closest(value, candidates, true);
}
