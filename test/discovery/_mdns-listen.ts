/**
 * A passive mDNS listener for the namespace tests: binds 5353 with SO_REUSEADDR (beside an Mdns node, as avahi
 * would), joins the group on `address`, prints `{"listening":true}`, and after `ms` prints every A record it heard
 * as `{"a":{"<name>":["<address>",...]}}` and exits. argv[2] is JSON `{ address, ms }`.
 */
import { createSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';

const { address, ms } = JSON.parse(process.argv[2] ?? '{}') as { address: string; ms: number };
const seen: Record<string, string[]> = {};
const s = createSocket({ type: 'udp4', reuseAddr: true });
s.on('message', (buf) => {
  try {
    const p = dnsPacket.decode(buf);
    for (const a of [...(p.answers ?? []), ...(p.additionals ?? [])]) {
      if (a.type !== 'A') continue;
      const list = (seen[a.name] ??= []);
      if (!list.includes(a.data)) list.push(a.data);
    }
  } catch {
    /* not ours to judge */
  }
});
s.bind(5353, '0.0.0.0', () => {
  s.addMembership('224.0.0.251', address);
  process.stdout.write(JSON.stringify({ listening: true }) + '\n');
  setTimeout(() => {
    process.stdout.write(JSON.stringify({ a: seen }) + '\n');
    s.close();
  }, ms);
});
