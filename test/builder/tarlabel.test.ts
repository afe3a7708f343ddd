import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DockerfileLabeler, LABELLED_DOCKERFILE, labelLine, labelStages } from '../../src/builder/tarlabel.js';
import { TestRepo } from '../helpers/gitrepo.js';
import { tempDir } from '../helpers/tmp.js';

async function through(tar: Buffer, labels: Record<string, string>, chunk = 777): Promise<{ out: Buffer; found: boolean }> {
  const parts: Buffer[] = [];
  for (let i = 0; i < tar.length; i += chunk) parts.push(tar.subarray(i, i + chunk)); // odd chunk sizes cross block borders
  const lab = new DockerfileLabeler(labels);
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    Readable.from(parts).pipe(lab).on('data', (c: Buffer) => chunks.push(c)).on('end', resolve).on('error', reject);
  });
  return { out: Buffer.concat(chunks), found: lab.foundDockerfile };
}

function tarList(dir: string, tar: Buffer): string[] {
  writeFileSync(join(dir, 'out.tar'), tar);
  return execFileSync('tar', ['-tf', join(dir, 'out.tar')]).toString().trim().split('\n');
}

function tarCat(dir: string, tar: Buffer, member: string): string {
  writeFileSync(join(dir, 'out.tar'), tar);
  return execFileSync('tar', ['-xOf', join(dir, 'out.tar'), member]).toString();
}

test('a git archive gets one extra Dockerfile with a single LABEL line; everything else is byte for byte the same', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const repo = new TestRepo(dir, 'app');
    const big = 'x'.repeat(5000);
    repo.commit({ Dockerfile: 'FROM busybox:latest\nCOPY . /app', 'src/big.txt': big, ['a/very/long/' + 'd'.repeat(120) + '/f.txt']: 'deep' }, 'init');
    const tar = execFileSync('git', ['archive', '--format=tar', 'HEAD'], { cwd: repo.work, maxBuffer: 1 << 24 });
    const labels = { 'io.pleaco.managed': 'true', 'io.pleaco.app': 'web', 'io.pleaco.build': 'b1' };
    const { out, found } = await through(tar, labels);
    assert.ok(found);
    const names = tarList(dir, out);
    assert.ok(names.includes(LABELLED_DOCKERFILE), names.join(','));
    assert.ok(names.includes('src/big.txt'));
    assert.ok(names.some((n) => n.endsWith('/f.txt')), 'a long (pax) name survives');
    assert.is(tarCat(dir, out, LABELLED_DOCKERFILE), `FROM busybox:latest\nCOPY . /app\n${labelLine(labels)}\n`);
    assert.is(tarCat(dir, out, 'src/big.txt'), big);
    const end = tar.length - 1024; // our entry goes where the end marker was; what came before is untouched
    let firstZero = 0;
    for (let off = 0; off < end; off += 512) if (tar.subarray(off, off + 512).every((b) => b === 0)) { firstZero = off; break; }
    assert.ok(out.subarray(0, firstZero).equals(tar.subarray(0, firstZero)));
  } finally {
    cleanup();
  }
});

test('a tar made by tar(1) with ./ names works too; no Dockerfile means nothing is added', async () => {
  const { dir, cleanup } = tempDir();
  try {
    mkdirSync(join(dir, 'ctx'));
    writeFileSync(join(dir, 'ctx', 'Dockerfile'), 'FROM busybox:latest');
    const tar = execFileSync('tar', ['-c', '-C', join(dir, 'ctx'), '.']);
    const { out } = await through(tar, { a: 'b' }, 100);
    assert.is(tarCat(dir, out, LABELLED_DOCKERFILE), 'FROM busybox:latest\nLABEL "a"="b"\n');
    writeFileSync(join(dir, 'ctx', 'Dockerfile.dev'), 'x');
    const none = execFileSync('tar', ['-c', '-C', join(dir, 'ctx'), './Dockerfile.dev']);
    const res = await through(none, { a: 'b' });
    assert.not.ok(res.found);
    assert.not.ok(tarList(dir, res.out).includes(LABELLED_DOCKERFILE));
  } finally {
    cleanup();
  }
});

test('a dangling line continuation at the end is closed before the LABEL line (the escape directive is honoured)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const cases: [string, string][] = [
      ['FROM busybox:latest\nRUN echo hi \\', 'FROM busybox:latest\nRUN echo hi \n'],
      ['FROM busybox:latest\nRUN echo hi \\ \t\n\n# note \\\n', 'FROM busybox:latest\nRUN echo hi \n\n# note \\\n'],
      ['# escape=`\nFROM busybox:latest\nRUN echo a\\b `\n', '# escape=`\nFROM busybox:latest\nRUN echo a\\b \n'],
      ['# escape=`\nFROM busybox:latest\nRUN echo a\\\n', '# escape=`\nFROM busybox:latest\nRUN echo a\\\n'],
      ['FROM busybox:latest\r\nRUN echo hi \\\r\n', 'FROM busybox:latest\r\nRUN echo hi \r\n'],
      ['FROM busybox:latest\nRUN echo hi \\\n  && echo there\n', 'FROM busybox:latest\nRUN echo hi \\\n  && echo there\n'],
    ];
    for (const [dockerfile, expected] of cases) {
      mkdirSync(join(dir, 'ctx'), { recursive: true });
      writeFileSync(join(dir, 'ctx', 'Dockerfile'), dockerfile);
      const { out } = await through(execFileSync('tar', ['-c', '-C', join(dir, 'ctx'), '.']), { a: 'b' });
      assert.is(tarCat(dir, out, LABELLED_DOCKERFILE), `${expected}LABEL "a"="b"\n`, JSON.stringify(dockerfile));
    }
  } finally {
    cleanup();
  }
});

test('label values are quoted so they cannot add instructions', () => {
  assert.is(labelLine({ 'io.pleaco.app': 'web', x: 'a"\nRUN evil' }), 'LABEL "io.pleaco.app"="web" "x"="a\\"\\nRUN evil"');
});

test('labelStages: a LABEL after every FROM, also one spanning continuation lines or under another escape', () => {
  const L = { 'io.pleaco.managed': 'true', 'io.pleaco.app': 'web' };
  const line = labelLine(L);
  assert.is(labelStages('FROM busybox AS b\nRUN true\nfrom b\nCMD x\n', L), `FROM busybox AS b\n${line}\nRUN true\nfrom b\n${line}\nCMD x\n`);
  assert.is(labelStages('FROM \\\n  # a comment\n  busybox\nRUN true', L), `FROM \\\n  # a comment\n  busybox\n${line}\nRUN true`);
  assert.is(labelStages('# escape=`\nFROM `\n busybox\nRUN x', L), `# escape=\`\nFROM \`\n busybox\n${line}\nRUN x`);
  assert.is(labelStages('RUN echo FROM here\n', L), 'RUN echo FROM here\n', 'only instructions count');
  assert.is(labelStages('FROM busybox\n', {}), 'FROM busybox\n');
});

test.run();
