/**
 * One Mdns adapter in its own process, for the namespace tests (spawned inside a namespace by `lab.spawn`).
 * argv[2] is a JSON object of MdnsOptions (without log/txt/interfaces) plus `txt` (an object) and `only` (interface
 * names to use; default: eligibleInterfaces()). Prints JSON lines on stdout: `{"ready":{interfaces}}` once started,
 * `{"announcement":{...}}` for each one heard, `{"counters":{...}}` when asked, `{"error":{code,message}}` if start
 * fails (exit 2). stdin lines: `counters`, `query`, `stop` (goodbye, print counters, exit 0); closing stdin stops too.
 * Log lines go to stderr.
 */
import { createInterface } from 'node:readline';
import { eligibleInterfaces } from '../../src/discovery/interfaces.js';
import { Mdns, type MdnsOptions } from '../../src/discovery/mdns.js';
import { createLogger, setLogLevel, setLogSink } from '../../src/log.js';

type Args = Omit<MdnsOptions, 'log' | 'txt' | 'interfaces'> & { txt?: Record<string, string>; only?: string[] };
const args = JSON.parse(process.argv[2] ?? '{}') as Args;
setLogSink((line) => process.stderr.write(line + '\n'));
setLogLevel(process.env.PLEACO_MDNS_DEBUG ? 'debug' : 'warn');
const out = (o: unknown): boolean => process.stdout.write(JSON.stringify(o) + '\n');

const { only, txt, ...opts } = args;
const mdns = new Mdns({
  ...opts,
  txt: () => txt ?? {},
  interfaces: () => eligibleInterfaces().filter((i) => !only || only.includes(i.name)),
  log: createLogger({ node: args.instance }),
});
mdns.on('announcement', (a) => out({ announcement: a }));
try {
  await mdns.start();
} catch (err) {
  const e = err as { code?: string; message?: string };
  out({ error: { code: e.code, message: e.message } });
  process.exit(2);
}
out({ ready: { interfaces: mdns.interfaces() } });

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await mdns.stop();
  out({ stopped: true, counters: mdns.counters() });
  process.exit(0);
};
const lines = createInterface({ input: process.stdin });
lines.on('line', (l) => {
  if (l === 'counters') out({ counters: mdns.counters() });
  else if (l === 'query') mdns.query();
  else if (l === 'stop') void stop();
});
lines.on('close', () => void stop());
