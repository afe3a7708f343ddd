/**
 * The scanner's advisory database against the fixture database of published OSV records (test/fixtures/osv):
 * import from a directory, a zip export (built here with zip(1)), a JSON file and over http from a local server;
 * canonical bytes and digests; replication by digest; lookups; aborted imports. Expected values are computed from
 * the fixture files themselves, read independently of the code under test.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, createReadStream, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { AdvisoryStore, loadAdvisories, normalizeName } from '../../src/scan/db/index.js';
import type { OsvRecord } from '../../src/model/index.js';
import { isPleacoError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/osv/', import.meta.url));
const VALID = join(FIX, 'valid');

function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? jsonFiles(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : []));
}
const RAW: OsvRecord[] = jsonFiles(VALID).map((f) => JSON.parse(readFileSync(f, 'utf8')) as OsvRecord);

/** Ids of fixture records naming (ecosystem, name) in an affected entry, by plain reading of the files. */
const expectIds = (eco: string, name: string): string[] =>
  RAW.filter((r) => (r.affected ?? []).some((a) => a.package?.ecosystem === eco && normalizeName(eco, a.package.name) === normalizeName(eco, name))).map((r) => r.id).sort();
const ids = (rs: OsvRecord[]): string[] => rs.map((r) => r.id).sort();

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(isPleacoError(err), `a PleacoError, got ${String(err)}`);
    assert.is(err.code, code, err.message);
    assert.match(err.message, re);
    return err;
  }
  assert.unreachable('should have been rejected');
  throw new Error('unreachable');
}

function zipOf(dir: string, out: string): void {
  execFileSync('zip', ['-q', '-j', '-X', out, ...jsonFiles(dir)]); // flat, one record per entry, like the OSV exports
}

const leftovers = (root: string): string[] => readdirSync(root).filter((n) => n.includes('.tmp-'));
const hexDirs = (root: string): string[] => readdirSync(root).filter((n) => /^[0-9a-f]{64}$/.test(n));

test('the fixture directory imports every record, counted per ecosystem as the files say, in canonical form', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const store = new AdvisoryStore(join(dir, 'db'));
    assert.is(await store.current(), null);
    const meta = await store.importFrom(VALID);
    const counts: Record<string, number> = {};
    for (const r of RAW) for (const e of new Set((r.affected ?? []).map((a) => a.package!.ecosystem))) counts[e] = (counts[e] ?? 0) + 1;
    assert.is(meta.records, RAW.length);
    assert.equal(meta.byEcosystem, counts);
    assert.ok(counts.npm === 3 && counts.PyPI === 2 && counts['Debian:12'] === 3 && counts['Alpine:v3.18'] === 1 && counts.Go === 1, JSON.stringify(counts));
    assert.equal(meta.errors, []);
    assert.is(meta.source, VALID);
    assert.equal(await store.current(), meta);
    const gz = readFileSync(store.blobPath(meta.digest));
    assert.is(meta.digest, `sha256:${createHash('sha256').update(gz).digest('hex')}`);
    const lines = gunzipSync(gz).toString('utf8').trimEnd().split('\n');
    const stored = lines.map((l) => JSON.parse(l) as OsvRecord);
    assert.equal(stored.map((r) => r.id), RAW.map((r) => r.id).sort(), 'one line per record, sorted by id');
    for (const r of stored) assert.equal(r, RAW.find((x) => x.id === r.id), `${r.id} is kept field for field`);
  } finally {
    cleanup();
  }
});

test('a zip export, a directory holding it and a JSON array of the same records give the same digest', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const fromDir = await new AdvisoryStore(join(dir, 'a')).importFrom(VALID);
    zipOf(VALID, join(dir, 'all.zip'));
    const fromZip = await new AdvisoryStore(join(dir, 'b')).importFrom(join(dir, 'all.zip'));
    assert.is(fromZip.digest, fromDir.digest);
    assert.equal(fromZip.byEcosystem, fromDir.byEcosystem);
    mkdirSync(join(dir, 'exports'));
    cpSync(join(dir, 'all.zip'), join(dir, 'exports', 'all.zip'));
    assert.is((await new AdvisoryStore(join(dir, 'c')).importFrom(pathToFileURL(join(dir, 'exports')).href)).digest, fromDir.digest);
    writeFileSync(join(dir, 'all.json'), JSON.stringify(RAW.slice().reverse()));
    assert.is((await new AdvisoryStore(join(dir, 'd')).importFrom(join(dir, 'all.json'))).digest, fromDir.digest);
  } finally {
    cleanup();
  }
});

test('importing the same content twice, or reformatted and in other files, gives the same digest and bytes', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const store = new AdvisoryStore(join(dir, 'db'));
    const first = await store.importFrom(VALID);
    const bytes = readFileSync(store.blobPath(first.digest));
    const again = await store.importFrom(VALID);
    assert.is(again.digest, first.digest);
    assert.ok(readFileSync(store.blobPath(again.digest)).equals(bytes));
    assert.is(hexDirs(store.root).length, 1);
    mkdirSync(join(dir, 'other', 'x', 'y'), { recursive: true });
    RAW.forEach((r, i) => writeFileSync(join(dir, 'other', i % 2 ? 'x/y' : 'x', `r${i}.json`), JSON.stringify(r))); // minified, renamed
    const older = { ...RAW[0]!, modified: '2000-01-01T00:00:00Z', summary: 'an outdated copy' };
    writeFileSync(join(dir, 'other', '0-older.json'), JSON.stringify(older)); // read first; the newer copy still wins
    writeFileSync(join(dir, 'other', 'x', 'y', 'zz-older.json'), JSON.stringify(older)); // read last
    const other = await new AdvisoryStore(join(dir, 'db2')).importFrom(join(dir, 'other'));
    assert.is(other.digest, first.digest);
  } finally {
    cleanup();
  }
});

test('malformed advisories are reported with their file names and the rest still load', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const store = new AdvisoryStore(join(dir, 'db'));
    const meta = await store.importFrom(FIX); // valid/ and malformed/
    assert.is(meta.records, RAW.length);
    const byFile = Object.fromEntries(meta.errors.map((e) => [e.file, e.error]));
    assert.equal(Object.keys(byFile).sort(), ['malformed/bad-affected.json', 'malformed/truncated.json']);
    assert.is(meta.errorCount, 2);
    assert.match(byFile['malformed/truncated.json']!, /invalid JSON/);
    assert.match(byFile['malformed/bad-affected.json']!, /PLEACO-TEST-2024-0001: affected\[0\]\.package/);
    const only = await loadAdvisories(join(FIX, 'malformed'));
    assert.is(only.records.length, 0);
    assert.is(only.errors.length, 2);
    await rejectsWith(store.importFrom(join(FIX, 'malformed')), 'bad_request', /no advisories could be read .*(truncated|bad-affected)\.json/);
    assert.is((await store.current())?.digest, meta.digest, 'a source with nothing valid does not replace the database');
    await rejectsWith(loadAdvisories(VALID, { maxEntryBytes: 1000 }), 'payload_too_large', /advisory entry .*\.json is larger than/);
    await rejectsWith(loadAdvisories(VALID, { maxTotalBytes: 20_000 }), 'payload_too_large', /advisory source is larger than/);
  } finally {
    cleanup();
  }
});

test('installBlob installs a replica only when its bytes hash to the digest', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const a = new AdvisoryStore(join(dir, 'a'));
    const meta = await a.importFrom(VALID);
    const good = readFileSync(a.blobPath(meta.digest));
    const bad = Buffer.from(good);
    const mid = bad.length >> 1;
    bad.writeUInt8(bad.readUInt8(mid) ^ 0x01, mid);
    const b = new AdvisoryStore(join(dir, 'b'));
    const err = await rejectsWith(b.installBlob(meta.digest, Readable.from([bad])), 'digest_mismatch', /digest mismatch/);
    assert.is((err as { details?: Record<string, unknown> }).details?.reason, 'digest_mismatch');
    assert.is(await b.current(), null);
    assert.equal(hexDirs(b.root), []);
    assert.equal(leftovers(b.root), []);
    await rejectsWith(b.installBlob('sha256:../../etc', Readable.from([good])), 'bad_request', /invalid advisory database digest/);
    const got = await b.installBlob(meta.digest, createReadStream(a.blobPath(meta.digest)));
    assert.is(got.digest, meta.digest);
    assert.is(got.records, meta.records);
    assert.equal(got.byEcosystem, meta.byEcosystem);
    assert.equal((await b.current())?.digest, meta.digest);
    assert.equal(ids((await b.open()).lookup('npm', 'minimist')), ['GHSA-xvch-5gv4-984h']);
  } finally {
    cleanup();
  }
});

test('lookup finds records by exact ecosystem and name (PyPI names normalized), as the files file them', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const store = new AdvisoryStore(join(dir, 'db'));
    await store.importFrom(VALID);
    const db = await store.open();
    assert.ok((await store.open()) === db, 'the last opened database is cached');
    for (const r of RAW) for (const a of r.affected ?? []) assert.equal(ids(db.lookup(a.package!.ecosystem, a.package!.name)), expectIds(a.package!.ecosystem, a.package!.name));
    assert.equal(ids(db.lookup('PyPI', 'Requests')), ['GHSA-j8r2-6x86-q33q', 'PYSEC-2023-74']);
    assert.equal(ids(db.lookup('PyPI', 'rEqUeStS')), ids(db.lookup('PyPI', 'requests')));
    assert.is(normalizeName('PyPI', 'Zope.Interface__x'), 'zope-interface-x');
    assert.ok(ids(db.lookup('Debian:12', 'apt')).includes('DEBIAN-CVE-2011-3374'));
    assert.equal(ids(db.lookup('Debian:11', 'apt')), expectIds('Debian:11', 'apt'));
    assert.equal(db.lookup('Debian:10', 'apt'), []);
    assert.equal(db.lookup('Debian', 'apt'), [], 'a bare OS ecosystem matches nothing');
    assert.ok(ids(db.lookup('Debian:12', 'glibc')).includes('DSA-5514-1'));
    assert.equal(db.lookup('Debian:12', 'libc6'), [], 'Debian advisories name source packages');
    assert.equal(ids(db.lookup('Debian:9', 'openssl')), ['DLA-3008-1']);
    assert.equal(db.lookup('Debian:12', 'openssl'), []);
    assert.equal(ids(db.lookup('npm', 'lodash')), ['GHSA-35jh-r3h4-6jhm', 'GHSA-p6mc-m468-83gw']);
    assert.equal(db.lookup('npm', 'Lodash'), [], 'npm names are exact');
    assert.equal(ids(db.lookup('Alpine:v3.18', 'musl')), ['ALPINE-CVE-2025-26519']);
    assert.equal(ids(db.lookup('Go', 'stdlib')), ['GO-2022-0493']);
    assert.is(db.lookup('npm', 'minimist').length, 1, 'a record with two entries for one package comes once');
  } finally {
    cleanup();
  }
});

test('import over http from a local server: redirects, credentials kept out of sight, clear errors', async () => {
  const { dir, cleanup } = tempDir();
  zipOf(VALID, join(dir, 'all.zip'));
  const zip = readFileSync(join(dir, 'all.zip'));
  const auth: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    auth.push(req.headers.authorization ?? '');
    const path = req.url!.split('?')[0];
    if (path === '/db.zip') return res.end(zip);
    if (path === '/moved') return res.writeHead(302, { location: '/db.zip' }).end();
    if (path === '/elsewhere') return res.writeHead(307, { location: `${base2}/db.zip` }).end();
    if (path === '/loop') return res.writeHead(302, { location: '/loop' }).end();
    if (path === '/feed.json') return res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
    if (path === '/chunked') return Readable.from([zip, zip, zip]).pipe(res); // no content-length
    if (path === '/stall') return res.writeHead(200).write(zip.subarray(0, 100));
    res.writeHead(404).end('no');
  });
  const other = createServer((req, res) => (auth2.push(req.headers.authorization ?? ''), res.end(zip)));
  const auth2: string[] = [];
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const base2 = `http://127.0.0.1:${(other.address() as { port: number }).port}`;
  try {
    const store = new AdvisoryStore(join(dir, 'db'));
    const lines: string[] = [];
    const meta = await store.importFrom(`http://reader:s3cret@127.0.0.1:${base.split(':')[2]}/moved?token=t0ken`, { onProgress: (l) => lines.push(l) });
    assert.is(meta.digest, (await new AdvisoryStore(join(dir, 'ref')).importFrom(VALID)).digest);
    assert.is(meta.source, `${base}/moved`);
    assert.is(auth[0], `Basic ${Buffer.from('reader:s3cret').toString('base64')}`, 'userinfo is sent as Basic auth');
    assert.not.match(JSON.stringify([meta, lines, readFileSync(join(store.root, meta.digest.slice(7), 'meta.json'), 'utf8')]), /s3cret|t0ken/);
    assert.is((await store.importFrom(`http://reader:s3cret@${base.slice(7)}/elsewhere`)).digest, meta.digest);
    assert.equal(auth2, [''], 'credentials are not sent to another origin after a redirect');
    const missing = await rejectsWith(store.importFrom(`http://u:s3cret@${base.slice(7)}/nope.zip?token=t0ken`), 'unavailable', /HTTP 404/);
    assert.not.match(missing.message, /s3cret|t0ken/);
    await rejectsWith(store.importFrom(`${base}/db.zip`, { maxBytes: 1000 }), 'payload_too_large', /more than the limit/);
    await rejectsWith(store.importFrom(`${base}/chunked`, { maxBytes: zip.length * 2 }), 'payload_too_large', /more than the limit/);
    await rejectsWith(store.importFrom(`${base}/feed.json`), 'bad_request', /feed\.json: invalid JSON/);
    await rejectsWith(store.importFrom(`${base}/loop`), 'unavailable', /more than 5 redirects/);
    const ac = new AbortController();
    const stalled = store.importFrom(`${base}/stall`, { signal: ac.signal, onProgress: (l) => l.startsWith('downloading') && setTimeout(() => ac.abort(), 50) });
    await rejectsWith(stalled, 'interrupted', /cancelled/);
    assert.is((await store.current())?.digest, meta.digest, 'failed imports leave the database in use');
    assert.equal(leftovers(store.root), []);
  } finally {
    for (const s of [server, other]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    cleanup();
  }
});

test('an import aborted at any step leaves current and the stored databases as they were', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const store = new AdvisoryStore(join(dir, 'db'));
    const before = await store.importFrom(VALID);
    const src = join(dir, 'newer');
    cpSync(VALID, src, { recursive: true });
    writeFileSync(join(src, 'npm', 'GHSA-35jh-r3h4-6jhm.json'), '[]'); // different content: a different digest
    const steps: string[] = [];
    const probe = new AdvisoryStore(join(dir, 'probe'));
    const after = await probe.importFrom(src, { onProgress: (l) => steps.push(l) });
    assert.is.not(after.digest, before.digest);
    assert.ok(steps.length >= 3, steps.join(' | '));
    for (let k = 0; k < steps.length - 1; k++) { // the last line is said once the new database is in use
      const ac = new AbortController();
      let i = 0;
      await rejectsWith(store.importFrom(src, { signal: ac.signal, onProgress: () => i++ === k && ac.abort() }), 'interrupted', /unchanged/);
      assert.equal(await store.current(), before, `aborted at "${steps[k]}"`);
      assert.equal(hexDirs(store.root), [before.digest.slice(7)]);
      assert.equal(leftovers(store.root), []);
    }
    mkdirSync(join(store.root, '.tmp-999999999-dead'));
    const dead = execFileSync('sh', ['-c', 'echo $$']).toString().trim();
    mkdirSync(join(store.root, `.tmp-${dead}-crashed`));
    await store.importFrom(src);
    assert.equal(await store.prune([before.digest]), [], 'the current and the kept database stay');
    assert.equal(leftovers(store.root), [], 'temp dirs of processes that are gone are removed');
    assert.equal(await store.prune([]), [before.digest]);
    assert.equal(hexDirs(store.root), [after.digest.slice(7)]);
    assert.ok(statSync(store.blobPath(after.digest)).size > 0);
    assert.ok(relative(store.root, store.blobPath(after.digest)).endsWith('advisories.jsonl.gz'));
  } finally {
    cleanup();
  }
});

test.run();
