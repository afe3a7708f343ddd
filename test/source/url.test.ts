import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { redactRepoUrl, validateBranch, validateRef, validateRepoUrl } from '../../src/model/index.js';
import { thrown } from './_helpers.js';

const refusal = thrown;

const urls = suite('validateRepoUrl');

const ACCEPTED: Array<[string, boolean, string]> = [
  // [input, allowLocal, normalized]
  ['https://github.com/acme/web', false, 'https://github.com/acme/web'],
  ['https://GitHub.com/acme/web.git', false, 'https://github.com/acme/web.git'],
  ['https://x-access-token:tok@github.com/acme/web.git', false, 'https://x-access-token:tok@github.com/acme/web.git'],
  ['https://git.example.com:8443/group/sub/repo', false, 'https://git.example.com:8443/group/sub/repo'],
  ['ssh://git@github.com/acme/web.git', false, 'ssh://git@github.com/acme/web.git'],
  ['ssh://git@Git.Example.com:2222/acme/web', false, 'ssh://git@git.example.com:2222/acme/web'],
  ['ssh://[::1]:22/srv/repo.git', false, 'ssh://[::1]:22/srv/repo.git'],
  ['git@github.com:acme/web.git', false, 'git@github.com:acme/web.git'],
  ['deploy@10.0.0.5:repos/web', false, 'deploy@10.0.0.5:repos/web'],
  ['http://127.0.0.1:8080/web.git', true, 'http://127.0.0.1:8080/web.git'],
  ['git://127.0.0.1:9418/web.git', true, 'git://127.0.0.1:9418/web.git'],
  ['file:///srv/git/web', true, 'file:///srv/git/web'],
  ['file:///srv/git/../git/web', true, 'file:///srv/git/web'],
  ['/srv/git/web.git', true, '/srv/git/web.git'],
];

for (const [input, allowLocal, normalized] of ACCEPTED) {
  urls(`accepts ${input} (allowLocal=${allowLocal})`, () => {
    assert.is(validateRepoUrl(input, { allowLocal }), normalized);
  });
}

const REFUSED: Array<[string, boolean, RegExp]> = [
  // [input, allowLocal, what the message must say]
  ['ext::sh -c touch% /tmp/pwned', true, /ext:: or fd::/],
  ['ext::sh', true, /never allowed/],
  ['fd::17', true, /never allowed/],
  ['--upload-pack=touch /tmp/x', true, /starts with "-"/],
  ['-oProxyCommand=touch /tmp/x', true, /starts with "-"/],
  ['ssh://-oProxyCommand=touch%20x/repo', true, /not a valid ssh URL/],
  ['git@-oProxyCommand=x:repo', true, /expected https:\/\//],
  // A user part that ssh would read as an option (`ssh -oProxyCommand=...@host`), in every URL form and escaped.
  ['ssh://-oProxyCommand=touch@host/x', false, /user name starts with "-"/],
  ['ssh://-oProxyCommand=touch%20x@github.com:22/acme/web', true, /user name starts with "-"/],
  ['git+ssh://-oProxyCommand=x@host/x', false, /user name starts with "-"/],
  ['ssh+git://-oProxyCommand=x@host/x', false, /user name starts with "-"/],
  ['ssh://%2DoProxyCommand=x@host/x', false, /user name starts with "-"/],
  ['https://-oProxyCommand=x@github.com/acme/web', false, /user name starts with "-"/],
  ['https://%2Dx:pw@github.com/acme/web', false, /user name starts with "-"/],
  ['https://github.com/acme/web\nfoo', false, /whitespace or control/],
  [' https://github.com/acme/web', false, /whitespace or control/],
  ['https://github.com/acme/we\u0000b', false, /whitespace or control/],
  ['', false, /empty/],
  [`https://github.com/${'a'.repeat(2050)}`, false, /longer than 2048/],
  ['file:///x', false, /PLEACO_ALLOW_LOCAL_REPOS=true/],
  ['/srv/git/web', false, /PLEACO_ALLOW_LOCAL_REPOS=true/],
  ['git://github.com/acme/web', false, /unauthenticated.*PLEACO_ALLOW_LOCAL_REPOS=true/],
  ['http://github.com/acme/web', false, /unencrypted.*PLEACO_ALLOW_LOCAL_REPOS=true/],
  ['file://otherhost/srv/web', true, /no host/],
  ['./web', true, /relative local paths/],
  ['../web', true, /relative local paths/],
  ['web', true, /relative local paths/],
  ['origin', false, /expected https:\/\//],
  ['ftp://example.com/web.git', false, /ftp:\/\/ scheme is not supported/],
  ['https://github.com/', false, /path is missing/],
  ['https://github.com/acme/web?x=1', false, /query string/],
];

for (const [input, allowLocal, message] of REFUSED) {
  urls(`refuses ${JSON.stringify(input.slice(0, 60))} (allowLocal=${allowLocal})`, () => {
    const err = refusal(() => validateRepoUrl(input, { allowLocal }));
    assert.is(err.code, 'invalid_repo_url');
    assert.is(err.status, 400);
    assert.match(err.message, message);
  });
}

urls('file:///x is refused without allowLocal and accepted with it', () => {
  assert.is(refusal(() => validateRepoUrl('file:///x', { allowLocal: false })).code, 'invalid_repo_url');
  assert.is(validateRepoUrl('file:///x', { allowLocal: true }), 'file:///x');
});

urls('a refusal never echoes credentials', () => {
  const err = refusal(() => validateRepoUrl('http://bob:s3cret@example.com/a/b', { allowLocal: false }));
  assert.not.match(err.message, /s3cret/);
  assert.match(err.message, /\*\*\*@example\.com/);
});

urls.run();

const refs = suite('validateRef / validateBranch / redactRepoUrl');

for (const ok of ['main', 'feature/login', 'v1.2.3', 'refs/heads/main', 'refs/tags/v1', 'a1b2c3d', '0123456789abcdef0123456789abcdef01234567', 'release-2024_01']) {
  refs(`accepts ref ${ok}`, () => {
    assert.is(validateRef(ok), ok);
  });
}

const BAD_REFS: Array<[string, RegExp]> = [
  ['', /empty/],
  ['--output=/tmp/x', /starts with "-"/],
  ['-n', /starts with "-"/],
  ['main..dev', /"\.\."/],
  ['ma in', /spaces or control/],
  ['main\n', /spaces or control/],
  ['HEAD~1', /~ \^ :/],
  ['main^{tree}', /~ \^ :/],
  ['a:b', /~ \^ :/],
  ['fea*', /~ \^ :/],
  ['x[1]', /~ \^ :/],
  ['a\\b', /~ \^ :/],
  ['main@{1}', /@\{/],
  ['main.lock', /\.lock/],
  ['main/', /empty path component/],
  ['/main', /empty path component/],
  ['a//b', /empty path component/],
  ['.hidden', /starts with "\."/],
  ['x'.repeat(256), /longer than 255/],
];

for (const [bad, message] of BAD_REFS) {
  refs(`refuses ref ${JSON.stringify(bad.slice(0, 40))}`, () => {
    const err = refusal(() => validateRef(bad));
    assert.is(err.code, 'invalid_ref');
    assert.match(err.message, message);
  });
}

refs('validateBranch applies the same rules and strips refs/heads/', () => {
  assert.is(validateBranch('main'), 'main');
  assert.is(validateBranch('refs/heads/feature/x'), 'feature/x');
  assert.is(refusal(() => validateBranch('--all')).code, 'invalid_ref');
  assert.match(refusal(() => validateBranch('a..b')).message, /invalid branch/);
});

refs('redactRepoUrl removes userinfo', () => {
  assert.is(redactRepoUrl('https://x:tok@github.com/a/b'), 'https://***@github.com/a/b');
  assert.is(redactRepoUrl('https://ghp_abcdef@github.com/a/b.git'), 'https://***@github.com/a/b.git');
  assert.is(redactRepoUrl('https://github.com/a/b'), 'https://github.com/a/b');
  assert.is(redactRepoUrl('git@github.com:a/b.git'), 'git@github.com:a/b.git');
});

refs.run();
