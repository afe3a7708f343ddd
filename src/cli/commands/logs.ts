/** logs [-f] [-n N]. */
import { parseCount } from '../args.js';
import { appPath, EXIT, str, type Command } from '../context.js';
import type { AppLogLine } from '../../model/index.js';
import { paint } from '../format.js';

/** `web#0 v3 | line` (the prefix red for stderr on a colour terminal). */
export function formatLogLine(l: AppLogLine, color = false): string {
  const prefix = `${l.slot} v${l.release}`;
  return `${paint(color, l.stream === 'stderr' ? 'red' : 'cyan', prefix)} | ${String(l.line).replace(/\r?\n$/, '')}`;
}

export const logs: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const n = str(ctx.flags, 'num');
  const tail = n === undefined ? 100 : parseCount(n, '-n', ctx.verb, 10_000);
  const follow = ctx.flags.follow === true;
  const client = ctx.client();
  const ac = new AbortController();
  let interrupted = false;
  const off = follow
    ? ctx.deps.onInterrupt?.(() => {
        interrupted = true;
        ac.abort();
      })
    : undefined;
  try {
    const query = `?tail=${tail}${follow ? '&follow=1' : ''}`;
    await client.stream(appPath(name, `/logs${query}`), (ev) => ctx.out.out(formatLogLine(ev as AppLogLine, ctx.out.color)), { signal: ac.signal });
  } catch (err) {
    if (interrupted) return EXIT.interrupted;
    throw err;
  } finally {
    off?.();
  }
  return EXIT.ok;
};
