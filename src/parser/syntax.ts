/**
 * From text to syntax nodes, by the reference's line rules (see the conformance corpus README):
 * parser directives at the top, comments, line continuations (with comment and empty lines
 * inside them), the per-instruction splitting of arguments, and heredoc bodies. Unlike the
 * reference it does not stop at the first error: a line that fails is reported and skipped.
 */
import { messageOf, processWords } from '../common/index.js';
import type { SourceRange } from '../common/index.js';
import type { Directive, EscapeToken, FlagNode, Heredoc, InstructionNode, Word } from './ast.js';
import type { Diagnostic, DiagnosticCode } from './diagnostics.js';
import { splitLine } from './line-grammar.js';
import { PositionMap, lineRange } from './positions.js';
import { isGoSpace, splitOnBlanks, trimGoSpace, trimLeadingGoSpace, trimNewline } from './text.js';
import { decodeFlagWord, readJsonArray, splitWordsKeepingQuotes } from './words.js';

export interface SyntaxResult {
  readonly escapeToken: EscapeToken;
  readonly directives: readonly Directive[];
  readonly instructions: readonly InstructionNode[];
  readonly diagnostics: readonly Diagnostic[];
  /** Number of physical lines. */
  readonly lineCount: number;
}

const directivePattern = /^#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$/;
const knownDirectives = new Set(['syntax', 'escape', 'check']);
const heredocWord = /^(\d*)<<(-?)([^<]*)$/;
/** Lines longer than this (line ending included) make the reference's line scanner fail. */
const maxLineBytes = 64 * 1024;

/** Thrown inside the parser only, caught per line; not an Error, as a stack trace is never wanted. */
class SyntaxError {
  constructor(
    readonly code: DiagnosticCode,
    readonly message: string,
    readonly range: SourceRange | undefined,
  ) {}
}

/** The physical lines without their `\n`, and whether the last one had one (all others do). */
function physicalLines(source: string): { readonly lines: string[]; readonly lastEndsWithNewline: boolean } {
  if (source === '') return { lines: [], lastEndsWithNewline: false };
  const lines = source.split('\n');
  const lastEndsWithNewline = lines[lines.length - 1] === '';
  if (lastEndsWithNewline) lines.pop();
  return { lines, lastEndsWithNewline };
}


/**
 * WHOLEJSON, asked once the directives are read: whether a JSON form must be the whole rest of
 * its line (readJsonArray), as frontends of 1.9 and later read it.
 */
export function parseSyntax(source: string, options: { readonly wholeJson?: (directives: readonly Directive[]) => boolean } = {}): SyntaxResult {
  let wholeJson: boolean | undefined;
  const { lines, lastEndsWithNewline } = physicalLines(source);
  const endsWithNewline = (index: number): boolean => index < lines.length - 1 || lastEndsWithNewline;
  const diagnostics: Diagnostic[] = [];
  const directives: Directive[] = [];
  const instructions: InstructionNode[] = [];
  const seenDirectives = new Set<string>();
  let directivesDone = false;
  let escape: EscapeToken = '\\';
  let comments: string[] = [];

  const report = (code: DiagnosticCode, message: string, range: SourceRange, start: number, end: number, severity: 'error' | 'warning' = 'error'): void => {
    diagnostics.push({ code, severity, phase: 'syntax', message, range, lines: { start, end } });
  };

  const readDirective = (token: string, lineNumber: number, column: number): void => {
    if (directivesDone) return;
    const match = directivePattern.exec(token);
    const name = match?.[1]?.toLowerCase();
    if (match === null || name === undefined || !knownDirectives.has(name)) {
      directivesDone = true;
      return;
    }
    const range = lineRange(lineNumber, column, lineNumber, column + token.length - 1);
    // The reference reports directive errors on the line before the directive.
    if (seenDirectives.has(name)) {
      report('duplicate-directive', `only one ${name} parser directive can be used`, range, lineNumber - 1, lineNumber - 1);
      return;
    }
    seenDirectives.add(name);
    const value = match[2] ?? '';
    if (name === 'escape') {
      if (value !== '\\' && value !== '`') {
        report('invalid-escape', `invalid escape token '${value}' does not match \` or \\`, range, lineNumber - 1, lineNumber - 1);
        return;
      }
      escape = value;
    }
    directives.push({ name, value, range });
  };

  let index = 0;
  while (index < lines.length) {
    const physical = lines[index] as string;
    // Columns count from after a byte-order mark, which is not part of the text.
    const raw = index === 0 && physical.startsWith('\uFEFF') ? physical.slice(1) : physical;
    if (raw.length * 3 >= maxLineBytes && Buffer.byteLength(raw) + (endsWithNewline(index) ? 1 : 0) > maxLineBytes) {
      const at = lineRange(index + 1, 1, index + 1, 1);
      report('line-too-long', `dockerfile line greater than max allowed size of ${maxLineBytes - 1}`, at, index + 1, index + 1);
      break;
    }
    const withoutNewline = trimNewline(raw);
    let token = trimLeadingGoSpace(withoutNewline);
    if (token.startsWith('#')) {
      const comment = trimGoSpace(raw.slice(1));
      if (comment === '') comments = [];
      else comments.push(comment);
    }
    const column = 1 + (withoutNewline.length - token.length);
    readDirective(token, index + 1, column);
    if (token.startsWith('#')) token = '';
    index++;
    const startLine = index;
    const cut = continuationAt(token, escape);
    let line = cut < 0 ? token : token.slice(0, cut);
    let ended = cut < 0;
    if (ended && line === '') continue;

    const map = new PositionMap(startLine, column);
    let emptyContinuation = false;
    while (!ended && index < lines.length) {
      const processed = trimNewline(lines[index] as string);
      readDirective(processed, index + 1, 1);
      index++;
      const indentless = trimLeadingGoSpace(processed);
      if (indentless.startsWith('#')) continue;
      if (indentless === '') {
        emptyContinuation = true;
        continue;
      }
      const text = processed.startsWith('#') ? '' : processed;
      const pieceCut = continuationAt(text, escape);
      const piece = pieceCut < 0 ? text : text.slice(0, pieceCut);
      ended = pieceCut < 0;
      map.addSegment(line.length, index, 1);
      line += piece;
    }
    const endLine = index;
    if (emptyContinuation) {
      report('empty-continuation', `Empty continuation line found in: ${line}`, lineRange(endLine, 1, endLine, 1), endLine, endLine, 'warning');
    }

    let node: Omit<InstructionNode, 'heredocs' | 'range' | 'comments'>;
    try {
      wholeJson ??= options.wholeJson?.(directives) === true;
      node = nodeFromLine(line, map, escape, wholeJson);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      report(error.code, error.message, error.range ?? map.range(0, line.length), startLine, endLine);
      comments = [];
      continue;
    }

    const heredocs: Heredoc[] = [];
    if (canContainHeredoc(node)) {
      let markers: HeredocMarker[];
      try {
        markers = heredocsFromLine(line, map);
      } catch (error) {
        if (!(error instanceof SyntaxError)) throw error;
        report(error.code, error.message, error.range ?? map.range(0, line.length), startLine, endLine);
        comments = [];
        continue;
      }
      let unterminated: HeredocMarker | undefined;
      for (const marker of markers) {
        let content = '';
        let terminated = false;
        while (index < lines.length) {
          const body = lines[index] as string;
          const newline = endsWithNewline(index);
          index++;
          let candidate = trimNewline(body);
          if (marker.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === marker.name) {
            terminated = true;
            break;
          }
          content += newline ? `${body}\n` : body;
        }
        if (!terminated) {
          unterminated = marker;
          break;
        }
        const last = lines[index - 1] ?? '';
        heredocs.push({
          name: marker.name,
          expand: marker.expand,
          chomp: marker.chomp,
          fileDescriptor: marker.fileDescriptor,
          content,
          range: { start: marker.range.start, end: { line: index, column: Math.max(1, trimNewline(last).length) } },
        });
      }
      if (unterminated !== undefined) {
        report('unterminated-heredoc', `unterminated heredoc ${unterminated.name}`, unterminated.range, startLine, index);
        break;
      }
    }

    const lastLine = index;
    const lastText = trimNewline(lines[lastLine - 1] ?? '');
    const codeEnd = map.at(Math.max(0, line.length - 1));
    // As the reference's node lines: the instruction starts on its first physical line, even one
    // holding only the escape character, and a continuation the file ends in takes the empty and
    // comment lines after it (what a failure's excerpt marks).
    const range: SourceRange = {
      start: { line: startLine, column },
      end: heredocs.length > 0 || endLine > codeEnd.line ? { line: lastLine, column: Math.max(1, lastText.length) } : codeEnd,
    };
    instructions.push({ keyword: node.keyword, flags: node.flags, args: node.args, trigger: node.trigger, json: node.json, code: node.code, heredocs, range, comments });
    comments = [];
  }

  if (instructions.length === 0 && !diagnostics.some((d) => d.severity === 'error')) {
    const last = lines.length;
    report('no-instructions', 'file with no instructions', lineRange(Math.max(1, last), 1, Math.max(1, last), 1), last, last);
  }
  return { escapeToken: escape, directives, instructions, diagnostics, lineCount: lines.length };
}

/**
 * Where a trailing continuation starts: the escape character, optionally followed by blanks, at
 * the end of the line and not itself preceded by the escape character. -1 when the instruction
 * ends on this line.
 */
function continuationAt(line: string, escape: EscapeToken): number {
  let end = line.length;
  while (end > 0 && (line[end - 1] === ' ' || line[end - 1] === '\t')) end--;
  if (end === 0 || line[end - 1] !== escape) return -1;
  if (end >= 2 && line[end - 2] === escape) return -1;
  return end - 1;
}

type NodeCore = Omit<InstructionNode, 'heredocs' | 'range' | 'comments'>;

/**
 * Where a line's words are: its position map and the offset of its rest. A plain object passed
 * down rather than closures made per line: building nodes is the parser's hot path.
 */
interface RestPlace {
  readonly map: PositionMap;
  readonly restStart: number;
  readonly restLength: number;
}

function restWord(place: RestPlace, value: string, start: number, end: number): Word {
  return { value, range: place.map.range(place.restStart + start, place.restStart + end) };
}

function restRange(place: RestPlace): SourceRange {
  return place.map.range(place.restStart, place.restStart + place.restLength);
}

function blankSplit(rest: string, place: RestPlace): Word[] {
  if (rest === '') return [];
  const words: Word[] = [];
  for (const piece of splitOnBlanks(rest)) words.push(restWord(place, piece.text, piece.start, piece.start + piece.text.length));
  return words;
}

/** The JSON form's words, or undefined when REST is in shell form. */
function jsonWords(rest: string, place: RestPlace, wholeJson: boolean, offset = 0): Word[] | undefined {
  const json = readJsonArray(rest, wholeJson);
  if (json.kind === 'not-strings') throw new SyntaxError('json-not-strings', 'when using JSON array syntax, arrays must be comprised of strings only', restRange(place));
  if (json.kind !== 'array') return undefined;
  const words: Word[] = [];
  for (const element of json.elements) words.push(restWord(place, element.value, offset + element.start, offset + element.end));
  return words;
}

function nodeFromLine(line: string, map: PositionMap, escape: EscapeToken, wholeJson: boolean): NodeCore {
  const trimmed = trimGoSpace(line);
  const base = trimmed === '' ? 0 : line.indexOf(trimmed);
  const parts = trimmed === '' ? { keyword: '', keywordStart: 0, flags: [], rest: '', restStart: 0 } : splitLine(trimmed);
  const keyword: Word = { value: parts.keyword, range: map.range(base + parts.keywordStart, base + parts.keywordStart + parts.keyword.length) };
  const flags: FlagNode[] = [];
  for (const flag of parts.flags) {
    const text = decodeFlagWord(flag.raw);
    if (text === '--') continue;
    const eq = text.indexOf('=');
    flags.push({
      text,
      name: eq < 0 ? text.slice(2) : text.slice(2, eq),
      value: eq < 0 ? undefined : text.slice(eq + 1),
      range: map.range(base + flag.start, base + flag.end),
    });
  }
  const rest = parts.rest;
  const place: RestPlace = { map, restStart: base + parts.restStart, restLength: rest.length };
  let args: Word[];
  let json = false;
  let trigger: InstructionNode | undefined;
  const lowerKeyword = parts.keyword.toLowerCase();

  switch (lowerKeyword) {
    case 'from':
    case 'expose':
      args = blankSplit(rest, place);
      break;
    case 'add':
    case 'copy':
    case 'volume': {
      const words = jsonWords(rest, place, wholeJson);
      json = words !== undefined;
      args = words ?? blankSplit(rest, place);
      break;
    }
    case 'run':
    case 'cmd':
    case 'entrypoint':
    case 'shell': {
      const words = rest === '' ? [] : jsonWords(rest, place, wholeJson);
      json = words !== undefined && rest !== '';
      args = words ?? [restWord(place, rest, 0, rest.length)];
      break;
    }
    case 'maintainer':
    case 'stopsignal':
    case 'user':
    case 'workdir':
      args = rest === '' ? [] : [restWord(place, rest, 0, rest.length)];
      break;
    case 'env':
    case 'label':
      args = keyValueWords(rest, lowerKeyword === 'env' ? 'ENV' : 'LABEL', escape, place);
      break;
    case 'arg':
      args = splitWordsKeepingQuotes(rest, escape).map((w) => restWord(place, w.value, w.start, w.end));
      break;
    case 'healthcheck': {
      let sep = 0;
      while (sep < rest.length && !isGoSpace(rest[sep] ?? '')) sep++;
      if (sep === 0) {
        args = [];
        break;
      }
      let next = sep;
      while (next < rest.length && isGoSpace(rest[next] ?? '')) next++;
      const type = restWord(place, rest.slice(0, sep), 0, sep);
      const command = rest.slice(next);
      if (command === '') {
        args = [type];
        break;
      }
      const words = jsonWords(command, place, wholeJson, next);
      json = words !== undefined;
      args = words === undefined ? [type, restWord(place, command, next, rest.length)] : [type, ...words];
      break;
    }
    case 'onbuild': {
      args = [];
      if (rest === '') break;
      const inner = nodeFromLine(rest, map.shifted(place.restStart), escape, wholeJson);
      trigger = { keyword: inner.keyword, flags: inner.flags, args: inner.args, trigger: inner.trigger, json: inner.json, code: inner.code, heredocs: [], comments: [], range: restRange(place) };
      break;
    }
    default:
      // The reference keeps an unknown instruction with one empty argument; typing rejects it.
      args = [{ value: '', range: restRange(place) }];
  }
  return { keyword, flags, args, json, trigger, code: line };
}

/** ENV and LABEL: `key=value` words, or the old `key value` form; triples of key, value, separator. */
function keyValueWords(rest: string, instruction: string, escape: EscapeToken, place: RestPlace): Word[] {
  const words = splitWordsKeepingQuotes(rest, escape);
  const first = words[0];
  if (first === undefined) return [];
  if (!first.value.includes('=')) {
    const parts = splitOnBlanks(rest, 2);
    const value = parts[1];
    if (value === undefined) throw new SyntaxError('missing-value', `${instruction} must have two arguments`, restRange(place));
    const key = parts[0] as { text: string; start: number };
    return [restWord(place, key.text, key.start, key.start + key.text.length), restWord(place, value.text, value.start, value.start + value.text.length), restWord(place, '', value.start, value.start)];
  }
  const triples: Word[] = [];
  for (const w of words) {
    const eq = w.value.indexOf('=');
    if (eq < 0) {
      throw new SyntaxError('missing-equals', `Syntax error - can't find = in ${JSON.stringify(w.value)}. Must be of the form: name=value`, restWord(place, w.value, w.start, w.end).range);
    }
    const keyEnd = w.start + eq;
    triples.push(restWord(place, w.value.slice(0, eq), w.start, keyEnd), restWord(place, w.value.slice(eq + 1), keyEnd + 1, w.end), restWord(place, '=', keyEnd, keyEnd + 1));
  }
  return triples;
}

const heredocInstructions = new Set(['add', 'copy', 'run']);

function canContainHeredoc(node: NodeCore): boolean {
  const target = node.keyword.value.toLowerCase() === 'onbuild' && node.trigger !== undefined ? node.trigger : node;
  return heredocInstructions.has(target.keyword.value.toLowerCase()) && !target.json;
}

type HeredocMarker = Omit<Heredoc, 'content'>;

/**
 * The heredoc words of a line, as the reference finds them: the line split into shell words
 * (quotes and escapes kept), each word of the form `[n]<<[-]WORD`.
 */
function heredocsFromLine(line: string, map: PositionMap): HeredocMarker[] {
  // A heredoc word holds `<<` as written (quotes, escapes and variables stay raw here).
  if (!line.includes('<<')) return [];
  let words: string[];
  try {
    words = processWords(line, new Map(), { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  } catch {
    return [];
  }
  const markers: HeredocMarker[] = [];
  let searchFrom = 0;
  for (const raw of words) {
    const at = line.indexOf(raw, searchFrom);
    if (at >= 0) searchFrom = at + raw.length;
    const range = at >= 0 ? map.range(at, at + raw.length) : map.range(0, line.length);
    const marker = parseHeredocWord(raw, range);
    if (marker !== undefined) markers.push(marker);
  }
  return markers;
}

/** A `<<WORD` word, or undefined when the word is not a heredoc. */
export function parseHeredocWord(word: string, range: SourceRange): HeredocMarker | undefined {
  const match = heredocWord.exec(word);
  if (match === null) return undefined;
  const rest = match[3] ?? '';
  if (rest === '') return undefined;
  let unquoted: string[];
  let raw: string[];
  try {
    unquoted = processWords(rest, new Map(), { skipUnsetEnv: true });
    raw = processWords(rest, new Map(), { skipUnsetEnv: true, rawQuotes: true });
  } catch (error) {
    throw new SyntaxError('invalid-heredoc', `invalid heredoc word ${JSON.stringify(rest)}: ${messageOf(error)}`, range);
  }
  if (unquoted.length !== 1) return undefined;
  const name = unquoted[0] ?? '';
  const quotes = (text: string): number => (text.match(/['"]/g) ?? []).length;
  return {
    name,
    expand: quotes(name) === quotes(raw[0] ?? ''),
    chomp: match[2] === '-',
    fileDescriptor: Number(match[1] === '' ? '0' : match[1]),
    range,
  };
}
