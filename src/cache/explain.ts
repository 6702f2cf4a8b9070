/**
 * Why a step missed: each record keeps a summary of what keyed it (the instruction text, each
 * environment variable, each file read, by short hashes of their values, never the values), and a
 * miss is compared with the closest record: one with the same parent step (an earlier version of
 * this very step), else the latest one in the same place of the same Dockerfile (when its parent
 * differs, something above changed: the base image, or the step before).
 */
import { goQuote, hashHex } from '../common/index.js';

/** What keyed a step, as it is kept with its record. */
export interface StepSummary {
  /** The parent step's key. */
  readonly parent: string;
  /** Where the step is: the Dockerfile, the stage and the step's place in it. */
  readonly slot: string;
  /** The instruction as written (continuation lines joined). */
  readonly text: string;
  /** The base image's manifest digest, for a stage built FROM an image. */
  readonly base?: string;
  /** Named inputs → short hash: `env:NAME`, `arg:NAME`, `file:PATH` (content + metadata), `cwd`, `user`, … */
  readonly inputs: Readonly<Record<string, string>>;
}

/** Files beyond this many are summarised by their total alone. */
const maxFiles = 2000;

export function shortHash(value: string): string {
  return hashHex('sha256', value).slice(0, 16);
}

/**
 * A file's summary value: its metadata (type, mode, owner: no `|` in them) and its content's
 * hash (or a link's target) apart, so a change says which.
 */
export function fileSummary(content: string, metadata: string): string {
  return `${metadata}|${content}`;
}

function splitFileSummary(value: string): { metadata: string; content: string } {
  const bar = value.indexOf('|');
  return bar < 0 ? { metadata: '', content: value } : { metadata: value.slice(0, bar), content: value.slice(bar + 1) };
}

/** Inputs with the files capped: a context of a million files must not make a record huge. */
export function capInputs(inputs: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  const files = Object.keys(inputs).filter((name) => name.startsWith('file:'));
  return files.length <= maxFiles ? inputs : filesSummarized(inputs, files);
}

/** INPUTS with every `file:` entry replaced by one `files` hash of them all. */
function filesSummarized(inputs: Readonly<Record<string, string>>, files: readonly string[]): Readonly<Record<string, string>> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(inputs)) if (!name.startsWith('file:')) kept[name] = value;
  kept['files'] = shortHash([...files].sort().map((name) => `${name}=${inputs[name] ?? ''}`).join('\n'));
  return kept;
}

export function encodeSummary(summary: StepSummary): string {
  return JSON.stringify(summary);
}

export function decodeSummary(text: string | undefined): StepSummary | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<StepSummary>;
    if (typeof value.parent !== 'string' || typeof value.slot !== 'string' || typeof value.text !== 'string' || value.inputs === null || typeof value.inputs !== 'object') return undefined;
    return value as StepSummary;
  } catch {
    return undefined;
  }
}

/**
 * A context path as a progress line can show it: quoted as Go quotes when it holds a control
 * character (a newline in a name would start a line of its own, one that may pass for progress)
 * or bytes that are not UTF-8.
 */
function shownPath(path: string): string {
  return /[\u0000-\u001f\u007f\ufffd]/u.test(path) ? goQuote(path) : path;
}

function describeInput(name: string, before: string | undefined, after: string | undefined): string {
  const what = before === undefined ? 'added' : after === undefined ? 'removed' : 'changed';
  if (name.startsWith('file:')) {
    const path = shownPath(name.slice('file:'.length));
    if (before === undefined || after === undefined) return `file ${path} ${what}`;
    const old = splitFileSummary(before);
    const now = splitFileSummary(after);
    const parts = [old.content !== now.content ? 'content' : '', old.metadata !== now.metadata ? `metadata (${old.metadata} → ${now.metadata})` : ''].filter((part) => part !== '');
    return `file ${path}: ${parts.join(' and ')} changed`;
  }
  if (name.startsWith('arg:')) return `build arg ${name.slice(4)} ${what}`;
  if (name.startsWith('env:')) return `environment variable ${name.slice(4)} ${what}`;
  if (name === 'files') return 'the files it copies changed';
  return `${name} ${what}`;
}

/** How the step's inputs differ from the record's: one line per difference, instruction first. */
export function compareSummaries(record: StepSummary, current: StepSummary): string[] {
  const reasons: string[] = [];
  if (record.text !== current.text) reasons.push(`instruction changed (was: ${record.text})`);
  // A record kept its files as one hash (capInputs): the other side is compared the same way,
  // not file by file against nothing.
  const summarized = 'files' in record.inputs || 'files' in current.inputs;
  const comparable = (inputs: Readonly<Record<string, string>>): Readonly<Record<string, string>> =>
    summarized && !('files' in inputs) ? filesSummarized(inputs, Object.keys(inputs).filter((name) => name.startsWith('file:'))) : inputs;
  const recorded = comparable(record.inputs);
  const now = comparable(current.inputs);
  const names = [...new Set([...Object.keys(recorded), ...Object.keys(now)])].sort();
  for (const name of names) {
    const before = recorded[name];
    const after = now[name];
    if (before !== after) reasons.push(describeInput(name, before, after));
  }
  return reasons;
}

/**
 * Why CURRENT missed, given the records of its parent (SIBLINGS, newest last) and those in its
 * place (SAMESLOT, newest last).
 */
export function explainMiss(current: StepSummary, siblings: readonly StepSummary[], sameSlot: readonly StepSummary[]): string {
  const sibling = siblings.at(-1);
  if (sibling !== undefined) {
    const reasons = compareSummaries(sibling, current);
    return reasons.length === 0 ? 'inputs equal to a record, but its result is gone' : reasons.join('; ');
  }
  const previous = sameSlot.at(-1);
  if (previous === undefined) return 'no record of this step';
  if (previous.base !== undefined && current.base !== undefined && previous.base !== current.base) return `base image digest changed (was ${previous.base}, now ${current.base})`;
  const reasons = compareSummaries(previous, current);
  return reasons.length === 0 ? 'a step before it changed' : `a step before it changed; ${reasons.join('; ')}`;
}
