/**
 * Image configs whose fields have the wrong type (BuildKit CVE-2024-23650 class: malformed input
 * that crashed the reader): refused when the config is read, naming the field, as Go's decoder in
 * docker and BuildKit refuses them; the nulls Go writes for empty slices and maps are absent.
 */
import { describe, expect, it } from 'vitest';
import { parseImageConfig } from '../../src/common/index.js';
import { codeOf } from '../helpers/error-code.js';

const base = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } };
const bytes = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe('parseImageConfig', () => {
  it("takes the nulls a Go writer leaves for empty fields (docker commit's config) as absent", () => {
    const config = {
      ...base,
      created: '2024-01-01T00:00:00Z',
      config: { User: '', Env: null, Cmd: null, Entrypoint: null, Volumes: null, ExposedPorts: { '80/tcp': {} }, OnBuild: null, Labels: null, WorkingDir: '', Healthcheck: { Test: ['CMD', 'true'], Interval: 1e9, Retries: 3 }, ArgsEscaped: true, Shell: ['/bin/sh', '-c'] },
      history: [{ created: '2024-01-01T00:00:00Z', created_by: 'x', empty_layer: true }, { comment: null }],
    };
    expect(parseImageConfig(bytes(config)).config?.Env).toBeNull();
    expect(parseImageConfig(bytes({ ...base, config: { Volumes: { '/v': null } } })).config?.Volumes).toEqual({ '/v': null });
  });

  it.each([
    ['Env', 'A=B', 'config.Env is not an array of strings'],
    ['Env', [5, null], 'config.Env is not an array of strings'],
    ['Cmd', 'sh', 'config.Cmd is not an array of strings'],
    ['Entrypoint', 7, 'config.Entrypoint is not an array of strings'],
    ['OnBuild', [5], 'config.OnBuild is not an array of strings'],
    ['Shell', 'sh', 'config.Shell is not an array of strings'],
    ['User', 5, 'config.User is not a string'],
    ['WorkingDir', ['/'], 'config.WorkingDir is not a string'],
    ['StopSignal', 9, 'config.StopSignal is not a string'],
    ['Volumes', ['/v'], 'config.Volumes is not an object of objects'],
    ['ExposedPorts', { '80/tcp': 'yes' }, 'config.ExposedPorts is not an object of objects'],
    ['Labels', { a: 5 }, 'config.Labels is not an object of strings'],
    ['Labels', 5, 'config.Labels is not an object of strings'],
    ['ArgsEscaped', 'true', 'config.ArgsEscaped is not a boolean'],
    ['Healthcheck', 'CMD true', 'config.Healthcheck is not an object'],
    ['Healthcheck', { Test: 'x' }, 'config.Healthcheck.Test is not an array of strings'],
    ['Healthcheck', { Test: ['NONE'], Interval: '1s' }, 'config.Healthcheck.Interval is not a number'],
  ])('refuses config.%s = %j, naming it', async (field, value, message) => {
    const parse = (): unknown => parseImageConfig(bytes({ ...base, config: { [field]: value } }));
    expect(parse).toThrow(`parse image config: ${message}`);
    expect(await codeOf(Promise.resolve().then(parse))).toBe('INVALID_MEDIA_TYPE');
  });

  it.each([
    [{ history: 'x' }, 'history is not an array'],
    [{ history: [null] }, 'history[0] is not an object'],
    [{ history: [{}, { created_by: 5 }] }, 'history[1].created_by is not a string'],
    [{ history: [{ empty_layer: 'yes' }] }, 'history[0].empty_layer is not a boolean'],
    [{ created: 5 }, 'created is not a string'],
  ])('refuses %j, naming the field', (fields, message) => {
    expect(() => parseImageConfig(bytes({ ...base, ...fields }))).toThrow(`parse image config: ${message}`);
  });
});
