export * from './errors.js';
export * from './oci.js';
export * from './source-range.js';
export * from './suggest.js';
export * from './reference.js';
export * from './shell/index.js';
export * from './fs-native.js';
export * from './tar-reader.js';
