/**
 * The golden image under qemu in `make test` (issues #15 and #16), one VM, booted once:
 *  - it boots into a one-node pleaco (TCG: no KVM here; UEFI; a NoCloud seed made with cloud-localds; user-mode
 *    networking forwarded to 127.0.0.1): the API answers, a one-node cluster, the runner's record with Docker up,
 *    `systemctl is-active` of the four units (printed on the serial console by a probe the user-data starts), and an
 *    app deployed from a git repository on this host (the guest reaches it at 10.0.2.2) answering through HAProxy on
 *    the guest's port 80;
 *  - it updates its host: v1 (the image) → v2 through `POST /v1/update/bundles` and `POST /v1/update` (what
 *    `pleaco update:start` does), writing slot B, rebooting into it on trial and marking it good; the app answers
 *    again after it (its container and image survive on the data partition);
 *  - a deliberately broken v3 (its agent never starts) is tried once, fails its gate, and the node boots back into v2
 *    by itself; v3 is marked bad. `make test-update` runs the same on three VMs with load.
 * What a user checks: `pleaco update:status` (GET /v1/update). Skipped when qemu, OVMF, cloud-localds or the image
 * (`make image`) are missing.
 */
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { webApp } from '../helpers/apps.js';
import { waitFor } from '../helpers/cluster.js';
import { startGitDaemon, TestRepo } from '../helpers/gitrepo.js';
import { getWithHost } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { imageVersion, makeRelease, startUpdate, waitUpdate } from '../helpers/update-run.js';
import { nodeUserData, unitStates, unitsActive, Vm, vmUnavailable } from '../helpers/vm.js';

const why = vmUnavailable();
/** Seconds a trial boot has to pass its gate (900 by default); the broken v3 fails it at once (its agent failed). */
const GATE_S = 300;

/** The app's page through the guest's HAProxy, or the failed build that means it will not come. */
async function served(vm: Vm, token: string, text: RegExp, timeoutMs: number): Promise<void> {
  const seen = await waitFor('the app through the guest\'s HAProxy on port 80', async () => {
    const r = await getWithHost('127.0.0.1', vm.httpPort, 'web.pleaco.test', 5000).catch(() => null);
    if (r?.status === 200) return { page: r.body };
    const builds = await vm.json<{ builds: { status: string }[] }>('/v1/apps/web/builds', token).catch(() => null);
    const failed = builds?.builds.find((b) => b.status === 'failed');
    return failed ? { failed } : null;
  }, timeoutMs, 3000);
  if ('failed' in seen) assert.unreachable(`the build failed: ${JSON.stringify(seen.failed)}\n--- serial console ---\n${vm.serial().split('\n').filter((l) => l.includes('"level":"error"') || l.includes('"level":"warn"')).slice(-20).join('\n')}`);
  assert.match((seen as { page: string }).page, text);
}

if (why) {
  test(`the image boots into a pleaco node and updates its host (skipped: ${why})`, () => {
    console.log(`SKIP: ${why}`);
  });
} else {
  test('one VM: boots into a node serving an app; v1 → v2 into slot B; a broken v3 tried once and rolled back by itself', async () => {
    const base = imageVersion();
    const [v2, v3] = [`${base}.1`, `${base}.2`];
    const bundle2 = makeRelease(v2);
    const bundle3 = makeRelease(v3, true);
    const token = randomBytes(24).toString('base64url');
    const tmp = tempDir('pleaco-boot-');
    const repo = new TestRepo(tmp.dir, 'web');
    repo.commit(webApp('hello from the golden image'), 'v0');
    const daemon = await startGitDaemon(`${tmp.dir}/server`);
    // The token is the test's (written by cloud-init before the agent first starts); local repositories allowed; on
    // each root's first boot the journal of the units, the host side and the gate on the console (runcmd runs once per root).
    const env = { PLEACO_ALLOW_LOCAL_REPOS: 'true', PLEACO_DOMAIN: 'pleaco.test', PLEACO_UPDATE_GATE_TIMEOUT: String(GATE_S) };
    const vm = await Vm.boot({ name: 'pleaco-node', userData: nodeUserData(token, env, ['pleaco-host', 'pleaco-update-gate', 'systemd-bless-boot']), reboot: true });
    const json = <T>(path: string, init: RequestInit = {}): Promise<T> => vm.json<T>(path, token, init);
    const post = <T>(path: string, body: unknown): Promise<T> => json<T>(path, { method: 'POST', body: JSON.stringify(body) });
    try {
      await waitFor('the API of the booted node', async () => {
        if (!vm.running()) throw new Error('qemu exited');
        return (await vm.api('/v1/health')).ok ? true : null;
      }, 600_000, 2000).catch((err: Error) => {
        throw new Error(`${err.message}\n--- serial console (last lines) ---\n${vm.serial().split('\n').slice(-40).join('\n')}`);
      });
      console.log(`boot_to_ready_s=${((performance.now() - vm.startedAt) / 1000).toFixed(1)}`);
      const cluster = await json<{ enabled: boolean; members: { state: string }[] }>('/v1/cluster');
      assert.ok(cluster.enabled);
      assert.equal(cluster.members.map((m) => m.state), ['alive'], 'a one-node cluster');
      await waitFor('the runner\'s record of the node, Docker up', async () => {
        const n = await json<{ nodes: { self: boolean; docker: { ok: boolean }; cpus: number }[] }>('/v1/nodes');
        return n.nodes.some((x) => x.self && x.docker.ok && x.cpus > 0) ? true : null;
      }, 180_000, 2000);
      await waitFor('all four units active', async () => (unitsActive(vm.serial()) ? true : null), 300_000, 3000).catch((err: Error) => {
        throw new Error(`${err.message}: last seen ${JSON.stringify(unitStates(vm.serial()))}`);
      });
      await post('/v1/apps', { name: 'web', repo: daemon.url('web.git').replace('127.0.0.1', '10.0.2.2') });
      await post('/v1/apps/web/deploys', {});
      await served(vm, token, /hello from the golden image/, 600_000);
      const before = await waitUpdate([vm], token, 'the node on the image\'s version, in slot a', (v) => v.nodes[0]?.version === base && v.nodes[0]?.slot === 'a', 120_000);
      assert.is(before.desired, null);

      const t2 = performance.now();
      await startUpdate(vm, token, v2, bundle2);
      const after2 = await waitUpdate([vm], token, `the node on ${v2} in slot b, done`, (v) => v.nodes.every((n) => n.version === v2 && n.slot === 'b' && n.state === 'idle' && n.live), 1_800_000);
      console.log(`update to ${v2}: ${((performance.now() - t2) / 1000).toFixed(0)} s`);
      assert.is(after2.bad.length, 0);
      assert.is(vm.reboots, 1);
      // the app, its image and the state are on the data partition: it answers again on the new slot
      await served(vm, token, /hello from the golden image/, 600_000);

      const t3 = performance.now();
      await startUpdate(vm, token, v3, bundle3);
      const after3 = await waitUpdate([vm], token, `${v3} marked bad, the node back on ${v2}`, (v) => v.bad.some((b) => b.version === v3) && v.nodes.every((n) => n.version === v2 && n.live), 2_400_000);
      console.log(`broken ${v3} tried and rolled back: ${((performance.now() - t3) / 1000).toFixed(0)} s`);
      const node = after3.nodes[0]!;
      assert.is(node.slot, 'b', 'back in the slot it ran v2 from');
      assert.is(node.state, 'rolled-back');
      assert.match(node.error ?? '', new RegExp(`did not become healthy on ${v3.replace(/\./g, '\\.')}`));
      assert.equal(after3.bad.map((b) => [b.version, b.node]), [[v3, node.node]], 'marked bad by the node that tried it');
      assert.is(vm.reboots, 3, 'into v3, and back');
      await served(vm, token, /hello from the golden image/, 600_000);
    } finally {
      await vm.stop();
      await daemon.stop();
      tmp.cleanup();
    }
  });
}

test.run();
