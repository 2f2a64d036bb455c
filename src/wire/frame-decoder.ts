// Incremental API frame decoder: takes arbitrary chunks (split or coalesced
// frames), validates each header before buffering its body, and never holds
// more than one maximum-size message (65,535 bytes) of partial input.

import { API_HEADER_BYTES, ApiProtocolError, headerProblem, type Sender } from "./api.js";

export class FrameDecoder {
  /** Bytes of a frame whose header or body is still incomplete. */
  private partial: Buffer | undefined;
  private filled = 0;

  constructor(private readonly sender: Sender) {}

  /** Bytes currently held for an incomplete frame. */
  get buffered(): number {
    return this.filled;
  }

  /** Size of the incomplete frame being held (4 while its header is incomplete), or 0. */
  get expected(): number {
    return this.partial?.length ?? 0;
  }

  /**
   * Feeds a chunk; calls `onFrame` for every whole frame, in order. A frame
   * may be a view into `chunk`. When `onFrame` returns false the decoder stops
   * and returns the unread rest of the chunk (which starts at a frame
   * boundary), for the caller to push again when it is ready; otherwise it
   * returns undefined. Throws ApiProtocolError at the first bad header; the
   * decoder must not be used after that.
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => unknown): Buffer | undefined {
    let offset = 0;
    if (this.partial !== undefined) {
      const filled = this.fillPartial(chunk);
      offset = filled.used;
      if (filled.frame === undefined) return undefined;
      if (onFrame(filled.frame) === false) return this.rest(chunk, offset);
    }
    while (chunk.length - offset >= API_HEADER_BYTES) {
      const size = this.checkHeader(chunk.readUInt16BE(offset), chunk.readUInt16BE(offset + 2));
      if (chunk.length - offset < size) break;
      const frame = chunk.subarray(offset, offset + size);
      offset += size;
      if (onFrame(frame) === false) return this.rest(chunk, offset);
    }
    if (offset < chunk.length) this.startPartial(chunk.subarray(offset));
    return undefined;
  }

  private rest(chunk: Buffer, offset: number): Buffer | undefined {
    return offset < chunk.length ? chunk.subarray(offset) : undefined;
  }

  private checkHeader(size: number, type: number): number {
    const problem = headerProblem(size, type, this.sender);
    if (problem !== undefined) throw new ApiProtocolError(problem);
    return size;
  }

  private startPartial(rest: Buffer): void {
    const size =
      rest.length >= API_HEADER_BYTES
        ? this.checkHeader(rest.readUInt16BE(0), rest.readUInt16BE(2))
        : API_HEADER_BYTES;
    this.partial = Buffer.allocUnsafe(size);
    rest.copy(this.partial, 0);
    this.filled = rest.length;
  }

  /** Completes the held frame from `chunk`: how much of chunk it used, and the frame once whole. */
  private fillPartial(chunk: Buffer): { used: number; frame?: Buffer } {
    let used = 0;
    let partial = this.partial!;
    if (partial.length === API_HEADER_BYTES && this.filled < API_HEADER_BYTES) {
      used = Math.min(API_HEADER_BYTES - this.filled, chunk.length);
      chunk.copy(partial, this.filled, 0, used);
      this.filled += used;
      if (this.filled < API_HEADER_BYTES) return { used };
      const size = this.checkHeader(partial.readUInt16BE(0), partial.readUInt16BE(2));
      if (size > API_HEADER_BYTES) {
        const grown = Buffer.allocUnsafe(size);
        partial.copy(grown, 0, 0, API_HEADER_BYTES);
        partial = grown;
        this.partial = grown;
      }
    }
    const take = Math.min(partial.length - this.filled, chunk.length - used);
    chunk.copy(partial, this.filled, used, used + take);
    this.filled += take;
    used += take;
    if (this.filled < partial.length) return { used };
    this.partial = undefined;
    this.filled = 0;
    return { used, frame: partial };
  }
}
