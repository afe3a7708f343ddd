/**
 * The agent's copy of the advisory database and its replication. `load` imports a new copy on this node
 * and writes the `scan/db` record (digest, counts, which node has it); every agent that sees a record whose
 * digest it does not hold fetches the blob in chunks over the cluster's sealed stream ('scan-db' requests),
 * from the loading node first, then from any live member, and installs it only when the bytes hash to the
 * digest. Retries until it has it or a newer record replaces the wanted one.
 */
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Config } from '../config/index.js';
import { PleacoError } from '../errors.js';
import { Reconciler } from '../link/index.js';
import type { Logger } from '../log.js';
import type { ScanDbRecord } from '../model/index.js';
import { AdvisoryStore } from './db/index.js';

const CHUNK = 4 * 1024 * 1024;
const RETRY_MS = 10_000;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export function scanDbRoot(config: Config): string {
  return join(config.stateDir, 'scan-db');
}

/** The cluster's sealed request stream between agents (ClusterNode satisfies it). */
export interface PeerAsk {
  serve(kind: string, handler: (req: Record<string, unknown>, from: string) => Promise<Record<string, unknown>>): void;
  ask(peer: string, kind: string, req: Record<string, unknown>): Promise<Record<string, unknown>>;
  members(): Array<{ id: string; state: string }>;
}

/** The `scan/db` record in the agent's state (main/ wires it to the store and the ScanService). */
export interface ScanDbRecordAccess {
  current(): ScanDbRecord | null;
  publish(record: ScanDbRecord): Promise<void>;
  /** Calls fn whenever the record changes; returns the unsubscribe. */
  watch(fn: () => void): () => void;
}

export interface ScanDbReplicatorOptions {
  root: string;
  nodeId: string;
  record: ScanDbRecordAccess;
  /** null: a node on its own (nothing to fetch from). */
  cluster: PeerAsk | null;
  log: Logger;
}

export class ScanDbReplicator {
  readonly advisories: AdvisoryStore;
  private readonly loop: Reconciler;
  private readonly unwatch: () => void;

  constructor(private readonly o: ScanDbReplicatorOptions) {
    this.advisories = new AdvisoryStore(o.root);
    o.cluster?.serve('scan-db', (req) => this.answer(req));
    this.loop = new Reconciler({
      pass: () => this.sync(),
      onError: (err) => {
        o.log.warn('advisory database sync failed', { error: err });
        this.loop.wakeAt(Date.now() + RETRY_MS);
      },
    });
    this.unwatch = o.record.watch(() => void this.loop.run());
    void this.loop.start();
  }

  async load(source: string, opts: { signal: AbortSignal; onProgress: (line: string) => void }): Promise<ScanDbRecord> {
    const meta = await this.advisories.importFrom(source, { signal: opts.signal, onProgress: opts.onProgress });
    for (const e of meta.errors.slice(0, 20)) this.o.log.warn('advisory skipped', { file: e.file, error: e.error });
    const record: ScanDbRecord = {
      digest: meta.digest, records: meta.records, byEcosystem: meta.byEcosystem, errors: meta.errorCount ?? meta.errors.length,
      source: meta.source, loadedAt: meta.loadedAt, node: this.o.nodeId,
    };
    await this.o.record.publish(record);
    // Only the copy in use is kept (a new load replaces the previous database on every node).
    await this.advisories.prune([meta.digest]).catch((err: unknown) => this.o.log.warn('pruning old advisory databases failed', { error: err }));
    return record;
  }

  async installed(): Promise<{ digest: string; records: number; loadedAt: string } | null> {
    const m = await this.advisories.current();
    return m ? { digest: m.digest, records: m.records, loadedAt: m.loadedAt } : null;
  }

  async close(): Promise<void> {
    this.unwatch();
    await this.loop.stop();
  }

  /** One pass: fetch the blob the cluster's record names when this node does not hold it; retried later when no peer had it. */
  private async sync(): Promise<void> {
    const rec = this.o.record.current();
    const want = rec && DIGEST_RE.test(rec.digest) ? rec.digest : null;
    if (!rec || !want || (await this.advisories.current())?.digest === want) return;
    if (!this.o.cluster) {
      this.o.log.warn('the cluster names an advisory database this node does not hold and it has no peers to fetch it from; load it here with scan:db:update', { digest: want });
      return;
    }
    const sources = [rec.node, ...this.o.cluster.members().filter((m) => m.state === 'alive' && m.id !== this.o.nodeId && m.id !== rec.node).map((m) => m.id)];
    for (const peer of sources) {
      if (!this.loop.running || this.o.record.current()?.digest !== want) return; // stopped, or a newer record: the next pass takes it
      try {
        const t = Date.now();
        const meta = await this.fetchFrom(peer, want);
        this.o.log.info('advisory database fetched', { digest: want, from: peer, records: meta.records, ms: Date.now() - t });
        await this.advisories.prune([want]).catch(() => undefined);
        return;
      } catch (err) {
        this.o.log.debug('advisory database fetch failed', { from: peer, error: err });
      }
    }
    this.loop.wakeAt(Date.now() + RETRY_MS);
  }

  /** Streams the blob from one peer, chunk by chunk, into the store (which checks the digest). */
  private async fetchFrom(peer: string, digest: string): Promise<{ records: number }> {
    const cluster = this.o.cluster;
    if (!cluster) throw new PleacoError('unavailable', 'no cluster to fetch from');
    const body = new PassThrough();
    const installing = this.advisories.installBlob(digest, body);
    installing.catch(() => undefined);
    try {
      let offset = 0;
      for (;;) {
        if (!this.loop.running) throw new PleacoError('interrupted', 'the agent is stopping');
        const res = await cluster.ask(peer, 'scan-db', { digest, offset, length: CHUNK });
        if (res.found !== true || typeof res.size !== 'number' || typeof res.data !== 'string') throw new PleacoError('not_found', `${peer} does not hold ${digest}`);
        const data = Buffer.from(res.data, 'base64');
        // The store may fail (disk full) and stop reading: wait for room or for its end, never forever.
        if (!body.write(data)) await Promise.race([once(body, 'drain'), installing]);
        offset += data.length;
        if (offset >= res.size || data.length === 0) break;
      }
      body.end();
    } catch (err) {
      body.destroy(err as Error);
      throw err;
    }
    return installing;
  }

  /** A peer asks for a chunk of a blob this node holds. */
  private async answer(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    const digest = req.digest;
    const offset = req.offset;
    if (typeof digest !== 'string' || !DIGEST_RE.test(digest) || typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new PleacoError('bad_request', 'bad scan-db request');
    const length = Math.min(CHUNK, typeof req.length === 'number' && req.length > 0 ? req.length : CHUNK);
    let fh;
    try {
      fh = await open(this.advisories.blobPath(digest), 'r');
    } catch {
      return { found: false };
    }
    try {
      const { size } = await fh.stat();
      const buf = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
      if (buf.length) await fh.read(buf, 0, buf.length, offset);
      return { found: true, size, data: buf.toString('base64') };
    } finally {
      await fh.close();
    }
  }
}
