/** Choosing the manifest of one platform from an index, as docker does. */
import { formatPlatform, type Descriptor, type Platform } from '../common/index.js';

function normalizedVariant(platform: Platform): string | undefined {
  // arm64 images rarely say v8, and amd64 has no variant worth telling apart.
  if (platform.architecture === 'arm64') return platform.variant ?? 'v8';
  if (platform.architecture === 'amd64') return undefined;
  return platform.variant;
}

export function platformMatches(candidate: Platform, wanted: Platform): boolean {
  if (candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  const want = normalizedVariant(wanted);
  const have = normalizedVariant(candidate);
  return want === undefined || have === undefined || want === have;
}

export function selectManifest(manifests: readonly Descriptor[], wanted: Platform): Descriptor | undefined {
  const candidates = manifests.filter((entry) => entry.platform !== undefined && platformMatches(entry.platform, wanted));
  // An exact variant match wins over an entry that leaves the variant open.
  return candidates.find((entry) => entry.platform !== undefined && normalizedVariant(entry.platform) === normalizedVariant(wanted)) ?? candidates[0];
}

export function describePlatforms(manifests: readonly Descriptor[]): string {
  const names = manifests.flatMap((entry) => (entry.platform === undefined ? [] : [formatPlatform(entry.platform)]));
  return names.length === 0 ? 'none' : [...new Set(names)].join(', ');
}
