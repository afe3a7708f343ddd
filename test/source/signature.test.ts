import { createHmac } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { signGithubPayload, verifyGithubSignature } from '../../src/source/index.js';

const SECRET = 'It\'s a Secret to Everybody';
const BODY = Buffer.from('Hello, World!');

test('signature matches GitHub\'s documented example', () => {
  // From docs.github.com "Validating webhook deliveries": secret "It's a Secret to Everybody", payload "Hello, World!".
  assert.is(signGithubPayload(SECRET, 'Hello, World!'), 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17');
  assert.is(signGithubPayload(SECRET, BODY), signGithubPayload(SECRET, 'Hello, World!'));
});

test('a valid signature verifies', () => {
  assert.ok(verifyGithubSignature(SECRET, BODY, signGithubPayload(SECRET, BODY)));
  assert.ok(verifyGithubSignature(SECRET, BODY, signGithubPayload(SECRET, BODY).toUpperCase().replace('SHA256=', 'sha256=')));
});

test('a forged signature fails: other secret, other body, one flipped digit', () => {
  assert.not.ok(verifyGithubSignature(SECRET, BODY, signGithubPayload('guess', BODY)));
  assert.not.ok(verifyGithubSignature(SECRET, Buffer.from('Hello, World?'), signGithubPayload(SECRET, BODY)));
  const good = signGithubPayload(SECRET, BODY);
  const flipped = good.slice(0, -1) + (good.endsWith('0') ? '1' : '0');
  assert.not.ok(verifyGithubSignature(SECRET, BODY, flipped));
});

test('missing, malformed and different-length headers fail without throwing', () => {
  const hex = createHmac('sha256', SECRET).update(BODY).digest('hex');
  const sha1 = 'sha1=' + createHmac('sha1', SECRET).update(BODY).digest('hex');
  for (const header of [undefined, '', 'sha256=', hex, `sha256=${hex.slice(2)}`, `sha256=${hex}00`, `sha256=${'zz'.repeat(32)}`, sha1, `sha512=${hex}`, 'garbage']) {
    assert.is(verifyGithubSignature(SECRET, BODY, header), false, `header ${String(header)}`);
  }
});

test('an empty secret never verifies anything', () => {
  assert.is(verifyGithubSignature('', BODY, signGithubPayload('', BODY)), false);
});

test.run();
