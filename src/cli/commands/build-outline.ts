/**
 * What `build --call=outline` and `--call=targets` print, as buildx prints its frontend's
 * answers: text through Go's tabwriter, or (`format=json`) the frontend's JSON document, which
 * Go's json.MarshalIndent wrote (locations one range per line, the Dockerfile as the source).
 */
import { goIndent, goJson, wholeLineRanges, type SourceRange } from '../../common/index.js';
import type { BuildOutline, BuildTarget } from '../../planner/index.js';
import { dockerTable } from '../format.js';

/** BuildKit's pb.Location of an instruction's lines. */
function location(range: SourceRange): object {
  return { ranges: wholeLineRanges(range) };
}

function sources(dockerfile: string): string[] {
  return [Buffer.from(dockerfile).toString('base64')];
}

/** BuildKit's outline.PrintOutline: the target, then tables of build args, secrets and ssh agents, each followed by a blank line. */
export function outlineText(outline: BuildOutline): string {
  let text = '';
  if (outline.name !== '' || outline.description !== '') {
    text += dockerTable([['TARGET:', outline.name === '' ? '(default)' : outline.name], ...(outline.description === '' ? [] : [['DESCRIPTION:', outline.description]])], 0, 1);
    text += '\n';
  }
  if (outline.args.length > 0) {
    // Each row ends with its description's cell: an empty one leaves the value padded.
    text += dockerTable([['BUILD ARG', 'VALUE', 'DESCRIPTION'], ...outline.args.map((arg) => [arg.name, arg.value, arg.description])], 0);
    text += '\n';
  }
  for (const [title, mounts] of [['SECRET', outline.secrets], ['SSH', outline.ssh]] as const) {
    if (mounts.length === 0) continue;
    text += dockerTable([[title, 'REQUIRED'], ...mounts.map((mount) => [mount.name, mount.required ? 'true' : ''])], 0);
    text += '\n';
  }
  return text;
}

/** BuildKit's outline.Outline as JSON, Go's field order and omitempty. */
export function outlineJson(outline: BuildOutline, dockerfile: string): string {
  const mounts = (list: BuildOutline['secrets']): object[] | undefined =>
    list.length === 0 ? undefined : list.map((mount) => ({ name: mount.name, required: mount.required ? true : undefined, location: location(mount.range) }));
  return goIndent(
    goJson({
      name: outline.name === '' ? undefined : outline.name,
      description: outline.description === '' ? undefined : outline.description,
      args: outline.args.length === 0 ? undefined : outline.args.map((arg) => ({ name: arg.name, description: arg.description === '' ? undefined : arg.description, value: arg.value === '' ? undefined : arg.value, location: location(arg.range) })),
      secrets: mounts(outline.secrets),
      ssh: mounts(outline.ssh),
      sources: sources(dockerfile),
    }),
    '',
    '  ',
  );
}

/** BuildKit's targets.PrintTargets: the stages, the default (last) one marked. */
export function targetsText(targets: readonly BuildTarget[]): string {
  const name = (target: BuildTarget): string => (target.name === '' ? (target.default ? '(default)' : '') : `${target.name}${target.default ? ' (default)' : ''}`);
  return dockerTable([['TARGET', 'DESCRIPTION'], ...targets.map((target) => [name(target), target.description])], 0, 1);
}

/** BuildKit's targets.List as JSON: each stage with its base and platform as written. */
export function targetsJson(targets: readonly BuildTarget[], dockerfile: string): string {
  return goIndent(
    goJson({
      targets: targets.map((target) => ({
        name: target.name === '' ? undefined : target.name,
        default: target.default ? true : undefined,
        description: target.description === '' ? undefined : target.description,
        base: target.base === '' ? undefined : target.base,
        platform: target.platform === '' ? undefined : target.platform,
        location: location(target.range),
      })),
      sources: sources(dockerfile),
    }),
    '',
    '  ',
  );
}
