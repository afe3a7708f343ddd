/**
 * Text output of `make bench-gossip`: one figures line per implementation and cluster size, per-size ratios, and
 * the final `gossip_vs_serf_detect_ratio=X` line (SIGKILL detections only), printed only when pleaco and Serf
 * both ran at the same sizes.
 */
import type { GossipFigures } from './measure.js';

const ms = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(0));

/**
 * One implementation at one size, e.g. `serf n=10 join_ms=412 event_ms=334 detect_ms=5570 isolated_ms=5610
 * false_positives=0 suspects=0 (...)`; join_ms counts from the last agent being up. The parenthesis holds the
 * total join time, the loss evidence and the single rounds behind the medians.
 */
export function figuresLine(f: GossipFigures): string {
  const iso = f.isolatedRoundsMs.length > 0;
  return (
    `${f.label} n=${f.n} join_ms=${ms(f.joinAfterLastMs)} event_ms=${ms(f.eventMs)} detect_ms=${ms(f.detectMs)}` +
    (iso ? ` isolated_ms=${ms(f.isolatedMs)}` : '') +
    ` false_positives=${f.falsePositives.failed} suspects=${f.falsePositives.suspect}` +
    ` (join ${ms(f.joinMs)} ms from the first start;` +
    ` ${f.lossProbability * 100}% loss ${f.lossWindowMs / 1000} s, ${f.lossDropped} packets dropped;` +
    ` events ${f.eventRoundsMs.map(ms).join('/')} ms; detections ${f.detectRoundsMs.map(ms).join('/')} ms, first node ${ms(f.detectFirstMs)} ms` +
    (f.detectMissing ? `; ${f.detectMissing} nodes never marked the victim failed` : '') +
    (iso ? `; isolations ${f.isolatedRoundsMs.map(ms).join('/')} ms, first node ${ms(f.isolatedFirstMs)} ms` : '') +
    (f.isolatedMissing ? `; ${f.isolatedMissing} nodes never marked the isolated node failed` : '') +
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

/**
 * The lines printed after all runs: per size the SIGKILL and isolation detection ratios, then the final ratio
 * line (or the reason there is none), always last.
 */
export function summaryLines(pleaco: GossipFigures[] | null, serf: GossipFigures[]): string[] {
  if (pleaco === null) return ['pleaco: not available yet'];
  const out: string[] = [];
  for (const s of serf) {
    const p = pleaco.find((x) => x.n === s.n);
    if (!p) continue;
    if (p.detectMs !== null && s.detectMs !== null) out.push(`n=${s.n} detect pleaco/serf=${(p.detectMs / s.detectMs).toFixed(2)}`);
    if (p.isolatedRoundsMs.length && s.isolatedRoundsMs.length) {
      out.push(
        p.isolatedMs !== null && s.isolatedMs !== null && s.isolatedMs > 0
          ? `n=${s.n} isolated pleaco/serf=${(p.isolatedMs / s.isolatedMs).toFixed(2)}`
          : `n=${s.n} isolated pleaco/serf: not computed (an isolation was not detected by every node)`,
      );
    }
  }
  const r = detectRatio(pleaco, serf);
  out.push(r === null ? 'gossip_vs_serf_detect_ratio: not computed (a detection did not complete)' : `gossip_vs_serf_detect_ratio=${r.toFixed(2)}`);
  return out;
}
