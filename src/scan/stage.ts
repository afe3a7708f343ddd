/**
 * The pipeline's scan stage: inventory the built image through the Engine, layer by layer with a cache by diffID
 * (inventory/layered.ts; no scanner container), write its CycloneDX SBOM, match the packages against this node's
 * advisory database, apply the app's policy, and store the report and SBOM with the build (replicated state). A
 * blocked image throws `scan_blocked` naming package, version, advisory and fixed version; the report stays readable
 * (`pleaco scan NAME`). Without a database the image is still inventoried and the report says `unchecked`.
 */
import { gzipSync } from 'node:zlib';
import { blocks, describeBlocking, evaluate } from './policy.js';
import { PleacoError } from '../errors.js';
import type { AgentLink } from '../link/index.js';
import { effectivePolicy, keys, MAX_REPORT_FINDINGS, SEVERITIES, type Finding, type Inventory, type ScanPolicy, type ScanReport, type Severity, type StateReader, type ScanSummary, type StoredSbom } from '../model/index.js';
import type { ContainerEngine } from '../runtime/index.js';
import type { AdvisoryStore } from './db/index.js';
import { inventoryImage } from './inventory/image.js';
import { inventoryByLayers, type LayerScanDeps } from './inventory/layered.js';
import { matchInventory } from './match.js';
import { toCycloneDx } from './sbom.js';

export interface ScanStageInput {
  app: string;
  build: string;
  image: string;
  imageId: string;
  engine: ContainerEngine;
  /** The app's and the cluster's scan policies are read here. */
  view: StateReader;
  /** The report and SBOM are stored through it. */
  link: Pick<AgentLink, 'storeScan'>;
  /** This node's advisory store; null: scanning without advisories (inventory and SBOM only). */
  advisories: AdvisoryStore | null;
  /** The image is inventoried layer by layer with these (cached by diffID); absent: from its merged filesystem. */
  layers?: LayerScanDeps | null;
  labels: Record<string, string>;
  version: string;
  signal: AbortSignal;
  say(line: string): void;
  out(line: string): void;
  now?: () => Date;
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;
/** What one stored entry may take (the store refuses values over 1 MiB of JSON). */
const MAX_STORED_BYTES = 900 * 1024;

/** Drops the least severe findings (counted in `truncated`) until the report fits one state entry. */
export function fitReport(r: ScanReport): void {
  r.expired = r.expired.slice(0, 100);
  let size = Buffer.byteLength(JSON.stringify(r));
  while (size > MAX_STORED_BYTES && r.findings.length > 0) {
    // Most severe first, so what blocks is dropped last.
    const drop = Math.max(1, Math.ceil(r.findings.length * (1 - MAX_STORED_BYTES / size)));
    r.findings = r.findings.slice(0, r.findings.length - drop);
    r.truncated += drop;
    size = Buffer.byteLength(JSON.stringify(r));
  }
}

const SHOWN_BLOCKING = 10;

function osName(inv: Inventory): string | null {
  return inv.os ? (inv.os.prettyName ?? `${inv.os.id} ${inv.os.versionId ?? ''}`.trim()) : null;
}

export function countSeverities(findings: Finding[]): Record<Severity, number> {
  const c = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  for (const f of findings) c[f.severity]++;
  return c;
}

/** The scan's outcome; `blocked` is the error to fail the build with when the policy blocks it. */
export interface ScanOutcome {
  summary: ScanSummary;
  blocked: PleacoError | null;
}

/** Scans; the report is stored either way. */
export async function scanImage(s: ScanStageInput): Promise<ScanOutcome> {
  const now = s.now ?? (() => new Date());
  const started = Date.now();
  s.say('Scanning the image for known vulnerabilities');
  const how = { labels: s.labels, signal: s.signal, onProgress: s.out };
  const { inventory } = s.layers ? await inventoryByLayers(s.engine, s.imageId, s.layers, how) : await inventoryImage(s.engine, s.imageId, how);
  if (inventory.os) s.out(`operating system: ${osName(inventory)}`);
  const sbom = toCycloneDx(inventory, { image: s.image, imageId: s.imageId, app: s.app, toolVersion: s.version });
  const stored: StoredSbom = { format: 'CycloneDX-1.5', encoding: 'gzip+base64', data: gzipSync(JSON.stringify(sbom)).toString('base64') };

  const policy = effectivePolicy(s.view.get<ScanPolicy>(keys.scanPolicy(s.app)), s.view.get<ScanPolicy>(keys.scanPolicyDefault));
  const meta = s.advisories ? await s.advisories.current() : null;
  let findings: Finding[] = [];
  let skipped = 0;
  if (meta && s.advisories) {
    const db = await s.advisories.open(meta.digest);
    const m = matchInventory(inventory, db);
    findings = m.findings;
    skipped = m.skipped.length;
  } else {
    s.out('no advisory database on this node: nothing matched (load one with pleaco scan:db:update SOURCE)');
  }
  s.signal.throwIfAborted();
  const verdict = evaluate(findings, policy, now());
  const blocking = new Set(verdict.blocking);
  const allowed = new Map(verdict.allowed.map((a) => [a.finding, a.entry]));
  const counts = countSeverities(findings);
  const summary: ScanSummary = {
    status: !meta ? 'unchecked' : blocking.size ? 'blocked' : 'passed',
    counts, packages: inventory.packages.length, blocking: blocking.size, failOn: policy.failOn, db: meta?.digest ?? null, durationMs: Date.now() - started,
  };
  const report: ScanReport = {
    ...summary, app: s.app, build: s.build, image: s.image, imageId: s.imageId, at: now().toISOString(), os: osName(inventory),
    dbLoadedAt: meta?.loadedAt ?? null,
    findings: findings.slice(0, MAX_REPORT_FINDINGS).map((f) => {
      const a = allowed.get(f);
      // Bounded so the report stays well inside one state value (1 MiB): the SBOM has every location.
      const slim = { ...f, package: { ...f.package, locations: f.package.locations.slice(0, 3) }, ...(f.summary ? { summary: f.summary.slice(0, 200) } : {}), aliases: f.aliases.slice(0, 5) };
      return { ...slim, blocking: blocking.has(f), ...(a ? { allowed: { reason: a.reason, until: a.until } } : {}) };
    }),
    truncated: Math.max(0, findings.length - MAX_REPORT_FINDINGS),
    expired: verdict.expired,
    skipped,
  };
  fitReport(report);
  const fits = stored.data.length <= MAX_STORED_BYTES;
  if (!fits) s.out(`the SBOM is ${(stored.data.length >> 10)} KiB compressed, more than a state entry holds: not stored (the report is)`);
  await s.link.storeScan(report, fits ? stored : null);

  if (meta) s.out(`findings: ${SEVERITIES.slice().reverse().map((l) => `${counts[l]} ${l}`).join(', ')} (database ${meta.digest.slice(0, 19)}, ${meta.records} advisories)`);
  for (const [f, a] of allowed) if (blocks(f.severity, policy.failOn)) s.out(`allowed until ${a.until.slice(0, 10)}: ${describeBlocking(f)} (${a.reason})`);
  if (verdict.expired.length) s.out(`expired allow-list entries, no longer applied: ${verdict.expired.join(', ')}`);
  if (blocking.size) {
    s.say(`Scan blocked the release: ${blocking.size} finding(s) at or above ${policy.failOn} in ${secs(summary.durationMs)}`);
    for (const f of verdict.blocking.slice(0, SHOWN_BLOCKING)) s.out(describeBlocking(f));
    if (blocking.size > SHOWN_BLOCKING) s.out(`… and ${blocking.size - SHOWN_BLOCKING} more: pleaco scan ${s.app}`);
    const first = verdict.blocking[0]!;
    const blocked = new PleacoError('scan_blocked', `${blocking.size} vulnerabilit${blocking.size === 1 ? 'y' : 'ies'} at or above ${policy.failOn} (policy fail-on ${policy.failOn}), e.g. ${describeBlocking(first)}`, {
      details: { blocking: verdict.blocking.slice(0, SHOWN_BLOCKING).map((f) => ({ id: f.id, package: f.package.name, version: f.package.version, severity: f.severity, fixed: f.fixed ?? null })) },
    });
    return { summary, blocked };
  }
  s.say(`Scan ${summary.status === 'unchecked' ? 'made the SBOM (no advisories to match)' : `passed (fail-on ${policy.failOn})`} in ${secs(summary.durationMs)}`);
  return { summary, blocked: null };
}
