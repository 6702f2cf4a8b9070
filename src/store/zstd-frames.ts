/**
 * Walks the frames of a zstd stream as its bytes go by (RFC 8878: frame header, block headers,
 * checksum; skippable frames) to read each frame's window size before the decoder sees it.
 *
 * A decoder holds a whole window in memory, and the window is whatever the frame header
 * declares: a few bytes can ask for gigabytes. The reference decoder refuses windows above
 * 128 MiB unless told otherwise; frames asking for more are refused here the same way, before
 * anything is allocated for them. Nothing else is checked: a malformed frame is the decoder's
 * to reject.
 */
import { TsbuildError } from '../common/index.js';

/** zstd's own default limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT, 2^27). */
export const maxZstdWindowBytes = 128 * 1024 * 1024;

const frameMagic = 0xfd2fb528;

type State =
  | { readonly kind: 'magic' }
  | { readonly kind: 'descriptor' }
  | { readonly kind: 'header'; readonly descriptor: number; readonly length: number }
  | { readonly kind: 'block-header'; readonly checksum: boolean }
  | { readonly kind: 'skip'; readonly then: State }
  | { readonly kind: 'skippable-size' };

export class ZstdFrameGuard {
  private state: State = { kind: 'magic' };
  /** Bytes of a field being gathered across chunks. */
  private pending: number[] = [];
  /** Bytes still to pass over in the 'skip' state. */
  private skipping = 0;

  constructor(private readonly what: string) {}

  /** Looks at the next bytes of the stream; throws before a frame asks for too large a window. */
  check(bytes: Uint8Array): void {
    let offset = 0;
    while (offset < bytes.length) {
      const state = this.state;
      if (state.kind === 'skip') {
        const take = Math.min(this.skipping, bytes.length - offset);
        this.skipping -= take;
        offset += take;
        if (this.skipping === 0) this.state = state.then;
        continue;
      }
      const wanted = this.fieldLength(state);
      while (this.pending.length < wanted && offset < bytes.length) this.pending.push(bytes[offset++] as number);
      if (this.pending.length < wanted) return;
      const field = this.pending;
      this.pending = [];
      this.advance(state, field);
    }
  }

  private fieldLength(state: State): number {
    switch (state.kind) {
      case 'magic':
      case 'skippable-size':
        return 4;
      case 'descriptor':
        return 1;
      case 'header':
        return state.length;
      case 'block-header':
        return 3;
      case 'skip':
        return 0;
    }
  }

  private advance(state: State, field: number[]): void {
    const littleEndian = (bytes: readonly number[]): number => bytes.reduceRight((value, byte) => value * 256 + byte, 0);
    switch (state.kind) {
      case 'magic': {
        const magic = littleEndian(field);
        if (magic === frameMagic) {
          this.state = { kind: 'descriptor' };
        } else if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
          this.state = { kind: 'skippable-size' };
        } else {
          // Not a frame: the decoder rejects the stream; there is nothing more to walk.
          this.skipping = Number.MAX_SAFE_INTEGER;
          this.state = { kind: 'skip', then: { kind: 'magic' } };
        }
        return;
      }
      case 'skippable-size':
        this.skipping = littleEndian(field);
        this.state = this.skipping === 0 ? { kind: 'magic' } : { kind: 'skip', then: { kind: 'magic' } };
        return;
      case 'descriptor': {
        const descriptor = field[0] as number;
        const singleSegment = (descriptor & 0x20) !== 0;
        const dictionaryBytes = [0, 1, 2, 4][descriptor & 3] as number;
        const contentSizeFlag = descriptor >> 6;
        const contentBytes = contentSizeFlag === 0 ? (singleSegment ? 1 : 0) : ([0, 2, 4, 8][contentSizeFlag] as number);
        // Never empty: a window byte when the frame has segments, a content size when it has one.
        this.state = { kind: 'header', descriptor, length: (singleSegment ? 0 : 1) + dictionaryBytes + contentBytes };
        return;
      }
      case 'header': {
        const descriptor = state.descriptor;
        const singleSegment = (descriptor & 0x20) !== 0;
        const dictionaryBytes = [0, 1, 2, 4][descriptor & 3] as number;
        let window: number;
        if (!singleSegment) {
          const windowDescriptor = field[0] as number;
          const base = 2 ** (10 + (windowDescriptor >> 3));
          window = base + (base / 8) * (windowDescriptor & 7);
        } else {
          // One segment: the window is the whole content, whose size the header gives.
          const contentField = field.slice(dictionaryBytes);
          const size = littleEndian(contentField);
          window = contentField.length === 2 ? size + 256 : size;
        }
        if (window > maxZstdWindowBytes) {
          throw new TsbuildError('DIGEST_MISMATCH', `${this.what}: a zstd frame asks for a ${window}-byte window, more than the ${maxZstdWindowBytes} allowed`);
        }
        this.state = { kind: 'block-header', checksum: (descriptor & 0x04) !== 0 };
        return;
      }
      case 'block-header': {
        const header = littleEndian(field);
        const last = (header & 1) === 1;
        const type = (header >> 1) & 3;
        const size = header >>> 3;
        const contentBytes = type === 1 ? 1 : size;
        const next: State = last ? (state.checksum ? { kind: 'skip', then: { kind: 'magic' } } : { kind: 'magic' }) : state;
        if (last && state.checksum) {
          // The block's content, then the 4-byte checksum, then the next frame.
          this.skipping = contentBytes + 4;
          this.state = next;
        } else if (contentBytes > 0) {
          this.skipping = contentBytes;
          this.state = { kind: 'skip', then: next };
        } else {
          this.state = next;
        }
        return;
      }
      case 'skip':
        return;
    }
  }
}
