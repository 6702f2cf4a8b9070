/** Naming the platforms of an index in errors; the choice itself is common/platform.ts's. */
import { formatPlatform, type Descriptor } from '../common/index.js';

export function describePlatforms(manifests: readonly Descriptor[]): string {
  const names = manifests.flatMap((entry) => (entry.platform === undefined ? [] : [formatPlatform(entry.platform)]));
  return names.length === 0 ? 'none' : [...new Set(names)].join(', ');
}
