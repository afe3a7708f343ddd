/**
 * pleaco-proxy: this node's HTTP front door. Runs HAProxy (master-worker) through a ProxyController and keeps
 * it in step with state (apps, domains, health checks, every node's running replicas); posts per-app request
 * metrics as soft state every 2 s and records its own status at `obs/<node>/proxy`. Entry point of the
 * systemd unit and of `make up`'s launcher (`node dist/src/main/proxy.js`). SIGTERM/SIGINT stop HAProxy and
 * exit 0; a restarted pleaco-proxy ends a HAProxy left over from a killed one and serves from state again.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { keys, type AppMetrics, type ProxyDraining, type ProxyStatus } from '../core/index.js';
import { PleacoError } from '../errors.js';
import { HAProxyProcess, ProxyController } from '../proxy/index.js';
import { PROXY_PREFIXES, proxyModel } from '../proxy/fromstate.js';
import { runSubsystem } from './subsystem.js';

/** Debian's haproxy package. */
const HAPROXY = '/usr/sbin/haproxy';
const DEBOUNCE_MS = 50;
const METRICS_EVERY_MS = 2000;
const METRICS_TTL_MS = 10_000;
const HEARTBEAT_MS = 30_000;
/** How often a non-empty draining record is written again (the runner ignores ones older than 10 s). */
const DRAINING_REFRESH_MS = 5_000;

function checkHaproxy(): void {
  const r = spawnSync(HAPROXY, ['-v'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) {
    throw new PleacoError('unavailable', `HAProxy is not installed or does not run (${HAPROXY}: ${r.error?.message ?? r.stderr.trim()}); install Debian's haproxy package (make deps does)`);
  }
}

runSubsystem({
  proc: 'proxy',
  prefixes: () => PROXY_PREFIXES,
  stopNote: 'proxy stopping; haproxy stops with it',
  start: async ({ config, client, nodeId, mirror, log }) => {
    checkHaproxy();
    const dir = join(config.stateDir, 'proxy');
    const statsSocket = join(dir, 'stats.sock');
    const proc = new HAProxyProcess({ dir, statsSocket, bin: HAPROXY, logger: log.child({ component: 'haproxy' }) });
    // New servers take traffic at once ('at-once'): the runner puts a container into a slot's record only
    // after it passed the app's health check `rise` times (health-gated rollout), so the proxy need not wait
    // another rise × interval; HAProxy's own checks take a failing one out after `fall` failures.
    // Servers in drain, published as `obs/<node>/proxy-draining` whenever the set changes and every
    // DRAINING_REFRESH_MS while it is not empty (the runner ignores records older than 10 s): the runner
    // does not stop a replaced container while a fresh record lists it. Writes are serialized, latest wins.
    const drainingKey = `obs/${nodeId}/proxy-draining`;
    let drainingWrite: Promise<unknown> = Promise.resolve();
    let drainingWritten: string | null = null;
    let draining: string[] = [];
    const publishDraining = (ids: string[], refresh = false): void => {
      draining = ids;
      drainingWrite = drainingWrite.then(async () => {
        const sig = ids.join('\n');
        if (sig === drainingWritten && !refresh) return;
        const value: ProxyDraining = { ids, at: new Date().toISOString() };
        await mirror
          .put(drainingKey, value)
          .then(() => (drainingWritten = sig))
          .catch((err: unknown) => log.warn('cannot record the draining servers', { error: err }));
      });
    };
    const controller = new ProxyController({ proc, paths: { dir, statsSocket }, logger: log.child({ component: 'proxy' }), admitNewServers: 'at-once', onDrainingChange: publishDraining });
    const { port, bindHost, domain } = config.proxy;
    const model = () => proxyModel(mirror, { port, bindHost, domain, node: nodeId });

    // Status record: written when ok/port/domain change, and as a heartbeat.
    let written: { ok: boolean; port: number; domain: string; error?: string; at: number } | null = null;
    const writeStatus = async (ok: boolean, error?: string, force = false): Promise<void> => {
      const same = written && written.ok === ok && written.port === port && written.domain === domain && written.error === error;
      if (same && !force) return;
      const status: ProxyStatus = { port, domain, ok, at: new Date().toISOString(), ...(error ? { error } : {}) };
      written = { ok, port, domain, error, at: Date.now() };
      await mirror.put(keys.proxy(nodeId), status).catch((err: unknown) => {
        written = null; // try again next time
        log.warn('cannot record the proxy status', { error: err });
      });
    };

    let closed = false;
    let running: Promise<void> | null = null;
    let again = false;
    let timer: NodeJS.Timeout | undefined;
    const applyNow = async (): Promise<void> => {
      const out = await controller.apply(model());
      if (out.ok) {
        if (out.mode !== 'noop') log.debug('proxy model applied', { mode: out.mode, changes: out.changes });
        await writeStatus(true);
      } else {
        // The controller already logged HAProxy's message; the previous config keeps serving.
        log.error('proxy config rejected; the previous one keeps serving', { code: out.error.code, error: out.error.message });
        await writeStatus(written?.ok ?? false, out.error.message);
      }
    };
    /** Serialized: one apply at a time, and one more after it when something changed meanwhile. */
    const kick = (): void => {
      if (closed) return;
      if (running) {
        again = true;
        return;
      }
      running = applyNow()
        .catch((err: unknown) => log.error('proxy apply failed', { error: err }))
        .finally(() => {
          running = null;
          if (again) {
            again = false;
            schedule();
          }
        });
    };
    const schedule = (): void => {
      if (closed) return;
      clearTimeout(timer);
      timer = setTimeout(kick, DEBOUNCE_MS);
    };
    const relevant = (key: string): boolean => key.startsWith('apps/') || key.startsWith('domains/') || key.startsWith('health/') || /^obs\/[^/]+\/slots\//.test(key);
    const onChange = (e: { key: string }): void => {
      if (relevant(e.key)) schedule();
    };
    mirror.on('change', onChange);
    mirror.on('synced', schedule);

    // First config: HAProxy must start (a port in use or a missing binary fails the process, and the
    // supervisor restarts it).
    const first = await controller.apply(model());
    if (!first.ok) {
      await controller.close().catch(() => undefined);
      throw first.error;
    }
    await writeStatus(true);
    publishDraining(controller.drainingIds()); // a restarted proxy drains nothing: clear an old record
    log.info('proxy ready', { port, bindHost, domain, apps: model().apps.length, dir });

    let metricsBusy = false;
    const metricsTimer = setInterval(() => {
      if (metricsBusy || closed || !proc.running) return;
      metricsBusy = true;
      void (async () => {
        const at = new Date().toISOString();
        const stats = await controller.stats();
        const entries = stats.map((s) => {
          const value: AppMetrics = { app: s.app, node: nodeId, at, reqRate: s.reqRate, reqTotal: s.reqTotal, inFlight: s.inFlight, queue: s.queue, codes: { ...s.codes }, avgResponseMs: s.avgResponseMs, avgTotalMs: s.avgTotalMs };
          return { key: keys.metrics(nodeId, s.app), value, ttlMs: METRICS_TTL_MS };
        });
        if (entries.length) await client.request('POST', '/v1/internal/soft', { body: { entries } });
      })()
        .catch((err: unknown) => log.debug('cannot post metrics', { error: err }))
        .finally(() => (metricsBusy = false));
    }, METRICS_EVERY_MS);
    const heartbeat = setInterval(() => {
      if (!closed && written) void writeStatus(written.ok, written.error, true);
    }, HEARTBEAT_MS);
    const drainingRefresh = setInterval(() => {
      if (!closed && draining.length > 0) publishDraining(draining, true);
    }, DRAINING_REFRESH_MS);
    proc.on('exit', () => void writeStatus(false, 'haproxy exited; restarting'));
    proc.on('restarted', () => void writeStatus(true));

    return async () => {
      closed = true;
      clearTimeout(timer);
      clearInterval(metricsTimer);
      clearInterval(heartbeat);
      clearInterval(drainingRefresh);
      mirror.off('change', onChange);
      await running?.catch(() => undefined);
      await controller.close();
      await drainingWrite.catch(() => undefined);
      await writeStatus(false, 'stopped').catch(() => undefined);
    };
  },
});
