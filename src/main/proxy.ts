/**
 * pleaco-proxy: this node's HTTP front door. Runs HAProxy (master-worker) and keeps it in step with state through
 * the proxy's loops (src/proxy/loop.ts). Entry point of the systemd unit and of `make up`'s launcher
 * (`node dist/src/main/proxy.js`); the one place where the proxy's adapter (the HAProxy process) is made.
 * SIGTERM/SIGINT stop HAProxy and exit 0; a restarted pleaco-proxy ends a HAProxy left over from a killed one and
 * serves from state again.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PleacoError } from '../errors.js';
import { Activator, HAProxyProcess, PROXY_PREFIXES, ProxyLoop } from '../proxy/index.js';
import { runSubsystem } from './subsystem.js';

/** Debian's haproxy package. */
const HAPROXY = '/usr/sbin/haproxy';

function checkHaproxy(): void {
  const r = spawnSync(HAPROXY, ['-v'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) {
    throw new PleacoError('unavailable', `HAProxy is not installed or does not run (${HAPROXY}: ${r.error?.message ?? r.stderr.trim()}); install Debian's haproxy package (make deps does)`);
  }
}

runSubsystem({
  proc: 'proxy',
  nice: -5,
  prefixes: () => PROXY_PREFIXES,
  stopNote: 'proxy stopping; haproxy stops with it',
  start: async ({ config, nodeId, view, members, link, log }) => {
    checkHaproxy();
    const dir = join(config.stateDir, 'proxy');
    const statsSocket = join(dir, 'stats.sock');
    // Under systemd (PLEACO_PROXY_PDEATHSIG=false in pleaco-proxy.service) the unit's cgroup ends HAProxy with the proxy;
    // setpriv --pdeathsig cannot run inside its capability bounding set.
    const proc = new HAProxyProcess({ dir, statsSocket, bin: HAPROXY, logger: log.child({ component: 'haproxy' }), ...(config.proxy.pdeathsig ? {} : { setpriv: null }) });
    // The activator listens before the first config names it (apps that may scale to zero: autoscale min 0).
    let loop: ProxyLoop | null = null;
    const activator = new Activator({ view, link, node: nodeId, appOfHost: (h) => loop?.appOfHost(h) ?? null, live: (n) => loop?.isLive(n) ?? true, log: log.child({ component: 'activator' }) });
    const at = await activator.listen();
    loop = new ProxyLoop({ view, members, link, proc, paths: { dir, statsSocket }, nodeId, proxy: config.proxy, activator: at, log });
    const { apps } = await loop.start();
    log.info('proxy ready', { ...config.proxy, apps, dir, activatorPort: at.port });
    return async () => {
      await loop?.stop();
      await activator.close();
    };
  },
});
