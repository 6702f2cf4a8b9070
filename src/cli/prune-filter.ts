/**
 * The `--filter` of docker's prune commands (image, container, network): until=TIME (made
 * before it), label=KEY, label=KEY=VALUE and their negations label!=…; every term must hold.
 */
import { TsbuildError, parseGoDuration } from '../common/index.js';

/** What a prune filter reads of a candidate. */
export interface PruneFilterCandidate {
  /** When it was made, RFC 3339 ('' when unknown: never before any time). */
  readonly created: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** `until=`'s time: RFC 3339, a Unix time, or a Go duration before now. In ms since the epoch. */
function filterTime(what: string, text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const duration = parseGoDuration(text);
  if (typeof duration === 'number') return Date.now() - duration / 1e6;
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed)) throw new TsbuildError('INVALID_ARGUMENT', `${what}: invalid until= time ${JSON.stringify(text)}`);
  return parsed;
}

/** The selection TERMS make (undefined: no filter), refused naming WHAT (`prune images`) when one is not a filter. */
export function pruneSelection(what: string, terms: readonly string[]): ((candidate: PruneFilterCandidate) => boolean) | undefined {
  if (terms.length === 0) return undefined;
  const checks = terms.map((term): ((candidate: PruneFilterCandidate) => boolean) => {
    const match = /^(until|label)(!?=)(.+)$/.exec(term);
    if (match === null) throw new TsbuildError('INVALID_ARGUMENT', `${what}: bad filter ${JSON.stringify(term)} (until=, label=, label!=)`);
    const [, key, operator, value = ''] = match;
    if (key === 'until') {
      if (operator !== '=') throw new TsbuildError('INVALID_ARGUMENT', `${what}: bad filter ${JSON.stringify(term)}`);
      const limit = filterTime(what, value);
      return (candidate) => Date.parse(candidate.created) < limit;
    }
    const equals = value.indexOf('=');
    const name = equals < 0 ? value : value.slice(0, equals);
    const has = (candidate: PruneFilterCandidate): boolean => (equals < 0 ? Object.hasOwn(candidate.labels, name) : candidate.labels[name] === value.slice(equals + 1));
    return operator === '=' ? has : (candidate) => !has(candidate);
  });
  return (candidate) => checks.every((check) => check(candidate));
}
