/**
 * A client that watches latency from outside the node's processes (run as a child by bench/rollout-slow.ts): `conns`
 * keep-alive connections request the app through the proxy in a loop until SIGTERM, and every response slower than
 * 1 s, or not a 200, is printed with its start time. Usage: node probe.js PORT HOST [CONNS]
 */
import { Agent, request } from 'node:http';

const [port, host, conns] = [Number(process.argv[2]), process.argv[3] ?? '', Number(process.argv[4] ?? 4)];
let stop = false;
process.on('SIGTERM', () => (stop = true));

function get(agent: Agent): Promise<{ status: number; ms: number; start: number; error?: string }> {
  const start = Date.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent, timeout: 15_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Date.now() - start, start }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, ms: Date.now() - start, start, error: e.message }));
    req.end();
  });
}

await Promise.all(
  Array.from({ length: conns }, async (_, i) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    while (!stop) {
      const r = await get(agent);
      if (r.ms > 1000 || r.status !== 200) console.log(`${new Date(r.start).toISOString()} probe conn${i} status=${r.status} ${r.ms} ms ${r.error ?? ''}`);
    }
  }),
);
