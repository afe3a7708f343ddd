/**
 * The scan gate: which findings block a release under a policy at a given time, and how a blocking finding is
 * named to the user. Pure; the stage (stage.ts) applies it and the agent stores the policies it reads.
 */
import { atLeast, type EffectivePolicy, type Finding, type FailOn, type Severity, type AllowEntry } from '../model/index.js';

/** True when a finding of `sev` blocks under `failOn`. Unknown severity never blocks (Debian CVE records mostly carry none). */
export function blocks(sev: Severity, failOn: FailOn): boolean {
  return failOn !== 'none' && sev !== 'unknown' && atLeast(sev, failOn);
}

export interface Verdict {
  blocking: Finding[];
  allowed: Array<{ finding: Finding; entry: AllowEntry }>;
  /** Allow-list ids past their date. */
  expired: string[];
}

/** The gate: findings at or above the threshold block unless an unexpired allow-list entry names the advisory (or an alias). */
export function evaluate(findings: Finding[], policy: Pick<EffectivePolicy, 'failOn' | 'allow'>, now: Date): Verdict {
  const t = now.getTime();
  const live = policy.allow.filter((a) => Date.parse(a.until) > t);
  const expired = [...new Set(policy.allow.filter((a) => Date.parse(a.until) <= t).map((a) => a.id))];
  const out: Verdict = { blocking: [], allowed: [], expired };
  for (const f of findings) {
    const ids = new Set([f.id, ...f.aliases]);
    const entry = live.find((a) => ids.has(a.id));
    if (entry) out.allowed.push({ finding: f, entry });
    else if (blocks(f.severity, policy.failOn)) out.blocking.push(f);
  }
  return out;
}

/** One line per blocking finding: package, version, advisory, severity and the fixed version. */
export function describeBlocking(f: Finding): string {
  const pkg = f.package.sourceName && f.package.sourceName !== f.package.name ? `${f.package.name} (source ${f.package.sourceName})` : f.package.name;
  const fix = f.fixed ? `fixed in ${f.fixed}` : 'no fixed version yet';
  return `${pkg} ${f.package.version}: ${f.id} (${f.severity}${f.score !== undefined ? ` ${f.score.toFixed(1)}` : ''}) ${fix}`;
}
