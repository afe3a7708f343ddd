/**
 * A stand-in for pleaco-proxy, run as a child process by the orphan tests: starts one HAProxy (HAProxyProcess over
 * ProxyController, as pleaco-proxy does) in the dir argv[2], serving port argv[3], prints `ready <master> <worker>`
 * and waits to be killed. Its HAProxy has been reloaded once (the master re-execs itself on a reload).
 */
import { app, makeController } from './_support.js';

const [dir, port] = process.argv.slice(2);
const { proc, ctl } = makeController({ dir: dir! });
const first = await ctl.apply({ port: Number(port), bindHost: '127.0.0.1', apps: [] });
const out = first.ok ? await ctl.apply({ port: Number(port), bindHost: '127.0.0.1', apps: [app('web', [])] }) : first;
if (!out.ok || out.mode !== 'reload') {
  process.stderr.write(`cannot start and reload haproxy: ${JSON.stringify(out)}\n`);
  process.exit(2);
}
process.stdout.write(`ready ${proc.pid} ${proc.workerPid}\n`);
setInterval(() => undefined, 1 << 30);
