import { makeBusyboxImage, type BusyboxImage } from '../../scripts/make-busybox-image.js';
import type { Store } from '../../src/store/index.js';

/** Stores the busybox base image (`docker.io/library/busybox:latest` unless NAME) in STORE. */
export async function busyboxImage(store: Store, name?: string): Promise<BusyboxImage> {
  return makeBusyboxImage({ store, ...(name === undefined ? {} : { name }) });
}

export type { BusyboxImage };
