/**
 * Turns layers into images and images into bytes: a deterministic layer writer (PAX tar, gzip
 * with a fixed header, diff ID and digest in one pass), image config and manifest writing, and
 * archives in the OCI layout and docker-archive formats (save and load), and the build's
 * `--output` destinations.
 */
export { encodeHeader, endOfArchive, type TarEntryType, type TarHeader } from './tar.js';
export {
  comparePaths,
  compressLayer,
  directoryEntries,
  sourceDateEpochFromEnv,
  tarStream,
  writeLayer,
  type BlobSink,
  type LayerCompression,
  type LayerEntry,
  type LayerOptions,
  type WrittenLayer,
} from './layer.js';
export { imageConfigBytes, writeImage, type ImageSpec, type WrittenImage } from './image.js';
export { loadArchive, saveArchive, type ArchiveFormat, type LoadedImage, type SaveImage, type SaveOptions } from './archive.js';
export { outputImage, parseOutputSpec, writeOutput, type OutputImage, type OutputOptions, type OutputSpec, type OutputType, type WrittenArchive } from './outputs.js';
export { compressionFromOptions, exportCompression, layerInCompression, pushableImage, recompressImage, type CompressionOptions, type CompressionType } from './compression.js';
export { defaultZstdLevel, nativeZstdStatus } from './zstd.js';
