/**
 * make bench-scan: the scan stage's work (inventory through the Engine, CycloneDX SBOM, matching against the
 * advisory database) on the example app's image and on a Debian image with ~300 OS packages
 * (pleaco-bench/scan-large, made by scripts/scan-bench-image.sh), 3 runs each, medians. The database is the
 * fixture OSV set (test/fixtures/osv/valid): matching costs one index lookup per package, so its size
 * barely matters; the inventory (reading the image) is what the goal bounds.
 * First the merged filesystem (an export of a created container: how every scan read images before issue #12), then
 * layer by layer, as the scan stage reads them now (scan/inventory/layered.ts): cold (no layer cached), warm (the same
 * image again), and a one-line change (a new top layer over the image: only it is read). The results of both ways
 * must be identical, or the bench fails. Prints key=value lines last, `scan_s=X` the very last: the larger image's
 * cold scan by layers, what a first scan costs now (goal ≤ 5; a one-line change well under 1).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Inventory } from '../src/model/index.js';
import { AdvisoryStore, type AdvisoryDb } from '../src/scan/db/index.js';
import { inventoryImage } from '../src/scan/inventory/image.js';
import { inventoryByLayers, type LayeredStats } from '../src/scan/inventory/layered.js';
import { LayerInventoryCache } from '../src/scan/inventory/layercache.js';
import { matchInventory } from '../src/scan/match.js';
import { toCycloneDx } from '../src/scan/sbom.js';
import { DockerEngine } from '../src/runtime/docker/index.js';
import { tempDir } from '../test/helpers/tmp.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/hello', import.meta.url));
const OSV = fileURLToPath(new URL('../../test/fixtures/osv/valid', import.meta.url));
const EXAMPLE_TAG = 'pleaco-bench/scan-example:latest';
const LARGE_TAG = 'pleaco-bench/scan-large:latest';
const CHANGE_REPO = 'pleaco-bench/scan-change';
const RUNS = Number(process.env.BENCH_SCAN_RUNS ?? 3);
const LABELS = { 'io.pleaco.managed': 'true', 'io.pleaco.role': 'scan', 'io.pleaco.bench': 'scan' };
const BUILD_LABELS = ['--label', 'io.pleaco.managed=true', '--label', 'io.pleaco.bench=scan'];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const engine = DockerEngine.connect('/var/run/docker.sock');
const tmp = tempDir('pleaco-bench-scan-');
/** The one-line change images made (removed at the end). */
const changes: string[] = [];
let dirs = 0;

/** SBOM and matching on an inventory; seconds. */
function finish(inv: Inventory, image: string, db: AdvisoryDb): number {
  const t = performance.now();
  toCycloneDx(inv, { image, imageId: image, toolVersion: 'bench' });
  matchInventory(inv, db);
  return (performance.now() - t) / 1000;
}

/** The merged filesystem, as before: the table this bench always printed. Resolves with the median and the inventory. */
async function merged(image: string, db: AdvisoryDb): Promise<{ s: number; inventory: Inventory }> {
  const totals: number[] = [];
  let row = '';
  let inventory: Inventory = { packages: [] };
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = await inventoryImage(engine, image, { labels: LABELS });
    const t1 = performance.now();
    const sbomMatch = finish(r.inventory, image, db);
    totals.push((t1 - t0) / 1000 + sbomMatch);
    inventory = r.inventory;
    const m = matchInventory(r.inventory, db);
    row = `${image.padEnd(35)}${String(r.inventory.packages.length).padStart(8)}  ${String(r.stats.files).padStart(6)}  ${(r.stats.bytes / 1048576).toFixed(1).padStart(9)}  ${((t1 - t0) / 1000).toFixed(2).padStart(11)}  ${sbomMatch.toFixed(3).padStart(12)}  (${m.findings.length} findings)`;
  }
  console.log(`${row}  ${median(totals).toFixed(2)}`);
  return { s: median(totals), inventory };
}

/** One scan by layers with `cache`, SBOM and matching included; seconds and what it read. */
async function layered(image: string, cache: LayerInventoryCache, db: AdvisoryDb): Promise<{ s: number; stats: LayeredStats; inventory: Inventory }> {
  const t0 = performance.now();
  const r = await inventoryByLayers(engine, image, { cache, images: null, minFreeBytes: 0 }, { labels: LABELS });
  const s = (performance.now() - t0) / 1000 + finish(r.inventory, image, db);
  return { s, stats: r.stats, inventory: r.inventory };
}

/** `image` with one more layer: a one-line file, new at every call (never a build cache hit). */
function oneLineChange(image: string): string {
  const n = changes.length;
  const ctx = join(tmp.dir, `change-${n}`);
  mkdirSync(ctx, { recursive: true });
  writeFileSync(join(ctx, 'Dockerfile'), `FROM ${image}\nCOPY change.txt /app/change.txt\n`);
  writeFileSync(join(ctx, 'change.txt'), `a one-line change ${Date.now()} ${n}\n`);
  const tag = `${CHANGE_REPO}:${process.pid}-${n}`;
  execFileSync('docker', ['build', '-q', '-t', tag, ...BUILD_LABELS, ctx], { stdio: ['ignore', 'ignore', 'pipe'] });
  changes.push(tag);
  return tag;
}

interface LayeredRow {
  cold: number;
  warm: number;
  change: number;
  same: boolean;
}

/** Cold (a fresh cache each run), warm (the same image again), a one-line change over it; medians. */
async function byLayers(image: string, db: AdvisoryDb, want: Inventory): Promise<LayeredRow> {
  const cold: number[] = [];
  const warm: number[] = [];
  const change: number[] = [];
  let same = true;
  let read = { layers: 0, bytes: 0, total: 0 };
  for (let i = 0; i < RUNS; i++) {
    const cache = new LayerInventoryCache(join(tmp.dir, `layers-${dirs++}`), 1 << 30);
    const c = await layered(image, cache, db);
    const w = await layered(image, cache, db);
    const tag = oneLineChange(image);
    const x = await layered(tag, cache, db);
    const xMerged = i === 0 ? (await inventoryImage(engine, tag, { labels: LABELS })).inventory : null;
    same &&= JSON.stringify(c.inventory) === JSON.stringify(want) && JSON.stringify(w.inventory) === JSON.stringify(want);
    if (xMerged) same &&= JSON.stringify(x.inventory) === JSON.stringify(xMerged);
    cold.push(c.s);
    warm.push(w.s);
    change.push(x.s);
    read = { layers: x.stats.read.store + x.stats.read.images + x.stats.read.save, bytes: x.stats.bytes, total: x.stats.layers };
  }
  const row: LayeredRow = { cold: median(cold), warm: median(warm), change: median(change), same };
  console.log(`${image.padEnd(35)}${row.cold.toFixed(2).padStart(6)}  ${row.warm.toFixed(2).padStart(6)}  ${row.change.toFixed(2).padStart(17)}  (read ${read.layers} of ${read.total} layers, ${(read.bytes / 1024).toFixed(1)} KiB)  ${same ? 'identical' : 'DIFFERENT'}`);
  return row;
}

async function main(): Promise<void> {
  // The Engine's "legacy builder" notice on stderr is noise here; a failed build still throws with it.
  execFileSync('docker', ['build', '-q', '-t', EXAMPLE_TAG, ...BUILD_LABELS, EXAMPLE], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const store = new AdvisoryStore(join(tmp.dir, 'db'));
    const meta = await store.importFrom(OSV);
    const db = await store.open(meta.digest);
    console.log(`advisory database: ${meta.records} records (fixture set), ${meta.digest.slice(0, 19)}`);
    console.log(`merged filesystem (the export of a created container; how scans read images before)`);
    console.log('image                              packages  files    MiB read  inventory s  sbom+match s  total s (median of ' + RUNS + ')');
    const before = new Map<string, { s: number; inventory: Inventory }>();
    for (const image of [EXAMPLE_TAG, LARGE_TAG]) before.set(image, await merged(image, db));
    console.log(`layer by layer (each layer's record cached by diffID; scan seconds include SBOM and matching; median of ${RUNS})`);
    console.log('image                              cold s  warm s  one-line change s');
    const rows = new Map<string, LayeredRow>();
    for (const image of [EXAMPLE_TAG, LARGE_TAG]) rows.set(image, await byLayers(image, db, before.get(image)!.inventory));
    if (![...rows.values()].every((r) => r.same)) throw new Error('the inventory by layers differs from the merged one');
    const large = rows.get(LARGE_TAG)!;
    console.log(`scan_export_s=${before.get(LARGE_TAG)!.s.toFixed(2)}`);
    console.log(`scan_warm_s=${large.warm.toFixed(2)}`);
    console.log(`scan_change_s=${large.change.toFixed(2)}`);
    console.log(`scan_s=${large.cold.toFixed(2)}`);
  } finally {
    for (const t of changes) execFileSync('docker', ['rmi', t], { stdio: 'ignore' });
    tmp.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(`bench-scan failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
