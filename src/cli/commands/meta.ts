/** version, token. (help lives with the verb table in verbs.ts.) */
import { EXIT, type Command } from '../context.js';

interface Health {
  ok: boolean;
  node: string;
  version: string;
  docker?: { ok: boolean };
}

/** The CLI's version, and the node's when one is found and answers within 2 s. Never fails. */
export const version: Command = async (ctx) => {
  ctx.out.out(`pleaco ${ctx.deps.version} (cli, node.js ${process.versions.node})`);
  let health: Health | undefined;
  try {
    health = await ctx.client().request<Health>('GET', '/v1/health', { signal: AbortSignal.timeout(2000) });
  } catch {
    return EXIT.ok; // no node found or not reachable: the CLI version is still the answer
  }
  if (health) ctx.out.out(`node ${health.node}: pleaco ${health.version}${health.docker && !health.docker.ok ? ' (docker unavailable)' : ''}`);
  return EXIT.ok;
};

/** Prints the API token of the node found (for PLEACO_TOKEN elsewhere). The only verb that shows it. */
export const token: Command = async (ctx) => {
  ctx.out.out(ctx.client().opts.token);
  return EXIT.ok;
};
