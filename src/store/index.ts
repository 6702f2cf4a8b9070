export type { BlobInfo, ContentStore, ExpectedBlob, Ingest } from './content-store.js';
