/**
 * The keys host updates are signed with: ed25519 (node:crypto), PEM files. A release is signed with a private key
 * kept off the cluster (`pleaco update:keys` makes a pair); every image trusts the public keys baked into it at build
 * time (`/usr/lib/pleaco/update-keys/*.pub`: they come with the slot). A key is named by its id: the first 16 hex digits of the SHA-256 of its
 * public key (SPKI DER), which is what a bundle's signatures and the refusals name.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PleacoError } from '../errors.js';

export const DEFAULT_TRUST_DIR = '/usr/lib/pleaco/update-keys';
/** Signatures a bundle may carry (more are refused: bounded input). */
export const MAX_SIGNATURES = 8;

export interface BundleSignature {
  keyId: string;
  /** base64 of the 64-byte ed25519 signature of the manifest's bytes. */
  sig: string;
}

export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** A new signing pair, as PEM text. */
export function generateUpdateKey(): { privatePem: string; publicPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

export function signManifest(manifest: Buffer, privatePem: string): BundleSignature {
  let key: KeyObject;
  try {
    key = createPrivateKey(privatePem);
  } catch (err) {
    throw new PleacoError('bad_request', 'the signing key is not a PEM private key', { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new PleacoError('bad_request', `the signing key is ${key.asymmetricKeyType ?? 'unknown'}, not ed25519`);
  return { keyId: keyIdOf(key), sig: sign(null, manifest, key).toString('base64') };
}

/** The public keys a node trusts, by key id. */
export class TrustedKeys {
  private readonly keys = new Map<string, KeyObject>();

  constructor(publicPems: string[]) {
    for (const pem of publicPems) {
      const key = createPublicKey(pem);
      if (key.asymmetricKeyType !== 'ed25519') throw new PleacoError('invalid_config', `an update key is ${key.asymmetricKeyType ?? 'unknown'}, not ed25519`);
      this.keys.set(keyIdOf(key), key);
    }
  }

  /** Every `*.pub` in `dir` (none when it does not exist: then no bundle is trusted). */
  static load(dir: string = DEFAULT_TRUST_DIR): TrustedKeys {
    if (!existsSync(dir)) return new TrustedKeys([]);
    const files = readdirSync(dir).filter((f) => f.endsWith('.pub')).sort();
    return new TrustedKeys(files.map((f) => readFileSync(join(dir, f), 'utf8')));
  }

  ids(): string[] {
    return [...this.keys.keys()];
  }

  /**
   * The id of a trusted key whose signature of `manifest` verifies. Refused (`bundle_refused`): no signature, only
   * keys this node does not trust, or a trusted key's signature that does not verify (the manifest was altered).
   */
  check(manifest: Buffer, signatures: BundleSignature[]): string {
    if (signatures.length === 0) throw refused('it is not signed');
    let bad: string | null = null;
    for (const s of signatures) {
      const key = this.keys.get(s.keyId);
      if (!key) continue;
      if (verify(null, manifest, key, Buffer.from(s.sig, 'base64'))) return s.keyId;
      bad = s.keyId;
    }
    if (bad) throw refused(`its signature by key ${bad} does not verify: the manifest was altered or signed wrongly`);
    const trusted = this.ids();
    throw refused(`it is signed by ${signatures.map((s) => s.keyId).join(', ')}, and this node trusts ${trusted.length ? trusted.join(', ') : 'no update key'}`);
  }
}

export function refused(why: string): PleacoError {
  return new PleacoError('bundle_refused', `update bundle refused: ${why}`);
}
