/**
 * The agent's updater: one reconcile loop that reads the rollout's records, asks rollout.ts for this node's next step
 * and does it — fetch the bundle (from peers that hold it, else the node that took the update, else its URL), have
 * pleaco-host write it to the spare slot, wait for this node's turn, drain, have pleaco-host arm the slot and
 * reboot; after the reboot report `verifying` until the gate is passed (rejoined, synced, runner and proxy back), then
 * undrain. A node back in its old slot marks the version bad. Every step is published in `obs/<node>/host`.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PleacoError } from '../errors.js';
import { Reconciler } from '../link/index.js';
import type { Logger } from '../log.js';
import { hostKeys, keys, type BadVersion, type DesiredHost, type HostState, type HostStatus, type NodeSpec, type ProxyStatus, type NodeStatus } from '../model/index.js';
import type { Store } from '../state/index.js';
import { isBundleId, verifyBundle, type VerifiedBundle } from './bundle.js';
import { bundlePath, bundlesDir, hostDir, type HostAsk, type HostResult } from './requests.js';
import { decide, fetchSources, type Step } from './rollout.js';
import { fetchFromPeer, fetchFromUrl, serveBundles, type BundlePeers } from './transfer.js';
import type { TrustedKeys } from './trust.js';

export interface UpdaterOptions {
  self: string;
  stateDir: string;
  store: Store;
  /** Live member ids (with self) and every member known. */
  members: () => { live: Set<string>; known: string[] };
  /** The running host (update/host.ts hostInfo), null off the golden image. */
  host: { slot: 'a' | 'b'; version: string } | null;
  /** This boot's id (/proc/sys/kernel/random/boot_id): tells a status written before a reboot from one after. */
  boot: string;
  trusted: TrustedKeys;
  peers: BundlePeers | null;
  askHost: (req: HostAsk, timeoutMs: number) => Promise<HostResult>;
  /** Replicas running on this node. */
  slotsHere: () => number;
  log: Logger;
  now?: () => number;
  stallMs?: number;
  drainTimeoutMs?: number;
}

const STAGE_TIMEOUT_MS = 30 * 60_000;
const RETRY_MS = 30_000;

export class Updater {
  private readonly now: () => number;
  private readonly started: number;
  private readonly loop: Reconciler;
  private readonly abort = new AbortController();
  private verified = new Map<string, VerifiedBundle>();
  private stagedBundle: string | null = null;
  private drainingSince = 0;
  private gatePassed = false;
  /** Set once pleaco-host was asked for the reboot: nothing more to do in this boot. */
  private rebooting = false;

  constructor(private readonly o: UpdaterOptions) {
    this.now = o.now ?? Date.now;
    this.started = this.now();
    this.loop = new Reconciler({ pass: () => this.pass(), debounceMs: 200, tickMs: 15_000, onError: (err) => this.o.log.warn('host update step failed', { error: err instanceof Error ? err.message : String(err) }) });
  }

  /** The running host: its slot and version. */
  get host(): { slot: 'a' | 'b'; version: string } | null {
    return this.o.host;
  }

  /** Which bundle pleaco-host wrote into which slot (kept across agent restarts; only the spare slot counts). */
  private get stagedFile(): string {
    return join(hostDir(this.o.stateDir), 'staged.json');
  }

  async start(): Promise<void> {
    await mkdir(bundlesDir(this.o.stateDir), { recursive: true });
    const staged = JSON.parse((await readFile(this.stagedFile, 'utf8').catch(() => null)) ?? 'null') as { slot?: string; bundle?: string } | null;
    if (staged?.bundle && this.o.host && staged.slot !== this.o.host.slot) this.stagedBundle = staged.bundle;
    if (this.o.peers) serveBundles(this.o.peers, this.o.stateDir);
    this.o.store.on('change', (e: { key: string }) => {
      if (e.key.startsWith('update/') || (e.key.startsWith('obs/') && e.key.endsWith('/host'))) this.loop.kick();
    });
    void this.loop.start(); // not awaited: a first pass may verify or fetch a bundle (minutes); the agent goes on starting
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop.stop();
  }

  private statuses(): Map<string, HostStatus> {
    return new Map(this.o.store.list<HostStatus>('obs/').filter((e) => e.key.endsWith('/host')).map((e) => [e.value.node, e.value]));
  }

  private mine(): HostStatus | undefined {
    return this.o.store.get<HostStatus>(hostKeys.status(this.o.self));
  }

  /** Writes this node's status when something in it changed (`at` moves only with the state). */
  private async publish(state: HostState, target: string | null, o: { note?: string | null; error?: string | null; drained?: boolean } = {}): Promise<void> {
    const prev = this.mine();
    const next: HostStatus = {
      node: this.o.self,
      slot: this.o.host?.slot ?? null,
      version: this.o.host?.version ?? null,
      state,
      target,
      bundles: [...this.verified.keys()].sort(),
      boot: this.o.boot,
      drained: o.drained ?? prev?.drained ?? false,
      note: o.note ?? null,
      error: o.error ?? null,
      at: prev && prev.state === state && prev.target === target ? prev.at : new Date(this.now()).toISOString(),
    };
    if (prev && JSON.stringify({ ...prev, at: '' }) === JSON.stringify({ ...next, at: '' })) return;
    await this.o.store.batch([{ key: hostKeys.status(this.o.self), value: next }]);
  }

  /** The gate a new slot on trial must pass before it is marked good (GET /v1/update/gate, pleaco-update-gate). */
  gate(): { ok: boolean; why: string } {
    const { live, known } = this.o.members();
    const others = known.filter((n) => n !== this.o.self);
    if (others.length > 0 && [...live].filter((n) => n !== this.o.self).length === 0) return { ok: false, why: 'not back in its cluster: no other member is live' };
    if (others.length > 0 && this.o.store.syncMeta().syncedAt < this.started) return { ok: false, why: 'state not synced with a peer since the agent started' };
    const runner = this.o.store.get<NodeStatus>(keys.node(this.o.self));
    if (!runner || Date.parse(runner.startedAt) < this.started - 300_000) return { ok: false, why: 'the runner has not reported since this boot' };
    const proxy = this.o.store.get<ProxyStatus>(keys.proxy(this.o.self));
    if (!proxy?.ok || Date.parse(proxy.at) < this.started - 300_000) return { ok: false, why: 'the proxy has not reported healthy since this boot' };
    return { ok: true, why: 'healthy and back in its cluster' };
  }

  /**
   * Verifies a bundle file (uploaded, fetched from a URL or from a peer) and keeps it, to stage and to serve to peers.
   * Not checked against the running version here: a node already on it still serves it; pleaco-host refuses a
   * downgrade when it writes the slot.
   */
  async keep(tmp: string): Promise<VerifiedBundle> {
    const b = await verifyBundle(tmp, this.o.trusted).catch(async (err: unknown) => {
      await rm(tmp, { force: true });
      throw err;
    });
    const path = bundlePath(this.o.stateDir, b.id);
    await rename(tmp, path);
    const kept = { ...b, path };
    this.verified.set(b.id, kept);
    this.loop.kick();
    return kept;
  }

  /** The bundle of that id when this node holds it (verified once per agent start; a bad file is removed). */
  async held(id: string): Promise<VerifiedBundle | null> {
    const known = this.verified.get(id);
    if (known) return known;
    if (!isBundleId(id)) return null;
    const path = bundlePath(this.o.stateDir, id);
    try {
      const b = await verifyBundle(path, this.o.trusted);
      if (b.id !== id) throw new PleacoError('bundle_refused', 'the kept bundle is not the one its name says');
      this.verified.set(b.id, b);
      return b;
    } catch {
      await rm(path, { force: true });
      return null;
    }
  }

  private async pass(): Promise<void> {
    if (this.rebooting) return;
    const d = this.o.store.get<DesiredHost>(hostKeys.desired) ?? null;
    const bad = new Set(this.o.store.list<BadVersion>(hostKeys.badPrefix).map((e) => e.value.version));
    const mine = this.mine();
    const { live, known } = this.o.members();
    if (this.o.host && mine?.target === this.o.host.version && (mine.state === 'rebooting' || mine.state === 'verifying')) return this.verifying(mine);
    const have = d && this.o.host ? (await this.held(d.bundle)) !== null : false;
    const step = decide({ self: this.o.self, desired: d, bad, running: this.o.host?.version ?? null, live, members: known, boot: this.o.boot, statuses: this.statuses(), have, staged: !!d && this.stagedBundle === d.bundle, now: this.now(), stallMs: this.o.stallMs ?? 20 * 60_000 });
    await this.act(step, d);
  }

  /** Booted into the new slot: verifying until the gate passes, then done (and undrained). */
  private async verifying(mine: HostStatus): Promise<void> {
    const g = this.gate();
    if (!g.ok) {
      await this.publish('verifying', mine.target, { note: g.why });
      this.loop.wakeAt(this.now() + 3000);
      return;
    }
    if (!this.gatePassed) this.o.log.info('the new host slot passed its gate', { version: this.o.host?.version });
    this.gatePassed = true;
    await this.undrain(mine);
    await this.publish('idle', null, { note: `updated to ${this.o.host?.version}`, drained: false });
  }

  private async undrain(mine: HostStatus | undefined): Promise<void> {
    if (!mine?.drained) return;
    await this.o.store.batch([{ key: keys.nodeSpec(this.o.self), value: { drain: false, at: new Date(this.now()).toISOString() } satisfies NodeSpec }]);
    this.drainingSince = 0;
  }

  private async act(step: Step, d: DesiredHost | null): Promise<void> {
    const mine = this.mine();
    const target = d?.version ?? null;
    switch (step.kind) {
      case 'none':
        await this.undrain(mine);
        return this.publish('idle', null, { note: d ? step.why : null, drained: false });
      case 'halted':
        await this.undrain(mine);
        return this.publish(mine?.state === 'rolled-back' ? 'rolled-back' : 'idle', target, { note: step.why, error: mine?.error ?? null, drained: false });
      case 'rolled-back': {
        this.o.log.error('the new host slot did not become healthy; back in the old one', { version: target, running: this.o.host?.version });
        const bad: BadVersion = { version: target!, node: this.o.self, reason: step.why, at: new Date(this.now()).toISOString() };
        await this.o.store.batch([{ key: hostKeys.bad(target!), value: bad }]);
        await this.undrain(mine);
        return this.publish('rolled-back', target, { error: step.why, drained: false });
      }
      case 'fetch':
        return this.fetch(d!);
      case 'stage':
        return this.stage(d!);
      case 'wait':
      case 'yield':
        if (step.kind === 'yield') await this.undrain(mine);
        return this.publish('staged', target, { note: step.why, drained: step.kind === 'yield' ? false : undefined });
      case 'go':
        return this.go(d!, mine);
    }
  }

  private async fetch(d: DesiredHost): Promise<void> {
    const tmp = join(bundlesDir(this.o.stateDir), `${d.bundle}.part`);
    const errors: string[] = [];
    for (const src of fetchSources({ self: this.o.self, live: this.o.members().live, statuses: this.statuses() }, d)) {
      const from = 'peer' in src ? src.peer : new URL(src.url).host;
      await this.publish('fetching', d.version, { note: `from ${from}` });
      try {
        if ('peer' in src) {
          if (!this.o.peers) continue;
          await fetchFromPeer(this.o.peers, src.peer, d.bundle, tmp, this.abort.signal);
        } else await fetchFromUrl(src.url, tmp, this.abort.signal, STAGE_TIMEOUT_MS);
        const b = await this.keep(tmp);
        if (b.id !== d.bundle) throw new PleacoError('bundle_refused', `${from} sent bundle ${b.id.slice(0, 12)}, not ${d.bundle.slice(0, 12)}`);
        this.o.log.info('host bundle fetched and verified', { version: d.version, from });
        return this.loop.kick();
      } catch (err) {
        errors.push(`${from}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    await this.publish('failed', d.version, { error: errors.length ? `cannot fetch the bundle: ${errors.join('; ')}` : 'no live node holds the bundle and it has no URL' });
    this.loop.wakeAt(this.now() + RETRY_MS);
  }

  private async stage(d: DesiredHost): Promise<void> {
    await this.publish('staging', d.version, { note: `writing slot ${this.o.host?.slot === 'a' ? 'b' : 'a'}` });
    const r = await this.o.askHost({ op: 'stage', bundle: bundlePath(this.o.stateDir, d.bundle) }, STAGE_TIMEOUT_MS).catch((err: unknown) => ({ ok: false, error: err instanceof Error ? err.message : String(err) }));
    if (!r.ok) {
      await this.publish('failed', d.version, { error: `writing the spare slot failed: ${r.error}` });
      this.loop.wakeAt(this.now() + RETRY_MS);
      return;
    }
    this.stagedBundle = d.bundle;
    await writeFile(this.stagedFile, JSON.stringify({ slot: this.o.host?.slot === 'a' ? 'b' : 'a', bundle: d.bundle }));
    await this.publish('staged', d.version, { note: 'written; waiting for its turn' });
    this.loop.kick();
  }

  /** This node's turn: drain (unless an operator drained it already), wait for its replicas to leave, reboot. */
  private async go(d: DesiredHost, mine: HostStatus | undefined): Promise<void> {
    if (mine?.state !== 'draining') {
      const spec = this.o.store.get<NodeSpec>(keys.nodeSpec(this.o.self));
      const drainedByUs = !spec?.drain;
      if (drainedByUs) await this.o.store.batch([{ key: keys.nodeSpec(this.o.self), value: { drain: true, at: new Date(this.now()).toISOString() } satisfies NodeSpec }]);
      this.drainingSince = this.now();
      await this.publish('draining', d.version, { note: 'its turn: moving its replicas to other nodes', drained: drainedByUs });
      this.loop.wakeAt(this.now() + 2000);
      return;
    }
    const left = this.o.slotsHere();
    const waited = this.now() - (this.drainingSince || Date.parse(mine.at));
    // alone, there is nowhere for the replicas to go: they stop with the reboot and start again after it
    const alone = [...this.o.members().live].every((n) => n === this.o.self);
    if (left > 0 && !alone && waited < (this.o.drainTimeoutMs ?? 5 * 60_000)) {
      await this.publish('draining', d.version, { note: `${left} replica(s) still here` });
      this.loop.wakeAt(this.now() + 2000);
      return;
    }
    const note = left === 0 ? 'rebooting into the new slot' : alone ? `rebooting; its ${left} replica(s) have no other node to go to` : `rebooting with ${left} replica(s) that did not move in time`;
    await this.publish('rebooting', d.version, { note });
    await sleep(3000, undefined, { signal: this.abort.signal }).catch(() => undefined); // let the status reach the peers
    this.rebooting = true;
    const r = await this.o.askHost({ op: 'reboot', version: d.version, bundle: bundlePath(this.o.stateDir, d.bundle) }, 120_000).catch((err: unknown) => ({ ok: false, error: err instanceof Error ? err.message : String(err) }));
    if (!r.ok) {
      this.rebooting = false;
      await this.undrain(this.mine());
      await this.publish('failed', d.version, { error: `arming the new slot failed: ${r.error}`, drained: false });
      this.loop.wakeAt(this.now() + RETRY_MS);
    }
  }
}
