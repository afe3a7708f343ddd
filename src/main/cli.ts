/**
 * Entry point of the `pleaco` command (bin/pleaco): wires the real process — argv, environment, stdout/stderr,
 * the terminal, SIGINT — into the CLI in src/cli. Importing it does nothing; bin/pleaco calls `main()`.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { AgentClient } from '../link/index.js';
import { findNode } from '../cli/index.js';
import { run, type CliDeps } from '../cli/index.js';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** NO_COLOR (any non-empty value, see no-color.org) or TERM=dumb turn colour off; so does a stream that is not a TTY. */
function colorAllowed(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
}

async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

export async function main(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Promise<number> {
  // `pleaco apps | head -1`: a closed pipe is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const deps: CliDeps = {
    out: {
      out: (line) => void process.stdout.write(line + '\n'),
      err: (line) => void process.stderr.write(line + '\n'),
      color: colorAllowed(process.stdout, env),
      errColor: colorAllowed(process.stderr, env),
    },
    connect: (flags) => new AgentClient(findNode({ ...flags, env, cwd: process.cwd() }).client),
    version: packageVersion(),
    // Loaded on use: the other verbs need none of the node's modules.
    init: async (o) => (await import('./init.js')).initCluster(env, o),
    updateKeys: async (dir) => (await import('./release.js')).writeUpdateKeys(dir),
    onInterrupt: (fn) => {
      process.on('SIGINT', fn);
      return () => void process.off('SIGINT', fn);
    },
  };
  if (process.stdin.isTTY) deps.ask = ask;
  return run(argv, deps);
}
