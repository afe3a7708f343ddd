/**
 * The agent's host updater, wired: only on the golden image (a root slot on the kernel's command line and an
 * IMAGE_VERSION); elsewhere (make up, the tests' agents) there is none and the update routes say so.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from '../log.js';
import { keys, liveMemberIds, type SlotStatus } from '../model/index.js';
import type { Store } from '../state/index.js';
import type { ClusterNode } from '../cluster/index.js';
import { askHost, DEFAULT_TRUST_DIR, hostInfo, HOST_PATHS, TrustedKeys, Updater } from '../update/index.js';

export async function startUpdater(o: { nodeId: string; stateDir: string; store: Store; cluster: ClusterNode | null; log: Logger; env: NodeJS.ProcessEnv }): Promise<Updater | null> {
  const host = await hostInfo(HOST_PATHS);
  if (!host) return null;
  const trusted = TrustedKeys.load(o.env.PLEACO_UPDATE_KEYS ?? DEFAULT_TRUST_DIR);
  const { nodeId, store, cluster } = o;
  const updater = new Updater({
    self: nodeId,
    stateDir: o.stateDir,
    store,
    members: () => {
      const all = cluster?.members() ?? [];
      return { live: cluster ? liveMemberIds(all, nodeId) : new Set([nodeId]), known: [...new Set([nodeId, ...all.filter((m) => m.state !== 'left').map((m) => m.id)])] };
    },
    host,
    boot: (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => String(Date.now()))).trim(),
    trusted,
    peers: cluster,
    askHost: (req, timeoutMs) => askHost(o.stateDir, req, timeoutMs),
    slotsHere: () => store.list<SlotStatus>(keys.slotPrefix(nodeId)).filter((e) => e.value.state === 'running' || e.value.state === 'starting').length,
    log: o.log.child({ component: 'update' }),
  });
  await updater.start();
  o.log.info('host updater started', { slot: host.slot, version: host.version, trustedKeys: trusted.ids() });
  return updater;
}
