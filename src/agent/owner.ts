/**
 * One owner per decision: the decisions about an app that must not race (queueing and claiming its builds,
 * numbering its releases, its replica count) are taken by one agent, the rendezvous winner of the app's name among
 * the live members (scale/ownerOf). Every agent computes the same owner from the same view; a request that arrives
 * elsewhere is forwarded to the owner over the sealed cluster stream (`app-op`) and its answer (or error) returned.
 * A forwarded request is never forwarded again: the node asked takes the decision, so two views that disagree for a
 * moment cost at most a decision taken by a node that just lost the ownership — which the release guard repairs.
 * An owner that does not answer (dead, not yet declared so) is retried while the membership settles.
 */
import { isErrorCode, PleacoError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ClusterMember } from '../model/index.js';
import { ownerOf } from '../scale/index.js';

export const APP_OP = 'app-op';

/** The cluster's sealed request stream between agents (ClusterNode satisfies it). */
export interface OwnerPeers {
  serve(kind: string, handler: (req: Record<string, unknown>, from: string) => Promise<Record<string, unknown>>): void;
  ask(peer: string, kind: string, req: Record<string, unknown>): Promise<Record<string, unknown>>;
  members(): ClusterMember[];
}

/**
 * Runs an owner-only operation by name on this node (OwnedAppService); answers with its result and the state entries
 * it wrote, which the asking node merges before it answers its client (it reads its own writes).
 */
export type OwnerDispatch = (op: string, args: unknown[]) => Promise<{ result: unknown; entries: unknown[] }>;

export interface OwnerGateOptions {
  self: string;
  /** null: a node on its own owns everything. */
  peers: OwnerPeers | null;
  /** Merges the entries an owner wrote for a forwarded operation into this node's store (LWW, like a sync). */
  absorb: (entries: unknown[]) => Promise<void>;
  log: Logger;
  /** How long a request waits for an owner that answers (ms). Default 15 s. */
  deadlineMs?: number;
}

const MAX_ARGS_BYTES = 1024 * 1024;
/** Entries an answer carries back (an app's delete writes one tombstone per record; the rest comes by sync). */
const MAX_ENTRIES = 5000;

export class OwnerGate {
  private dispatch: OwnerDispatch | null = null;
  /** Decisions forwarded to another owner and answered (for /metrics and the tests). */
  forwarded = 0;

  constructor(private readonly o: OwnerGateOptions) {
    o.peers?.serve(APP_OP, (req) => this.answer(req));
  }

  /** What this node runs when a peer forwards an operation to it. */
  handle(dispatch: OwnerDispatch): void {
    this.dispatch = dispatch;
  }

  /** The owner of the app's decisions as this node sees the members now. */
  owner(app: string): string {
    const members = this.o.peers?.members() ?? [];
    return ownerOf(app, members.some((m) => m.id === this.o.self) ? members : [...members, { id: this.o.self, state: 'alive' }]) ?? this.o.self;
  }

  /** Runs `local` here when this node owns the app, else asks the owner to run `op(args)` and returns its answer. */
  async run<T>(app: string, op: string, args: unknown[], local: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + (this.o.deadlineMs ?? 15_000);
    let lastErr: unknown = null;
    for (let attempt = 0; ; attempt++) {
      const owner = this.owner(app);
      if (owner === this.o.self || !this.o.peers) return local();
      try {
        const res = await this.o.peers.ask(owner, APP_OP, { app, op, args });
        this.forwarded++;
        if (res.ok === true && Array.isArray(res.entries)) await this.o.absorb(res.entries.slice(0, MAX_ENTRIES));
        return unwrap<T>(res);
      } catch (err) {
        if (!(err instanceof PleacoError) || (err.code !== 'unavailable' && err.code !== 'peer_error')) throw err;
        lastErr = err;
      }
      if (Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** attempt)));
    }
    const why = lastErr instanceof Error ? lastErr.message : String(lastErr);
    throw new PleacoError('unavailable', `the node that owns app ${app}'s decisions (${this.owner(app)}) is not answering (${why}); try again when the cluster has settled`);
  }

  private async answer(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    const { op, args } = req;
    if (typeof op !== 'string' || !Array.isArray(args) || JSON.stringify(args).length > MAX_ARGS_BYTES) return { ok: false, error: { code: 'bad_request', message: 'bad app-op request' } };
    if (!this.dispatch) return { ok: false, error: { code: 'unavailable', message: 'this node is starting' } };
    try {
      const { result, entries } = await this.dispatch(op, args);
      return { ok: true, result: result ?? null, entries: entries.slice(0, MAX_ENTRIES) };
    } catch (err) {
      if (err instanceof PleacoError && err.expose) return { ok: false, error: { code: err.code, message: err.message } };
      this.o.log.warn('forwarded app operation failed', { op, error: err instanceof Error ? err.message : String(err) });
      return { ok: false, error: { code: 'internal', message: 'the owner failed to run the operation' } };
    }
  }
}

function unwrap<T>(res: Record<string, unknown>): T {
  if (res.ok === true) return res.result as T;
  const e = res.error as { code?: unknown; message?: unknown } | undefined;
  const code = isErrorCode(e?.code) ? e.code : 'peer_error';
  const message = typeof e?.message === 'string' ? e.message.slice(0, 2000) : 'the owner answered without a result';
  throw new PleacoError(code, message);
}
