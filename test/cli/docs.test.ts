/** docs/cli.md and `pleaco help` come from the same table: every verb's usage line and example are on the page. */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { usageOf, VERBS } from '../../src/cli/verbs.js';

// dist/test/cli/docs.test.js → repository root
const doc = readFileSync(new URL('../../../docs/cli.md', import.meta.url), 'utf8');

test('every verb has a section with its exact usage line and example', () => {
  for (const v of VERBS) {
    assert.ok(doc.includes(`### ${v.name}\n`), `section for ${v.name}`);
    assert.ok(doc.includes(`\`${usageOf(v)}\``), `usage line \`${usageOf(v)}\` in docs/cli.md`);
    assert.ok(doc.includes(`$ ${v.example}`), `example "${v.example}" in docs/cli.md`);
  }
});

test('no section for a verb that does not exist', () => {
  const documented = [...doc.matchAll(/^### (\S+)$/gm)].map((m) => m[1]);
  assert.equal(documented.sort(), VERBS.map((v) => v.name).sort());
});

test.run();
