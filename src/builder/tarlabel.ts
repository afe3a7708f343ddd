/**
 * Labels in one build step. The Engine's classic builder turns each `labels` entry of the build API
 * into its own LABEL step (a container and a commit each: ~0.2 s apiece here). Instead, this stream
 * passes the build context tar through unchanged, keeps a copy of the root Dockerfile, and appends
 * one more file before the end-of-archive marker: that Dockerfile plus a single LABEL line. The build
 * then names that file as its Dockerfile. The user's Dockerfile and context are not modified.
 */
import { Transform, type TransformCallback } from 'node:stream';

export const LABELLED_DOCKERFILE = '.pleaco.Dockerfile';
const BLOCK = 512;

/** The LABEL instruction for `labels` (JSON strings are valid Dockerfile quoted words). */
export function labelLine(labels: Record<string, string>): string {
  return 'LABEL ' + Object.entries(labels).map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ');
}

/** The Dockerfile's escape character: `\\`, or what an `# escape=` parser directive at its top says. */
function escapeOf(lines: string[]): string {
  for (const [i, raw] of lines.entries()) {
    const line = i === 0 ? raw.replace(/^\uFEFF/, '') : raw;
    // Parser directives come first, as `# key=value` comments; the first other line ends them.
    const m = /^#\s*([A-Za-z][A-Za-z0-9]*)\s*=\s*(.+?)\s*$/.exec(line);
    if (!m) break;
    if (m[1]!.toLowerCase() === 'escape' && (m[2] === '`' || m[2] === '\\')) return m[2];
  }
  return '\\';
}

/**
 * Ends a line continuation left open at the end of the Dockerfile, so that a line appended after it is an instruction
 * of its own instead of the rest of the last one: the escape character that ends the last instruction line (blank
 * and comment lines after it do not count, as in Docker's parser) is removed, with the blanks after it. At the end of
 * the file Docker ends the instruction there anyway, so the build means what it meant.
 */
export function closeContinuation(text: string): string {
  const lines = text.split('\n');
  const escape = escapeOf(lines);
  for (let i = lines.length - 1; i >= 0; i--) {
    const cr = lines[i]!.endsWith('\r') ? '\r' : '';
    const line = cr ? lines[i]!.slice(0, -1) : lines[i]!;
    if (line.trim() === '' || /^\s*#/.test(line)) continue;
    const open = new RegExp(`${escape === '`' ? '`' : '\\\\'}[ \\t]*$`).exec(line);
    if (!open) return text;
    lines[i] = line.slice(0, open.index) + cr;
    return lines.join('\n');
  }
  return text;
}

/**
 * Labels every stage's image from its first layer: a LABEL line with `labels` after each FROM instruction (a FROM
 * that spans continuation lines included). Each build step's image then carries pleaco's labels too, so the dangling
 * layers a failed build leaves can be found by label and removed without touching anyone else's. The labels must be
 * the same from build to build (managed, app, node — not the build id), or every build would miss the layer cache.
 */
export function labelStages(text: string, labels: Record<string, string>): string {
  if (Object.keys(labels).length === 0) return text;
  const lines = text.split('\n');
  const escape = escapeOf(lines);
  const continues = new RegExp(`${escape === '`' ? '`' : '\\\\'}[ \\t]*\\r?$`);
  const out: string[] = [];
  let inFrom = false;
  let continued = false;
  for (const line of lines) {
    const blank = line.trim() === '' || /^\s*#/.test(line);
    if (!continued && !blank) inFrom = /^\s*from\s/i.test(line);
    out.push(line);
    if (blank) continue; // a comment or blank line neither starts nor ends an instruction
    continued = continues.test(line);
    if (inFrom && !continued) {
      out.push(labelLine(labels));
      inFrom = false;
    }
  }
  return out.join('\n');
}

function octal(buf: Buffer, off: number, len: number): number {
  if ((buf[off]! & 0x80) !== 0) {
    // GNU base-256 encoding for big sizes
    let n = 0;
    for (let i = off + 1; i < off + len; i++) n = n * 256 + buf[i]!;
    return n;
  }
  const s = buf.toString('ascii', off, off + len).replace(/\0.*$/s, '').trim();
  return s ? parseInt(s, 8) : 0;
}

function cstr(buf: Buffer, off: number, len: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end >= 0 && end < off + len ? end : off + len);
}

/** A ustar header for a regular file. */
export function fileHeader(name: string, size: number, mtime = Math.floor(Date.now() / 1000)): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'ascii');
  h.write('0000000\0', 108, 'ascii');
  h.write('0000000\0', 116, 'ascii');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  h.write(mtime.toString(8).padStart(11, '0') + '\0', 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write('0', 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

export class DockerfileLabeler extends Transform {
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes of the current entry's body (with padding) still to pass through. */
  private bodyLeft = 0;
  private capture: Buffer[] | null = null;
  private captureLeft = 0;
  private dockerfile: Buffer | null = null;
  private ended = false;

  /** `stageLabels`: the stable labels every step's image carries (labelStages); `labels`: the final image's. */
  constructor(
    private readonly labels: Record<string, string>,
    private readonly stageLabels: Record<string, string> = {},
  ) {
    super();
  }

  /** Whether the context had a root Dockerfile (known once the stream has ended). */
  get foundDockerfile(): boolean {
    return this.dockerfile !== null;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.ended) return done();
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (!this.ended) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, this.buf.length);
        if (n === 0) break;
        const part = this.buf.subarray(0, n);
        if (this.capture && this.captureLeft > 0) {
          const take = part.subarray(0, Math.min(this.captureLeft, part.length));
          this.capture.push(Buffer.from(take));
          this.captureLeft -= take.length;
          if (this.captureLeft === 0) {
            this.dockerfile = Buffer.concat(this.capture);
            this.capture = null;
          }
        }
        this.push(part);
        this.buf = this.buf.subarray(n);
        this.bodyLeft -= n;
        continue;
      }
      if (this.buf.length < BLOCK) break;
      const header = this.buf.subarray(0, BLOCK);
      if (header.every((b) => b === 0)) {
        this.finish();
        break;
      }
      const type = String.fromCharCode(header[156]!);
      const name = cstr(header, 0, 100);
      const prefix = header.toString('ascii', 257, 262) === 'ustar' ? cstr(header, 345, 155) : '';
      const path = prefix ? `${prefix}/${name}` : name;
      const size = octal(header, 124, 12);
      this.push(Buffer.from(header));
      this.buf = this.buf.subarray(BLOCK);
      this.bodyLeft = padded(size);
      if ((type === '0' || type === '\0') && (path === 'Dockerfile' || path === './Dockerfile')) {
        this.capture = [];
        this.captureLeft = size;
        if (size === 0) this.dockerfile = Buffer.alloc(0);
      }
    }
    done();
  }

  private finish(): void {
    this.ended = true;
    if (this.dockerfile) {
      const text = labelStages(closeContinuation(this.dockerfile.toString('utf8')), this.stageLabels);
      const body = Buffer.from(`${text}${text.endsWith('\n') ? '' : '\n'}${labelLine(this.labels)}\n`);
      this.push(fileHeader(LABELLED_DOCKERFILE, body.length));
      this.push(body);
      this.push(Buffer.alloc(padded(body.length) - body.length));
    }
    this.push(Buffer.alloc(BLOCK * 2));
  }

  override _flush(done: TransformCallback): void {
    if (!this.ended) this.finish(); // a tar without an end marker: end it properly
    done();
  }
}
