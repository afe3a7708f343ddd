/**
 * `make test-update` (issue #16): three VMs of the golden image on a LAN of their own (test/helpers/vm-lan.ts) form
 * one cluster; an app with 2 replicas serves while v2 rolls through the nodes one at a time (each drains, reboots into
 * its new slot, passes its gate, undrains); requests go round the nodes that are up the whole time, and every failed
 * one is printed. Then a deliberately broken v3 (its agent never starts) is tried on exactly one node, which boots
 * back into v2 by itself; the cluster stays on v2 and reports v3 bad. Last line `update_failed_requests=N` (goal 0).
 * Skipped when qemu, OVMF, cloud-localds or the image are missing.
 */
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { webApp } from '../helpers/apps.js';
import { waitFor } from '../helpers/cluster.js';
import { startGitDaemon, TestRepo } from '../helpers/gitrepo.js';
import { getWithHost } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { imageVersion, makeRelease, startUpdate, updateView, waitUpdate } from '../helpers/update-run.js';
import { bootLan } from '../helpers/vm-lan.js';
import { unitsActive, vmUnavailable, type Vm } from '../helpers/vm.js';

const why = vmUnavailable();
const N = Number(process.env.PLEACO_UPDATE_VMS ?? 3);

/** Requests round the VMs whose proxy accepts connections, one at a time, until stopped; failures are kept. */
function serve(vms: Vm[]): { stop: () => Promise<{ ok: number; failed: string[] }> } {
  let running = true;
  const failed: string[] = [];
  let ok = 0;
  const loop = (async () => {
    for (let i = 0; running && i < 2_000_000; i++) {
      const vm = vms[i % vms.length]!;
      const r = await getWithHost('127.0.0.1', vm.httpPort, 'web.pleaco.test', 5000).catch((err: Error) => ({ status: 0, body: err.message }));
      // A node that is down (rebooting) refuses the connection: a client's load balancer goes to another one.
      if (r.status === 0 && /ECONNREFUSED|ECONNRESET|socket hang up/.test(r.body)) continue;
      if (r.status === 200) ok++;
      else failed.push(`${new Date().toISOString().slice(11, 19)} VM ${(i % vms.length) + 1}: ${r.status} ${r.body.slice(0, 80)}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  })();
  return { stop: async () => ((running = false), await loop, { ok, failed }) };
}

if (why) {
  test(`host updates roll through three VMs (skipped: ${why})`, () => {
    console.log(`SKIP: ${why}`);
  });
} else {
  test('v2 rolls through the cluster while an app serves; a broken v3 is tried on one node and rolled back', async () => {
    const base = imageVersion();
    const [v2, v3] = [`${base}.1`, `${base}.2`];
    const bundle2 = makeRelease(v2);
    const bundle3 = makeRelease(v3, true);
    const token = randomBytes(24).toString('base64url');
    const tmp = tempDir('pleaco-update-');
    const repo = new TestRepo(tmp.dir, 'web');
    repo.commit(webApp('served through host updates'), 'v0');
    const daemon = await startGitDaemon(`${tmp.dir}/server`);
    const vms = await bootLan(N, {
      token, name: 'pleaco-upd', reboot: true,
      env: { PLEACO_ALLOW_LOCAL_REPOS: 'true', PLEACO_DOMAIN: 'pleaco.test', PLEACO_DOCKER_DEADLINE_SCALE: '10', PLEACO_UPDATE_GATE_TIMEOUT: '900' },
    });
    try {
      await waitFor(`one cluster of ${N}, all units active`, async () => {
        const c = await vms[0]!.json<{ members: { state: string }[] }>('/v1/cluster', token).catch(() => null);
        return c && c.members.filter((m) => m.state === 'alive').length === N && vms.every((vm) => unitsActive(vm.serial())) ? true : null;
      }, 1_500_000, 5000);
      await vms[0]!.json('/v1/apps', token, { method: 'POST', body: JSON.stringify({ name: 'web', repo: daemon.url('web.git').replace('127.0.0.1', '10.0.2.2') }) });
      await vms[0]!.json('/v1/apps/web/scale', token, { method: 'PUT', body: JSON.stringify({ replicas: 2 }) });
      await vms[0]!.json('/v1/apps/web/deploys', token, { method: 'POST', body: '{}' });
      await waitFor('the app answering through every node', async () => {
        for (const vm of vms) if ((await getWithHost('127.0.0.1', vm.httpPort, 'web.pleaco.test', 5000).catch(() => null))?.status !== 200) return null;
        return true;
      }, 2_400_000, 5000);

      const load = serve(vms);
      const t2 = performance.now();
      await startUpdate(vms[0]!, token, v2, bundle2);
      const after2 = await waitUpdate(vms, token, `every node on ${v2}`, (v) => v.nodes.length === N && v.nodes.every((n) => n.version === v2 && n.state === 'idle' && n.live), 3_600_000);
      console.log(`rollout of ${v2} over ${N} nodes: ${((performance.now() - t2) / 1000).toFixed(0)} s`);
      assert.is(after2.bad.length, 0);

      await startUpdate(vms[1]!, token, v3, bundle3);
      const after3 = await waitUpdate(vms, token, `${v3} marked bad, every node on ${v2}`, (v) => v.bad.some((b) => b.version === v3) && v.nodes.every((n) => n.version === v2 && n.live), 2_400_000);
      const { ok, failed } = await load.stop();
      const tried = after3.nodes.filter((n) => n.state === 'rolled-back' && n.target === v3);
      assert.is(tried.length, 1, `exactly one node tried ${v3}: ${JSON.stringify(after3.nodes)}`);
      assert.equal(after3.bad.map((b) => b.version), [v3]);
      // it stays that way: nobody else tries v3
      await new Promise((r) => setTimeout(r, 60_000));
      const later = await updateView(vms, token);
      assert.ok(later?.nodes.every((n) => n.version === v2), 'the cluster stays on v2');
      for (const f of failed) console.log(`failed request: ${f}`);
      console.log(`requests: ${ok} ok, ${failed.length} failed`);
      console.log(`update_failed_requests=${failed.length}`);
    } finally {
      await Promise.all(vms.map((v) => v.stop()));
      await daemon.stop();
      tmp.cleanup();
    }
  });
}

test.run();
