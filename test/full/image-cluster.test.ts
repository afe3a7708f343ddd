/**
 * make test-image-cluster (issue #15): three VMs of the golden image on a qemu socket network of their own find each
 * other over mDNS with no seeds and form one cluster; an app deployed from a git repository on this host and scaled
 * to 3 runs one replica on each and answers through every node's HAProxy on port 80. Several minutes under TCG; the
 * reduced form in `make test` is image/boot. Skipped when qemu, OVMF, cloud-localds or the image are missing.
 */
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { webApp } from '../helpers/apps.js';
import type { Slot } from '../helpers/cluster-app.js';
import { waitFor } from '../helpers/cluster.js';
import { startGitDaemon, TestRepo } from '../helpers/gitrepo.js';
import { getWithHost } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { unitStates, unitsActive, vmUnavailable, type Vm } from '../helpers/vm.js';
import { bootLan, LAN_PREFIX } from '../helpers/vm-lan.js';

const why = vmUnavailable();
const N = 3;

/** The VM's API as JSON: three VMs under TCG on 2 cores answer slowly while their subsystems start, so a minute. */
const json = <T>(vm: Vm, token: string, path: string, init: RequestInit = {}): Promise<T> => vm.json<T>(path, token, { signal: AbortSignal.timeout(60_000), ...init });

const lastLines = (vm: Vm, n = 30): string => vm.serial().split('\n').slice(-n).join('\n');

if (why) {
  test(`three VMs form one cluster over mDNS (skipped: ${why})`, () => {
    console.log(`SKIP: ${why}`);
  });
} else {
  test('three VMs find each other over mDNS, form one cluster, and run an app scaled to 3 on all three', async () => {
    const token = randomBytes(24).toString('base64url');
    const tmp = tempDir('pleaco-vmlan-');
    const repo = new TestRepo(tmp.dir, 'web');
    repo.commit(webApp('hello from three VMs'), 'v0');
    const daemon = await startGitDaemon(`${tmp.dir}/server`);
    const vms = await bootLan(N, { token, name: 'pleaco-lan', env: { PLEACO_ALLOW_LOCAL_REPOS: 'true', PLEACO_DOMAIN: 'pleaco.test', PLEACO_DOCKER_DEADLINE_SCALE: '10' } });
    try {
      for (const [i, vm] of vms.entries()) {
        await waitFor(`the API of VM ${i + 1}`, async () => {
          if (!vm.running()) throw new Error(`qemu of VM ${i + 1} exited`);
          return (await vm.api('/v1/health').catch(() => null))?.ok ? true : null;
        }, 900_000, 3000).catch((err: Error) => {
          throw new Error(`${err.message}\n--- serial of VM ${i + 1} ---\n${lastLines(vm)}`);
        });
      }
      const members = await waitFor('one cluster of three, every member alive, on the LAN addresses', async () => {
        const c = await json<{ members: { id: string; address: string; state: string }[] }>(vms[0]!, token, '/v1/cluster');
        const alive = c.members.filter((m) => m.state === 'alive');
        return alive.length === N ? alive : null;
      }, 300_000, 3000);
      console.log(`cluster_s=${((performance.now() - vms[0]!.startedAt) / 1000).toFixed(1)}`);
      assert.equal(members.map((m) => m.address.split(':')[0]).sort(), vms.map((_, i) => `${LAN_PREFIX}${i + 1}`).sort());
      // Found by mDNS: no node was given a seed, and the others are seen from every node.
      for (const vm of vms) {
        const n = await json<{ discovery?: { seeds?: unknown[] }; nodes: unknown[] }>(vm, token, '/v1/nodes');
        assert.is(n.discovery?.seeds?.length ?? 0, 0, 'no seeds');
        await waitFor('every node sees three', async () => ((await json<{ members: { state: string }[] }>(vm, token, '/v1/cluster')).members.filter((m) => m.state === 'alive').length === N ? true : null), 120_000, 3000);
      }
      const repoUrl = daemon.url('web.git').replace('127.0.0.1', '10.0.2.2');
      await json(vms[0]!, token, '/v1/apps', { method: 'POST', body: JSON.stringify({ name: 'web', repo: repoUrl }) });
      await json(vms[1]!, token, '/v1/apps/web/scale', { method: 'PUT', body: JSON.stringify({ replicas: N }) });
      await json(vms[2]!, token, '/v1/apps/web/deploys', { method: 'POST', body: '{}' });
      const seen = await waitFor('3 replicas running, one on each node', async () => {
        const builds = await json<{ builds: { status: string; error?: unknown }[] }>(vms[0]!, token, '/v1/apps/web/builds');
        const failed = builds.builds.find((b) => b.status === 'failed');
        if (failed) return { failed };
        const ps = await json<{ processes: Slot[] }>(vms[0]!, token, '/v1/apps/web/ps');
        const running = ps.processes.filter((p) => p.state === 'running');
        return running.length === N && new Set(running.map((p) => p.node)).size === N ? { running } : null;
      }, 2_400_000, 5000);
      if ('failed' in seen) {
        const logs = vms.map((vm, i) => `--- VM ${i + 1}: ${JSON.stringify(unitStates(vm.serial()))} ---\n${vm.serial().split('\n').filter((l) => /"level":"(warn|error)"/.test(l)).slice(-15).join('\n')}`);
        assert.unreachable(`the build failed: ${JSON.stringify(seen.failed)}\n${logs.join('\n')}`);
        return;
      }
      const slots = seen.running;
      assert.equal(new Set(slots.map((s) => s.node)), new Set(members.map((m) => m.id)), 'one replica on each member');
      for (const [i, vm] of vms.entries()) {
        const r = await waitFor(`the app through VM ${i + 1}'s HAProxy`, async () => {
          const res = await getWithHost('127.0.0.1', vm.httpPort, 'web.pleaco.test', 5000).catch(() => null);
          return res?.status === 200 ? res : null;
        }, 120_000, 2000);
        assert.match(r.body, /hello from three VMs/);
      }
      // Last, as the builder is the last unit to start (after the base images are loaded, minutes with three VMs):
      // the deploy above was queued in state meanwhile.
      for (const [i, vm] of vms.entries()) {
        await waitFor(`the four units active on VM ${i + 1}`, async () => {
          return unitsActive(vm.serial()) ? true : null;
        }, 300_000, 3000).catch((err: Error) => {
          throw new Error(`${err.message}: ${JSON.stringify(unitStates(vm.serial()))}\n--- serial of VM ${i + 1} ---\n${lastLines(vm, 60)}`);
        });
      }
    } finally {
      await Promise.all(vms.map((v) => v.stop()));
      await daemon.stop();
      tmp.cleanup();
    }
  });
}

test.run();
