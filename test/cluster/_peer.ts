/**
 * A cluster peer in its own process for cross-process tests. The cluster key arrives as the first line
 * on stdin (never argv or env). It binds UDP and a stream server on 127.0.0.1, prints one JSON line
 * `{"udp":"ip:port","tcp":"ip:port"}`, echoes every UDP message back to its source as `{echo, pid}`
 * and answers every stream request with `{echo, pid}`. Closing its stdin stops it.
 */
import { createInterface } from 'node:readline';
import { Keyring } from '../../src/cluster/crypto.js';
import { UdpTransport } from '../../src/cluster/udp.js';
import { StreamServer } from '../../src/cluster/stream.js';

const lines = createInterface({ input: process.stdin });
const key = await new Promise<string>((resolve) => lines.once('line', resolve));
const keyring = new Keyring(key);
const udp = new UdpTransport({ keyring, nodeId: `peer-${process.pid}` });
const u = await udp.bind('127.0.0.1', 0);
udp.on('message', (from, msg) => udp.send(from, { echo: msg, pid: process.pid }));
const server = new StreamServer((_from, req) => ({ echo: req, pid: process.pid }), { keyring });
const s = await server.listen('127.0.0.1', 0);
process.stdout.write(JSON.stringify({ udp: u.address, tcp: s.address }) + '\n');
lines.once('close', () => {
  void Promise.all([udp.close(), server.close()]).then(() => process.exit(0));
});
