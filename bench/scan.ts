/**
 * make bench-scan: the scan stage's work (inventory through the Engine, CycloneDX SBOM, matching against the
 * advisory database) on the example app's image and on a Debian image with ~300 OS packages
 * (pleaco-bench/scan-large, made by scripts/scan-bench-image.sh), 3 runs each, medians. The database is the
 * fixture OSV set (test/fixtures/osv/valid): matching costs one index lookup per package, so its size
 * barely matters; the inventory (reading the image) is what the goal bounds. Prints `scan_s=X` last: the
 * larger image's median (goal ≤ 5).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AdvisoryStore } from '../src/scan/db/index.js';
import { inventoryImage } from '../src/scan/inventory/image.js';
import { matchInventory } from '../src/scan/match.js';
import { toCycloneDx } from '../src/scan/sbom.js';
import { DockerEngine } from '../src/runtime/docker/index.js';
import { tempDir } from '../test/helpers/tmp.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/hello', import.meta.url));
const OSV = fileURLToPath(new URL('../../test/fixtures/osv/valid', import.meta.url));
const EXAMPLE_TAG = 'pleaco-bench/scan-example:latest';
const LARGE_TAG = 'pleaco-bench/scan-large:latest';
const RUNS = Number(process.env.BENCH_SCAN_RUNS ?? 3);
const LABELS = { 'io.pleaco.managed': 'true', 'io.pleaco.role': 'scan', 'io.pleaco.bench': 'scan' };

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const engine = DockerEngine.connect('/var/run/docker.sock');
  // The Engine's "legacy builder" notice on stderr is noise here; a failed build still throws with it.
  execFileSync('docker', ['build', '-q', '-t', EXAMPLE_TAG, '--label', 'io.pleaco.managed=true', '--label', 'io.pleaco.bench=scan', EXAMPLE], { stdio: ['ignore', 'ignore', 'pipe'] });
  const tmp = tempDir('pleaco-bench-scan-');
  try {
    const store = new AdvisoryStore(tmp.dir);
    const meta = await store.importFrom(OSV);
    const db = await store.open(meta.digest);
    console.log(`advisory database: ${meta.records} records (fixture set), ${meta.digest.slice(0, 19)}`);
    console.log('image                              packages  files    MiB read  inventory s  sbom+match s  total s (median of ' + RUNS + ')');
    let last = 0;
    for (const image of [EXAMPLE_TAG, LARGE_TAG]) {
      const totals: number[] = [];
      let row = '';
      for (let i = 0; i < RUNS; i++) {
        const t0 = performance.now();
        const { inventory, stats } = await inventoryImage(engine, image, { labels: LABELS });
        const t1 = performance.now();
        toCycloneDx(inventory, { image, imageId: image, toolVersion: 'bench' });
        const m = matchInventory(inventory, db);
        const t2 = performance.now();
        totals.push((t2 - t0) / 1000);
        if (i === RUNS - 1) {
          row = `${image.padEnd(35)}${String(inventory.packages.length).padStart(8)}  ${String(stats.files).padStart(6)}  ${(stats.bytes / 1048576).toFixed(1).padStart(9)}  ${((t1 - t0) / 1000).toFixed(2).padStart(11)}  ${((t2 - t1) / 1000).toFixed(3).padStart(12)}`;
          row += `  (${m.findings.length} findings)`;
        }
      }
      last = median(totals);
      console.log(`${row}  ${last.toFixed(2)}`);
    }
    console.log(`scan_s=${last.toFixed(2)}`);
  } finally {
    tmp.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(`bench-scan failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
