/** Stream helpers shared by the builders and the test runner: line splitting, bounded tails, Docker's stream framing. */

/** Splits a byte stream into lines (\n, \r\n, and bare \r progress updates) and calls onLine for each. */
export class LineSplitter {
  private buf = '';
  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer | string): void {
    this.buf += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let i: number;
    while ((i = this.buf.search(/[\r\n]/)) >= 0) {
      const line = this.buf.slice(0, i);
      const skip = this.buf[i] === '\r' && this.buf[i + 1] === '\n' ? 2 : 1;
      this.buf = this.buf.slice(i + skip);
      if (line.length > 0) this.onLine(line);
    }
    // A pathological line without newline must not grow without bound.
    if (this.buf.length > 64 * 1024) {
      this.onLine(this.buf);
      this.buf = '';
    }
  }

  end(): void {
    if (this.buf.length > 0) this.onLine(this.buf);
    this.buf = '';
  }
}

/** Keeps the last `max` characters written to it. */
export class TailBuffer {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly max = 64 * 1024) {}

  write(text: string): void {
    this.parts.push(text);
    this.size += text.length;
    while (this.parts.length > 1 && this.size - this.parts[0]!.length >= this.max) this.size -= this.parts.shift()!.length;
    if (this.size > this.max) {
      this.parts[0] = this.parts[0]!.slice(this.size - this.max);
      this.size = this.max;
    }
  }

  toString(): string {
    return this.parts.join('');
  }
}

/** The last `max` characters of a string (for records that travel through replicated state). */
export function tail(text: string, max: number): string {
  return text.length <= max ? text : text.slice(-max);
}

/**
 * Docker's multiplexed attach/logs framing (non-TTY containers): 8-byte header [stream, 0, 0, 0, size(be32)]
 * then the payload. Calls onData(stream, payload) for each frame, across chunk boundaries.
 */
export class Demuxer {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onData: (stream: 'stdout' | 'stderr', data: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) return;
      const kind = this.buf[0] === 2 ? 'stderr' : 'stdout';
      this.onData(kind, this.buf.subarray(8, 8 + size));
      this.buf = this.buf.subarray(8 + size);
    }
  }
}
