/**
 * The golden image boots into a pleaco node (issue #15): one VM of image/out/pleaco.qcow2 under qemu (TCG: no KVM
 * here), UEFI, a NoCloud seed made with cloud-localds, user-mode networking forwarded to 127.0.0.1. With no cluster
 * file in its user-data it starts as the first node of its own cluster. Checked: the API answers, a one-node cluster,
 * the runner's record, `systemctl is-active` of the four units (printed on the serial console by a probe the
 * user-data starts), and an app deployed from a git repository on this host (the
 * guest reaches it at 10.0.2.2) built, tested and answering through HAProxy on the guest's port 80.
 * Skipped when qemu, OVMF, cloud-localds or the image (`make image`) are missing.
 */
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { webApp } from '../helpers/apps.js';
import { waitFor } from '../helpers/cluster.js';
import { startGitDaemon, TestRepo } from '../helpers/gitrepo.js';
import { getWithHost } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { consoleLogRuncmd, unitStates, unitsActive, unitsProbeBootcmd, Vm, vmUnavailable } from '../helpers/vm.js';

const why = vmUnavailable();

if (why) {
  test(`the image boots into a pleaco node (skipped: ${why})`, () => {
    console.log(`SKIP: ${why}`);
  });
} else {
  test('the image boots into a one-node pleaco: API, units, an app from git served on port 80', async () => {
    const token = randomBytes(24).toString('base64url');
    const tmp = tempDir('pleaco-boot-');
    const repo = new TestRepo(tmp.dir, 'web');
    repo.commit(webApp('hello from the golden image'), 'v0');
    const daemon = await startGitDaemon(`${tmp.dir}/server`);
    // The token is the test's (written by cloud-init before the agent first starts); local repositories allowed.
    const userData = [
      '#cloud-config',
      'write_files:',
      '  - path: /var/lib/pleaco/token',
      "    permissions: '0600'",
      `    content: ${token}`,
      '  - path: /etc/pleaco/pleaco.env',
      "    permissions: '0644'",
      '    content: |',
      '      PLEACO_ALLOW_LOCAL_REPOS=true',
      '      PLEACO_DOMAIN=pleaco.test',
      unitsProbeBootcmd(),
      // The subsystems' log lines on the serial console too, for the failure message below.
      consoleLogRuncmd(),
      '',
    ].join('\n');
    const vm = await Vm.boot({ name: 'pleaco-boot', userData });
    const json = <T>(path: string, init: RequestInit = {}): Promise<T> => vm.json<T>(path, token, init);
    const post = <T>(path: string, body: unknown, method = 'POST'): Promise<T> => json<T>(path, { method, body: JSON.stringify(body) });
    try {
      await waitFor('the API of the booted node', async () => {
        if (!vm.running()) throw new Error(`qemu exited; serial: ${vm.serial().slice(-1500)}`);
        return (await vm.api('/v1/health')).ok ? true : null;
      }, 600_000, 2000).catch((err: Error) => {
        throw new Error(`${err.message}\n--- serial console (last lines) ---\n${vm.serial().split('\n').slice(-40).join('\n')}`);
      });
      console.log(`boot_to_ready_s=${((performance.now() - vm.startedAt) / 1000).toFixed(1)}`);
      const cluster = await json<{ enabled: boolean; members: { state: string }[] }>('/v1/cluster');
      assert.ok(cluster.enabled);
      assert.equal(cluster.members.map((m) => m.state), ['alive'], 'a one-node cluster');
      // The runner publishes the node's record and the engine it sees; the proxy its own record.
      await waitFor('the runner\'s record of the node, Docker up', async () => {
        const n = await json<{ nodes: { self: boolean; docker: { ok: boolean }; cpus: number }[] }>('/v1/nodes');
        return n.nodes.some((x) => x.self && x.docker.ok && x.cpus > 0) ? true : null;
      }, 180_000, 2000);
      // What an admin on the console would check: systemctl is-active of the four units (the guest prints it).
      const states = await waitFor('all four units active', async () => {
        return unitsActive(vm.serial()) ? unitStates(vm.serial()) : null;
      }, 300_000, 3000).catch((err: Error) => {
        throw new Error(`${err.message}: last seen ${JSON.stringify(unitStates(vm.serial()))}`);
      });
      assert.equal(Object.keys(states).length, 4);
      await post('/v1/apps', { name: 'web', repo: daemon.url('web.git').replace('127.0.0.1', '10.0.2.2') });
      await post('/v1/apps/web/deploys', {});
      const seen = await waitFor('the app through the guest\'s HAProxy on port 80', async () => {
        const r = await getWithHost('127.0.0.1', vm.httpPort, 'web.pleaco.test', 5000).catch(() => null);
        if (r?.status === 200) return { page: r.body };
        const builds = await json<{ builds: { status: string }[] }>('/v1/apps/web/builds').catch(() => null);
        const failed = builds?.builds.find((b) => b.status === 'failed');
        return failed ? { failed } : null;
      }, 600_000, 3000);
      if ('failed' in seen) assert.unreachable(`the build failed: ${JSON.stringify(seen.failed)}\n--- serial console ---\n${vm.serial().split('\n').filter((l) => l.includes('"level":"error"') || l.includes('"level":"warn"')).slice(-20).join('\n')}`);
      assert.match(seen.page ?? '', /hello from the golden image/);
    } finally {
      await vm.stop();
      await daemon.stop();
      tmp.cleanup();
    }
  });
}

test.run();
