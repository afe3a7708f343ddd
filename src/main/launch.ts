/**
 * pleaco-launch: the four processes of a node (agent, builder, runner, proxy: the systemd units' entry points) under
 * the Supervisor, in the foreground, without `make up`'s example app. The entry of the multi-node harness's node
 * containers (scripts/node-entry.sh) runs it; so can any host without systemd.
 *
 *   node dist/src/main/launch.js [--ready-file PATH]
 *
 * Every process's structured lines go to stdout as they come (a line that is not JSON is wrapped in one), and to
 * <state>/logs/<proc>.log. Once the agent answers on its socket and the other three are started, a line
 * `node ready` is written and, with --ready-file, that file is created (removed again on stop). SIGTERM/SIGINT
 * stop the four (SIGKILL after 15 s) and exit 0.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/index.js';
import { PleacoError } from '../errors.js';
import { createLogger, setLogLevel } from '../log.js';
import { connectToAgent, ensureStateDir } from './node.js';
import { Supervisor } from './supervisor.js';

const MAIN = dirname(fileURLToPath(import.meta.url));
const log = createLogger({ proc: 'launch' });

function readyFileArg(argv: string[]): string | null {
  const i = argv.indexOf('--ready-file');
  if (i < 0) return null;
  const path = argv[i + 1];
  if (!path || path.startsWith('--')) throw new PleacoError('invalid_config', '--ready-file needs a path');
  return path;
}

/** A child's line as one JSON line on stdout: JSON lines as they are, anything else wrapped with its process. */
function relay(proc: string, line: string): void {
  if (!line.trim()) return;
  let structured = false;
  try {
    const v = JSON.parse(line) as unknown;
    structured = !!v && typeof v === 'object' && !Array.isArray(v);
  } catch {
    /* not JSON: wrapped below */
  }
  process.stdout.write((structured ? line : JSON.stringify({ t: new Date().toISOString(), level: 'info', proc, msg: line })) + '\n');
}

async function main(): Promise<void> {
  const readyFile = readyFileArg(process.argv.slice(2));
  const config = loadConfig(process.env);
  setLogLevel(config.logLevel);
  ensureStateDir(config);
  const sup = new Supervisor({ logDir: join(config.stateDir, 'logs'), env: process.env, onLine: relay });
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('node stopping', { signal });
    if (readyFile) rmSync(readyFile, { force: true });
    await sup.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  sup.start({ name: 'agent', script: join(MAIN, 'agent.js') });
  await connectToAgent(config, 120_000);
  for (const name of ['builder', 'runner', 'proxy']) sup.start({ name, script: join(MAIN, `${name}.js`) });
  if (readyFile) {
    mkdirSync(dirname(readyFile), { recursive: true });
    writeFileSync(readyFile, `${new Date().toISOString()}\n`);
  }
  log.info('node ready', { api: `http://${config.api.host}:${config.api.port}`, cluster: config.cluster.port === null ? 'off' : `${config.cluster.advertise ?? config.cluster.bindHost}:${config.cluster.port}`, seeds: config.cluster.seeds });
}

main().catch((err: unknown) => {
  log.error('launch failed', { err });
  process.exit(1);
});
