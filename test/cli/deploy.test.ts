/** deploy and builds against fakeAgent: the DeployEvent stream rendering, failure, superseded, Ctrl-C. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ago, cli, fakeAgent, type FakeAgent, type Reply } from './_fake-agent.js';
import { build, COMMIT, slot } from './_fixtures.js';

const EVENTS = '/v1/apps/web/builds/b-7f3a2c/events';
const running = (over = {}) => build({ status: 'running', node: 'node-a', ...over });

// As the real builder writes its log (src/builder/pipeline.ts): `-----> ` headers, output indented by 7. Log
// lines are shipped in batches, so they lag the build record's stage changes, as on a real node.
const FETCH_LOG = [
  { type: 'log', line: '-----> Fetching https://github.com/acme/web (ref main)' },
  { type: 'log', line: '       remote: Enumerating objects: 10, done.' },
  { type: 'log', line: '       commit 4b825dc: Add the front page' },
];
const QUEUED = { type: 'build', build: build() };
const FETCHING = { type: 'build', build: running({ stage: 'fetch' }) };
const TESTING = { type: 'build', build: running({ stage: 'test', commit: COMMIT, builder: 'docker' }) };
const SUCCEEDED = { type: 'build', build: running({ status: 'succeeded', stage: 'done', commit: COMMIT, builder: 'docker', release: 3, test: { command: 'npm test', exitCode: 0, durationMs: 3200 } }) };
const DONE = { type: 'done', ok: true, release: 3, url: 'http://web.pleaco.local' };

const SUCCESS = [
  QUEUED,
  FETCHING,
  ...FETCH_LOG,
  { type: 'build', build: running({ stage: 'build', commit: COMMIT, builder: 'docker' }) },
  { type: 'log', line: '-----> Building with docker' },
  { type: 'log', line: '       Step 1/3 : FROM busybox:latest\r' },
  { type: 'log', line: '       Step 2/3 : COPY . /app\n       Step 3/3 : CMD ["httpd"]' },
  TESTING,
  { type: 'log', line: '       Successfully built 4f2a9c1b7e3d' },
  { type: 'log', line: '       image pleaco/web:b-7f3a2c (sha256:4f2a9c1b7e3d) built in 2.1s' },
  { type: 'log', line: '-----> Testing: npm test' },
  { type: 'log', line: '       1 passing' },
  { type: 'build', build: running({ stage: 'release', commit: COMMIT, builder: 'docker', test: { command: 'npm test', exitCode: 0, durationMs: 3200 } }) },
  { type: 'log', line: '-----> Test passed in 3.2s' },
  { type: 'log', line: '-----> Releasing 4b825dc (port 5000, from EXPOSE)' },
  { type: 'log', line: '-----> Created release v3' },
  SUCCEEDED,
  { type: 'rollout', release: 3, slots: [slot(0, { state: 'starting' })] },
  { type: 'rollout', release: 3, slots: [slot(0, { state: 'starting' })] },
  { type: 'rollout', release: 3, slots: [slot(0), slot(1, { node: 'node-b', state: 'starting' })] },
  { type: 'rollout', release: 3, slots: [slot(0), slot(1, { node: 'node-b' })] },
  DONE,
];

/** How SUCCESS's log lines are shown: the builder's narrative, as it wrote it. */
const BUILD_LOG_OUT = [
  '-----> Fetching https://github.com/acme/web (ref main)',
  '       remote: Enumerating objects: 10, done.',
  '       commit 4b825dc: Add the front page',
  '-----> Building with docker',
  '       Step 1/3 : FROM busybox:latest',
  '       Step 2/3 : COPY . /app',
  '       Step 3/3 : CMD ["httpd"]',
  '       Successfully built 4f2a9c1b7e3d',
  '       image pleaco/web:b-7f3a2c (sha256:4f2a9c1b7e3d) built in 2.1s',
  '-----> Testing: npm test',
  '       1 passing',
  '-----> Test passed in 3.2s',
  '-----> Releasing 4b825dc (port 5000, from EXPOSE)',
  '-----> Created release v3',
];

const ROLLOUT_OUT = [
  '-----> Rolling out v3',
  '       web#0 starting on node-a',
  '       web#0 running on node-a',
  '       web#1 starting on node-b',
  '       web#1 running on node-b',
  'Released v3 — http://web.pleaco.local',
];

/** Every `-----> ` header is shown once: the builder's log and the CLI do not both narrate a stage. */
function headersOnce(lines: string[]): void {
  const headers = lines.filter((l) => l.startsWith('----->'));
  assert.equal(headers, [...new Set(headers)], `a header appears twice:\n${lines.join('\n')}`);
}

async function agentWith(events: Reply, extra: Record<string, Reply> = {}): Promise<FakeAgent> {
  return fakeAgent({
    'POST /v1/apps/web/deploys': { status: 202, json: { build: build() } },
    [`GET ${EVENTS}`]: events,
    ...extra,
  });
}

test('deploy: POSTs the ref, follows the events and renders stages, logs and rollout', async () => {
  const agent = await agentWith({ ndjson: SUCCESS });
  try {
    const r = await cli(['deploy', 'web', '--ref', 'main'], agent);
    assert.is(r.code, 0, r.stderr);
    assert.equal(agent.requests.map((q) => [q.method, q.url, q.body]), [
      ['POST', '/v1/apps/web/deploys', { ref: 'main' }],
      ['GET', `${EVENTS}?follow=1`, undefined],
    ]);
    assert.equal(r.out, [
      'Deploying web (main): build b-7f3a2c',
      '-----> Queued: waiting for a builder',
      ...BUILD_LOG_OUT,
      ...ROLLOUT_OUT,
    ]);
    headersOnce(r.out);
    assert.is(r.stderr, '');
  } finally {
    await agent.close();
  }
});

test('deploy: colour on a terminal only', async () => {
  const agent = await agentWith({ ndjson: SUCCESS });
  try {
    const plain = await cli(['deploy', 'web'], agent);
    assert.not.match(plain.stdout, /\u001b\[/);
    assert.equal(agent.requests[0]?.body, {}, 'no ref: the app branch');
    const color = await cli(['deploy', 'web'], agent, { color: true });
    // The builder's `-----> ` lines are headers styled like the CLI's own (Rolling out).
    assert.ok(color.out.includes('\u001b[36m----->\u001b[39m \u001b[1mReleasing 4b825dc (port 5000, from EXPOSE)\u001b[22m'), color.stdout);
    assert.ok(color.out.includes('\u001b[36m----->\u001b[39m \u001b[1mRolling out v3\u001b[22m'), color.stdout);
    assert.ok(color.out.includes('       1 passing'), color.stdout);
    const off = await cli(['deploy', 'web', '--no-color'], agent, { color: true });
    assert.not.match(off.stdout, /\u001b\[/);
  } finally {
    await agent.close();
  }
});

test('deploy: a failed build ends with the builder\'s verdict, then the message and code, exit 1', async () => {
  const failed = { type: 'build', build: running({ status: 'failed', stage: 'test', commit: COMMIT, builder: 'docker', test: { command: 'npm test', exitCode: 1, durationMs: 900 }, error: { code: 'test_failed', message: 'the test command exited with code 1' } }) };
  const agent = await agentWith({
    ndjson: [
      TESTING, // followed while it runs: no queued header, the record's stage is not narrated
      { type: 'log', line: '-----> Testing: npm test' },
      { type: 'log', line: '       not ok 1 - adds' },
      { type: 'log', line: '-----> Test failed (exit code 1) in 0.9s' },
      { type: 'log', line: '-----> Build failed: the test command exited with code 1' },
      failed,
      { type: 'done', ok: false, error: { code: 'test_failed', message: 'the test command exited with code 1' } },
    ],
  });
  try {
    const r = await cli(['deploy', 'web'], agent);
    assert.is(r.code, 1);
    assert.equal(r.out, [
      'Deploying web (main): build b-7f3a2c',
      '-----> Testing: npm test',
      '       not ok 1 - adds',
      '-----> Test failed (exit code 1) in 0.9s',
      '-----> Build failed: the test command exited with code 1',
    ]);
    assert.equal(r.err, ['Deploy failed: the test command exited with code 1 (test_failed)']);
  } finally {
    await agent.close();
  }
});

test('deploy: skipped tests — the builder\'s log says the release is not gated, shown once', async () => {
  const skipped = { command: null, skipped: 'no test command in app config or pleaco.json/yaml: release not gated' };
  const agent = await agentWith({
    ndjson: [
      FETCHING,
      ...FETCH_LOG,
      { type: 'build', build: running({ stage: 'release', commit: COMMIT, test: skipped }) }, // ahead of its log lines
      { type: 'log', line: '-----> No test command (app config or pleaco.json/yaml): the release is not gated by tests' },
      { type: 'log', line: '-----> Releasing 4b825dc (port 5000, from EXPOSE)' },
      { type: 'log', line: '-----> Created release v3' },
      { type: 'build', build: running({ status: 'succeeded', stage: 'done', commit: COMMIT, release: 3, test: skipped }) },
      { type: 'rollout', release: 3, slots: [slot(0)] },
      DONE,
    ],
  });
  try {
    const r = await cli(['deploy', 'web'], agent);
    assert.is(r.code, 0, r.stderr);
    assert.equal(r.out, [
      'Deploying web (main): build b-7f3a2c',
      '-----> Fetching https://github.com/acme/web (ref main)',
      '       remote: Enumerating objects: 10, done.',
      '       commit 4b825dc: Add the front page',
      '-----> No test command (app config or pleaco.json/yaml): the release is not gated by tests',
      '-----> Releasing 4b825dc (port 5000, from EXPOSE)',
      '-----> Created release v3',
      '-----> Rolling out v3',
      '       web#0 running on node-a',
      'Released v3 — http://web.pleaco.local',
    ]);
    headersOnce(r.out);
  } finally {
    await agent.close();
  }
});

test('deploy: skipped tests the log does not mention get a yellow note, once, before the rollout', async () => {
  const skipped = { command: null, skipped: 'no test command' };
  const events = [
    { type: 'build', build: running({ stage: 'release', commit: COMMIT, test: skipped }) },
    { type: 'log', line: 'Releasing' }, // a builder that does not indent: indented here
    { type: 'build', build: running({ status: 'succeeded', stage: 'done', commit: COMMIT, release: 3, test: skipped }) },
    { type: 'rollout', release: 3, slots: [slot(0)] },
    { type: 'rollout', release: 3, slots: [slot(0, { restarts: 1 })] },
    DONE,
  ];
  const agent = await agentWith({ ndjson: events });
  try {
    const r = await cli(['deploy', 'web'], agent);
    assert.is(r.code, 0, r.stderr);
    assert.equal(r.out, [
      'Deploying web (main): build b-7f3a2c',
      '       Releasing',
      '       tests skipped: no test command (this release is not gated by tests)',
      '-----> Rolling out v3',
      '       web#0 running on node-a',
      '       web#0 running on node-a',
      'Released v3 — http://web.pleaco.local',
    ]);
    const color = await cli(['deploy', 'web'], agent, { color: true });
    assert.ok(color.out.includes('       \u001b[33mtests skipped: no test command (this release is not gated by tests)\u001b[39m'), color.stdout);
  } finally {
    await agent.close();
  }
});

test('builds:info -f of a finished build replays the builder\'s log: no queued header, no record-derived lines', async () => {
  const agent = await agentWith({ ndjson: [SUCCEEDED, ...SUCCESS.filter((e) => e.type === 'log'), { type: 'rollout', release: 3, slots: [slot(0)] }, DONE] });
  try {
    const r = await cli(['builds:info', 'web', 'b-7f3a2c', '-f'], agent);
    assert.is(r.code, 0, r.stderr);
    assert.equal(r.out, [...BUILD_LOG_OUT, '-----> Rolling out v3', '       web#0 running on node-a', 'Released v3 — http://web.pleaco.local']);
    headersOnce(r.out);
  } finally {
    await agent.close();
  }
});

test('deploy: superseded says by which build; replaced builds are announced', async () => {
  const agent = await agentWith(
    { ndjson: [QUEUED, { type: 'done', ok: false, error: { code: 'superseded', message: 'a newer deploy replaced this build' } }] },
    {
      'POST /v1/apps/web/deploys': { status: 202, json: { build: build(), replaced: 'b-0000aa' } },
      'GET /v1/apps/web/builds': { json: { builds: [build({ id: 'b-9c1d4e', ref: 'main', createdAt: ago(1000) }), build(), build({ id: 'b-0000aa', createdAt: ago(120_000), status: 'superseded' })] } },
    },
  );
  try {
    const r = await cli(['deploy', 'web'], agent);
    assert.is(r.code, 1);
    assert.is(r.out[1], '(replaces queued build b-0000aa, which will not run)');
    assert.equal(r.err, [
      'Deploy failed: a newer deploy replaced this build (superseded)',
      'Superseded by build b-9c1d4e (main, queued); follow it with: pleaco builds:info web b-9c1d4e -f',
    ]);
  } finally {
    await agent.close();
  }
});

test('deploy: a rollout that fails shows the new containers and the crashed replica\'s last output', async () => {
  const pending = { slot: 'web#0', release: 4, containerId: 'c9', state: 'starting', since: ago(0), restarts: 0 };
  const agent = await agentWith({
    ndjson: [
      QUEUED,
      { type: 'rollout', release: 4, slots: [pending] },
      { type: 'rollout', release: 4, slots: [{ ...pending, state: 'backoff', restarts: 1, lastExitCode: 3 }] },
      { type: 'done', ok: false, release: 4, error: { code: 'rollout_failed', message: 'release v4 does not stay up: web#0 exited with code 3' }, lastLog: 'listening...\nError: no DATABASE_URL\n' },
    ],
  });
  try {
    const r = await cli(['deploy', 'web'], agent);
    assert.is(r.code, 1);
    assert.equal(r.out.slice(-3), ['-----> Rolling out v4', '       web#0 starting', '       web#0 backoff (exit 3, 1 restarts)']);
    assert.equal(r.err, [
      'Last output of the failing replica:',
      '       listening...',
      '       Error: no DATABASE_URL',
      'Deploy failed: release v4 does not stay up: web#0 exited with code 3 (rollout_failed)',
    ]);
  } finally {
    await agent.close();
  }
});

test('deploy: a note on `done` is shown (a newer release took over)', async () => {
  const agent = await agentWith({ ndjson: [QUEUED, { type: 'done', ok: true, release: 3, url: null, note: 'v3 is no longer the current release' }] });
  try {
    const r = await cli(['deploy', 'web'], agent);
    assert.is(r.code, 0);
    assert.equal(r.out.slice(-2), ['Released v3', '(v3 is no longer the current release)']);
  } finally {
    await agent.close();
  }
});

test('deploy: does not wait for the server to close after `done`', async () => {
  const agent = await agentWith({ ndjson: [QUEUED, DONE], hold: true });
  try {
    const r = await cli(['deploy', 'web'], agent);
    assert.is(r.code, 0);
    assert.is(r.out[r.out.length - 1], 'Released v3 — http://web.pleaco.local');
  } finally {
    await agent.close();
  }
});

test('deploy: Ctrl-C stops following, says the deploy continues, exit 130', async () => {
  const agent = await agentWith({ ndjson: SUCCESS.slice(0, 3), hold: true });
  try {
    const r = await cli(['deploy', 'web'], agent, { onInterruptSubscribed: (fire) => setTimeout(fire, 150) });
    assert.is(r.code, 130);
    assert.equal(r.out, ['Deploying web (main): build b-7f3a2c', '-----> Queued: waiting for a builder', '-----> Fetching https://github.com/acme/web (ref main)']);
    assert.match(r.stderr, /Stopped following\. The deploy continues on the node; check on it with: pleaco builds:info web b-7f3a2c/);
  } finally {
    await agent.close();
  }
});

test('deploy: a stream that ends without `done` is an error with a hint', async () => {
  const agent = await agentWith({ ndjson: SUCCESS.slice(0, 2) });
  try {
    const r = await cli(['deploy', 'web'], agent);
    assert.is(r.code, 1);
    assert.match(r.err[0] ?? '', /^error: the event stream ended before the deploy finished/);
    assert.match(r.err[1] ?? '', /pleaco builds:info web b-7f3a2c/);
  } finally {
    await agent.close();
  }
});

test('deploy --no-follow: queues and returns', async () => {
  const agent = await agentWith({ ndjson: SUCCESS });
  try {
    const r = await cli(['deploy', 'web', '--no-follow'], agent);
    assert.is(r.code, 0);
    assert.is(agent.requests.length, 1);
    assert.is(r.out[1], 'Follow it with: pleaco builds:info web b-7f3a2c -f');
  } finally {
    await agent.close();
  }
});

test('builds, builds:info and builds:info -f', async () => {
  const done = build({ status: 'failed', stage: 'done', commit: COMMIT, node: 'node-a', startedAt: ago(50_000), finishedAt: ago(5_000), durations: { fetch: 1200, build: 30_000, test: 9000 }, test: { command: 'npm test', exitCode: 1, output: 'not ok 1 - adds\n' }, error: { code: 'test_failed', message: 'tests failed' } });
  const agent = await agentWith({ ndjson: SUCCESS }, {
    'GET /v1/apps/web/builds': { json: { builds: [done, build({ id: 'b-1', status: 'running', stage: 'build', startedAt: ago(10_000) })] } },
    'GET /v1/apps/web/builds/b-7f3a2c': { json: { build: done } },
  });
  try {
    const list = await cli(['builds', 'web'], agent);
    assert.is(list.out[0], '=== web builds');
    assert.match(list.out[1] ?? '', /^ID\s+STATUS\s+REF\s+COMMIT\s+RELEASE\s+TRIGGER\s+CREATED\s+TOOK$/);
    assert.match(list.out[2] ?? '', /^b-7f3a2c\s+failed\s+main\s+4b825dc\s+-\s+api\s+1 minute ago\s+45s$/);
    assert.match(list.out[3] ?? '', /^b-1\s+running \(build\)\s+main\s+-\s+-\s+api\s+1 minute ago\s+running$/);
    const info = await cli(['builds:info', 'web', 'b-7f3a2c'], agent);
    assert.ok(info.out.includes('Error:   tests failed (test_failed)'), info.stdout);
    assert.ok(info.out.includes('Took:    45s (fetch 1.2s, build 30s, test 9.0s)'), info.stdout);
    assert.ok(info.out.includes('not ok 1 - adds'));
    const follow = await cli(['builds:info', 'web', 'b-7f3a2c', '-f'], agent);
    assert.is(follow.code, 0);
    assert.is(agent.requests[agent.requests.length - 1]?.url, `${EVENTS}?follow=1`);
    assert.is(follow.out[follow.out.length - 1], 'Released v3 — http://web.pleaco.local');
  } finally {
    await agent.close();
  }
});

test.run();
