/**
 * A hostile or broken mDNS sender for the namespace tests: sends crafted packets (dns-packet, no Mdns) to the group
 * from the namespace's address, from port 5353 (SO_REUSEADDR) unless said otherwise, then prints `{"sent":n}`.
 * argv[2] is JSON `{ address, service }`. Packets, in order:
 *   1. one response naming five instances: `toomany` (20 TXT strings), `badkey` (a 40-character key), `nonprint`
 *      (a control character in a value), `Upper` (not a [a-z0-9-] label), and `ok-craft` (valid: TXT a=1, SRV 7000);
 *   2. 5 bytes of garbage (no DNS header);
 *   3. a response for `big` over 9000 bytes (a 9500-byte NULL record beside it);
 *   4. a valid response for `wrongport` from an ephemeral source port;
 *   5. one response naming 40 instances `many-0` … `many-39`.
 */
import { createSocket, type Socket } from 'node:dgram';
import dnsPacket, { type Answer } from 'dns-packet';

const { address, service } = JSON.parse(process.argv[2] ?? '{}') as { address: string; service: string };
const GROUP = '224.0.0.251';

const open = (port: number): Promise<Socket> =>
  new Promise((resolve) => {
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    s.bind(port, '0.0.0.0', () => {
      s.setMulticastInterface(address);
      s.setMulticastTTL(255);
      resolve(s);
    });
  });
const send = (s: Socket, buf: Buffer): Promise<void> => new Promise((resolve, reject) => s.send(buf, 5353, GROUP, (err) => (err ? reject(err) : resolve())));

/** PTR, SRV and TXT records of one instance. */
function records(instance: string, txt: Array<string | Buffer>, port = 7000): Answer[] {
  const fqdn = `${instance}.${service}`;
  return [
    { name: service, type: 'PTR', ttl: 120, data: fqdn },
    { name: fqdn, type: 'SRV', ttl: 120, data: { target: `${instance}.local`, port } },
    { name: fqdn, type: 'TXT', ttl: 120, data: txt },
  ];
}
const response = (answers: Answer[], additionals: Answer[] = []): Buffer => dnsPacket.encode({ type: 'response', flags: dnsPacket.AUTHORITATIVE_ANSWER, answers, additionals });

const mdns = await open(5353);
const other = await open(0);
const packets: Array<[Socket, Buffer]> = [
  [
    mdns,
    response([
      ...records('toomany', Array.from({ length: 20 }, (_, i) => `k${i}=v`)),
      ...records('badkey', [`${'k'.repeat(40)}=v`]),
      ...records('nonprint', ['a=1\u0001']),
      ...records('Upper', ['a=1']),
      ...records('ok-craft', ['a=1', '', 'a=2']),
    ]),
  ],
  [mdns, Buffer.from([1, 2, 3, 4, 5])],
  [mdns, response(records('big', ['a=1']), [{ name: 'big.local', type: 'NULL', ttl: 120, data: Buffer.alloc(9500) }])],
  [other, response(records('wrongport', ['a=1']))],
  [mdns, response(Array.from({ length: 40 }, (_, i) => records(`many-${i}`, ['a=1'])).flat())],
];
for (const [s, buf] of packets) await send(s, buf);
process.stdout.write(JSON.stringify({ sent: packets.length, bigBytes: packets[2]![1].length }) + '\n');
mdns.close();
other.close();
