/**
 * The typed instructions in the JSON form of the conformance corpus (`instructions.json`), so
 * that they can be compared with the reference's as data.
 */
import { messageOf } from '../common/index.js';
import type { Channel, Command, Directive, Dockerfile, Stage } from './ast.js';
import type { Diagnostic } from './diagnostics.js';
import { parseMount } from './mounts.js';

type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

function commandJson(command: Command, channel: Channel): { [key: string]: Json } {
  const base = { type: command.kind, name: command.name, code: command.code, startLine: command.range.start.line, endLine: command.range.end.line };
  const files = (c: { files: readonly { name: string; data: string; chomp: boolean }[] }): Json => c.files.map((f) => ({ name: f.name, data: f.data, chomp: f.chomp }));
  switch (command.kind) {
    case 'RUN': {
      let mounts: Json = [];
      let mountsError: Json = null;
      try {
        mounts = command.mounts.map((value) => {
          const m = parseMount(value, (word) => word);
          return {
            type: m.type,
            from: m.from ?? '',
            source: m.source ?? '',
            target: m.target ?? '',
            readOnly: m.readOnly,
            sizeLimit: m.sizeLimit ?? 0,
            cacheId: m.cacheId ?? '',
            cacheSharing: m.sharing ?? '',
            required: m.required,
            mode: m.mode ?? null,
            uid: m.uid ?? null,
            gid: m.gid ?? null,
          };
        });
      } catch (error) {
        mounts = [];
        mountsError = messageOf(error).replace(/^parse mount: /, '');
      }
      return {
        ...base,
        prependShell: command.shellForm,
        cmdLine: [...command.cmdLine],
        files: files(command),
        flagsUsed: [...command.flagsUsed],
        network: command.network,
        security: channel === 'labs' ? command.security : null,
        mounts,
        mountsError,
      };
    }
    case 'CMD':
    case 'ENTRYPOINT':
      return { ...base, prependShell: command.shellForm, cmdLine: [...command.cmdLine], files: files(command) };
    case 'COPY':
    case 'ADD': {
      const common = {
        sourcePaths: [...command.sources],
        sourceContents: command.contents.map((c) => ({ path: c.path, data: c.data, expand: c.expand })),
        destPath: command.dest,
      };
      if (command.kind === 'COPY') {
        return { ...base, ...common, from: command.from, chown: command.chown, chmod: command.chmod, link: command.link, parents: command.parents, excludePatterns: [...command.exclude] };
      }
      return {
        ...base,
        ...common,
        chown: command.chown,
        chmod: command.chmod,
        link: command.link,
        keepGitDir: command.keepGitDir ?? false,
        checksum: command.checksum,
        excludePatterns: [...command.exclude],
      };
    }
    case 'ENV':
      return { ...base, env: command.pairs.map((p) => ({ key: p.key, value: p.value, noDelim: p.noDelim })) };
    case 'LABEL':
      return { ...base, labels: command.pairs.map((p) => ({ key: p.key, value: p.value, noDelim: p.noDelim })) };
    case 'ARG':
      return { ...base, args: command.args.map((a) => ({ key: a.key, value: a.value ?? null, comment: a.comment })) };
    case 'EXPOSE':
      return { ...base, ports: [...command.ports] };
    case 'VOLUME':
      return { ...base, volumes: [...command.volumes] };
    case 'SHELL':
      return { ...base, shell: [...command.shell] };
    case 'HEALTHCHECK':
      return {
        ...base,
        health: {
          test: [...command.test],
          interval: command.interval,
          timeout: command.timeout,
          startPeriod: command.startPeriod,
          startInterval: command.startInterval,
          retries: command.retries,
        },
      };
    case 'ONBUILD':
      return { ...base, expression: command.expression };
    case 'USER':
      return { ...base, user: command.user };
    case 'WORKDIR':
      return { ...base, path: command.path };
    case 'STOPSIGNAL':
      return { ...base, signal: command.signal };
    case 'MAINTAINER':
      return { ...base, maintainer: command.maintainer };
  }
}

function stageJson(stage: Stage, channel: Channel): { [key: string]: Json } {
  return {
    name: stage.name,
    baseName: stage.baseName,
    platform: stage.platform,
    comment: stage.comment,
    sourceCode: stage.code,
    startLine: stage.range.start.line,
    endLine: stage.range.end.line,
    commands: stage.instructions.map((c) => commandJson(c, channel)),
  };
}

export function instructionsJson(dockerfile: Dockerfile, directives: readonly Directive[], warnings: readonly Diagnostic[], channel: Channel): { [key: string]: Json } {
  return {
    escapeToken: dockerfile.escapeToken,
    directives: directives.map((d) => ({ name: d.name, value: d.value, line: d.range.start.line })),
    warnings: warnings.map((w) => ({ short: w.message, line: w.range.start.line })),
    metaArgs: dockerfile.metaArgs.map((a) => commandJson(a, channel)),
    stages: dockerfile.stages.map((s) => stageJson(s, channel)),
  };
}
