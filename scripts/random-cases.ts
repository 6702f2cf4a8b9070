/**
 * Random Dockerfiles and contexts on busybox, for a differential campaign against BuildKit: each
 * case is laid out as scripts/buildkit-compare.ts takes one (a Dockerfile, and a setup.sh that
 * makes the context: modes, links, hard links, archives, a .dockerignore), so that
 *
 *   npx tsx scripts/random-cases.ts DIR [--seed N] [--count N]
 *   npx tsx scripts/buildkit-compare.ts DIR/*
 *
 * builds each with both and diffs the images entry by entry. Not part of the test suite: what a
 * campaign finds becomes a parity case or a test. A case BuildKit refuses (a source the
 * .dockerignore hides, a step that fails) is reported FAILED by the comparison; build it with
 * tsbuild too to see that it fails alike. The base is 127.0.0.1:5000/library/busybox:latest.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const argv = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = argv.indexOf(name);
  return at === -1 ? fallback : Number(argv[at + 1]);
};
const out = argv.find((arg, index) => !arg.startsWith('--') && !argv[index - 1]?.startsWith('--'));
if (out === undefined) {
  process.stderr.write('usage: npx tsx scripts/random-cases.ts DIR [--seed N] [--count N]\n');
  process.exit(2);
}
const firstSeed = option('--seed', 1);
const count = option('--count', 20);

/** A seeded generator (an LCG), so that a case is made again from its seed. */
let state = firstSeed;
const random = (): number => {
  state = (state * 1103515245 + 12345) % 2147483648;
  return state / 2147483648;
};
const below = (n: number): number => Math.floor(random() * n);
const pick = <T>(list: readonly T[]): T => list[below(list.length)] as T;
const chance = (p: number): boolean => random() < p;
/** One to MAX items of LIST, without repeats. */
const some = <T>(list: readonly T[], max: number): T[] => {
  const left = [...list];
  const taken: T[] = [];
  for (let n = 1 + below(Math.min(max, list.length)); n > 0 && left.length > 0; n--) taken.push(left.splice(below(left.length), 1)[0] as T);
  return taken;
};

const base = '127.0.0.1:5000/library/busybox:latest';

interface Context {
  readonly setup: string;
  readonly files: readonly string[];
  readonly dirs: readonly string[];
  readonly tars: readonly string[];
}

function makeContext(): Context {
  const lines: string[] = [];
  const files: string[] = [];
  const dirs = ['a', 'a/b', 'a/b/c', 'c', 'sp ace', 'e', 'e/f'];
  lines.push(`mkdir -p ${dirs.map((dir) => `'${dir}'`).join(' ')}`);
  const names = ['f1', 'f2.txt', 'g.log', 'keep.log', '.hidden', 'x y', 'ü.txt', 'run.sh', 'data.bin', 'Z'];
  for (const dir of ['', ...dirs]) {
    for (const name of some(names, 4)) {
      const path = dir === '' ? name : `${dir}/${name}`;
      lines.push(`head -c ${pick([0, 1, 37, 511, 512, 513, 4096, 70000])} /dev/urandom > '${path}'`);
      lines.push(`chmod ${pick(['644', '644', '755', '600', '700', '444', '4755', '2755', '1755', '640', '711'])} '${path}'`);
      files.push(path);
    }
    if (chance(0.2)) lines.push(`chmod ${pick(['700', '750', '711', '775', '1777', '2755'])} '${dir === '' ? '.' : dir}'`);
  }
  // The sources the VARIABLE steps name.
  lines.push("[ -e f2.txt ] || echo two > f2.txt; [ -e a/Z ] || echo z > a/Z; [ -e keep.log ] || echo k > keep.log");
  for (let i = 0; i < 4; i++) {
    const dir = pick(['', ...dirs]);
    lines.push(`ln -s '${pick([pick(files), '../a', 'missing', '/etc/passwd', 'b', '.', pick(dirs), '../../e/f'])}' '${dir === '' ? '' : `${dir}/`}lnk${i}'`);
  }
  for (let i = 0; i < 2; i++) {
    const path = `${pick(dirs)}/hard${i}`;
    lines.push(`ln '${pick(files)}' '${path}'`);
    files.push(path);
  }
  const tars: string[] = [];
  if (chance(0.6)) {
    lines.push('tar -cf arch.tar a');
    tars.push('arch.tar');
  }
  if (chance(0.5)) {
    lines.push('tar -czf arch2.tgz -C e .');
    tars.push('arch2.tgz');
  }
  if (chance(0.5)) {
    // An archive whose members replace one another and lead through links: ADD unpacks it over
    // what the stage holds, as BuildKit's untar does.
    lines.push(`mkdir -p tw/d && echo one > tw/d/x && ln -s d tw/l && ln -s /t/r tw/abs && ln tw/d/x tw/hl && chmod ${pick(['700', '1777', '555'])} tw/d`);
    lines.push(`tar -cf arch3.tar -C tw ${pick(['.', 'd l', 'l d abs hl', 'hl d'])} && rm -rf tw`);
    tars.push('arch3.tar');
  }
  lines.push(`mkdir -p empty && chmod ${pick(['755', '700', '1777'])} empty`);
  lines.push(`cat > .dockerignore <<'IGNORE'\n${pick(['*.log', '**/Z', 'data.bin', '**/*.bin', 'e/f/g*'])}\nIGNORE`);
  return { setup: `${lines.join('\n')}\n`, files, dirs, tars };
}

/** Sources a COPY or ADD names: files and directories the .dockerignore leaves (mostly), and wildcards. */
function copySources(context: Context): string[] {
  const kept = (path: string): boolean => !/(\.log|Z|data\.bin|\.hidden)$/.test(path) && !path.startsWith('e/f/g');
  const wildcards = ['a/*', '*.txt', 'a/b/*', '*/f1', '[ac]', 'e/?', 'a/b/c/*'].filter(() => chance(0.3));
  return some([...context.files.filter(kept), ...context.dirs, '.', 'empty', ...wildcards], 3);
}

const quote = (path: string): string => (/[ "]/.test(path) ? JSON.stringify(path) : path);

const runCommands = [
  'mkdir -p /t/r && echo hi > /t/r/f',
  'rm -rf /t/m',
  'rm -rf /t/d0 /t/d1 && mkdir -p /t/d1 && echo new > /t/d1/n',
  'chmod -R go-w /t',
  'ln -sf /t/r/f /t/lnk',
  'mv /t/one /t/two',
  'touch -d @0 /t/old',
  'chown -R 1:1 /t/r',
  'mkfifo /t/fifo',
  'ln /t/r/f /t/hard',
  'truncate -s 300000 /t/sparse',
  'rm -f /etc/group- /etc/passwd-; echo "x:x:1234:1234::/:/bin/sh" >> /etc/passwd',
  'chmod 4711 /t/r/f',
  'rm -rf /t/rel /rel',
  'find / -xdev -name "f1" | head -3 > /t/found',
  'mkdir -p "/t/we ird" && echo x > "/t/we ird/\\$x"',
  'rm -rf /usr/share && mkdir -p /usr/share/x',
  'rm -f /bin/vi; ln -sf busybox /bin/vi2',
  'echo $PATH $HOME $(id -u) > /t/env',
  'umask 077 && echo s > /t/umask',
  'mkdir -p /t/opaque/a && rm -rf /t/opaque && mkdir -p /t/opaque/b',
];

function instruction(context: Context, made: { count: number }): string {
  const kind = pick(['COPY', 'COPY', 'COPY', 'RUN', 'RUN', 'RUN', 'RUN', 'ADD', 'WORKDIR', 'ENV', 'ARG', 'LABEL', 'USER', 'META', 'HEREDOC', 'MOUNT', 'VARIABLE', 'THROUGH-LINK', 'FROM-IMAGE', 'SCOPE']);
  switch (kind) {
    case 'COPY':
    case 'ADD': {
      const flags: string[] = [];
      if (chance(0.3)) flags.push(`--chown=${pick(['1000:1000', '0:0', 'root', 'daemon', '1:2', '65534', 'nobody:nogroup', '123'])}`);
      if (chance(0.25)) flags.push(`--chmod=${pick(['755', '600', '0444', '1777', '4750', '0'])}`);
      if (chance(0.2)) flags.push('--link');
      const sources = kind === 'ADD' && context.tars.length > 0 && chance(0.7) ? [pick(context.tars)] : copySources(context);
      const many = sources.length > 1 || sources.some((source) => /[*?[]/.test(source));
      const dest = many ? pick(['/t/m/', `/t/d${made.count}/`, './', 'rel/']) : pick(['/t/one', `/t/d${made.count}/`, '/t/m/', 'rel', '.', '/t/one/', '/etc/']);
      made.count++;
      const words = [...sources, dest];
      if (chance(0.2) || words.some((word) => word.includes(' '))) return `${kind} ${flags.join(' ')} [${words.map((word) => JSON.stringify(word)).join(', ')}]`;
      return `${kind} ${flags.join(' ')} ${words.map(quote).join(' ')}`;
    }
    case 'RUN': {
      // Each command may fail (its paths may not be there): the step goes on, as the case must build.
      const commands = ['mkdir -p /t 2>/dev/null || true', ...some(runCommands, 3).map((command) => `{ ${command}; } 2>/dev/null || true`)];
      if (chance(0.15)) return `RUN ["/bin/sh", "-c", ${JSON.stringify(commands.join(' && '))}]`;
      if (chance(0.15)) return `RUN <<EOF\n${commands.join('\n')}\nEOF`;
      return `RUN ${commands.join(' && ')}`;
    }
    case 'THROUGH-LINK': {
      // A destination reached through links a step made: absolute, relative, climbing, to a file.
      const [link, dests] = pick([
        ['ln -sfn /t/m /t/ln', ['/t/ln/', '/t/ln', '/t/ln/sub/x']],
        ['ln -sfn ../etc /t/up', ['/t/up/x', '/t/up/']],
        ['ln -sfn m /t/rl', ['/t/rl/sub/', '/t/rl']],
        ['ln -sfn /t/r/f /t/fl', ['/t/fl', '/t/fl/']],
        ['ln -sfn /nowhere/n /t/dang', ['/t/dang/', '/t/dang']],
        ['ln -sfn ../../../t/m /t/climb', ['/t/climb/', '/t/climb/y']],
      ] as const);
      const dest = pick(dests);
      const source = pick([...context.files.filter((path) => !/(\.log|Z|data\.bin|\.hidden)$/.test(path) && !path.startsWith('e/f/g')), 'a', 'empty', ...context.tars]);
      return `RUN mkdir -p /t/m /t/r && touch /t/r/f && ${link}\n${pick(['COPY', 'ADD', 'COPY --link'])} ${JSON.stringify([source, dest]).replace(/,/g, ', ')}`;
    }
    case 'SCOPE':
      // The global ARG G (declared before the first FROM): empty in a stage until it declares it.
      return pick(['ARG G\nRUN mkdir -p /t && echo "g=$G" > /t/g', 'RUN mkdir -p /t && echo "g=$G" > /t/g0', 'ENV FROMG=${G:-unset}', 'LABEL g=$G', 'ARG G=own\nLABEL g2=$G', 'EXPOSE 9${G:+1}']);
    case 'FROM-IMAGE':
      return `COPY --from=${base} ${pick(['/bin/sh', '/etc/', '/etc/passwd', '/bin/', '/root', '/tmp', '/home', '/bin/l*'])} ${pick(['/t/img/', '/t/img', './img/'])}`;
    case 'WORKDIR':
      return `WORKDIR ${pick(['/w', 'sub', '/t/m', '../up', '/w/$V', '/t/d0', '/'])}`;
    case 'ENV':
      return pick(['ENV V=x', 'ENV V="a b" W=$V', 'ENV PATH=/t:$PATH', 'ENV HOME /h', 'ENV E=${V:-d}']);
    case 'ARG':
      return pick(['ARG V', 'ARG V=argv', 'ARG A=1', 'ARG TARGETARCH']);
    case 'LABEL':
      return pick(['LABEL a=b', 'LABEL "x y"="z" c=$V', 'LABEL multi="1\\\n2"']);
    case 'USER':
      return pick(['USER 1000', 'USER root', 'USER 0:0', 'USER daemon', 'USER 1000:1000']);
    case 'HEREDOC':
      return pick(['COPY <<EOF /t/h\nline $V\nEOF', 'COPY --chmod=755 <<EOF <<EOT /t/hd/\na\nEOF\nb\nEOT', 'COPY <<-EOF rel/h2\n\tindented\n\tEOF', 'RUN <<EOF sh\necho a > /t/h3\nEOF']);
    case 'MOUNT':
      return pick([
        'RUN --mount=type=bind,source=a,target=/m stat -c "%n %a %u %g %s %F" /m /m/* > /t/ls 2>&1 || true',
        'RUN --mount=type=cache,target=/c echo x > /c/x && mkdir -p /t && cp /c/x /t/cx',
        'RUN --mount=type=tmpfs,target=/t/tmp touch /t/tmp/x',
        'RUN --mount=type=bind,target=/ctx,rw rm -rf /ctx/a && mkdir -p /t && ls /ctx > /t/ctx',
      ]);
    case 'VARIABLE':
      return pick(['ENV DEST=/t/var\nCOPY f2.txt $DEST/', 'ARG SRC=a\nCOPY ${SRC}/Z* /t/argsrc/', 'ENV D2="/t/sp ace"\nCOPY ["keep.log", "${D2}/"]']);
    default:
      return pick(['EXPOSE 80 443/udp', 'VOLUME /t/vol', 'STOPSIGNAL SIGINT', 'CMD ["sh"]', 'ENTRYPOINT echo', 'HEALTHCHECK --interval=5s CMD true', 'SHELL ["/bin/sh", "-ec"]', 'ONBUILD RUN true', 'CMD echo $V']);
  }
}

for (let index = 0; index < count; index++) {
  const dir = join(resolve(out), `random-${firstSeed}-${index}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const context = makeContext();
  const made = { count: 0 };
  const stages: string[] = [];
  // The stages whose /t/r/f is surely there.
  const seeded = new Set<number>();
  const stageCount = 1 + below(3);
  for (let stage = 0; stage < stageCount; stage++) {
    const lines = [`FROM ${stage === 0 || chance(0.5) ? base : `s${below(stage)}`} AS s${stage}`];
    for (let n = 3 + below(8); n > 0; n--) lines.push(instruction(context, made));
    const seed = 'RUN mkdir -p /t/m /t/r /w /t/d0 && echo f > /t/r/f && ln -sfn /t/r /t/lr && ln -sfn r/f /t/lf && ln -sfn ../../etc /t/le && ln -sfn /gone /t/lg';
    if (stage === 0 && chance(0.7)) {
      lines.push('USER root', seed);
      seeded.add(stage);
    }
    if (stage > 0 && chance(0.8)) {
      // Files another stage surely has, whatever its steps did.
      lines.splice(1, 0, 'USER root', seed);
      lines.push('USER root', seed);
      const from = below(stage);
      // Another stage's paths through the links it made: followed where BuildKit follows them.
      const sources = seeded.has(from) ? pick([['/etc/passwd'], ['/t/r/f'], ['/t/lr'], ['/t/lr/'], ['/t/lf'], ['/t/le/passwd'], ['/t/lg'], ['/t/l*'], ['/t/lr/*'], ['/t/*/f'], ['/t/lf', '/t/lr']]) : ['/etc/passwd'];
      lines.push(`COPY --from=s${from} ${pick(['', '--chown=7:7 ', '--chmod=700 ', '--link '])}${sources.join(' ')} ${pick(['/from/', '/from', '/t/m/'])}`);
      seeded.add(stage);
    }
    stages.push(lines.join('\n'));
  }
  writeFileSync(join(dir, 'Dockerfile'), `ARG G=glob\n${stages.join('\n\n')}\n`);
  writeFileSync(join(dir, 'setup.sh'), context.setup);
}
process.stdout.write(`${count} cases in ${resolve(out)}\n`);
