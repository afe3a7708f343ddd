/** The Reconciler's promises (pure timing logic: real timers, no I/O). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Reconciler } from '../../src/link/index.js';

test('start() resolves after the first pass, even when ticks keep asking for more passes than there is time for', async () => {
  let passes = 0;
  // Each pass outlasts the tick (as against an Engine that answers nothing until its deadline): a pass is always due.
  const r = new Reconciler({ pass: () => new Promise((res) => setTimeout(() => res(void passes++), 60)), tickMs: 20, onError: () => undefined });
  try {
    const started = await Promise.race([r.start().then(() => 'started'), new Promise((res) => setTimeout(() => res('still waiting'), 1000))]);
    assert.is(started, 'started');
    assert.ok(passes >= 1);
  } finally {
    await r.stop();
  }
  const after = passes;
  await new Promise((res) => setTimeout(res, 150));
  assert.is(passes, after, 'no pass after stop()');
});

test('run() still resolves only when the loop is idle: a kick during a pass runs one more', async () => {
  let passes = 0;
  const r = new Reconciler({ pass: () => new Promise((res) => setTimeout(() => res(void passes++), 30)), onError: () => undefined });
  await r.start(false);
  const idle = r.run();
  setTimeout(() => void r.run(), 10);
  await idle;
  assert.is(passes, 2);
  await r.stop();
});

test.run();
