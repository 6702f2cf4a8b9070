/**
 * Go's text/template, as docker's `--format` takes it (docker's CLI parses user formats with
 * text/template and its own functions: json, split, join, title, lower, upper, pad, truncate),
 * on plain values: objects are Go maps (a missing key prints `<no value>`), arrays slices, and
 * a function a method (`{{.Label "key"}}`). Actions: fields and chains, variables (`$`, `$x :=`,
 * `$x =`), pipelines with `|`, parenthesized arguments, string, number, boolean and nil
 * literals, `if`/`else if`/`else`, `range` (with `$i, $v :=`, `else`, `break`, `continue`),
 * `with`/`else with`, comments and `{{-`/`-}}` trimming; Go's builtins and, or, not, len, index,
 * slice, eq, ne, lt, le, gt, ge, print, printf, println, urlquery, html, js, call.
 * `define`, `template` and `block` are refused: docker's formats never name other templates.
 */
import { goTypeName } from '../common/index.js';
import { dockerTable } from './format.js';
import { ClientError, ExitError, type CliIo } from './io.js';

type Value = unknown;
type TemplateFunction = (...args: Value[]) => Value;

interface Operand {
  readonly kind: 'field' | 'variable' | 'literal' | 'identifier' | 'pipeline' | 'dot';
  /** field: the chain from dot; variable: after the variable; pipeline: after the parentheses. */
  readonly chain: readonly string[];
  readonly name?: string;
  readonly value?: Value;
  readonly pipeline?: Pipeline;
  /** Where the chain is, as a failure to evaluate it names it: its position and its text (`.Image.Nope`). */
  readonly at?: ChainPlace;
  /** The operand as Go's parse tree prints it back (`.A`, `"x"`, `(index .A 1)`). */
  readonly text: string;
}

interface ChainPlace {
  readonly position: string;
  readonly text: string;
}

interface Pipeline {
  /** `$x := …` (declare) or `$x = …` (assign), with one or two names for range. */
  readonly variables: readonly string[];
  readonly assign: boolean;
  readonly commands: readonly Command[];
}

/** One command of a pipeline: its operands, and where Go places it (its first token) with its text, as a failed call names it. */
interface Command {
  readonly operands: readonly Operand[];
  readonly at: ChainPlace;
}

type Node =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'action'; readonly pipeline: Pipeline }
  | { readonly kind: 'if' | 'with'; readonly pipeline: Pipeline; readonly body: readonly Node[]; readonly otherwise: readonly Node[] }
  | { readonly kind: 'range'; readonly pipeline: Pipeline; readonly body: readonly Node[]; readonly otherwise: readonly Node[] }
  | { readonly kind: 'break' | 'continue' };

const missing = '<no value>';

/**
 * A Go nil slice or map in a document docker's CLI would hold as a typed struct: JSON null, but
 * a template prints it as Go prints it (`[]`, `map[]`), its length is 0 and it is false.
 */
export class GoNil {
  /** ELEMENTZERO: what `index` gives for any key of a nil map (its element type's zero value). */
  constructor(
    readonly kind: 'slice' | 'map',
    readonly elementZero?: unknown,
  ) {}

  toJSON(): null {
    return null;
  }
}

export const nilSlice = new GoNil('slice');
export const nilMap = new GoNil('map');
const nilStringMap = new GoNil('map', '');

/**
 * A Go nil pointer (of TYPENAME, as `*types.Health`) in a document's typed view: Go prints it
 * `<nil>`, and asking it for a field fails, which sends docker's inspect to the raw document.
 * JSON has it as null, or leaves it out (INJSON false) as its `omitempty` does.
 */
export class GoNilPointer {
  constructor(
    readonly typeName: string,
    readonly inJson = false,
  ) {}

  toJSON(): null | undefined {
    return this.inJson ? null : undefined;
  }
}

/** On a typed view's map, what Go's `index` gives for a key it has not: its element type's zero value. */
const mapElementZero: unique symbol = Symbol('mapElementZero');

/** Go's fmt %v of a value, as text/template prints an action's result. */
export function goPrint(value: Value, nested = false): string {
  if (value instanceof GoNil) return value.kind === 'slice' ? '[]' : 'map[]';
  if (value instanceof GoNilPointer) return '<nil>';
  if (value === undefined || value === null) return nested ? '<nil>' : missing;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return goNumber(value);
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return `[${value.map((item) => goPrint(item, true)).join(' ')}]`;
  if (typeof value === 'function') return missing;
  const entries = Object.entries(value as Record<string, Value>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `map[${entries.map(([key, item]) => `${key}:${goPrint(item, true)}`).join(' ')}]`;
}

/** A number as Go's %v writes an int, or a float64 (shortest form, exponent from 1e21 up, two digits at least). */
function goNumber(value: number): string {
  if (Number.isInteger(value) && Math.abs(value) < 1e21) return String(value);
  const text = String(value);
  const match = /^(-?[\d.]+)e([+-])(\d+)$/.exec(text);
  return match === null ? text : `${match[1] ?? ''}e${match[2] ?? ''}${(match[3] ?? '').padStart(2, '0')}`;
}

/** Go's truth: false, 0, nil and empty strings, slices and maps are false. */
function truth(value: Value): boolean {
  if (value instanceof GoNil || value instanceof GoNilPointer) return false;
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

/** A `--format` that cannot be read: docker's CLI says so itself, before it asks its daemon anything. */
export class TemplateParseError extends ClientError {}

function templateError(message: string): ClientError {
  return new TemplateParseError(`template parsing error: template: :${message}`);
}

/** A template that was read but failed on a value (a field its type has not, an index out of range). */
export class TemplateExecuteError extends ClientError {}

function executeError(message: string): ClientError {
  return new TemplateExecuteError(`template: ${message}`);
}

/**
 * FORMAT parsed for `inspect`, `info` and `version`, whose CLI ends a template it cannot read
 * with status 64 (its StatusError), where the list commands end with 1.
 */
export function parseGoTemplateOrExit(io: CliIo, format: string): GoTemplate {
  try {
    return parseGoTemplate(format);
  } catch (error) {
    if (!(error instanceof TemplateParseError)) throw error;
    io.stderr.write(`${error.message}\n`);
    throw new ExitError(64);
  }
}

// ---------------------------------------------------------------- lexing

interface Token {
  readonly type: 'space' | 'field' | 'variable' | 'identifier' | 'string' | 'number' | 'bool' | 'nil' | 'pipe' | 'open' | 'close' | 'declare' | 'assign' | 'comma' | 'dot';
  readonly text: string;
  readonly value?: Value;
  /** `LINE:COLUMN` (the column a byte offset) where Go places the node: a chain of fields at its second field. */
  readonly position?: string;
}

function unquote(text: string, line: number): string {
  if (text.startsWith('`')) return text.slice(1, -1);
  try {
    return JSON.parse(text.replace(/\\'/g, "'").replace(/\\x([0-9a-fA-F]{2})/g, '\\u00$1').replace(/\\a/g, '\\u0007').replace(/\\v/g, '\\u000b')) as string;
  } catch {
    throw templateError(`${line}: bad string ${text}`);
  }
}

function lexAction(source: string, line: number, column: number): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  const where = (offset: number): string => {
    const before = source.slice(0, offset);
    const newline = before.lastIndexOf('\n');
    return `${line + (before.match(/\n/g) ?? []).length}:${newline < 0 ? column + Buffer.byteLength(before) : Buffer.byteLength(before.slice(newline + 1))}`;
  };
  while (at < source.length) {
    const rest = source.slice(at);
    let match: RegExpExecArray | null;
    if ((match = /^\s+/.exec(rest)) !== null) tokens.push({ type: 'space', text: match[0] });
    else if ((match = /^"(?:[^"\\\n]|\\.)*"|^`[^`]*`/.exec(rest)) !== null) tokens.push({ type: 'string', text: match[0], value: unquote(match[0], line) });
    else if ((match = /^'(?:[^'\\]|\\.)+'/.exec(rest)) !== null) tokens.push({ type: 'number', text: match[0], value: unquote(`"${match[0].slice(1, -1)}"`, line).codePointAt(0) ?? 0 });
    else if ((match = /^(?:\.[A-Za-z_]\w*)+/.exec(rest)) !== null) {
      const second = match[0].indexOf('.', 1);
      tokens.push({ type: 'field', text: match[0], position: where(second < 0 ? at : at + second) });
    } else if ((match = /^\$\w*/.exec(rest)) !== null) tokens.push({ type: 'variable', text: match[0], position: where(at) });
    else if ((match = /^[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO]?[0-7_]+|0[bB][01_]+|(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][-+]?\d+)?)/.exec(rest)) !== null && match[0] !== '' && !/^[-+]$/.test(match[0])) {
      const text = match[0].replace(/_/g, '');
      const value = /^[-+]?0[oO]?[0-7]+$/.test(text) && text.replace(/^[-+]/, '') !== '0' ? parseInt(text.replace(/[oO]/, ''), 8) : Number(text);
      if (Number.isNaN(value)) throw templateError(`${line}: bad number syntax: "${match[0]}"`);
      tokens.push({ type: 'number', text: match[0], value });
    } else if ((match = /^(?:true|false)\b/.exec(rest)) !== null) tokens.push({ type: 'bool', text: match[0], value: match[0] === 'true' });
    else if ((match = /^nil\b/.exec(rest)) !== null) tokens.push({ type: 'nil', text: match[0] });
    else if ((match = /^[A-Za-z_]\w*/.exec(rest)) !== null) tokens.push({ type: 'identifier', text: match[0] });
    else if (rest.startsWith(':=')) tokens.push({ type: 'declare', text: ':=' });
    else if (rest.startsWith('=')) tokens.push({ type: 'assign', text: '=' });
    else if (rest.startsWith('|')) tokens.push({ type: 'pipe', text: '|' });
    else if (rest.startsWith('(')) tokens.push({ type: 'open', text: '(' });
    else if (rest.startsWith(')')) tokens.push({ type: 'close', text: ')' });
    else if (rest.startsWith(',')) tokens.push({ type: 'comma', text: ',' });
    else if (rest.startsWith('.')) tokens.push({ type: 'dot', text: '.' });
    else throw templateError(`${line}: unexpected "${rest[0] ?? ''}" in command`);
    const last = tokens.at(-1) as Token;
    if (last.position === undefined) tokens[tokens.length - 1] = { ...last, position: where(at) };
    at += last.text.length;
  }
  return tokens;
}

// ---------------------------------------------------------------- parsing

class Parser {
  private at = 0;
  constructor(
    private readonly tokens: readonly Token[],
    private readonly line: number,
    private readonly functions: ReadonlySet<string>,
  ) {}

  private peek(skipSpace = true): Token | undefined {
    let index = this.at;
    while (skipSpace && this.tokens[index]?.type === 'space') index++;
    return this.tokens[index];
  }

  private next(): Token | undefined {
    while (this.tokens[this.at]?.type === 'space') this.at++;
    return this.tokens[this.at++];
  }

  done(): boolean {
    return this.peek() === undefined;
  }

  /** The word at the start of what is left (a control keyword), consumed. */
  keyword(): string {
    return this.next()?.text ?? '';
  }

  pipeline(context: string, allowDeclaration = true): Pipeline {
    let variables: string[] = [];
    let assign = false;
    if (allowDeclaration) {
      // `$x :=`, `$x =`, or `$i, $v :=` (range) look ahead without consuming.
      const save = this.at;
      const first = this.next();
      if (first?.type === 'variable') {
        const after = this.next();
        if (after?.type === 'declare' || after?.type === 'assign') {
          variables = [first.text];
          assign = after.type === 'assign';
        } else if (after?.type === 'comma') {
          const second = this.next();
          const operator = this.next();
          if (second?.type !== 'variable' || operator?.type !== 'declare') throw templateError(`${this.line}: too many declarations in ${context}`);
          variables = [first.text, second.text];
        }
      }
      if (variables.length === 0) this.at = save;
    }
    const commands: Command[] = [];
    for (;;) {
      const position = this.peek()?.position ?? '';
      const operands = this.command();
      if (operands.length === 0) throw templateError(`${this.line}: missing value for ${context}`);
      commands.push({ operands, at: { position, text: operands.map((operand) => operand.text).join(' ') } });
      const token = this.peek();
      if (token?.type !== 'pipe') break;
      this.next();
    }
    return { variables, assign, commands };
  }

  private command(): Operand[] {
    const operands: Operand[] = [];
    for (;;) {
      const token = this.peek(false);
      if (token === undefined || token.type === 'pipe' || token.type === 'close') break;
      if (token.type === 'space') {
        this.at++;
        continue;
      }
      operands.push(this.operand());
      // Operands are separated by spaces; a field chained on directly (`(x).Field`) was taken.
      const after = this.peek(false);
      if (after !== undefined && after.type !== 'space' && after.type !== 'pipe' && after.type !== 'close') throw templateError(`${this.line}: unexpected "${after.text}" in operand`);
    }
    return operands;
  }

  private chainAfter(): { chain: string[]; token?: Token } {
    const token = this.peek(false);
    if (token?.type !== 'field') return { chain: [] };
    this.at++;
    return { chain: token.text.slice(1).split('.'), token };
  }

  private operand(): Operand {
    const token = this.next() as Token;
    switch (token.type) {
      case 'field':
        return { kind: 'field', chain: token.text.slice(1).split('.'), at: { position: token.position ?? '', text: token.text }, text: token.text };
      case 'dot':
        return { kind: 'dot', chain: [], text: '.' };
      case 'variable': {
        const { chain, token: after } = this.chainAfter();
        const text = `${token.text}${after?.text ?? ''}`;
        return { kind: 'variable', name: token.text, chain, at: { position: token.position ?? '', text }, text };
      }
      case 'string':
      case 'number':
      case 'bool':
        return { kind: 'literal', value: token.value, chain: [], text: token.text };
      case 'nil':
        return { kind: 'literal', value: null, chain: [], text: 'nil' };
      case 'identifier':
        if (!this.functions.has(token.text)) throw templateError(`${this.line}: function "${token.text}" not defined`);
        return { kind: 'identifier', name: token.text, chain: [], text: token.text };
      case 'open': {
        const pipeline = this.pipeline('parenthesized pipeline', false);
        if (this.next()?.type !== 'close') throw templateError(`${this.line}: unclosed left paren`);
        const { chain, token: after } = this.chainAfter();
        const text = `(${pipeline.commands.map((command) => command.at.text).join(' | ')})${after?.text ?? ''}`;
        return { kind: 'pipeline', pipeline, chain, text, ...(after === undefined ? {} : { at: { position: after.position ?? '', text: after.text } }) };
      }
      default:
        throw templateError(`${this.line}: unexpected "${token.text}" in operand`);
    }
  }
}

interface Scanned {
  readonly kind: 'text' | 'action';
  readonly text: string;
  readonly line: number;
  /** An action's: the byte offset in its line where its text starts. */
  readonly column?: number;
}

/** Splits SOURCE into text and actions, applying `{{-` and `-}}` trimming. */
function scan(source: string): Scanned[] {
  const parts: Scanned[] = [];
  let at = 0;
  let line = 1;
  let trimNext = false;
  while (at <= source.length) {
    const open = source.indexOf('{{', at);
    let text = open < 0 ? source.slice(at) : source.slice(at, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) {
      if (text !== '') parts.push({ kind: 'text', text, line });
      break;
    }
    let inner = open + 2;
    if (/^- /.test(source.slice(inner)) || /^-[\t\r\n]/.test(source.slice(inner))) {
      text = text.replace(/\s+$/, '');
      inner += 1;
    }
    if (text !== '') parts.push({ kind: 'text', text, line });
    line += (source.slice(at, inner).match(/\n/g) ?? []).length;
    // The action ends at the first `}}` outside a string or a comment.
    let end = inner;
    let quote = '';
    for (; end < source.length; end++) {
      const char = source[end] as string;
      if (quote !== '') {
        if (char === '\\' && quote !== '`') end++;
        else if (char === quote) quote = '';
        continue;
      }
      if (source.startsWith('/*', end)) {
        const close = source.indexOf('*/', end + 2);
        if (close < 0) throw templateError(`${line}: unclosed comment`);
        end = close + 1;
        continue;
      }
      if (char === '"' || char === '`' || char === "'") quote = char;
      else if (source.startsWith('}}', end)) break;
    }
    if (end >= source.length) throw templateError(`${line}: unclosed action`);
    let action = source.slice(inner, end);
    if (/[ \t\r\n]-$/.test(action)) {
      action = action.slice(0, -1);
      trimNext = true;
    }
    parts.push({ kind: 'action', text: action, line, column: Buffer.byteLength(source.slice(source.lastIndexOf('\n', inner - 1) + 1, inner)) });
    line += (action.match(/\n/g) ?? []).length;
    at = end + 2;
  }
  return parts;
}

const builtinNames = ['and', 'or', 'not', 'len', 'index', 'slice', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'print', 'printf', 'println', 'urlquery', 'html', 'js', 'call'];

function parse(source: string, functions: ReadonlySet<string>): Node[] {
  const parts = scan(source);
  let index = 0;
  const list = (terminators: readonly string[], depth: number): { nodes: Node[]; ended: string; rest?: Parser; line: number } => {
    const nodes: Node[] = [];
    while (index < parts.length) {
      const part = parts[index++] as Scanned;
      if (part.kind === 'text') {
        nodes.push({ kind: 'text', text: part.text });
        continue;
      }
      const trimmed = part.text.trim();
      if (trimmed.startsWith('/*')) {
        if (!trimmed.endsWith('*/')) throw templateError(`${part.line}: comment ends before closing delimiter`);
        continue;
      }
      const tokens = lexAction(part.text, part.line, part.column ?? 0);
      const parser = new Parser(tokens, part.line, functions);
      const keyword = tokens.find((token) => token.type !== 'space');
      if (keyword === undefined) throw templateError(`${part.line}: missing value for command`);
      const word = keyword.type === 'identifier' ? keyword.text : '';
      if (word === 'end' || word === 'else') {
        if (!terminators.includes(word)) throw templateError(`${part.line}: unexpected {{${word}}}`);
        parser.keyword();
        return { nodes, ended: word, rest: parser, line: part.line };
      }
      if (word === 'if' || word === 'with' || word === 'range') {
        parser.keyword();
        nodes.push(control(word, parser, part.line, depth));
        continue;
      }
      if (word === 'break' || word === 'continue') {
        if (depth === 0) throw templateError(`${part.line}: {{${word}}} outside {{range}}`);
        nodes.push({ kind: word });
        continue;
      }
      if (word === 'define' || word === 'template' || word === 'block') throw templateError(`${part.line}: {{${word}}} is not supported in a format`);
      const pipeline = parser.pipeline('command');
      if (!parser.done()) throw templateError(`${part.line}: unexpected token in command`);
      nodes.push({ kind: 'action', pipeline });
    }
    if (terminators.length > 0) throw templateError(`${parts.at(-1)?.line ?? 1}: unexpected EOF`);
    return { nodes, ended: '', line: 0 };
  };
  const control = (word: 'if' | 'with' | 'range', parser: Parser, line: number, depth: number): Node => {
    const pipeline = parser.pipeline(word);
    if (!parser.done()) throw templateError(`${line}: unexpected token in ${word}`);
    if (pipeline.variables.length > (word === 'range' ? 2 : 1)) throw templateError(`${line}: too many declarations in ${word}`);
    const bodyDepth = word === 'range' ? depth + 1 : depth;
    const body = list(['end', 'else'], bodyDepth);
    let otherwise: Node[] = [];
    if (body.ended === 'else') {
      const rest = body.rest as Parser;
      if (!rest.done() && word !== 'range') {
        // `{{else if …}}` / `{{else with …}}`: a nested control that shares this one's {{end}}.
        const nested = rest.keyword();
        if (nested !== word) throw templateError(`${body.line}: unexpected "${nested}" in else`);
        otherwise = [control(word, rest, body.line, depth)];
      } else {
        if (!rest.done()) throw templateError(`${body.line}: unexpected token in else`);
        const tail = list(['end'], depth);
        otherwise = tail.nodes;
      }
    } else if (!(body.rest as Parser).done()) throw templateError(`${body.line}: unexpected token in end`);
    return { kind: word, pipeline, body: body.nodes, otherwise };
  };
  return list([], 0).nodes;
}

// ---------------------------------------------------------------- executing

class Break {}
class Continue {}

/** Go's error for what the node AT (a chain, a command) could not evaluate; NAME stands in for a chain without a place. */
function placedError(at: ChainPlace | undefined, name: string, reason: string): ClientError {
  return executeError(`:${at?.position ?? ''}: executing "" at <${at?.text ?? `.${name}`}>: ${reason}`);
}

/**
 * Field NAME of VALUE. With MISSINGKEYERROR (Go's `missingkey=error`, as docker's inspect runs a
 * template on the raw document), every object is a map and a key it lacks fails.
 */
function fieldOf(value: Value, name: string, at: ChainPlace | undefined, missingKeyError: boolean): Value {
  if (value instanceof GoNilPointer) throw placedError(at, name, `nil pointer evaluating ${value.typeName}.${name}`);
  if (value instanceof GoNil) return undefined;
  if (missingKeyError && (value === undefined || value === null)) throw placedError(at, name, `nil pointer evaluating interface {}.${name}`);
  if (value === undefined || value === null || typeof value !== 'object') return undefined;
  // A Go struct has its fields and no others: asked for another, Go's template fails.
  const typeName = (value as { [goTypeName]?: string })[goTypeName];
  if (typeName !== undefined && !Object.hasOwn(value, name)) throw placedError(at, name, `can't evaluate field ${name} in type ${typeName}`);
  if (missingKeyError && !Array.isArray(value) && !Object.hasOwn(value, name)) throw placedError(at, name, `map has no entry for key ${JSON.stringify(name)}`);
  const found = (value as Record<string, Value>)[name];
  // A method without arguments is called when named as a field.
  return typeof found === 'function' ? (found as TemplateFunction).call(value) : found;
}

function indexInto(value: Value, key: Value): Value {
  if (Array.isArray(value) || typeof value === 'string') {
    if (typeof key !== 'number' || !Number.isInteger(key)) throw executeError(`error calling index: cannot index slice/array with type ${typeof key}`);
    // Go's indexArg lets an index equal to the length through to reflect, whose panic is the error.
    if (key === value.length) throw executeError(`error calling index: reflect: ${typeof value === 'string' ? 'string' : 'slice'} index out of range`);
    if (key < 0 || key > value.length) throw executeError(`error calling index: index out of range: ${key}`);
    return typeof value === 'string' ? value.charCodeAt(key) : value[key];
  }
  if (value === undefined) throw executeError('error calling index: index of untyped nil');
  // A null of the documents stands for a Go nil map or slice: indexing a nil map gives nothing.
  if (value === null) return undefined;
  if (value instanceof GoNil) return value.elementZero;
  if (typeof value === 'object') return Object.prototype.hasOwnProperty.call(value, String(key)) ? (value as Record<string, Value>)[String(key)] : (value as { [mapElementZero]?: Value })[mapElementZero];
  throw executeError(`error calling index: can't index item of type ${typeof value}`);
}

function compare(name: string, a: Value, b: Value): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (name === 'eq' || name === 'ne') {
    // Go compares basic values of one kind only (a number with a string fails); nil and the rest by identity.
    const basic = (value: Value): string | undefined => (['string', 'number', 'boolean'].includes(typeof value) ? typeof value : undefined);
    const [kindA, kindB] = [basic(a), basic(b)];
    if (kindA !== undefined && kindB !== undefined && kindA !== kindB) throw executeError(`error calling ${name}: incompatible types for comparison`);
    return a === b || (a == null && b == null) ? 0 : 1;
  }
  throw executeError(`error calling ${name}: incompatible types for comparison`);
}

/** Go's fmt.Sprint: operands joined, a space between two when neither is a string. */
function sprint(args: readonly Value[]): string {
  let out = '';
  args.forEach((arg, index) => {
    if (index > 0 && typeof arg !== 'string' && typeof args[index - 1] !== 'string') out += ' ';
    out += goPrint(arg, true);
  });
  return out;
}

/** Go's fmt.Sprintf for the verbs formats use: %v %s %d %q %t %x %X %o %f %e %g %c %%, with flags, width and precision. */
export function sprintf(format: string, args: readonly Value[]): string {
  let next = 0;
  return format.replace(/%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*))?([a-zA-Z%])/g, (_all, flags: string, widthText: string | undefined, precisionText: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    const width = widthText === '*' ? Number(args[next++]) : widthText === undefined ? undefined : Number(widthText);
    const precision = precisionText === '*' ? Number(args[next++]) : precisionText === undefined ? undefined : Number(precisionText);
    if (next >= args.length) return `%!${verb}(MISSING)`;
    const arg = args[next++];
    let text: string;
    switch (verb) {
      case 'v':
        text = goPrint(arg, true);
        break;
      case 's':
        text = typeof arg === 'string' ? arg : goPrint(arg, true);
        if (precision !== undefined) text = [...text].slice(0, precision).join('');
        break;
      case 'q':
        text = JSON.stringify(typeof arg === 'string' ? arg : goPrint(arg, true));
        break;
      case 'd':
        text = typeof arg === 'number' ? String(Math.trunc(arg)) : `%!d(${typeof arg}=${goPrint(arg, true)})`;
        break;
      case 't':
        text = typeof arg === 'boolean' ? String(arg) : `%!t(${typeof arg}=${goPrint(arg, true)})`;
        break;
      case 'x':
      case 'X': {
        const hex = typeof arg === 'number' ? Math.trunc(arg).toString(16) : Buffer.from(goPrint(arg, true)).toString('hex');
        text = verb === 'X' ? hex.toUpperCase() : hex;
        break;
      }
      case 'o':
        text = typeof arg === 'number' ? Math.trunc(arg).toString(8) : goPrint(arg, true);
        break;
      case 'c':
        text = typeof arg === 'number' ? String.fromCodePoint(arg) : goPrint(arg, true);
        break;
      case 'f':
      case 'F':
        text = typeof arg === 'number' ? arg.toFixed(precision ?? 6) : goPrint(arg, true);
        break;
      case 'e':
        text = typeof arg === 'number' ? arg.toExponential(precision ?? 6).replace(/e([+-])(\d)$/, 'e$10$2') : goPrint(arg, true);
        break;
      case 'g':
        text = typeof arg === 'number' ? goNumber(precision === undefined ? arg : Number(arg.toPrecision(precision))) : goPrint(arg, true);
        break;
      default:
        text = `%!${verb}(${goPrint(arg, true)})`;
    }
    if (flags.includes('+') && typeof arg === 'number' && arg >= 0 && 'dfeg'.includes(verb)) text = `+${text}`;
    if (width !== undefined && [...text].length < width) {
      const pad = width - [...text].length;
      if (flags.includes('-')) text += ' '.repeat(pad);
      else if (flags.includes('0') && typeof arg === 'number') text = text.startsWith('-') ? `-${'0'.repeat(pad)}${text.slice(1)}` : '0'.repeat(pad) + text;
      else text = ' '.repeat(pad) + text;
    }
    return text;
  }) + (next < args.length ? `%!(EXTRA ${args.slice(next).map((arg) => `${typeof arg}=${goPrint(arg, true)}`).join(', ')})` : '');
}

const builtins: Readonly<Record<string, TemplateFunction>> = {
  not: (value) => !truth(value),
  len: (value) => {
    if (typeof value === 'string' || Array.isArray(value)) return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
    // A null of the documents stands for a Go nil slice or map, whose length is 0.
    if (value === null || value instanceof GoNil) return 0;
    if (typeof value === 'object') return Object.keys(value).length;
    throw executeError(`error calling len: len of ${value === undefined ? 'nil' : typeof value}`);
  },
  index: (value, ...keys) => keys.reduce((current, key) => indexInto(current, key), value),
  slice: (value, ...bounds) => {
    if (typeof value !== 'string' && !Array.isArray(value)) throw executeError("error calling slice: can't slice item");
    const [start = 0, end = value.length] = bounds as number[];
    return value.slice(start, end);
  },
  eq: (a, ...others) => others.some((b) => compare('eq', a, b) === 0),
  ne: (a, b) => compare('ne', a, b) !== 0,
  lt: (a, b) => compare('lt', a, b) < 0,
  le: (a, b) => compare('le', a, b) <= 0,
  gt: (a, b) => compare('gt', a, b) > 0,
  ge: (a, b) => compare('ge', a, b) >= 0,
  print: (...args) => sprint(args),
  println: (...args) => `${args.map((arg) => goPrint(arg, true)).join(' ')}\n`,
  printf: (format, ...args) => sprintf(String(format), args),
  urlquery: (...args) => encodeURIComponent(sprint(args)).replace(/%20/g, '+'),
  html: (...args) => sprint(args).replace(/[<>&'"\0]/g, (char) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&#39;', '"': '&#34;', '\0': '\uFFFD' })[char] ?? char),
  js: (...args) => sprint(args).replace(/[\\'"<>&=]/g, (char) => `\\u${char.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`),
  call: (fn, ...args) => {
    if (typeof fn !== 'function') throw executeError('error calling call: non-function of type');
    return (fn as TemplateFunction)(...args);
  },
};

/** The functions docker adds (cli/templates): json, split, join, title, lower, upper, pad, truncate. */
export const dockerFunctions: Readonly<Record<string, TemplateFunction>> = {
  // encoding/json without HTML escaping, its trailing newline dropped.
  json: (value) => JSON.stringify(value ?? null) ?? 'null',
  split: (text, separator) => String(text).split(String(separator)),
  join: (items, separator) => (Array.isArray(items) ? items.map((item) => goPrint(item, true)).join(String(separator)) : goPrint(items, true)),
  title: (text) => String(text).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_all, before: string, letter: string) => before + letter.toUpperCase()),
  lower: (text) => String(text).toLowerCase(),
  upper: (text) => String(text).toUpperCase(),
  pad: (text, left, right) => `${' '.repeat(Number(left))}${goPrint(text, true)}${' '.repeat(Number(right))}`,
  truncate: (text, length) => [...String(text)].slice(0, Number(length)).join(''),
};

interface Scope {
  readonly dot: Value;
  readonly variables: Map<string, Value>[];
}

function lookupVariable(scope: Scope, name: string): Value {
  for (let index = scope.variables.length - 1; index >= 0; index--) {
    const frame = scope.variables[index] as Map<string, Value>;
    if (frame.has(name)) return frame.get(name);
  }
  throw executeError(`undefined variable: ${name}`);
}

class Executor {
  constructor(
    private readonly functions: Readonly<Record<string, TemplateFunction>>,
    private readonly missingKeyError: boolean,
  ) {}

  run(nodes: readonly Node[], scope: Scope, out: string[]): void {
    for (const node of nodes) {
      switch (node.kind) {
        case 'text':
          out.push(node.text);
          break;
        case 'action': {
          const value = this.pipeline(node.pipeline, scope);
          if (node.pipeline.variables.length === 0) out.push(goPrint(value));
          break;
        }
        case 'if':
        case 'with': {
          const frame = new Map<string, Value>();
          const inner: Scope = { dot: scope.dot, variables: [...scope.variables, frame] };
          const value = this.pipeline(node.pipeline, inner);
          if (truth(value)) this.run(node.body, node.kind === 'with' ? { dot: value, variables: inner.variables } : inner, out);
          else this.run(node.otherwise, inner, out);
          break;
        }
        case 'range':
          this.range(node, scope, out);
          break;
        case 'break':
          throw new Break();
        case 'continue':
          throw new Continue();
      }
    }
  }

  private range(node: Extract<Node, { kind: 'range' }>, scope: Scope, out: string[]): void {
    const frame = new Map<string, Value>();
    const inner: Scope = { dot: scope.dot, variables: [...scope.variables, frame] };
    const value = this.pipeline({ ...node.pipeline, variables: [] }, inner);
    let items: Array<[Value, Value]>;
    if (Array.isArray(value)) items = value.map((item, index) => [index, item]);
    else if (typeof value === 'number' && Number.isInteger(value)) items = Array.from({ length: Math.max(0, value) }, (_, index) => [index, index]);
    else if (value !== null && typeof value === 'object') items = Object.keys(value).sort().map((key) => [key, (value as Record<string, Value>)[key]]);
    else if (value === undefined || value === null || value instanceof GoNil) items = [];
    else throw executeError(`range can't iterate over ${goPrint(value)}`);
    if (items.length === 0) {
      this.run(node.otherwise, inner, out);
      return;
    }
    const [first, second] = node.pipeline.variables;
    for (const [key, item] of items) {
      if (second !== undefined) {
        frame.set(first as string, key);
        frame.set(second, item);
      } else if (first !== undefined) frame.set(first, item);
      try {
        this.run(node.body, { dot: item, variables: inner.variables }, out);
      } catch (signal) {
        if (signal instanceof Break) break;
        if (signal instanceof Continue) continue;
        throw signal;
      }
    }
  }

  private pipeline(pipeline: Pipeline, scope: Scope): Value {
    let value: Value;
    let piped = false;
    for (const command of pipeline.commands) {
      value = this.command(command, scope, piped ? [value] : []);
      piped = true;
    }
    const [name] = pipeline.variables;
    if (name !== undefined) {
      if (pipeline.assign) {
        const frame = [...scope.variables].reverse().find((candidate) => candidate.has(name));
        if (frame === undefined) throw executeError(`undefined variable: ${name}`);
        frame.set(name, value);
      } else (scope.variables.at(-1) as Map<string, Value>).set(name, value);
    }
    return value;
  }

  private command(command: Command, scope: Scope, piped: readonly Value[]): Value {
    const [head, ...rest] = command.operands as [Operand, ...Operand[]];
    const args = (): Value[] => [...rest.map((operand) => this.operand(operand, scope)), ...piped];
    if (head.kind === 'identifier') {
      const name = head.name as string;
      if (name === 'and' || name === 'or') {
        // Go evaluates and/or lazily: the first operand that decides is the result.
        const values = [...rest, ...piped.map((item): Operand => ({ kind: 'literal', value: item, chain: [], text: '' }))];
        let result: Value;
        for (const operand of values) {
          result = this.operand(operand, scope);
          if (name === 'and' ? !truth(result) : truth(result)) return result;
        }
        return result;
      }
      const fn = this.functions[name] ?? builtins[name];
      if (fn === undefined) throw executeError(`function "${name}" not defined`);
      const values = args();
      try {
        return fn(...values);
      } catch (error) {
        // Go names the command whose call failed, and where it is.
        if (error instanceof TemplateExecuteError && error.message.startsWith('template: error calling ')) throw placedError(command.at, name, error.message.slice('template: '.length));
        throw error;
      }
    }
    // A method: `.Label "key"` calls the function the field names.
    if ((head.kind === 'field' || head.kind === 'variable') && (rest.length > 0 || piped.length > 0)) {
      const chain = head.chain;
      const owner = head.kind === 'field' ? this.walk(scope.dot, chain.slice(0, -1), head.at) : this.walk(lookupVariable(scope, head.name as string), chain.slice(0, -1), head.at);
      const method = chain.length === 0 ? undefined : fieldOrMethod(owner, chain.at(-1) as string);
      if (typeof method === 'function') return (method as TemplateFunction).apply(owner, args());
      throw executeError(`can't give argument to non-function ${head.kind === 'field' ? `.${chain.join('.')}` : head.name as string}`);
    }
    if (rest.length > 0 || piped.length > 0) throw executeError(`can't give argument to non-function ${goPrint(this.operand(head, scope))}`);
    return this.operand(head, scope);
  }

  private walk(value: Value, chain: readonly string[], at: ChainPlace | undefined): Value {
    return chain.reduce((current, name) => fieldOf(current, name, at, this.missingKeyError), value);
  }

  private operand(operand: Operand, scope: Scope): Value {
    switch (operand.kind) {
      case 'dot':
        return scope.dot;
      case 'field':
        return this.walk(scope.dot, operand.chain, operand.at);
      case 'variable':
        return this.walk(lookupVariable(scope, operand.name as string), operand.chain, operand.at);
      case 'literal':
        return operand.value;
      case 'pipeline':
        return this.walk(this.pipeline(operand.pipeline as Pipeline, scope), operand.chain, operand.at);
      case 'identifier': {
        const fn = this.functions[operand.name as string] ?? builtins[operand.name as string];
        return (fn as TemplateFunction)();
      }
    }
  }
}

function fieldOrMethod(owner: Value, name: string): Value {
  if (owner === undefined || owner === null || typeof owner !== 'object') return undefined;
  return (owner as Record<string, Value>)[name];
}

/** A parsed template, run on any number of values. */
export interface GoTemplate {
  execute(data: Value): string;
  /** As Go's `Option("missingkey=error")`: a key a map lacks fails instead of printing `<no value>`. */
  executeMissingKeyError(data: Value): string;
}

/** Parses TEXT as docker parses a `--format` (its functions added to Go's), or fails with docker's words. */
export function parseGoTemplate(text: string, extraFunctions: Readonly<Record<string, TemplateFunction>> = {}): GoTemplate {
  const functions = { ...dockerFunctions, ...extraFunctions };
  const nodes = parse(text, new Set([...builtinNames, ...Object.keys(functions)]));
  const run = (executor: Executor, data: Value): string => {
    const out: string[] = [];
    executor.run(nodes, { dot: data, variables: [new Map([['$', data]])] }, out);
    return out.join('');
  };
  const lenient = new Executor(functions, false);
  const strict = new Executor(functions, true);
  return { execute: (data) => run(lenient, data), executeMissingKeyError: (data) => run(strict, data) };
}

/** Runs TEMPLATE once on DATA. */
export function renderGoTemplate(template: string, data: Value): string {
  return parseGoTemplate(template).execute(data);
}

/** docker's title for a `{{.Label "name"}}` column: the name's last dotted part, `-` and `_` as blanks, in its own case (20.10 and 26 alike). */
function labelHeader(name: unknown): string {
  return (String(name).split('.').at(-1) ?? '').replace(/[-_]/g, ' ');
}

/**
 * What docker's list commands print for a `--format` other than `table` and `json`: `table
 * TEMPLATE` gives a header (the template run on HEADERS, each field's column title) and a row
 * per value, through Go's tabwriter; any other template one run per value. As docker's
 * formatter, the format's written `\t` and `\n` are a tab and a newline, and surrounding blanks
 * are dropped.
 */
export function formatListTemplate(format: string, rows: readonly object[], headers: Readonly<Record<string, string>>, typeName?: string): string {
  const table = format.startsWith('table');
  const text = (table ? format.slice('table'.length) : format).trim().replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const template = parseGoTemplate(text);
  let rendered: string[];
  try {
    // Each row as docker's context struct for it (`*formatter.imageContext`): a field it has not fails.
    rendered = rows.map((row) => template.execute(typeName === undefined ? row : Object.defineProperty({ ...row }, goTypeName, { value: typeName, enumerable: false })));
  } catch (error) {
    // docker's formatter wraps what its template's execution returns in the words of its parse errors.
    if (error instanceof TemplateExecuteError) throw new TemplateExecuteError(`template parsing error: ${error.message}`);
    throw error;
  }
  if (!table) return rendered.map((line) => `${line}\n`).join('');
  const header = template.execute(new Proxy(headers, { get: (target, field) => (typeof field !== 'string' ? undefined : field === 'Label' ? labelHeader : (target[field] ?? field.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase())) }));
  return dockerTable([header, ...rendered].flatMap((line) => line.split('\n')).map((line) => line.split('\t')));
}

/** A row's fields with their keys sorted, as Go encodes a map (docker's list rows) in JSON. */
export function sortedKeys<T>(fields: Readonly<Record<string, T>>): Record<string, T> {
  return Object.fromEntries(Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The Go struct a document of docker's stands for, as far as a template tells them apart: an
 * object with a shape and a TYPENAME is a struct, which fails when asked for a field it has not,
 * one without a map. ZEROS are the fields the document leaves out (Go's `omitempty`) or has as
 * null, with the values Go holds there (a nil pointer, slice or map); GONAMES the fields whose Go name is not their JSON name (`ID` for `Id`); FIELDS the
 * shapes of members that are structs themselves (of each item, for a list); STRINGMAPS the
 * members that are maps of strings, whose `index` of a missing key is "".
 */
export interface GoShape {
  readonly typeName?: string;
  readonly zeros?: Readonly<Record<string, Value>>;
  readonly goNames?: Readonly<Record<string, string>>;
  readonly fields?: Readonly<Record<string, GoShape>>;
  readonly stringMaps?: readonly string[];
}

/** DOCUMENT as docker's CLI holds it before a template runs on it: its typed struct of SHAPE. */
export function typedView(document: Value, shape: GoShape): Value {
  if (Array.isArray(document)) return document.map((item) => typedView(item, shape));
  if (document === null || typeof document !== 'object' || document instanceof GoNil || document instanceof GoNilPointer) return document;
  const view: Record<string, Value> = { ...(document as Record<string, Value>) };
  const hidden = (key: string, value: Value): void => void Object.defineProperty(view, key, { value, enumerable: false, writable: true });
  if (shape.typeName !== undefined) Object.defineProperty(view, goTypeName, { value: shape.typeName, enumerable: false });
  // Left out of JSON, as the fields Go's `omitempty` leaves out and Go's own names are.
  for (const [key, zero] of Object.entries(shape.zeros ?? {})) {
    if (view[key] === undefined) hidden(key, zero);
    else if (view[key] === null) view[key] = zero instanceof GoNilPointer ? new GoNilPointer(zero.typeName, true) : zero;
  }
  for (const [goName, jsonName] of Object.entries(shape.goNames ?? {})) hidden(goName, view[jsonName]);
  for (const [key, inner] of Object.entries(shape.fields ?? {})) if (Object.hasOwn(view, key)) view[key] = typedView(view[key], inner);
  for (const key of shape.stringMaps ?? []) {
    const map = view[key];
    if (map instanceof GoNil) view[key] = nilStringMap;
    else if (map !== null && typeof map === 'object') view[key] = Object.defineProperty({ ...map }, mapElementZero, { value: '', enumerable: false });
  }
  return view;
}

/** A document of `inspect`, with the shape of its typed struct when it has one. */
export interface InspectDocument {
  readonly document: Value;
  readonly shape?: GoShape;
}

/**
 * DOCUMENT through TEMPLATE as `docker inspect -f` runs it: on the typed struct first; where that
 * fails, on the document as raw JSON with `missingkey=error`, whose failure is the one reported.
 */
export function inspectOne(template: GoTemplate, { document, shape }: InspectDocument): string {
  try {
    return template.execute(shape === undefined ? document : typedView(document, shape));
  } catch (error) {
    if (!(error instanceof TemplateExecuteError)) throw error;
    try {
      return template.executeMissingKeyError(JSON.parse(JSON.stringify(document)) as Value);
    } catch (rawError) {
      if (rawError instanceof TemplateExecuteError) throw new TemplateExecuteError(`template parsing error: ${rawError.message}`);
      throw rawError;
    }
  }
}
