/**
 * How severe an OSV advisory is: CVSS base scores computed from vectors (v3.0/v3.1 per the FIRST
 * specification, v2 per the v2 guide) and a single Severity level for the policy gate.
 *
 * Order of evidence in `severityOf`: a CVSS v3 vector (the affected entry's, then the record's) → its score
 * and the v3 qualitative band; a CVSS v4 vector cannot be scored without the specification's large lookup
 * tables, so it is passed over; then a database's own label (GHSA style `database_specific.severity`, affected
 * entry first); then an ecosystem's label (`ecosystem_specific.urgency` / `.severity`, Debian style); else
 * 'unknown'.
 */
import type { OsvAffected, OsvRecord, Severity } from '../model/index.js';

/** CVSS v3.1 Roundup: the smallest one-decimal number ≥ x, computed on integers to avoid float artefacts. */
export function roundup(x: number): number {
  const i = Math.round(x * 100000);
  return i % 10000 === 0 ? i / 100000 : (Math.floor(i / 10000) + 1) / 10;
}

const V3_BASE: Record<string, Record<string, number>> = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  PR: { N: 0.85, L: 0.62, H: 0.27 }, // L and H change with S:C, below
  UI: { N: 0.85, R: 0.62 },
  S: { U: 0, C: 1 },
  C: { H: 0.56, L: 0.22, N: 0 },
  I: { H: 0.56, L: 0.22, N: 0 },
  A: { H: 0.56, L: 0.22, N: 0 },
};
const V3_OTHER = new Set(['E', 'RL', 'RC', 'CR', 'IR', 'AR', 'MAV', 'MAC', 'MPR', 'MUI', 'MS', 'MC', 'MI', 'MA']);

/** Parses "K:V/K:V/…" into a map; null on a duplicate or malformed metric. */
function metrics(parts: string[], known: (k: string) => boolean): Map<string, string> | null {
  const m = new Map<string, string>();
  for (const p of parts) {
    const [k, v, extra] = p.split(':');
    if (!k || !v || extra !== undefined || m.has(k) || !known(k)) return null;
    m.set(k, v);
  }
  return m;
}

/** The CVSS v3.0/v3.1 base score of a vector ("CVSS:3.1/AV:N/…"); null when the vector is not valid. */
export function cvss3BaseScore(vector: string): number | null {
  const parts = vector.trim().split('/');
  if (parts[0] !== 'CVSS:3.0' && parts[0] !== 'CVSS:3.1') return null;
  const m = metrics(parts.slice(1), (k) => k in V3_BASE || V3_OTHER.has(k));
  if (!m) return null;
  const w: Record<string, number> = {};
  for (const [k, table] of Object.entries(V3_BASE)) {
    const v = table[m.get(k) ?? ''];
    if (v === undefined) return null; // a base metric missing or with an unknown value
    w[k] = v;
  }
  const changed = w.S === 1;
  const pr = changed && m.get('PR') === 'L' ? 0.68 : changed && m.get('PR') === 'H' ? 0.5 : w.PR!;
  const iss = 1 - (1 - w.C!) * (1 - w.I!) * (1 - w.A!);
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * Math.pow(iss - 0.02, 15) : 6.42 * iss;
  const exploitability = 8.22 * w.AV! * w.AC! * pr * w.UI!;
  if (impact <= 0) return 0;
  return roundup(Math.min(changed ? 1.08 * (impact + exploitability) : impact + exploitability, 10));
}

const V2_BASE: Record<string, Record<string, number>> = {
  AV: { L: 0.395, A: 0.646, N: 1.0 },
  AC: { H: 0.35, M: 0.61, L: 0.71 },
  Au: { M: 0.45, S: 0.56, N: 0.704 },
  C: { N: 0, P: 0.275, C: 0.66 },
  I: { N: 0, P: 0.275, C: 0.66 },
  A: { N: 0, P: 0.275, C: 0.66 },
};
const V2_OTHER = new Set(['E', 'RL', 'RC', 'CDP', 'TD', 'CR', 'IR', 'AR']);

/** The CVSS v2 base score of a vector ("AV:N/AC:L/Au:N/C:P/I:P/A:P", optionally in parentheses); null when invalid. */
export function cvss2BaseScore(vector: string): number | null {
  const s = vector.trim().replace(/^\((.*)\)$/, '$1');
  const m = metrics(s.split('/'), (k) => k in V2_BASE || V2_OTHER.has(k));
  if (!m) return null;
  const w: Record<string, number> = {};
  for (const [k, table] of Object.entries(V2_BASE)) {
    const v = table[m.get(k) ?? ''];
    if (v === undefined) return null;
    w[k] = v;
  }
  const impact = 10.41 * (1 - (1 - w.C!) * (1 - w.I!) * (1 - w.A!));
  const exploitability = 20 * w.AV! * w.AC! * w.Au!;
  const f = impact === 0 ? 0 : 1.176;
  return Math.round((0.6 * impact + 0.4 * exploitability - 1.5) * f * 10) / 10;
}

/** The CVSS v3 qualitative rating of a score; 0.0 ("None") is reported as 'unknown'. */
export function severityFromScore(score: number): Severity {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  if (score > 0) return 'low';
  return 'unknown';
}

/** A database's or ecosystem's label (GHSA, Debian urgency, Go, Ubuntu priority) as a Severity; null if not one. */
export function severityFromLabel(label: unknown): Severity | null {
  if (typeof label !== 'string') return null;
  const l = label.trim().toLowerCase().replace(/\*+$/, ''); // Debian marks some urgencies "low*", "medium**"
  switch (l) {
    case 'critical':
      return 'critical';
    case 'high':
    case 'important':
      return 'high';
    case 'moderate':
    case 'medium':
      return 'medium';
    case 'low':
    case 'unimportant':
    case 'negligible':
      return 'low';
    case 'not yet assigned':
    case 'unknown':
      return 'unknown';
    default:
      return null;
  }
}

function v3Score(list: OsvRecord['severity']): number | null {
  for (const s of list ?? []) {
    if (s?.type !== 'CVSS_V3' || typeof s.score !== 'string') continue;
    const score = cvss3BaseScore(s.score);
    if (score !== null) return score;
  }
  return null;
}

const field = (o: Record<string, unknown> | undefined, k: string): unknown => (o && typeof o === 'object' ? o[k] : undefined);

/** The severity of `record` for one of its affected entries (see the file comment for the order). */
export function severityOf(record: OsvRecord, affected?: OsvAffected): { severity: Severity; score?: number } {
  const score = v3Score(affected?.severity) ?? v3Score(record.severity);
  if (score !== null) return { severity: severityFromScore(score), score };
  // CVSS_V4 vectors fall through: scoring v4 needs the specification's macro-vector lookup tables.
  for (const label of [field(affected?.database_specific, 'severity'), field(record.database_specific, 'severity')]) {
    const s = severityFromLabel(label);
    if (s && s !== 'unknown') return { severity: s };
  }
  for (const label of [field(affected?.ecosystem_specific, 'urgency'), field(affected?.ecosystem_specific, 'severity')]) {
    const s = severityFromLabel(label);
    if (s && s !== 'unknown') return { severity: s };
  }
  return { severity: 'unknown' };
}
