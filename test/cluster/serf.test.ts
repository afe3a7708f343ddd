/**
 * A reduced bench-gossip run against real Serf agents (Debian package `serf`) in 3 network namespaces: a user event
 * reaches every node's handler, a SIGKILLed agent is reported `failed` by the others, and the cluster key never
 * appears in a process's argv. Skipped, saying why, when the serf binary is not installed (`make bench-gossip`
 * installs it).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NetnsLab, benchNamespaces } from '../../bench/gossip/netns.js';
import { SerfCluster } from '../../bench/gossip/serf.js';
import { tempDir } from '../helpers/tmp.js';

function serfMissing(): string | null {
  try {
    execFileSync('serf', ['version'], { stdio: 'ignore', timeout: 10_000 });
    return null;
  } catch {
    return 'serf is not installed (apt-get install serf, or run make bench-gossip once)';
  }
}

const missing = serfMissing();
if (missing) console.log(`SKIP serf suite: ${missing}`);
const run = missing ? test.skip : test;

run('3 serf agents: an event reaches every handler, a killed agent is marked failed, the key stays out of argv', async () => {
  const lab = await NetnsLab.create(3);
  const tmp = tempDir('pleaco-serf-test-');
  const serf = new SerfCluster();
  const key = randomBytes(32);
  try {
    const nodes = lab.hosts.map((h) => ({ host: h, name: `n${h.index}` }));
    await serf.start(nodes, { lab, key, workDir: tmp.dir, timeoutMs: 30_000 });
    for (const i of [0, 1, 2]) {
      const members = await serf.members(i);
      assert.equal(members.map((m) => `${m.name} ${m.status}`).sort(), ['n1 alive', 'n2 alive', 'n3 alive'], `members as node ${i} sees them`);
    }

    // Secrets: the key is only in 0600 files, never in any agent's command line.
    const b64 = key.toString('base64');
    const serfDir = serf.configDir();
    assert.is(statSync(serfDir).mode & 0o777, 0o700);
    for (const f of readdirSync(serfDir).filter((f) => f.endsWith('.json'))) {
      assert.is(statSync(join(serfDir, f)).mode & 0o777, 0o600, `${f} is 0600`);
      assert.ok(readFileSync(join(serfDir, f), 'utf8').includes(b64), `${f} carries the key`);
    }
    for (const pid of serf.pids()) {
      assert.not.ok(readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(b64), `key not in argv of ${pid}`);
    }

    const sentAt = await serf.sendEvent(0, 'deploy-check');
    const seen = await serf.eventSeenAt('deploy-check', 30_000);
    assert.ok(seen.every((t) => t !== null && t >= sentAt - 1), `every agent delivered the event: ${JSON.stringify(seen)}`);
    const handled = await serf.handlerSeenAt('deploy-check', 10_000);
    assert.ok(handled.every((t) => t !== null), `every node's event handler ran: ${JSON.stringify(handled)}`);

    const killedAt = await serf.kill(2);
    const failed = await serf.failedSeenAt(2, 60_000);
    assert.ok(failed[0] !== null && failed[1] !== null, `both survivors marked n3 failed: ${JSON.stringify(failed)}`);
    assert.ok(failed[0]! > killedAt && failed[1]! > killedAt, 'marked failed after the kill');
    for (const i of [0, 1]) {
      const n3 = (await serf.members(i)).find((m) => m.name === 'n3');
      assert.is(n3?.status, 'failed', `serf members on node ${i} reports n3 failed`);
    }
    const fp = await serf.falsePositives(0, [2]);
    assert.is(fp.failed, 0, 'no live node was marked failed');
  } finally {
    await serf.stop();
    lab.cleanup();
    tmp.cleanup();
  }
  assert.equal(benchNamespaces(process.pid), []);
});

test.run();
