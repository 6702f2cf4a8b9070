/**
 * Matching the regular expressions patterns.ts makes of docker's path patterns in time linear
 * in the path, as Go's RE2 matches them for BuildKit. V8's own engine backtracks: a
 * `.dockerignore` line such as `x/**\/**\/**\/…/y` or `*a*a*a*a*a*b` made it try every way of
 * splitting a path (hours for a path of a few dozen components), so a context could hang the
 * build before any of its steps ran.
 *
 * The expressions hold only what the pattern compiler writes: `^` and a final `$`, literal and
 * escaped characters, character classes, the atoms `[^/]`, and `*` or `?` after an atom, and
 * the group `(.*\/)?` (any number of directories). They are read with the rules of a JavaScript
 * regular expression without flags (a class runs to its first unescaped `]`, `[]` matches
 * nothing, `]` alone is a character), each one-character atom is tested with a regular
 * expression of its own (which cannot backtrack), and the whole is run as a set of states over
 * the path, one code unit at a time.
 */
import { TsbuildError } from '../common/index.js';

type Step =
  /** One code unit that TEST accepts, once, any number of times (`*`) or at most once (`?`). */
  | { readonly kind: 'unit'; readonly test: (unit: string) => boolean; readonly repeat: '' | '*' | '?' }
  /** `(.*\/)?`: nothing, or anything that ends with `/`. */
  | { readonly kind: 'directories' }
  /** `^` where it is not first: nothing can match there. */
  | { readonly kind: 'never' };

/**
 * The escape at INDEX of BODY as one atom: `\uXXXX`, `\xXX` and `\cX` whole, as JavaScript reads
 * them, else the backslash and one character. A back-reference (`\1`…`\9`, to a `**` group)
 * and a word boundary (`\b`, `\B`) match no one character: they are refused, as RE2 refuses
 * back-references.
 */
function escapeAt(body: string, index: number): string {
  const rest = body.slice(index);
  const whole = /^\\(?:u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|c[a-zA-Z])/.exec(rest);
  if (whole !== null) return whole[0];
  if (/^\\[1-9bB]/.test(rest)) throw new TsbuildError('INVALID_ARGUMENT', `${rest.slice(0, 2)} is not supported in a path pattern`);
  return rest.slice(0, 2);
}

/** A compiled expression, as the steps it takes over a path. */
export class PatternAutomaton {
  private constructor(private readonly steps: readonly Step[]) {}

  /** Reads SOURCE (`^…$`, as patterns.ts writes it); SOURCE is also checked by the regular expression engine, which throws on a malformed one. */
  static compile(source: string): PatternAutomaton {
    new RegExp(source);
    if (!source.startsWith('^')) throw new TsbuildError('INTERNAL', `pattern expression ${JSON.stringify(source)} is not anchored`);
    // The compiler ends every expression with `$`: a match runs to the end of the path.
    if (!source.endsWith('$')) throw new TsbuildError('INTERNAL', `pattern expression ${JSON.stringify(source)} is not anchored at its end`);
    const body = source.slice(1, -1);
    const steps: Step[] = [];
    const oneUnit = (atom: string): ((unit: string) => boolean) => {
      const expression = new RegExp(`^(?:${atom})$`);
      return (unit) => expression.test(unit);
    };
    for (let index = 0; index < body.length; ) {
      if (body.startsWith('(.*/)?', index)) {
        steps.push({ kind: 'directories' });
        index += '(.*/)?'.length;
        continue;
      }
      let atom: string;
      const char = body[index] as string;
      if (char === '\\') {
        atom = escapeAt(body, index);
        index += atom.length;
      } else if (char === '[') {
        // The class runs to its first unescaped `]` after the `[` (or `[^`): `[]` is empty.
        let end = index + 1;
        if (body[end] === '^') end++;
        while (end < body.length && body[end] !== ']') end += body[end] === '\\' ? 2 : 1;
        atom = body.slice(index, end + 1);
        index = end + 1;
      } else if (char === '^') {
        steps.push({ kind: 'never' });
        index++;
        continue;
      } else {
        atom = char;
        index++;
      }
      const next = body[index];
      const repeat = next === '*' || next === '?' ? next : '';
      if (repeat !== '') index++;
      steps.push({ kind: 'unit', test: oneUnit(atom), repeat });
    }
    return new PatternAutomaton(steps);
  }

  /** Whether the expression matches the whole of PATH. */
  test(path: string): boolean {
    const count = this.steps.length;
    // State i: before step i (count: all taken, the match); count + 1 + i: inside the
    // directories of step i.
    let current = this.closure([0]);
    for (let at = 0; at < path.length; at++) {
      const unit = path[at] as string;
      const next: number[] = [];
      for (const state of current) {
        if (state > count) {
          // Inside `(.*/)?`: anything stays inside, a `/` may also end it.
          next.push(state);
          if (unit === '/') next.push(state - count);
          continue;
        }
        const step = this.steps[state];
        if (step?.kind !== 'unit' || !step.test(unit)) continue;
        next.push(step.repeat === '*' ? state : state + 1);
      }
      if (next.length === 0) return false;
      current = this.closure(next);
    }
    return current.has(count);
  }

  /** STATES with every state reached from them without reading anything. */
  private closure(states: readonly number[]): Set<number> {
    const count = this.steps.length;
    const reached = new Set<number>();
    const pending = [...states];
    while (pending.length > 0) {
      const state = pending.pop() as number;
      if (reached.has(state)) continue;
      reached.add(state);
      if (state >= count) continue;
      const step = this.steps[state];
      if (step === undefined || step.kind === 'never') continue;
      if (step.kind === 'directories') pending.push(state + 1, count + 1 + state);
      else if (step.repeat !== '') pending.push(state + 1);
    }
    return reached;
  }
}
