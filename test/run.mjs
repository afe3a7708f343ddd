#!/usr/bin/env node
// Runs the lint (scripts/lint.sh: eslint, then the layering rules; one suite each in the summary), then every
// compiled uvu suite (dist/test/**/*.test.js) one after another (they share one Docker Engine and 2 cores), shows
// their output, and ends with the one line CI reads:
//   N passed, N failed, N skipped
// Usage: node test/run.mjs [filter...]   (a filter is a substring of the suite path; `lint` selects the lint;
// suites under full/ only when a filter starting with full/ names them)
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist', 'test');
const filters = process.argv.slice(2);
const perSuiteMs = Number(process.env.PLEACO_SUITE_TIMEOUT_MS || 15 * 60_000);
// The one VM suite of make test (boot, an app, two host updates under TCG: about 20 min) gets longer, unless set.
const slowSuiteMs = { 'image/update.test.js': 50 * 60_000 };
const timeoutOf = (name) => (process.env.PLEACO_SUITE_TIMEOUT_MS ? perSuiteMs : (slowSuiteMs[name] ?? perSuiteMs));

function walk(dir) {
  let out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
// A filter matches the suite's path under dist/test (never the checkout's own path, which may contain anything).
// Suites under full/ (several VMs, many minutes) run only when a filter names them: their own make targets
// (make test-image-cluster, make test-update); `make test` runs their reduced form (image/update: one VM).
const named = (rel) => filters.some((x) => rel.includes(x));
const suites = walk(dist).filter((f) => {
  const rel = relative(dist, f);
  return rel.startsWith('full/') ? filters.some((x) => x.startsWith('full/')) && named(rel) : filters.length === 0 || named(rel);
});
let passed = 0, failed = 0, skipped = 0;
const failedSuites = [];

// The lint first: a violation fails `make test` with the rule's name, and the suites still run.
const lintSteps = filters.length === 0 || filters.some((x) => 'lint'.includes(x) || x.startsWith('lint')) ? ['eslint', 'layers'] : [];
for (const step of lintSteps) {
  process.stdout.write(`\n### lint/${step}\n`);
  const started = Date.now();
  const child = spawn('bash', [join(root, 'scripts', 'lint.sh'), step], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  const code = await new Promise((r) => child.on('close', (c) => r(c ?? 1)));
  if (code === 0) passed++;
  else {
    failed++;
    failedSuites.push(`lint/${step}`);
  }
  process.stdout.write(`### lint/${step}: ${code === 0 ? '1 passed, 0 failed' : '0 passed, 1 failed'}, 0 skipped (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}

for (const file of suites) {
  const name = relative(dist, file);
  process.stdout.write(`\n### ${name}\n`);
  const started = Date.now();
  const child = spawn(process.execPath, ['--enable-source-maps', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
  let text = '';
  child.stdout.on('data', (d) => { text += d; process.stdout.write(d); });
  child.stderr.on('data', (d) => { text += d; process.stderr.write(d); });
  const limitMs = timeoutOf(name);
  const timer = setTimeout(() => { text += `\nsuite timed out after ${limitMs} ms\n`; child.kill('SIGKILL'); }, limitMs);
  const code = await new Promise((r) => child.on('close', (c) => r(c ?? 1)));
  clearTimeout(timer);
  const plain = strip(text);
  const num = (label) => { const m = [...plain.matchAll(new RegExp(`${label}:\\s+(\\d+)`, 'g'))].pop(); return m ? Number(m[1]) : null; };
  const total = num('Total'), ok = num('Passed'), skip = num('Skipped');
  let f = total === null || ok === null ? 0 : total - ok;
  if (code !== 0 && f === 0) f = 1; // crashed or exited early: count it, never hide it
  if (total === null && f === 0) { f = 1; text += '\nsuite ended without its summary (exited early?)\n'; process.stdout.write('suite ended without its summary (exited early?)\n'); }
  passed += ok ?? 0; failed += f; skipped += skip ?? 0;
  if (f) failedSuites.push(name);
  process.stdout.write(`### ${name}: ${ok ?? 0} passed, ${f} failed, ${skip ?? 0} skipped (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}

if (suites.length === 0 && lintSteps.length === 0) { console.log('no test suites found under dist/test (did tsc run?)'); failed++; }
if (failedSuites.length) console.log(`\nfailed suites: ${failedSuites.join(', ')}`);
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
