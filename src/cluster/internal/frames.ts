/**
 * Length-prefixed frames on a byte stream: `u32 big-endian length | frame`. The reader refuses a frame
 * whose announced length is over its current limit before buffering it, so a peer cannot make us hold
 * more than the limit (kept small until the peer has proven the cluster key).
 */

/** A u32 length prefix followed by the frame. */
export function frameBytes(frame: Buffer): Buffer[] {
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(frame.length, 0);
  return [len, frame];
}

/**
 * Collects chunks and hands out whole frames one at a time, so the caller can raise the limit between
 * frames (e.g. once the first frame proved the key).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(public limit: number) {}

  /** Adds received bytes. */
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next whole frame, null if more bytes are needed, or 'oversize' if its announced length is over the limit. */
  next(): Buffer | null | 'oversize' {
    if (this.buffered < 4) return null;
    const len = this.peek(4).readUInt32BE(0);
    if (len > this.limit) return 'oversize';
    if (this.buffered < 4 + len) return null;
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    const rest = all.subarray(4 + len);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return all.subarray(4, 4 + len);
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    const all = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [all];
    return all;
  }
}
