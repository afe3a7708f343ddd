/** autoscale, autoscale:set, autoscale:off: replicas that follow the traffic. */
import { AUTOSCALE_HISTORY_STEP_S, type AutoscalePolicy, type AutoscaleStatus } from '../../model/index.js';
import { UsageError } from '../args.js';
import { appPath, EXIT, str, type Command } from '../context.js';
import { header, json, keyValues, relativeTime } from '../format.js';
import { sparklineWithRange } from '../sparkline.js';
import { parseDuration } from './domains.js';

interface AutoscaleBody {
  app: string;
  policy: AutoscalePolicy | null;
  replicas: number;
  status?: AutoscaleStatus | null;
}

const num = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(1));

/** `50 req/s per replica` or `20 in-flight requests per replica`. */
export function targetText(p: AutoscalePolicy): string {
  return p.targetRps !== undefined ? `${num(p.targetRps)} req/s per replica` : `${num(p.targetConcurrency ?? 0)} in-flight requests per replica`;
}

function policyLines(b: AutoscaleBody): string[] {
  const p = b.policy!;
  return keyValues([
    ['Replicas', `${b.replicas} (between ${p.min} and ${p.max}${p.min === 0 ? ': idle apps go to zero' : ''})`],
    ['Target', targetText(p)],
    ['Window', `${p.windowS} s (scale-down stabilization${p.min === 0 ? ', and idle time before zero' : ''})`],
  ]);
}

export const autoscale: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const body = await ctx.client().request<AutoscaleBody>('GET', appPath(name, '/autoscale'));
  if (ctx.json) {
    ctx.out.out(json(body));
    return EXIT.ok;
  }
  ctx.out.out(header(`${name} autoscaling`, ctx.out.color));
  if (!body.policy) {
    ctx.out.out(`Off: ${body.replicas} replica${body.replicas === 1 ? '' : 's'}, set by hand (pleaco autoscale:set ${name} --min 1 --max 10 --target-rps 50)`);
    return EXIT.ok;
  }
  for (const line of policyLines(body)) ctx.out.out(line);
  const s = body.status;
  if (!s) {
    ctx.out.out('No decision yet: the app\'s owner decides every second from its proxies\' metrics.');
    return EXIT.ok;
  }
  const unit = body.policy.targetRps !== undefined ? 'req/s' : 'in flight';
  const now = Date.now();
  for (const line of keyValues([
    ['Now', `${num(s.metric)} ${unit} from ${s.nodes} proxies; desired ${s.desired}${s.panic ? ' (panic: scaling up only)' : ''}`],
    ['Decided by', `${s.node}, ${relativeTime(s.at, now)}`],
    [`Last ${Math.round((s.history.length * AUTOSCALE_HISTORY_STEP_S) / 60)} min`, sparklineWithRange(s.history, 40, unit)],
  ])) ctx.out.out(line);
  if (s.decisions.length > 0) {
    ctx.out.out('');
    ctx.out.out('Last decisions:');
    for (const d of s.decisions.slice(-10)) ctx.out.out(`  ${relativeTime(new Date(d.at).toISOString(), now).padEnd(14)} ${d.current} → ${d.desired}  ${d.reason}`);
  }
  return EXIT.ok;
};

function count(raw: string | undefined, flag: string, verb: string): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,3}$/.test(raw)) throw new UsageError(`${flag} must be a whole number, got ${JSON.stringify(raw)}`, verb);
  return Number(raw);
}

function positive(raw: string | undefined, flag: string, verb: string): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) <= 0) throw new UsageError(`${flag} must be a number above 0, got ${JSON.stringify(raw)}`, verb);
  return Number(raw);
}

export const autoscaleSet: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const min = count(str(ctx.flags, 'min'), '--min', ctx.verb);
  const max = count(str(ctx.flags, 'max'), '--max', ctx.verb);
  const targetRps = positive(str(ctx.flags, 'target-rps'), '--target-rps', ctx.verb);
  const targetConcurrency = positive(str(ctx.flags, 'target-concurrency'), '--target-concurrency', ctx.verb);
  const window = str(ctx.flags, 'window');
  if (max === undefined) throw new UsageError('give --max (and --min, 1 when left out)', ctx.verb);
  if ((targetRps === undefined) === (targetConcurrency === undefined)) throw new UsageError('give one of --target-rps and --target-concurrency', ctx.verb);
  const req: Record<string, number> = { max, ...(min === undefined ? {} : { min }) };
  if (targetRps !== undefined) req.targetRps = targetRps;
  if (targetConcurrency !== undefined) req.targetConcurrency = targetConcurrency;
  if (window !== undefined) req.windowS = Math.round(parseDuration(window, '--window', ctx.verb, 1000, 3_600_000) / 1000);
  const body = await ctx.client().request<AutoscaleBody>('PUT', appPath(name, '/autoscale'), { body: req });
  ctx.out.out(`Autoscaling ${name}: ${body.policy!.min} to ${body.policy!.max} replicas, ${targetText(body.policy!)}`);
  for (const line of policyLines(body)) ctx.out.out(line);
  return EXIT.ok;
};

export const autoscaleOff: Command = async (ctx) => {
  const name = ctx.args[0] ?? '';
  const body = await ctx.client().request<AutoscaleBody>('DELETE', appPath(name, '/autoscale'));
  ctx.out.out(`Autoscaling of ${name} is off; it keeps ${body.replicas} replica${body.replicas === 1 ? '' : 's'} (pleaco ps:scale ${name}=N to change)`);
  return EXIT.ok;
};
