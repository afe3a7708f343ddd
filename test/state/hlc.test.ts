import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HybridClock, compareHlc, type Hlc } from '../../src/state/index.js';

test('stamps are strictly increasing even when the wall clock stands still or goes back', () => {
  let wall = 1000;
  const c = new HybridClock('a', () => wall);
  const stamps: Hlc[] = [];
  for (let i = 0; i < 50; i++) {
    if (i === 20) wall = 500; // clock stepped back by NTP
    if (i % 7 === 0) wall += 1;
    stamps.push(c.now());
  }
  for (let i = 1; i < stamps.length; i++) assert.ok(compareHlc(stamps[i - 1]!, stamps[i]!) < 0, `stamp ${i} not after ${i - 1}`);
});

test('observing a remote stamp from a node whose clock runs ahead moves us past it', () => {
  const local = new HybridClock('a', () => 1000);
  const remote = { wall: 50_000, counter: 3, node: 'b' };
  local.observe(remote);
  const next = local.now();
  assert.ok(compareHlc(next, remote) > 0);
  assert.is(next.wall, 50_000);
});

test('a restarted node that replays its history never reuses a stamp (monotonic across restarts)', () => {
  let wall = 10_000;
  const first = new HybridClock('a', () => wall);
  const before = [first.now(), first.now(), first.now()];
  wall = 9_000; // the machine came back with an earlier clock
  const second = new HybridClock('a', () => wall);
  for (const s of before) second.observe(s);
  assert.ok(compareHlc(second.now(), before[2]!) > 0);
});

test('ties on wall and counter break on node id, the same way everywhere', () => {
  const a = { wall: 1, counter: 1, node: 'a' };
  const b = { wall: 1, counter: 1, node: 'b' };
  assert.is(compareHlc(a, b), -1);
  assert.is(compareHlc(b, a), 1);
  assert.is(compareHlc(a, { ...a }), 0);
});

test.run();
