/**
 * The golden image's offline build (issue #15), checked cheaply: it never builds the image.
 *  - both paths run the same provisioning scripts: `image/build.sh --list-provision` names every image/provision/NN-*.sh,
 *    and the Packer template (image/pleaco.pkr.hcl, when it exists) names each of them too; `packer validate` passes;
 *  - every provisioning script is bash with `set -euo pipefail` and parses (`bash -n`);
 *  - image/out/pleaco.raw, when `make image` has made it: its GPT has the four partitions of the layout (esp, root-a,
 *    root-b, pleaco-data) with their types, the two root slots of one size. Skipped, with the reason, otherwise.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const repo = new URL('../../..', import.meta.url).pathname;
const prov = join(repo, 'image', 'provision');
const raw = join(repo, 'image', 'out', 'pleaco.raw');
const template = join(repo, 'image', 'pleaco.pkr.hcl');

const s = suite('image build');

const scripts = (): string[] => readdirSync(prov).filter((f) => /^\d\d-.*\.sh$/.test(f)).sort();

s('the offline build runs every provisioning script, in order', () => {
  const all = scripts();
  assert.ok(all.length >= 5, `provision scripts: ${all.join(', ')}`);
  for (const step of ['10-packages.sh', '20-node.sh', '30-pleaco.sh', '40-units.sh', '50-firstboot.sh']) assert.ok(all.includes(step), step);
  const r = spawnSync('bash', [join(repo, 'image', 'build.sh'), '--list-provision'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n'), all);
  const build = readFileSync(join(repo, 'image', 'build.sh'), 'utf8');
  assert.ok(build.includes('10-packages.sh" --list'), 'the package list comes from 10-packages.sh');
  assert.ok(build.includes('chroot "$1" bash /tmp/pleaco-provision/10-packages.sh'), '10-packages.sh runs in the chroot');
});

s('the Packer template runs the same provisioning scripts', () => {
  if (!existsSync(template)) {
    console.log('  skipped: image/pleaco.pkr.hcl does not exist');
    return;
  }
  const hcl = readFileSync(template, 'utf8');
  for (const f of scripts()) assert.ok(hcl.includes(`provision/${f}`), `${f} is not in image/pleaco.pkr.hcl`);
});

s('packer validate passes on the template (offline: a checksum given, nothing fetched)', () => {
  if (!existsSync(template)) {
    console.log('  skipped: image/pleaco.pkr.hcl does not exist');
    return;
  }
  if (spawnSync('packer', ['version']).error) {
    console.log('  skipped: packer is missing (apt-get install packer)');
    return;
  }
  const r = spawnSync('packer', ['validate', '-var', `cloud_image_checksum=sha512:${'0'.repeat(128)}`, template], {
    cwd: repo, encoding: 'utf8', env: { ...process.env, CHECKPOINT_DISABLE: '1' },
  });
  assert.is(r.status, 0, r.stdout + r.stderr);
});

s('every provisioning script is strict bash and parses', () => {
  for (const f of scripts()) {
    const text = readFileSync(join(prov, f), 'utf8');
    assert.ok(text.startsWith('#!/usr/bin/env bash\n'), `${f}: shebang`);
    assert.ok(/^set -euo pipefail$/m.test(text), `${f}: set -euo pipefail`);
    const r = spawnSync('bash', ['-n', join(prov, f)], { encoding: 'utf8' });
    assert.is(r.status, 0, `${f}: ${r.stderr}`);
  }
});

interface Part { num: number; startSector: number; endSector: number; code: string; name: string }

function whyNoTable(): string | null {
  if (!existsSync(raw)) return 'image/out/pleaco.raw is not built (make image)';
  if (spawnSync('sgdisk', ['--version']).error) return 'sgdisk is missing (apt-get install gdisk)';
  return null;
}

const why = whyNoTable();
if (why) {
  console.log(`image partition table skipped: ${why}`);
  s.skip('the partition table of image/out/pleaco.raw: esp, root-a, root-b, pleaco-data', () => undefined);
} else {
  s('the partition table of image/out/pleaco.raw: esp, root-a, root-b, pleaco-data', () => {
    const r = spawnSync('sgdisk', ['-p', raw], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const parts: Part[] = [];
    for (const line of r.stdout.split('\n')) {
      const m = /^\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+ \S+\s+([0-9A-F]{4})\s+(.*)$/.exec(line);
      if (m) parts.push({ num: Number(m[1]), startSector: Number(m[2]), endSector: Number(m[3]), code: m[4]!, name: m[5]!.trim() });
    }
    assert.equal(parts.map((p) => `${p.num} ${p.name} ${p.code}`), ['1 esp EF00', '2 root-a 8304', '3 root-b 8304', '4 pleaco-data 8300'], r.stdout);
    const size = (p: Part): number => p.endSector - p.startSector + 1;
    assert.is(size(parts[1]!), size(parts[2]!), 'the root slots are of one size');
    assert.ok(parts.every((p, i) => i === 0 || p.startSector > parts[i - 1]!.endSector), 'in disk order, data last');
    const v = spawnSync('sgdisk', ['-v', raw], { encoding: 'utf8' });
    assert.is(v.status, 0, v.stdout + v.stderr);
  });
}

s.run();
