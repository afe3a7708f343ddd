/** Bounded text the builder keeps of long output: a rolling tail of a stream, and the tail of a string. */

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
