/** init, join: making a cluster and joining one. (nodes lives in nodes.ts.) */
import { EXIT, str, type Command, type InitResult } from '../context.js';
import { json } from '../format.js';


/** The cluster file a joining node needs (YAML), indented by `pad`. */
function clusterYaml(r: InitResult, pad: string): string[] {
  return [`${pad}key: ${r.key}`, ...(r.seeds.length ? [`${pad}seeds: [${r.seeds.join(', ')}]`] : []), ...(r.clusterId.startsWith('c-') ? [] : [`${pad}id: ${r.clusterId}`])];
}

/** The exact cloud-init user-data, and the shell commands, that join another node to this one. */
export function joinInstructions(r: InitResult): string[] {
  return [
    'To join another node to this cluster, give it this cloud-init user-data:',
    '',
    '#cloud-config',
    'write_files:',
    `  - path: ${r.file}`,
    '    owner: root:root',
    "    permissions: '0600'",
    '    content: |',
    ...clusterYaml(r, '      '),
    '',
    'or run this as root on a node that is up (the key goes through stdin, never argv):',
    '',
    `install -d -m 755 ${r.file.replace(/\/[^/]+$/, '') || '/'} && install -m 600 /dev/stdin ${r.file} <<'EOF'`,
    ...clusterYaml(r, ''),
    'EOF',
    'systemctl restart pleaco-agent',
    '',
    'Nodes on the same network also find each other by mDNS, without seeds. Keep the key secret: it admits a node.',
  ];
}

/** pleaco init [--seed ADDR] [--id ID]: makes this node the first of a cluster (a key, 0600) and prints how to join it. */
export const init: Command = async (ctx) => {
  if (!ctx.deps.init) {
    ctx.out.err('pleaco init runs on the node itself (it writes the cluster file there)');
    return EXIT.usage;
  }
  const seed = str(ctx.flags, 'seed');
  const id = str(ctx.flags, 'id');
  const r = await ctx.deps.init({ seeds: seed ? seed.split(',').map((s) => s.trim()).filter(Boolean) : [], ...(id ? { id } : {}) });
  if (ctx.json) {
    ctx.out.out(json(r));
    return EXIT.ok;
  }
  ctx.out.out(r.created
    ? `Made cluster ${r.clusterId}: its key is in ${r.file} (0600). pleaco on this node starts as its first member.`
    : `This node already has the key of cluster ${r.clusterId} (${r.file}); nothing was changed.`);
  if (r.warning) ctx.out.err(`warning: ${r.warning}`);
  ctx.out.out('');
  for (const line of joinInstructions(r)) ctx.out.out(line);
  return EXIT.ok;
};

interface JoinAnswer {
  seeds: { seed: string; addrs: string[]; error: string | null }[];
  joined: string[];
  members: number;
}

/** pleaco join ADDR...: joins the members at these addresses (kept as seeds; retried until they answer). */
export const joinCluster: Command = async (ctx) => {
  if (ctx.args.length === 0) {
    ctx.out.err('usage: pleaco join ADDR... (an address like 10.0.0.5:7946, or a DNS name)');
    return EXIT.usage;
  }
  const r = await ctx.client().request<JoinAnswer>('POST', '/v1/cluster/join', { body: { seeds: ctx.args } });
  if (ctx.json) {
    ctx.out.out(json(r));
    return EXIT.ok;
  }
  if (r.joined.length > 0) ctx.out.out(`Joined: ${r.joined.join(', ')}. The cluster has ${r.members} live member${r.members === 1 ? '' : 's'}.`);
  else ctx.out.out(`No new member yet (${r.members} live). pleaco keeps trying (after 0.5 s, doubling to 30 s) and keeps the seed${ctx.args.length > 1 ? 's' : ''} across restarts; pleaco nodes shows progress.`);
  for (const s of r.seeds) {
    const where = s.addrs.length && s.addrs.join(', ') !== s.seed ? ` → ${s.addrs.join(', ')}` : '';
    ctx.out.out(`  ${s.seed}${where}${s.error ? `: ${s.error}` : ''}`);
  }
  return EXIT.ok;
};
