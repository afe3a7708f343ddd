/**
 * What every command receives: the API client, where to write, the parsed arguments, and the few
 * process facts a command may need (a terminal to ask on, Ctrl-C, the clock), all injected so the
 * commands run in tests without a process.
 */
import type { AgentClient } from '../link/index.js';
import type { ArgSpec, FlagValues } from './args.js';
import type { Output } from './format.js';

/** What `pleaco init` did on this host (main/init.ts does it: it writes a file, the CLI only reports). */
export interface InitResult {
  /** false: the node already had a key (the file is left as it was). */
  created: boolean;
  /** The cluster file the key is in (0600). */
  file: string;
  clusterId: string;
  /** The cluster key (base64): printed once here, because a joining node needs it. */
  key: string;
  /** The addresses other nodes join this one at. */
  seeds: string[];
  /** Why the printed seed will not work as it is (a member bound to loopback), when it will not. */
  warning?: string;
}

export type InitFn = (o: { seeds: string[]; id?: string }) => Promise<InitResult>;

export interface CliDeps {
  out: Output;
  /** Finds the node (flags first, see connect.ts) and returns a client; only called by verbs that talk to a node. */
  connect: (flags: { api?: string; token?: string }) => AgentClient;
  /** The CLI's own version (package.json). */
  version: string;
  /** Asks a question on the terminal and resolves with the answer; absent when stdin is not a TTY. */
  ask?: (question: string) => Promise<string>;
  /** `pleaco init` on this host (main/init.ts); absent where the CLI cannot write the node's files. */
  init?: InitFn;
  /** `pleaco update:keys`: writes a new release signing pair into the directory (main/ does it with update/). */
  updateKeys?: (dir: string) => Promise<{ keyId: string; privateFile: string; publicFile: string }>;
  /** Subscribes to Ctrl-C (SIGINT); returns the unsubscribe function. */
  onInterrupt?: (fn: () => void) => () => void;
  now?: () => number;
}

export interface Ctx {
  verb: string;
  args: string[];
  flags: FlagValues;
  json: boolean;
  out: Output;
  deps: CliDeps;
  /** Connects lazily (the first call finds the node). */
  client(): AgentClient;
  now(): number;
}

/** A command: resolves with the process exit code. */
export type Command = (ctx: Ctx) => Promise<number>;

/** One row of the verb table (verbs.ts). */
export interface Verb extends ArgSpec {
  name: string;
  group: string;
  summary: string;
  /** More lines for `pleaco help VERB`. */
  details?: string[];
  example: string;
  run: Command;
}

/** `/v1/apps/<name>` with the name encoded as one path segment. */
export function appPath(name: string, rest = ''): string {
  return `/v1/apps/${encodeURIComponent(name)}${rest}`;
}

export function str(flags: FlagValues, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** Exit codes. */
export const EXIT = { ok: 0, error: 1, usage: 2, interrupted: 130 } as const;
