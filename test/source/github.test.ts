import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { PleacoError } from '../../src/errors.js';
import { parsePingEvent, parsePushEvent, repoUrlMatches } from '../../src/source/index.js';
import { thrown } from './_helpers.js';

// Compiled to dist/test/source/; the fixtures stay in test/source/fixtures/.
function fixture(name: string): Record<string, unknown> {
  const path = fileURLToPath(new URL(`../../../test/source/fixtures/${name}`, import.meta.url));
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

function badRequest(fn: () => unknown): PleacoError {
  const err = thrown(fn);
  assert.is(err.code, 'bad_request');
  return err;
}

const push = suite('parsePushEvent');

push('reads the fields pleaco acts on from a GitHub push payload', () => {
  const ev = parsePushEvent(fixture('push.json'));
  assert.is(ev.ref, 'refs/heads/main');
  assert.is(ev.branch, 'main');
  assert.is(ev.after, '0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c');
  assert.is(ev.deleted, false);
  assert.is(ev.headCommitMessage, 'Update README.md\n\nMention the new health endpoint.');
  assert.equal(ev.repoUrls.sort(), [
    'git://github.com/Acme/web.git',
    'git@github.com:Acme/web.git',
    'https://github.com/Acme/web',
    'https://github.com/Acme/web.git',
  ]);
});

push('a tag push has no branch', () => {
  const ev = parsePushEvent({ ...fixture('push.json'), ref: 'refs/tags/v1.0.0' });
  assert.is(ev.branch, null);
  assert.is(ev.ref, 'refs/tags/v1.0.0');
});

push('a branch deletion is reported as deleted, without a head commit', () => {
  const ev = parsePushEvent({ ...fixture('push.json'), after: '0'.repeat(40), deleted: true, head_commit: null, commits: [] });
  assert.is(ev.deleted, true);
  assert.is(ev.headCommitMessage, undefined);
});

push('malformed shapes are bad requests', () => {
  const base = fixture('push.json');
  badRequest(() => parsePushEvent(null));
  badRequest(() => parsePushEvent('refs/heads/main'));
  badRequest(() => parsePushEvent([base]));
  assert.match(badRequest(() => parsePushEvent({ ...base, ref: undefined })).message, /"ref"/);
  badRequest(() => parsePushEvent({ ...base, ref: 'main' }));
  assert.match(badRequest(() => parsePushEvent({ ...base, after: 'HEAD' })).message, /"after"/);
  assert.match(badRequest(() => parsePushEvent({ ...base, repository: 'Acme/web' })).message, /"repository"/);
  badRequest(() => parsePushEvent({ ...base, repository: { name: 'web' } }));
  badRequest(() => parsePushEvent({ ...base, deleted: 'no' }));
  badRequest(() => parsePushEvent({ ...base, head_commit: 'x' }));
});

push('a ping payload is not a push (bad request) but parses as a ping', () => {
  badRequest(() => parsePushEvent(fixture('ping.json')));
  const ping = parsePingEvent(fixture('ping.json'));
  assert.is(ping.zen, 'Design for failure.');
  assert.is(ping.hookId, 109948940);
  assert.ok(repoUrlMatches('https://github.com/acme/web', ping.repoUrls));
  badRequest(() => parsePingEvent({ hook_id: 1 }));
});

push.run();

const match = suite('repoUrlMatches');

match('every form of the same GitHub repository matches the push payload', () => {
  const { repoUrls } = parsePushEvent(fixture('push.json'));
  for (const app of [
    'https://github.com/Acme/web',
    'https://github.com/acme/web.git',
    'https://GITHUB.com/Acme/web/',
    'https://x-access-token:tok@github.com/Acme/web.git',
    'git@github.com:Acme/web.git',
    'git@github.com:acme/web',
    'ssh://git@github.com/Acme/web',
    'ssh://git@github.com:22/Acme/web.git',
    'git://github.com/Acme/web.git',
  ]) {
    assert.ok(repoUrlMatches(app, repoUrls), app);
  }
});

match('the three canonical spellings are the same repository', () => {
  for (const a of ['git@github.com:a/b.git', 'ssh://git@github.com/a/b', 'https://github.com/a/b']) {
    for (const b of ['git@github.com:a/b.git', 'ssh://git@github.com/a/b', 'https://github.com/a/b']) {
      assert.ok(repoUrlMatches(a, [b]), `${a} vs ${b}`);
    }
  }
});

match('other repositories, owners and hosts do not match', () => {
  const { repoUrls } = parsePushEvent(fixture('push.json'));
  for (const app of [
    'https://github.com/Acme/web2',
    'https://github.com/Acme/we',
    'https://github.com/Other/web',
    'https://gitlab.com/Acme/web',
    'git@github.com:Acme/web/extra.git',
    'https://github.com/Acme',
    '',
    'web',
  ]) {
    assert.not.ok(repoUrlMatches(app, repoUrls), app);
  }
  assert.not.ok(repoUrlMatches('https://github.com/Acme/web', []));
});

match('local repositories match by absolute path', () => {
  assert.ok(repoUrlMatches('file:///srv/git/web.git', ['/srv/git/web']));
  assert.not.ok(repoUrlMatches('file:///srv/git/web.git', ['/srv/git/api']));
});

match.run();
