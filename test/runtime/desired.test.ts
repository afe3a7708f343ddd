/** Desired slots from state, with plain data. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { keys, type Release } from '../../src/model/index.js';
import { desiredSlots } from '../../src/runtime/desired.js';
import { MemoryStateView } from './_memory-state.js';
import { seedApp } from './_fixtures.js';

const opts = { defaultPort: 5000 };

test("each slot carries the app's health check for the rollout, with the cluster domain as Host", () => {
  const s = new MemoryStateView();
  seedApp(s, 'api', { release: 1, image: 'pleaco/api:1' });
  s.set(keys.health('api'), { path: '/up', intervalMs: 5000, rise: 3, fall: 2, deadlineMs: 9000 });
  assert.equal(desiredSlots(s, { ...opts, domain: 'apps.example.test' })[0]!.health, { path: '/up', host: 'api.apps.example.test', rise: 3, deadlineMs: 9000 });
  s.set(keys.health('api'), { path: '/old', intervalMs: 2000, rise: 1, fall: 3 }); // written before deadlines existed
  assert.equal(desiredSlots(s, opts)[0]!.health, { path: '/old', host: 'api.localhost', rise: 1, deadlineMs: 60_000 });
});

test('an app with a current release runs replicas slots (default 1) with the release config, app metadata and PORT source', () => {
  const s = new MemoryStateView();
  seedApp(s, 'web', { release: 3, image: 'pleaco/web:3', config: { A: '1' } });
  // No commit on the release: no PLEACO_COMMIT at all (not an empty one).
  const health = { path: '/', host: 'web.localhost', rise: 2, deadlineMs: 60_000 };
  assert.equal(desiredSlots(s, opts), [{ app: 'web', index: 0, release: 3, image: 'pleaco/web:3', port: 8080, env: { A: '1', PLEACO_APP: 'web', PLEACO_RELEASE: 'v3' }, health }]);
  s.set(keys.scale('web'), { replicas: 3 });
  assert.equal(desiredSlots(s, opts).map((d) => d.index), [0, 1, 2]);
  s.set(keys.scale('web'), { replicas: 0 });
  assert.equal(desiredSlots(s, opts), []);
});

test('a release with a commit also passes PLEACO_COMMIT; every slot gets the same env', () => {
  const s = new MemoryStateView();
  const sha = '0123456789abcdef0123456789abcdef01234567';
  seedApp(s, 'api', { release: 12, image: 'img', replicas: 2, config: { DATABASE_URL: 'postgres://x' } });
  const rel = s.get<Record<string, unknown>>(keys.release('api', 12))!;
  s.set(keys.release('api', 12), { ...rel, commit: sha });
  const env = { DATABASE_URL: 'postgres://x', PLEACO_APP: 'api', PLEACO_RELEASE: 'v12', PLEACO_COMMIT: sha };
  assert.equal(desiredSlots(s, opts).map((d) => [d.index, d.env]), [[0, env], [1, env]]);
});

test('no app record, no current pointer, or a missing release: nothing runs', () => {
  const s = new MemoryStateView();
  seedApp(s, 'web', { release: 1, image: 'img' });
  s.set(keys.app('web'), null);
  assert.equal(desiredSlots(s, opts), []);
  seedApp(s, 'api', { release: 2, image: 'img' });
  s.set(keys.current('api'), { release: 7 });
  assert.equal(desiredSlots(s, opts), []);
  s.set(keys.current('api'), null);
  assert.equal(desiredSlots(s, opts), []);
});

test('the image id is preferred over the tag; a release without image is reported and skipped; port falls back', () => {
  const s = new MemoryStateView();
  seedApp(s, 'web', { release: 1, image: 'pleaco/web:1', port: 0 });
  const rel = s.get<Record<string, unknown>>(keys.release('web', 1))!;
  s.set(keys.release('web', 1), { ...rel, imageId: 'sha256:abc' });
  assert.equal(desiredSlots(s, opts).map((d) => [d.image, d.port]), [['sha256:abc', 5000]]);
  s.set(keys.release('web', 1), { ...rel, image: null, imageId: null });
  const skipped: string[] = [];
  assert.equal(desiredSlots(s, { ...opts, onSkip: (app, why) => skipped.push(`${app}: ${why}`) }), []);
  assert.equal(skipped, ['web: release 1 has no image']);
});

test('the placement hook decides which slots run here; memory limits pass through', () => {
  const s = new MemoryStateView();
  seedApp(s, 'web', { release: 1, image: 'img', replicas: 4 });
  const here = desiredSlots(s, { ...opts, placement: (_app, i) => i % 2 === 1, limits: { memoryBytes: 256 * 1024 ** 2, cpus: null, pids: null } });
  assert.equal(here.map((d) => [d.index, d.memoryBytes]), [[1, 268435456], [3, 268435456]]);
});

test('a release\'s own limits win over the node defaults, field by field', () => {
  const s = new MemoryStateView();
  seedApp(s, 'web', { release: 1, image: 'img' });
  const rel = s.get<Release>(keys.release('web', 1))!;
  s.set(keys.release('web', 1), { ...rel, resources: { cpus: 1.5, pids: 64 } });
  const [slot] = desiredSlots(s, { ...opts, limits: { memoryBytes: 512 * 1024 ** 2, cpus: null, pids: 1024 } });
  assert.equal([slot!.memoryBytes, slot!.cpus, slot!.pids], [512 * 1024 ** 2, 1.5, 64]);
});

test.run();
