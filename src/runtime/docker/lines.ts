/** Line splitting of the Engine's output streams (build progress, job output). */

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
