/**
 * The scanner on a real Debian image (the locally built debian:bookworm-slim) against the fixture OSV records:
 * unfixed Debian CVEs filed under Debian:12 match the installed apt and coreutils (through their source
 * packages), glibc's DSA-5514-1 (fixed in 2.36-9+deb12u3) does not match the newer libc6 installed, records
 * of other releases never match, and a database loaded from a directory that also holds malformed files
 * scans the same way (the bad files are reported, not fatal).
 */
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AdvisoryStore } from '../../src/scan/db/index.js';
import { inventoryImage } from '../../src/scan/inventory/image.js';
import { matchInventory } from '../../src/scan/match.js';
import { compareDebian } from '../../src/scan/versions/debian.js';
import type { Inventory } from '../../src/model/index.js';
import { DockerEngine } from '../../src/runtime/docker/index.js';
import { tempDir } from '../helpers/tmp.js';

const OSV = fileURLToPath(new URL('../../../test/fixtures/osv/', import.meta.url));
const IMAGE = 'debian:bookworm-slim';
const LABELS = { 'io.pleaco.managed': 'true', 'io.pleaco.role': 'scan', 'io.pleaco.test': 'scan-debian' };
const tmp = tempDir('pleaco-scan-debian-');
let inv: Inventory;

test.before(async () => {
  inv = (await inventoryImage(DockerEngine.connect('/var/run/docker.sock'), IMAGE, { labels: LABELS })).inventory;
});
test.after(() => tmp.cleanup());

test('apt and coreutils match their unfixed Debian:12 CVEs; glibc past its DSA fix does not', async () => {
  const store = new AdvisoryStore(join(tmp.dir, 'a'));
  const db = await store.open((await store.importFrom(join(OSV, 'valid'))).digest);
  const { findings } = matchInventory(inv, db);
  const ids = (name: string) => [...new Set(findings.filter((f) => (f.package.sourceName ?? f.package.name) === name).map((f) => f.id))];
  assert.equal(ids('apt'), ['DEBIAN-CVE-2011-3374']);
  // One finding per installed binary package of the source: apt and libapt-pkg6.0 both come from apt.
  assert.equal(findings.filter((f) => f.id === 'DEBIAN-CVE-2011-3374').map((f) => f.package.name).sort(), inv.packages.filter((p) => p.sourceName === 'apt').map((p) => p.name).sort());
  assert.ok(ids('coreutils').includes('DEBIAN-CVE-2016-2781'));
  const libc = inv.packages.find((p) => p.name === 'libc6')!;
  assert.is(libc.sourceName, 'glibc');
  assert.ok(compareDebian(libc.sourceVersion ?? libc.version, '2.36-9+deb12u3') > 0, `installed glibc ${libc.version} is past the DSA's fix`);
  assert.equal(ids('glibc'), [], 'DSA-5514-1 is fixed in the installed version');
  assert.not.ok(findings.some((f) => f.id === 'DLA-3008-1'), "a Debian 9 advisory never matches a Debian 12 image");
  const apt = findings.find((f) => f.id === 'DEBIAN-CVE-2011-3374')!;
  assert.is(apt.fixed, undefined, 'no fixed version in Debian 12');
  assert.is(apt.package.ecosystem, 'Debian:12');
});

test('a database with malformed files loads the good records and scans the same', async () => {
  const src = join(tmp.dir, 'mixed');
  mkdirSync(src, { recursive: true });
  cpSync(join(OSV, 'valid'), join(src, 'valid'), { recursive: true });
  cpSync(join(OSV, 'malformed'), join(src, 'malformed'), { recursive: true });
  const store = new AdvisoryStore(join(tmp.dir, 'b'));
  const meta = await store.importFrom(src);
  assert.is(meta.errorCount, 2, JSON.stringify(meta.errors));
  assert.ok(meta.errors.some((e) => /truncated\.json/.test(e.file)) && meta.errors.some((e) => /bad-affected\.json/.test(e.file)));
  const clean = new AdvisoryStore(join(tmp.dir, 'c'));
  const good = await clean.importFrom(join(OSV, 'valid'));
  assert.is(meta.records, good.records);
  const a = matchInventory(inv, await store.open(meta.digest)).findings.map((f) => f.id).sort();
  const b = matchInventory(inv, await clean.open(good.digest)).findings.map((f) => f.id).sort();
  assert.equal(a, b);
});

test.run();
