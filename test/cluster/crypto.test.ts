import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { generateKey, Keyring, keyFingerprint, parseKey, SEAL_OVERHEAD } from '../../src/cluster/crypto.js';
import { decodeBody, decodeDatagram, encodeBody, encodeDatagram, maxBodyBytes, DEFAULT_MAX_DATAGRAM } from '../../src/cluster/codec.js';
import { isPleacoError } from '../../src/errors.js';

/** A small seeded PRNG so fuzz failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.unreachable('expected a throw');
}

test('a config key must be 32 bytes of base64; the error says so and never echoes the value', () => {
  const good = generateKey();
  assert.is(parseKey(good).length, 32);
  assert.is(parseKey(`  ${good}\n`).length, 32, 'surrounding whitespace from a config file is fine');
  const short = randomBytes(16).toString('base64');
  const long = randomBytes(48).toString('base64');
  const notB64 = good.slice(0, 40) + '!!!=';
  const urlSafe = Buffer.from(Array.from({ length: 32 }, () => 0xfb)).toString('base64url');
  for (const bad of [short, long, notB64, urlSafe, '', 'secret-password-that-is-not-a-key']) {
    const err = thrown(() => new Keyring(bad));
    assert.ok(isPleacoError(err) && err.code === 'invalid_config', `refused ${bad.length} chars`);
    assert.not.ok((err as Error).message.includes(bad) && bad.length > 0, 'message must not contain the key text');
    assert.match((err as Error).message, /32/);
  }
  assert.throws(() => new Keyring(randomBytes(31)), (e: unknown) => isPleacoError(e) && e.code === 'invalid_config');
});

test('seal/open round trip; aad, version and every byte are authenticated', () => {
  const ring = new Keyring(generateKey());
  const pt = Buffer.from('{"t":"ping"}');
  const aad = Buffer.from('pleaco/udp/1');
  const frame = ring.seal(pt, aad);
  assert.is(frame.length, pt.length + SEAL_OVERHEAD);
  assert.is(frame[0], 1);
  assert.equal(ring.open(frame, aad), pt);
  assert.is(ring.open(frame), null, 'different aad');
  assert.is(ring.open(frame, Buffer.from('pleaco/tcp/1')), null, 'other domain');
  for (let i = 0; i < frame.length; i++) {
    const bad = Buffer.from(frame);
    bad[i] = bad[i]! ^ 0x01;
    assert.is(ring.open(bad, aad), null, `flipped bit in byte ${i}`);
  }
  assert.is(ring.open(frame.subarray(0, frame.length - 1), aad), null, 'truncated tag');
  assert.not.equal(ring.seal(pt, aad), frame, 'nonces differ between seals');
});

test('no nonce repeats: 200,000 seals under one key all carry different nonces', () => {
  const ring = new Keyring(generateKey());
  const seen = new Set<string>();
  for (let i = 0; i < 200_000; i++) seen.add(ring.seal(Buffer.from('x')).subarray(1, 13).toString('hex'));
  assert.is(seen.size, 200_000);
});

test('open never throws, whatever it is given', () => {
  const ring = new Keyring(generateKey(), [generateKey()]);
  const rand = rng(7);
  const junk: unknown[] = [Buffer.alloc(0), Buffer.alloc(1, 1), Buffer.alloc(SEAL_OVERHEAD, 1), 'text', null, undefined, 42, {}];
  for (let i = 0; i < 3000; i++) {
    const len = Math.floor(rand() * 200);
    const b = Buffer.alloc(len);
    for (let j = 0; j < len; j++) b[j] = Math.floor(rand() * 256);
    if (len > 0 && rand() < 0.5) b[0] = 1; // right version byte, so the AES path runs
    junk.push(b);
  }
  for (const j of junk) assert.is(ring.open(j as Buffer, Buffer.from('x')), null);
});

test('rotation like serf: install, use, remove; the primary cannot be removed', () => {
  const [k1, k2, k3] = [generateKey(), generateKey(), generateKey()];
  const a = new Keyring(k1);
  const b = new Keyring(k1);
  const fromOld = a.seal(Buffer.from('old'));
  b.install(k2);
  b.install(k2); // idempotent
  assert.equal(b.fingerprints().keys, [keyFingerprint(k1), keyFingerprint(k2)]);
  b.use(k2);
  assert.is(b.fingerprints().primary, keyFingerprint(k2));
  const fromNew = b.seal(Buffer.from('new'));
  assert.is(a.open(fromNew), null, 'a does not hold k2 yet');
  assert.equal(b.open(fromOld), Buffer.from('old'), 'b still opens k1 frames');
  a.install(k2);
  assert.equal(a.open(fromNew), Buffer.from('new'));
  const err = thrown(() => b.remove(k2));
  assert.ok(isPleacoError(err) && err.code === 'conflict');
  assert.not.match((err as Error).message, k2);
  b.remove(k1);
  assert.is(b.open(fromOld), null, 'k1 removed: its frames no longer open');
  b.remove(k3); // not installed: nothing to do
  assert.throws(() => b.use(k3), (e: unknown) => isPleacoError(e) && e.code === 'not_found');
  assert.equal(b.fingerprints().keys, [keyFingerprint(k2)]);
  assert.not.ok(JSON.stringify(b.fingerprints()).includes(k2), 'fingerprints are not the key');
});

test('codec: objects round trip; anything else decodes to null', () => {
  const msg = { t: 'alive', node: 'n1', inc: 3, meta: { v: '0.1.0' }, list: [1, 'ü'] };
  assert.equal(decodeBody(encodeBody(msg)), msg);
  for (const text of ['[1,2]', 'null', '"str"', '42', '{"a":', '', '{"a":1}x', 'true']) {
    assert.is(decodeBody(Buffer.from(text)), null, text);
  }
  assert.is(decodeBody(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), null, 'invalid UTF-8');
  assert.throws(() => encodeBody([1] as unknown as Record<string, unknown>), (e: unknown) => isPleacoError(e) && e.code === 'bad_request');
  assert.throws(() => encodeBody({ n: 1n }), (e: unknown) => isPleacoError(e) && e.code === 'bad_request');
});

test('codec: datagram header round trips and cut-short headers are refused', () => {
  const h = { sender: 'node-ä', epoch: 'a1b2c3d4e5f60718', seq: 2 ** 40 + 5, sentAt: 1_700_000_000_123 };
  const plain = encodeDatagram(h, Buffer.from('{"x":1}'));
  const back = decodeDatagram(plain)!;
  assert.equal(back.header, h);
  assert.equal(decodeBody(back.body), { x: 1 });
  for (let cut = 0; cut < plain.length - 7; cut++) assert.is(decodeDatagram(plain.subarray(0, cut)), null, `cut at ${cut}`);
  const zeroId = Buffer.from(plain);
  zeroId[0] = 0;
  assert.is(decodeDatagram(zeroId), null);
  assert.is(maxBodyBytes('n1', DEFAULT_MAX_DATAGRAM), 1400 - SEAL_OVERHEAD - (1 + 2 + 8 + 8 + 8));
});

test.run();
