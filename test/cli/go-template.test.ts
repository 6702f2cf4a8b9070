/**
 * The Go template engine behind every `--format`: each expectation is what Go's text/template
 * with docker's functions prints for the same template and data.
 */
import { describe, expect, it } from 'vitest';
import { goStruct } from '../../src/common/index.js';
import { formatListTemplate, GoNilPointer, inspectOne, nilMap, nilSlice, parseGoTemplate, renderGoTemplate, sprintf, type GoShape } from '../../src/cli/go-template.js';

const container = {
  Id: 'abc123',
  Name: '/web',
  State: { Status: 'running', Running: true, Pid: 4242, ExitCode: 0, Health: null },
  Config: {
    Cmd: ['httpd', '-f'],
    Env: ['PATH=/bin', 'A=1'],
    Labels: { 'com.example.role': 'front', tier: 'web' },
    ExposedPorts: { '80/tcp': {} },
  },
  NetworkSettings: { Networks: { app: { IPAddress: '10.88.0.2', Aliases: ['web'] }, other: { IPAddress: '10.89.0.3', Aliases: null } } },
  Mounts: [] as unknown[],
  SizeRw: 1700000000,
};

describe('Go templates as docker runs them', () => {
  it.each([
    ['{{.Id}}', 'abc123'],
    ['{{.State.Status}} {{.State.Running}} {{.State.Pid}}', 'running true 4242'],
    ['{{.Config.Cmd}}', '[httpd -f]'],
    ['{{.Config.Labels}}', 'map[com.example.role:front tier:web]'],
    ['{{.Config.Missing}}', '<no value>'],
    ['{{.State.Health}}', '<no value>'],
    ['{{json .Config.Cmd}}', '["httpd","-f"]'],
    ['{{json .State}}', '{"Status":"running","Running":true,"Pid":4242,"ExitCode":0,"Health":null}'],
    ['{{index .Config.Labels "com.example.role"}}', 'front'],
    ['{{index .Config.Cmd 1}}', '-f'],
    ['{{index .Config.Labels "absent"}}', '<no value>'],
    ['{{len .Config.Env}} {{len .Config.Labels}} {{len .Name}}', '2 2 4'],
    ['{{range .Config.Env}}[{{.}}]{{end}}', '[PATH=/bin][A=1]'],
    ['{{range $i, $e := .Config.Env}}{{$i}}={{$e}};{{end}}', '0=PATH=/bin;1=A=1;'],
    ['{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}} {{end}}', 'com.example.role:front tier:web '],
    ['{{range $net, $conf := .NetworkSettings.Networks}}{{$net}} {{$conf.IPAddress}}\n{{end}}', 'app 10.88.0.2\nother 10.89.0.3\n'],
    ['{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', '10.88.0.210.89.0.3'],
    ['{{range .Mounts}}x{{else}}none{{end}}', 'none'],
    ['{{if .State.Running}}up{{else}}down{{end}}', 'up'],
    ['{{if eq .State.Status "exited"}}E{{else if eq .State.Status "running"}}R{{else}}?{{end}}', 'R'],
    ['{{if and .State.Running (eq .State.ExitCode 0)}}ok{{end}}', 'ok'],
    ['{{if or .State.Health .Config.Missing}}yes{{else}}no{{end}}', 'no'],
    ['{{if not .Mounts}}empty{{end}}', 'empty'],
    ['{{with .State}}{{.Status}}{{end}}', 'running'],
    ['{{with .State.Health}}{{.Status}}{{else}}no health{{end}}', 'no health'],
    ['{{.Name | printf "%q"}}', '"/web"'],
    ['{{printf "%-8s|%5d|%05d|%x" .Name .State.Pid 42 255}}', '/web    | 4242|00042|ff'],
    ['{{join .Config.Cmd ","}}', 'httpd,-f'],
    ['{{split "a:b:c" ":"}}', '[a b c]'],
    ['{{upper .State.Status}} {{lower "ABC"}} {{title "hello world"}}', 'RUNNING abc Hello World'],
    ['{{truncate .Id 3}}|{{pad .Id 1 2}}|', 'abc| abc123  |'],
    ['{{$name := .Name}}{{$name}}{{$name = "x"}}{{$name}}', '/webx'],
    ['{{range .Config.Env}}{{$.Id}}{{end}}', 'abc123abc123'],
    ['a {{- " b " -}} c', 'a b c'],
    ['x {{/* a comment */}} y', 'x  y'],
    ['{{(index .NetworkSettings.Networks "app").IPAddress}}', '10.88.0.2'],
    ['{{range .Config.Env}}{{if eq . "A=1"}}{{break}}{{end}}{{.}};{{end}}', 'PATH=/bin;'],
    ['{{range .Config.Env}}{{if eq . "PATH=/bin"}}{{continue}}{{end}}{{.}};{{end}}', 'A=1;'],
    ['{{.SizeRw}}', '1700000000'],
    ['{{print 1 2 "a" 3}}', '1 2a3'],
    ['{{println "a" 1}}', 'a 1\n'],
    ['{{lt 1 2}} {{ge "b" "a"}} {{ne 1 2}} {{eq 1 2 1}}', 'true true true true'],
    ['{{slice .Config.Cmd 1}}', '[-f]'],
    ['{{`raw\\n`}}', 'raw\\n'],
    // docker's documents hold Go's nil slices and maps as null: their length is 0, an index finds nothing.
    ['{{len .Mounts}} {{len .State.Health}} {{index .State.Health "Status"}}', '0 0 <no value>'],
  ])('%s', (template, expected) => {
    expect(renderGoTemplate(template, container)).toBe(expected);
  });

  it('calls methods with arguments, as `ps --format {{.Label "key"}}` does', () => {
    const row = { ID: 'c1', Label: (key: unknown) => ({ tier: 'web' } as Record<string, string>)[String(key)] ?? '' };
    expect(renderGoTemplate('{{.ID}} {{.Label "tier"}} [{{.Label "none"}}]', row)).toBe('c1 web []');
  });

  it('writes list rows as docker does: one line each, or a table headed with docker\'s titles', () => {
    const rows = [
      { ID: 'a1', Names: 'web', Label: (key: unknown) => (key === 'com.example.tier-name' ? 'front' : '') },
      { ID: 'b22', Names: 'database', Label: () => '' },
    ];
    expect(formatListTemplate('{{.ID}}:{{.Names}}', rows, {})).toBe('a1:web\nb22:database\n');
    expect(formatListTemplate('table {{.ID}}\\t{{.Names}}\\t{{.Label "com.example.tier-name"}}\\t{{.RunningFor}}', rows, { ID: 'CONTAINER ID', RunningFor: 'CREATED' })).toBe(
      // docker 26 and 20.10 keep the label's own case in its title (`ps --format 'table {{.Label "com.x-y_z"}}'` heads it `x y z`).
      'CONTAINER ID   NAMES      tier name   CREATED\na1             web        front       <no value>\nb22            database               <no value>\n',
    );
  });

  it('refuses what Go refuses, with docker\'s words', () => {
    expect(() => parseGoTemplate('{{.Id')).toThrow(/template parsing error: template: :1: unclosed action/);
    expect(() => parseGoTemplate('{{nosuch .Id}}')).toThrow(/function "nosuch" not defined/);
    expect(() => parseGoTemplate('{{if .A}}x')).toThrow(/unexpected EOF/);
    expect(() => parseGoTemplate('{{end}}')).toThrow(/unexpected \{\{end\}\}/);
    expect(() => parseGoTemplate('{{break}}')).toThrow(/outside \{\{range\}\}/);
    expect(() => parseGoTemplate('{{template "x"}}')).toThrow(/not supported/);
    expect(() => renderGoTemplate('{{$nope}}', {})).toThrow(/undefined variable: \$nope/);
    // A failed call is placed at its command, named as Go's parse tree prints it back.
    expect(() => renderGoTemplate('{{index .A 5}}', { A: [1] })).toThrow('template: :1:2: executing "" at <index .A 5>: error calling index: index out of range: 5');
    expect(() => renderGoTemplate('x {{ .A | len }} {{index (slice .A 0) `k` 1.5}}', { A: [1] })).toThrow('template: :1:19: executing "" at <index (slice .A 0) `k` 1.5>: error calling index: cannot index slice/array with type string');
    expect(() => renderGoTemplate('{{if lt .A "x"}}\n{{end}}', { A: 1 })).toThrow('template: :1:5: executing "" at <lt .A "x">: error calling lt: incompatible types for comparison');
    expect(() => renderGoTemplate('{{if eq .A "0" 0}}{{end}}', { A: 0 })).toThrow('template: :1:5: executing "" at <eq .A "0" 0>: error calling eq: incompatible types for comparison');
    expect(renderGoTemplate('{{eq .A 0 "0"}} {{eq .Missing "x"}} {{ne .A 1}}', { A: 0 })).toBe('true false true');
    // Go's indexArg passes an index equal to the length on to reflect, whose panic is the message.
    expect(() => renderGoTemplate('{{index .A 1}}', { A: [1] })).toThrow('template: :1:2: executing "" at <index .A 1>: error calling index: reflect: slice index out of range');
  });

  it('formats as Go\'s fmt does', () => {
    expect(sprintf('%s=%v %t %6.2f %c %%', ['a', [1, 'b'], true, 3.14159, 65])).toBe('a=[1 b] true   3.14 A %');
    expect(sprintf('%d', [])).toBe('%!d(MISSING)');
  });
});

describe('Go templates on typed structs', () => {
  const image = goStruct({ Architecture: 'amd64', Config: goStruct({ Labels: { a: '1' }, User: undefined }, {}, 'v1.ImageConfig') }, {}, '*v1.Image');
  const data = goStruct({ Name: 'x', Image: image }, {}, 'example.input');

  it('reads the fields a struct has, set or not, and a map inside it by key', () => {
    expect(renderGoTemplate('{{.Name}} {{.Image.Architecture}} {{.Image.Config.User}} {{.Image.Config.Labels.a}} {{.Image.Config.Labels.b}}', data)).toBe('x amd64 <no value> 1 <no value>');
  });

  it.each([
    ['{{.Nope}}', ':1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type example.input'],
    ['{{ .Image.Config.Nope }}', ':1:9: executing "" at <.Image.Config.Nope>: can\'t evaluate field Nope in type v1.ImageConfig'],
    ['{{.Name}}\n  {{.Image.Nope.X}}', ':2:10: executing "" at <.Image.Nope.X>: can\'t evaluate field Nope in type *v1.Image'],
    ['{{$i := .Image}}{{$i.Nope}}', ':1:18: executing "" at <$i.Nope>: can\'t evaluate field Nope in type *v1.Image'],
    ['{{with .Image}}{{.Nope}}{{end}}', ':1:17: executing "" at <.Nope>: can\'t evaluate field Nope in type *v1.Image'],
  ])('fails %j as Go does on a missing field', (template, message) => {
    expect(() => renderGoTemplate(template, data)).toThrow(`template: ${message}`);
  });
});

describe('inspect templates as docker runs them: on the typed struct, then on the raw JSON with missingkey=error', () => {
  const container = {
    Id: 'abc',
    State: { Status: 'running', Running: true },
    HostConfig: { CpuShares: 512, Sysctls: undefined, PidsLimit: null, Binds: null },
    Config: { Labels: { a: '1' }, Env: ['A=1'] },
    NetworkSettings: { Networks: {} },
  };
  const shape: GoShape = {
    typeName: 'types.ContainerJSON',
    goNames: { ID: 'Id' },
    fields: {
      State: { typeName: '*types.ContainerState', zeros: { Health: new GoNilPointer('*types.Health') } },
      HostConfig: { typeName: 'container.HostConfig', zeros: { Sysctls: nilMap, PidsLimit: new GoNilPointer('*int64'), Binds: nilSlice }, goNames: { CPUShares: 'CpuShares' } },
      Config: { typeName: 'container.Config', zeros: { StopSignal: '' }, stringMaps: ['Labels'] },
    },
  };
  const run = (format: string): string => inspectOne(parseGoTemplate(format), { document: container, shape });

  it('reads fields by their JSON and their Go names, and prints the fields JSON leaves out as Go holds them', () => {
    expect(run('{{.Id}} {{.ID}} {{.HostConfig.CpuShares}} {{.HostConfig.CPUShares}}')).toBe('abc abc 512 512');
    expect(run('{{.State.Health}}|{{.Config.StopSignal}}|{{.HostConfig.Sysctls}}|{{.Config.Labels.b}}|{{index .Config.Labels "b"}}|')).toBe('<nil>||map[]|<no value>||');
    expect(run('{{.NetworkSettings.Nope}}')).toBe('<no value>');
    // A null is Go's nil of the field's kind.
    expect(run('{{.HostConfig.PidsLimit}} {{.HostConfig.Binds}} {{len .HostConfig.Binds}}')).toBe('<nil> [] 0');
  });

  it('keeps what JSON leaves out, and the Go names, out of json', () => {
    expect(run('{{json .HostConfig}} {{json .State}}')).toBe('{"CpuShares":512,"PidsLimit":null,"Binds":null} {"Status":"running","Running":true}');
  });

  it.each([
    ['{{.Nope}}', ':1:2: executing "" at <.Nope>: map has no entry for key "Nope"'],
    // A chain is placed where its second field is, as Go's parser places it.
    ['{{.State.Health.Status}}', ':1:8: executing "" at <.State.Health.Status>: map has no entry for key "Health"'],
    ['{{.Config.Nope}}', ':1:9: executing "" at <.Config.Nope>: map has no entry for key "Nope"'],
  ])('fails %j with the raw document\'s error', (format, message) => {
    expect(() => run(format)).toThrow(`template parsing error: template: ${message}`);
  });

  it('takes a template that fails on the struct but not on the raw JSON from the raw JSON', () => {
    // As the raw map holds no nil pointer: a field the struct leaves nil but the JSON has.
    const withHealth = { ...container, State: { ...container.State, Health: { Status: 'healthy' } } };
    expect(inspectOne(parseGoTemplate('{{.State.Health.Status}}'), { document: withHealth, shape })).toBe('healthy');
  });
});
