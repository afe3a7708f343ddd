/**
 * GitHub webhook signatures: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
 * Verification is constant time and never throws: a missing, malformed or wrong header is simply `false`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const HEADER_RE = /^sha256=([0-9a-f]{64})$/i;

export function signGithubPayload(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function verifyGithubSignature(secret: string, body: Buffer, header: string | undefined): boolean {
  try {
    if (typeof secret !== 'string' || secret === '' || typeof header !== 'string') return false;
    const m = HEADER_RE.exec(header.trim());
    if (!m || m[1] === undefined) return false;
    const given = Buffer.from(m[1].toLowerCase(), 'hex');
    const expected = createHmac('sha256', secret).update(body).digest();
    if (given.length !== expected.length) return false;
    return timingSafeEqual(given, expected);
  } catch {
    return false;
  }
}
