/**
 * Build retention on the real agent (createAgent, real Store): the last N builds of each app are kept with their scan
 * reports, SBOMs and log files, and so are queued/running builds and the builds of the releases kept as rollback
 * targets; the rest is tombstoned (so every node drops it) and its log file removed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keys, type Build, type Release } from '../../src/model/index.js';
import type { WriteOp } from '../../src/state/index.js';
import { startTestAgent } from '../helpers/agent.js';

async function until(what: string, fn: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('only the last N builds are kept, plus running ones and those of current and rollback releases; the rest goes with its scan, SBOM and log', async () => {
  const agent = await startTestAgent({ PLEACO_KEEP_BUILDS: '3' });
  try {
    await agent.apps.create({ name: 'web', repo: 'https://github.com/acme/web' });
    const t0 = Date.now() - 3600_000;
    const id = (i: number) => `b${(t0 + i * 1000).toString(36)}00000${i.toString(16)}`;
    const logs = join(agent.config.stateDir, 'builds', 'web');
    mkdirSync(logs, { recursive: true });
    const ops: WriteOp[] = [];
    for (let i = 1; i <= 12; i++) {
      const status: Build['status'] = i === 6 ? 'running' : i <= 4 ? 'succeeded' : 'failed';
      const b: Build = { id: id(i), app: 'web', ref: 'main', status, stage: status === 'running' ? 'build' : 'done', trigger: 'api', createdAt: new Date(t0 + i * 1000).toISOString() };
      ops.push({ key: keys.build('web', b.id), value: b });
      ops.push({ key: keys.scan('web', b.id), value: { app: 'web', build: b.id, findings: [], pad: 'x'.repeat(5000) } });
      ops.push({ key: keys.sbom('web', b.id), value: { format: 'CycloneDX-1.5', encoding: 'gzip+base64', data: 'x'.repeat(2000) } });
      writeFileSync(join(logs, `${b.id}.log`), `step ${i}\n`);
    }
    for (let n = 1; n <= 4; n++) {
      const r = { app: 'web', number: n, kind: 'deploy', description: `v${n}`, commit: 'c'.repeat(40), image: `img:${n}`, imageId: `sha256:${n}`, build: id(n), test: null, port: 5000, config: {}, createdAt: new Date().toISOString() } satisfies Release;
      ops.push({ key: keys.release('web', n), value: r });
    }
    ops.push({ key: keys.current('web'), value: { release: 4 } });
    await agent.store.batch(ops);
    // Log files of builds the agent does not have: one old (removed), one just written (kept: its record may still be on its way).
    writeFileSync(join(logs, 'bstrayold.log'), 'x\n');
    utimesSync(join(logs, 'bstrayold.log'), new Date(t0 - 3600_000), new Date(t0 - 3600_000));
    writeFileSync(join(logs, 'bstraynew.log'), 'x\n');

    const { build: fresh } = await agent.apps.enqueue('web', 'main', 'api'); // a new build triggers the pruning
    const kept = [fresh.id, id(12), id(11), id(6), id(2), id(3), id(4)].sort();
    const gone = [id(1), id(5), id(7), id(8), id(9), id(10)];
    await until('old builds pruned', () => gone.every((b) => agent.store.get(keys.build('web', b)) === undefined));
    assert.equal(agent.apps.builds('web').map((b) => b.id).sort(), kept);
    for (const b of gone) {
      assert.is(agent.store.get(keys.scan('web', b)), undefined, `scan of ${b}`);
      assert.is(agent.store.get(keys.sbom('web', b)), undefined, `sbom of ${b}`);
      assert.equal(agent.store.getEntry(keys.build('web', b))?.value, null, 'a tombstone, so every node drops it');
    }
    for (const b of kept.filter((k) => k !== fresh.id)) {
      assert.ok(agent.store.get(keys.scan('web', b)), `scan of kept ${b}`);
      assert.ok(agent.store.get(keys.sbom('web', b)), `sbom of kept ${b}`);
    }
    await until('log files of pruned builds removed', () => gone.every((b) => !existsSync(join(logs, `${b}.log`))));
    for (const b of kept.filter((k) => k !== fresh.id)) assert.ok(existsSync(join(logs, `${b}.log`)), `log of kept ${b}`);
    await until('an old stray log file removed', () => !existsSync(join(logs, 'bstrayold.log')));
    assert.ok(existsSync(join(logs, 'bstraynew.log')), 'a fresh log without a record yet is kept');
    assert.equal(agent.apps.releases('web').map((r) => r.number), [4, 3, 2, 1], 'releases themselves are kept');
  } finally {
    await agent.close();
  }
});

test.run();
