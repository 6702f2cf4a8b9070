/**
 * An image's media types as BuildKit's image exporters write them (`oci-mediatypes=`): OCI
 * types for the oci exporter by default, Docker's (v2 schema 2) for the docker exporter. The
 * image and registry outputs keep the store's OCI types unless the option is given: BuildKit
 * 0.13's image exporter writes Docker's without attestations and OCI's with them (buildx's
 * default provenance on a pushing builder), and tsbuild's images are OCI throughout. Only the manifest changes: its own type, its config's and its layers'
 * descriptors. The config's bytes stay as they are, so the image ID does too.
 */
import { Readable } from 'node:stream';
import { MediaType, maxManifestBytes, parseManifest, TsbuildError, type Descriptor } from '../common/index.js';
import type { LayoutStore } from '../store/index.js';

/** Docker's name for a zstd layer, which BuildKit 0.13 gives one when OCI types are off. */
const dockerLayerZstd = `${MediaType.dockerLayer}.zstd`;
const dockerLayerForeign = 'application/vnd.docker.image.rootfs.foreign.diff.tar';
const ociLayerNonDistributable = 'application/vnd.oci.image.layer.nondistributable.v1.tar';
const ociLayerNonDistributableGzip = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
const ociLayerNonDistributableZstd = 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd';

/** BuildKit's layer conversions (util/compression): a type not listed stays as it is. */
const toDocker: Readonly<Record<string, string>> = {
  [MediaType.ociLayer]: MediaType.dockerLayer,
  [MediaType.dockerLayer]: MediaType.dockerLayer,
  [MediaType.ociLayerGzip]: MediaType.dockerLayerGzip,
  [MediaType.dockerLayerGzip]: MediaType.dockerLayerGzip,
  [dockerLayerForeign]: dockerLayerForeign,
  [MediaType.dockerLayerForeignGzip]: MediaType.dockerLayerForeignGzip,
  [ociLayerNonDistributable]: dockerLayerForeign,
  [ociLayerNonDistributableGzip]: MediaType.dockerLayerForeignGzip,
  [MediaType.ociLayerZstd]: dockerLayerZstd,
  [dockerLayerZstd]: dockerLayerZstd,
};
const toOci: Readonly<Record<string, string>> = {
  [MediaType.ociLayer]: MediaType.ociLayer,
  [MediaType.dockerLayer]: MediaType.ociLayer,
  [MediaType.ociLayerGzip]: MediaType.ociLayerGzip,
  [MediaType.dockerLayerGzip]: MediaType.ociLayerGzip,
  [ociLayerNonDistributable]: ociLayerNonDistributable,
  [ociLayerNonDistributableGzip]: ociLayerNonDistributableGzip,
  [ociLayerNonDistributableZstd]: ociLayerNonDistributableZstd,
  [dockerLayerForeign]: ociLayerNonDistributable,
  [MediaType.dockerLayerForeignGzip]: ociLayerNonDistributableGzip,
  [MediaType.ociLayerZstd]: MediaType.ociLayerZstd,
  [dockerLayerZstd]: MediaType.ociLayerZstd,
};

/** Layer annotations BuildKit keeps to itself (RemoveInternalLayerAnnotations). */
function exportedLayerAnnotations(annotations: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
  if (annotations === undefined) return undefined;
  const kept = Object.entries(annotations).filter(([key]) => key !== 'containerd.io/uncompressed' && key !== 'buildkit/createdat' && !key.startsWith('containerd.io/distribution.source.'));
  return kept.length === 0 ? undefined : Object.fromEntries(kept);
}

/**
 * `oci-mediatypes=` of an output's OPTIONS, read as BuildKit reads it (Go's strconv.ParseBool;
 * empty is true), or FALLBACK when it is not given. WHAT says where it came from, for errors.
 */
export function ociMediaTypesOption(options: Readonly<Record<string, string>>, fallback: boolean, what: string): boolean {
  const value = options['oci-mediatypes'];
  if (value === undefined) return fallback;
  if (value === '' || ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new TsbuildError('INVALID_ARGUMENT', `parse ${what}: non-bool value ${JSON.stringify(value)} specified for oci-mediatypes`);
}

/**
 * The image at DESCRIPTOR (a manifest in STORE) with OCI media types when OCI is true, Docker's
 * otherwise: the same descriptor when they already are, else a new manifest (stored, not
 * named). As BuildKit, Docker-typed layers carry no annotations; OCI-typed ones keep theirs but
 * BuildKit's internal ones. An index is returned as it is (a build writes a single manifest).
 */
export async function withMediaTypes(store: LayoutStore, descriptor: Descriptor, oci: boolean): Promise<Descriptor> {
  if (descriptor.mediaType !== MediaType.ociManifest && descriptor.mediaType !== MediaType.dockerManifest) return descriptor;
  const manifest = parseManifest(await store.readBlob(descriptor.digest, maxManifestBytes), descriptor.mediaType);
  const manifestType = oci ? MediaType.ociManifest : MediaType.dockerManifest;
  const configType = oci ? MediaType.ociConfig : MediaType.dockerConfig;
  const table = oci ? toOci : toDocker;
  const layers = manifest.layers.map((layer) => {
    const { annotations, ...rest } = layer;
    const kept = oci ? exportedLayerAnnotations(annotations) : undefined;
    return { ...rest, mediaType: table[layer.mediaType] ?? layer.mediaType, ...(kept === undefined ? {} : { annotations: kept }) };
  });
  const unchanged =
    manifest.mediaType === manifestType &&
    manifest.config.mediaType === configType &&
    layers.every((layer, position) => JSON.stringify(layer) === JSON.stringify(manifest.layers[position]));
  if (unchanged) return descriptor;
  const bytes = Buffer.from(JSON.stringify({ ...manifest, mediaType: manifestType, config: { ...manifest.config, mediaType: configType }, layers }), 'utf8');
  const info = await store.putBlob(Readable.from([bytes]));
  return { mediaType: manifestType, digest: info.digest, size: info.size };
}
