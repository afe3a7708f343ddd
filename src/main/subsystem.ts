/**
 * What every subsystem process (builder, runner, proxy) does the same way: load config, wait for the local
 * agent (its token and socket), open the link to it (a StateView of the state it needs, an AgentLink for its
 * writes), start, and stop cleanly on SIGTERM/SIGINT (exit 0, forced after a bound). A failure to start logs and
 * exits 1 so the supervisor restarts it.
 */
import { setPriority } from 'node:os';
import { loadConfig, type Config } from '../config/index.js';
import { AgentLink, StateMirror, type MembersSource, type StateView } from '../link/index.js';
import { createLogger, setLogLevel, type Logger } from '../log.js';
import { connectToAgent, ensureNodeId } from './node.js';
import { notifyReady, takeNotifySocket } from './notify.js';

export interface SubsystemContext {
  config: Config;
  nodeId: string;
  view: StateView;
  /** The cluster's members as the agent sees them (the same watch stream as the view). */
  members: MembersSource;
  link: AgentLink;
  log: Logger;
}

export interface SubsystemSpec {
  proc: 'builder' | 'runner' | 'proxy';
  /**
   * CPU niceness the process (and what it spawns) runs at: the proxy above the rest (it serves), the builder below
   * (a deploy must not slow what is serving). Raising priority needs root; without it the process stays at 0.
   */
  nice?: number;
  /** State key prefixes the subsystem watches. */
  prefixes(nodeId: string): string[];
  /** Starts the work; resolves with the function that stops it. */
  start(ctx: SubsystemContext): Promise<() => Promise<void>>;
  /** Said when stopping (e.g. that containers keep running). */
  stopNote?: string;
  /** Upper bound for a clean stop before the process exits anyway. */
  stopTimeoutMs?: number;
}

export function runSubsystem(spec: SubsystemSpec): void {
  takeNotifySocket();
  let log = createLogger({ proc: spec.proc });
  let stopping = false;
  let stopWork: (() => Promise<void>) | null = null;
  let mirror: StateMirror | null = null;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info(spec.stopNote ?? `${spec.proc} stopping`, { signal });
    setTimeout(() => process.exit(0), spec.stopTimeoutMs ?? 9500).unref();
    await stopWork?.().catch((err: unknown) => log.warn('unclean stop', { error: err }));
    mirror?.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  const main = async (): Promise<void> => {
    if (spec.nice !== undefined) {
      try {
        setPriority(spec.nice);
      } catch (err) {
        log.info('cannot change the CPU priority; staying at the default', { nice: spec.nice, error: (err as Error).message });
      }
    }
    const config = loadConfig(process.env);
    setLogLevel(config.logLevel);
    // The agent owns the token and the node id: wait for it (token file + socket) before reading either.
    // Requests then ride out an agent restart (up to a minute) instead of failing work in flight.
    const client = await connectToAgent(config, 30_000, 60_000);
    if (stopping) return;
    const nodeId = ensureNodeId(config);
    log = log.child({ node: nodeId });
    mirror = new StateMirror(client, spec.prefixes(nodeId));
    mirror.on('disconnected', (err: unknown) => log.debug('state watch disconnected; reconnecting', { error: err }));
    await mirror.start();
    if (stopping) return;
    stopWork = await spec.start({ config, nodeId, view: mirror, members: mirror, link: new AgentLink(client, mirror), log });
    notifyReady(log, `${spec.proc} loops started`);
  };
  main().catch((err: unknown) => {
    log.error(`${spec.proc} failed to start`, { error: err });
    process.exit(1);
  });
}
