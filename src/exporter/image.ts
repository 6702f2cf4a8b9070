import { Readable } from 'node:stream';
import { MediaType, type ContainerConfig, type Descriptor, type Digest, type History, type ImageConfig, type Manifest, type Platform } from '../common/index.js';
import type { ContentStore } from '../store/index.js';
import type { WrittenLayer } from './layer.js';

export interface ImageSpec {
  readonly layers: readonly WrittenLayer[];
  readonly platform: Platform;
  readonly config?: ContainerConfig;
  /** RFC 3339; omitted when undefined. */
  readonly created?: string;
  readonly history?: readonly History[];
  readonly annotations?: Readonly<Record<string, string>>;
  /** The config's `author` (docker commit's `-a`); omitted when undefined. */
  readonly author?: string;
  /** The config's `comment` (docker's import and commit messages); omitted when undefined. */
  readonly comment?: string;
}

export interface WrittenImage {
  readonly descriptor: Descriptor;
  readonly manifest: Manifest;
  readonly config: ImageConfig;
  readonly configDescriptor: Descriptor;
}

/** JSON with a trailing newline-free, fixed key order (as built), so equal images give equal digests. */
function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** Writes config and manifest of an image made of already stored layers; names it when NAME is given. */
export async function writeImage(store: ContentStore, spec: ImageSpec, name?: string): Promise<WrittenImage> {
  const { platform } = spec;
  const config: ImageConfig = {
    ...(spec.created === undefined ? {} : { created: spec.created }),
    ...(spec.author === undefined ? {} : { author: spec.author }),
    ...(spec.comment === undefined ? {} : { comment: spec.comment }),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    config: spec.config ?? {},
    rootfs: { type: 'layers', diff_ids: spec.layers.map((layer) => layer.diffId) as Digest[] },
    ...(spec.history === undefined ? {} : { history: spec.history }),
  };
  const configBytes = canonicalBytes(config);
  const configInfo = await store.putBlob(Readable.from([configBytes]));
  const configDescriptor: Descriptor = { mediaType: MediaType.ociConfig, digest: configInfo.digest, size: configInfo.size };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: configDescriptor,
    layers: spec.layers.map((layer) => layer.descriptor),
    ...(spec.annotations === undefined ? {} : { annotations: spec.annotations }),
  };
  const manifestInfo = await store.putBlob(Readable.from([canonicalBytes(manifest)]));
  const descriptor: Descriptor = { mediaType: MediaType.ociManifest, digest: manifestInfo.digest, size: manifestInfo.size };
  if (name !== undefined) await store.setReference(name, descriptor);
  return { descriptor, manifest, config, configDescriptor };
}
