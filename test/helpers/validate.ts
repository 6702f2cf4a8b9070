/**
 * Validates images the tests write, in a tsbuild store or any OCI image layout: every blob is
 * rehashed and its size checked, manifests and indexes agree with the media types they are
 * found under, config ↔ manifest ↔ diff IDs agree (layers are decompressed to check each
 * diff ID), and every JSON document passes the image-spec's JSON schemas (ajv).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, readdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Ajv, type ValidateFunction } from 'ajv';
import {
  MediaType,
  digestHex,
  isIndexMediaType,
  isManifestMediaType,
  layerMediaTypes,
  parseDigest,
  parseImageConfig,
  parseIndex,
  parseManifest,
  refNameAnnotation,
  type Descriptor,
  type Digest,
} from '../../src/common/index.js';

const schemaDirectory = new URL('./schemas/', import.meta.url);

function loadSchemas(): { manifest: ValidateFunction; index: ValidateFunction; config: ValidateFunction; layout: ValidateFunction; descriptor: ValidateFunction } {
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i);
  ajv.addFormat('uri', /^[a-z][a-z0-9+.-]*:[^\s]*$/i);
  for (const name of readdirSync(schemaDirectory)) {
    if (name.endsWith('.json')) ajv.addSchema(JSON.parse(readFileSync(new URL(name, schemaDirectory), 'utf8')) as object);
  }
  const get = (name: string): ValidateFunction => {
    const validate = ajv.getSchema(`https://tsbuild.test/schemas/${name}.json`);
    if (validate === undefined) throw new Error(`schema ${name} missing`);
    return validate;
  };
  return { manifest: get('manifest'), index: get('index'), config: get('config'), layout: get('layout'), descriptor: get('content-descriptor') };
}

const schemas = loadSchemas();

/** Read access to blobs, as a store or a plain layout directory gives it. */
export interface BlobSource {
  openBlob(digest: Digest): Promise<Readable>;
  blobSize(digest: Digest): Promise<number | undefined>;
}

/** An OCI image layout directory read directly (no tsbuild code involved beyond the model types). */
export function layoutBlobs(root: string): BlobSource {
  const path = (digest: Digest): string => join(root, 'blobs', digest.slice(0, digest.indexOf(':')), digestHex(parseDigest(digest)));
  return {
    openBlob: async (digest) => createReadStream(path(digest)),
    blobSize: async (digest) => (await stat(path(digest)).catch(() => undefined))?.size,
  };
}

export class ValidationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`image validation failed:\n  ${problems.join('\n  ')}`);
  }
}

function schemaErrors(validate: ValidateFunction, value: unknown, what: string): string[] {
  if (validate(value)) return [];
  return (validate.errors ?? []).map((error) => `${what}: schema: ${error.instancePath || '/'} ${error.message ?? ''}`);
}

class Validator {
  readonly problems: string[] = [];
  private readonly hashed = new Map<Digest, Buffer>();

  constructor(private readonly source: BlobSource) {}

  /** The blob's bytes when small, after checking its size and digest; layers are only hashed. */
  async blob(descriptor: Descriptor, keep: boolean): Promise<Buffer | undefined> {
    const cached = this.hashed.get(descriptor.digest);
    if (cached !== undefined) return cached;
    const size = await this.source.blobSize(descriptor.digest);
    if (size === undefined) {
      this.problems.push(`${descriptor.digest}: blob missing`);
      return undefined;
    }
    if (size !== descriptor.size) this.problems.push(`${descriptor.digest}: size ${size}, descriptor says ${descriptor.size}`);
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    // Raw file reads: the store's own verification is not what is being tested here.
    for await (const chunk of await this.source.openBlob(descriptor.digest)) {
      hash.update(chunk as Buffer);
      if (keep) chunks.push(chunk as Buffer);
    }
    if (`sha256:${hash.digest('hex')}` !== descriptor.digest) this.problems.push(`${descriptor.digest}: content does not hash to its digest`);
    const bytes = Buffer.concat(chunks);
    this.hashed.set(descriptor.digest, bytes);
    return keep ? bytes : undefined;
  }

  async diffId(descriptor: Descriptor): Promise<Digest> {
    const hash = createHash('sha256');
    const sink = new Writable({ write: (chunk: Buffer, _encoding, callback) => (hash.update(chunk), callback()) });
    const blob = await this.source.openBlob(descriptor.digest);
    if (descriptor.mediaType.endsWith('gzip')) await pipeline(blob, createGunzip(), sink);
    else if (descriptor.mediaType.endsWith('zstd')) {
      // The zstd program, not the project's own decoder: the check stays independent.
      const zstd = spawn('zstd', ['-d', '-q', '-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
      const exited = new Promise<void>((resolve, reject) => zstd.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`zstd -d exited with ${code}`)))));
      await Promise.all([pipeline(blob, zstd.stdin), pipeline(zstd.stdout, sink), exited]);
    } else await pipeline(blob, sink);
    return `sha256:${hash.digest('hex')}` as Digest;
  }

  async descriptor(descriptor: Descriptor, what: string): Promise<void> {
    this.problems.push(...schemaErrors(schemas.descriptor, descriptor, what));
    if (isIndexMediaType(descriptor.mediaType)) await this.index(descriptor, what);
    else if (isManifestMediaType(descriptor.mediaType)) await this.manifest(descriptor, what);
    else this.problems.push(`${what}: ${descriptor.mediaType} is neither a manifest nor an index`);
  }

  async index(descriptor: Descriptor, what: string): Promise<void> {
    const bytes = await this.blob(descriptor, true);
    if (bytes === undefined) return;
    try {
      const index = parseIndex(bytes, descriptor.mediaType);
      const json: unknown = JSON.parse(bytes.toString('utf8'));
      if (descriptor.mediaType === MediaType.ociIndex) this.problems.push(...schemaErrors(schemas.index, json, `${what} index`));
      for (const [position, child] of index.manifests.entries()) {
        // Pulls keep only the platform they need: validate the children that are present.
        if ((await this.source.blobSize(child.digest)) !== undefined) await this.descriptor(child, `${what} manifests[${position}]`);
      }
    } catch (error) {
      this.problems.push(`${what}: ${(error as Error).message}`);
    }
  }

  async manifest(descriptor: Descriptor, what: string): Promise<void> {
    const bytes = await this.blob(descriptor, true);
    if (bytes === undefined) return;
    try {
      const manifest = parseManifest(bytes, descriptor.mediaType);
      const json: unknown = JSON.parse(bytes.toString('utf8'));
      if (descriptor.mediaType === MediaType.ociManifest) this.problems.push(...schemaErrors(schemas.manifest, json, `${what} manifest`));
      const expectedConfig = descriptor.mediaType === MediaType.ociManifest ? MediaType.ociConfig : MediaType.dockerConfig;
      if (manifest.config.mediaType !== expectedConfig) this.problems.push(`${what}: config media type ${manifest.config.mediaType}`);
      const configBytes = await this.blob(manifest.config, true);
      if (configBytes === undefined) return;
      const config = parseImageConfig(configBytes);
      this.problems.push(...schemaErrors(schemas.config, JSON.parse(configBytes.toString('utf8')), `${what} config`));
      if (config.rootfs.diff_ids.length !== manifest.layers.length) {
        this.problems.push(`${what}: ${manifest.layers.length} layers, ${config.rootfs.diff_ids.length} diff_ids`);
        return;
      }
      const nonEmpty = (config.history ?? []).filter((entry) => entry.empty_layer !== true).length;
      if (config.history !== undefined && nonEmpty !== manifest.layers.length) this.problems.push(`${what}: ${nonEmpty} non-empty history entries for ${manifest.layers.length} layers`);
      for (const [position, layer] of manifest.layers.entries()) {
        if (!layerMediaTypes.has(layer.mediaType)) this.problems.push(`${what}: layer ${position} has media type ${layer.mediaType}`);
        await this.blob(layer, false);
        const diffId = await this.diffId(layer);
        if (diffId !== config.rootfs.diff_ids[position]) this.problems.push(`${what}: layer ${position} has diff ID ${diffId}, config says ${config.rootfs.diff_ids[position] ?? ''}`);
      }
    } catch (error) {
      this.problems.push(`${what}: ${(error as Error).message}`);
    }
  }
}

/** Validates one image (manifest or index) reached through DESCRIPTOR; throws ValidationError listing every problem. */
export async function validateImage(source: BlobSource, descriptor: Descriptor): Promise<void> {
  const validator = new Validator(source);
  await validator.descriptor(descriptor, descriptor.digest);
  if (validator.problems.length > 0) throw new ValidationError(validator.problems);
}

/**
 * Validates a whole OCI image layout directory (a tsbuild store root is one): oci-layout and
 * index.json against their schemas, every named image, and every blob file's digest.
 */
export async function validateLayout(root: string): Promise<{ images: number; blobs: number }> {
  const problems: string[] = [];
  const source = layoutBlobs(root);
  const layoutJson: unknown = JSON.parse(await readFile(join(root, 'oci-layout'), 'utf8'));
  problems.push(...schemaErrors(schemas.layout, layoutJson, 'oci-layout'));
  const indexBytes = await readFile(join(root, 'index.json'));
  const indexJson: unknown = JSON.parse(indexBytes.toString('utf8'));
  problems.push(...schemaErrors(schemas.index, indexJson, 'index.json'));
  const index = parseIndex(indexBytes);
  const names = new Set<string>();
  const validator = new Validator(source);
  for (const entry of index.manifests) {
    const name = entry.annotations?.[refNameAnnotation];
    if (name !== undefined) {
      if (names.has(name)) problems.push(`index.json: ${name} named twice`);
      names.add(name);
    }
    await validator.descriptor(entry, name ?? entry.digest);
  }
  problems.push(...validator.problems);
  let blobs = 0;
  for (const algorithm of readdirSync(join(root, 'blobs'))) {
    for (const hex of readdirSync(join(root, 'blobs', algorithm))) {
      blobs++;
      const digest = `${algorithm}:${hex}`;
      try {
        parseDigest(digest);
      } catch {
        problems.push(`blobs/${algorithm}/${hex}: not a digest`);
        continue;
      }
      const hash = createHash(algorithm);
      for await (const chunk of createReadStream(join(root, 'blobs', algorithm, hex))) hash.update(chunk as Buffer);
      if (hash.digest('hex') !== hex) problems.push(`blobs/${algorithm}/${hex}: content does not hash to its name`);
    }
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return { images: index.manifests.length, blobs };
}
