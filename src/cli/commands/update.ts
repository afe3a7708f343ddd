/** update:keys, update:start, update:status, update:gate: host self-update. */
import { createReadStream, statSync } from 'node:fs';
import type { BadVersion, DesiredHost, HostStatus } from '../../model/index.js';
import { PleacoError } from '../../errors.js';
import { EXIT, str, type Command } from '../context.js';
import { bytes, duration, json, table } from '../format.js';

type NodeRow = (HostStatus | (Omit<HostStatus, 'state'> & { state: 'unknown' })) & { live: boolean };
interface UpdateView {
  desired: DesiredHost | null;
  bad: BadVersion[];
  nodes: NodeRow[];
}

/** pleaco update:keys [--dir DIR]: a signing pair for releases (main/ makes it: the CLI only reports). */
export const updateKeys: Command = async (ctx) => {
  if (!ctx.deps.updateKeys) {
    ctx.out.err('pleaco update:keys needs the pleaco release on this machine');
    return EXIT.error;
  }
  const r = await ctx.deps.updateKeys(str(ctx.flags, 'dir') ?? '.');
  ctx.out.out(`Key ${r.keyId}:`);
  ctx.out.out(`  private: ${r.privateFile} (0600; sign releases with it: make release UPDATE_KEY=${r.privateFile}; keep it off the cluster)`);
  ctx.out.out(`  public:  ${r.publicFile} (images built with IMAGE_UPDATE_KEYS=<its directory> trust it)`);
  return EXIT.ok;
};

/** pleaco update:start VERSION --from URL|FILE: gives this node the bundle, then starts the rollout. */
export const updateStart: Command = async (ctx) => {
  const version = ctx.args[0]!;
  const from = str(ctx.flags, 'from')!;
  const client = ctx.client();
  let taken: { version: string; bundle: string; keyId: string; size: number };
  let url: string | undefined;
  if (/^https?:\/\//i.test(from)) {
    url = from;
    ctx.out.err(`The node fetches ${from.replace(/\?.*$/, '')} and verifies it…`);
    taken = await client.request('POST', '/v1/update/bundles', { body: { url } });
  } else {
    const st = (() => {
      try {
        return statSync(from);
      } catch (err) {
        throw new PleacoError('bad_request', `--from ${from}: not a URL, and not a file this CLI can read (${(err as Error).message})`);
      }
    })();
    if (!st.isFile()) throw new PleacoError('bad_request', `--from ${from}: not a URL, and not a file`);
    const size = st.size;
    let shown = 0;
    taken = await client.upload('/v1/update/bundles', { stream: createReadStream(from), size }, (sent) => {
      if (sent - shown >= size / 10 || sent === size) {
        shown = sent;
        ctx.out.err(`  uploaded ${bytes(sent)} of ${bytes(size)}`);
      }
    });
  }
  if (taken.version !== version) throw new PleacoError('bad_request', `the bundle is version ${taken.version}, not ${version}`);
  ctx.out.err(`Bundle ${taken.bundle.slice(0, 12)} verified: version ${taken.version}, signed by key ${taken.keyId}`);
  const max = ctx.flags['max-unavailable'];
  const desired = await client.request<DesiredHost>('POST', '/v1/update', { body: { version, bundle: taken.bundle, ...(url ? { url } : {}), ...(typeof max === 'string' ? { maxUnavailable: Number(max) } : {}) } });
  if (ctx.json) ctx.out.out(json(desired));
  else ctx.out.out(`Rolling ${version} through the cluster, ${desired.maxUnavailable} node at a time (pleaco update:status shows where it is)`);
  return EXIT.ok;
};

export const updateStatus: Command = async (ctx) => {
  const v = await ctx.client().request<UpdateView>('GET', '/v1/update');
  if (ctx.json) {
    ctx.out.out(json(v));
    return EXIT.ok;
  }
  const now = ctx.now();
  ctx.out.out(v.desired ? `Desired host version: ${v.desired.version} (started ${duration(Math.max(0, now - Date.parse(v.desired.at)))} ago on ${v.desired.by}, ${v.desired.maxUnavailable} at a time)` : 'No host update started.');
  for (const b of v.bad) ctx.out.out(`${b.version} is marked BAD: ${b.reason} (${b.node}, ${b.at})`);
  const rows = v.nodes.map((n) => [
    `${n.node}${n.live ? '' : ' (down)'}`,
    n.slot ?? '-',
    n.version ?? '-',
    n.state,
    n.at ? duration(Math.max(0, now - Date.parse(n.at))) : '-',
    n.error ?? n.note ?? '',
  ]);
  for (const line of table(['node', 'slot', 'version', 'state', 'since', 'last error / note'], rows)) ctx.out.out(line);
  return EXIT.ok;
};

/** pleaco update:gate [--timeout S]: waits until this node is healthy and back in its cluster (pleaco-update-gate). */
export const updateGate: Command = async (ctx) => {
  const timeoutS = Number(str(ctx.flags, 'timeout') ?? '600');
  if (!Number.isFinite(timeoutS) || timeoutS < 1) throw new PleacoError('bad_request', '--timeout must be a number of seconds');
  const end = ctx.now() + timeoutS * 1000;
  let last = '';
  for (;;) {
    const g = await ctx.client().request<{ ok: boolean; why: string }>('GET', '/v1/update/gate').catch((err: unknown) => ({ ok: false, why: err instanceof Error ? err.message : String(err) }));
    if (g.ok) {
      ctx.out.out(`gate passed: ${g.why}`);
      return EXIT.ok;
    }
    if (g.why !== last) ctx.out.err(`waiting: ${(last = g.why)}`);
    if (ctx.now() >= end) {
      ctx.out.err(`gate not passed within ${timeoutS} s: ${g.why}`);
      return EXIT.error;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
};
