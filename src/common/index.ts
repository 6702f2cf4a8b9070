export * from './errors.js';
export * from './source-range.js';
export * from './suggest.js';
