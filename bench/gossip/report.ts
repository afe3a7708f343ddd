/**
 * Text output of `make bench-gossip`: one figures line per implementation and cluster size, and the final
 * `gossip_vs_serf_detect_ratio=X` line, printed only when pleaco and Serf both ran at the same sizes.
 */
import type { GossipFigures } from './measure.js';

const ms = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(0));

/**
 * One implementation at one size, e.g. `serf n=10 event_ms=334 detect_ms=5570 false_positives=0 suspects=0 (...)`;
 * the parenthesis holds the loss evidence and the single rounds behind the medians.
 */
export function figuresLine(f: GossipFigures): string {
  return (
    `${f.label} n=${f.n} event_ms=${ms(f.eventMs)} detect_ms=${ms(f.detectMs)} false_positives=${f.falsePositives.failed}` +
    ` suspects=${f.falsePositives.suspect}` +
    ` (${f.lossProbability * 100}% loss ${f.lossWindowMs / 1000} s, ${f.lossDropped} packets dropped;` +
    ` events ${f.eventRoundsMs.map(ms).join('/')} ms; detections ${f.detectRoundsMs.map(ms).join('/')} ms, first node ${ms(f.detectFirstMs)} ms` +
    (f.detectMissing ? `; ${f.detectMissing} nodes never marked the victim failed` : '') +
    ')'
  );
}

/**
 * Detection-time ratio pleaco/Serf: the worst (largest) per-size ratio, so ≤ 1.0 means pleaco detected at least
 * as fast at every size. Null when a side is missing or a detection did not complete.
 */
export function detectRatio(pleaco: GossipFigures[], serf: GossipFigures[]): number | null {
  if (!pleaco.length || !serf.length) return null;
  let worst = 0;
  for (const s of serf) {
    const p = pleaco.find((x) => x.n === s.n);
    if (!p || p.detectMs === null || s.detectMs === null || s.detectMs <= 0) return null;
    worst = Math.max(worst, p.detectMs / s.detectMs);
  }
  return worst;
}

/** The lines printed after all runs: per-size ratios, then the final ratio line (or the reason there is none). */
export function summaryLines(pleaco: GossipFigures[] | null, serf: GossipFigures[]): string[] {
  if (pleaco === null) return ['pleaco: not available yet'];
  const out: string[] = [];
  for (const s of serf) {
    const p = pleaco.find((x) => x.n === s.n);
    if (p && p.detectMs !== null && s.detectMs !== null) out.push(`n=${s.n} detect pleaco/serf=${(p.detectMs / s.detectMs).toFixed(2)}`);
  }
  const r = detectRatio(pleaco, serf);
  out.push(r === null ? 'gossip_vs_serf_detect_ratio: not computed (a detection did not complete)' : `gossip_vs_serf_detect_ratio=${r.toFixed(2)}`);
  return out;
}
