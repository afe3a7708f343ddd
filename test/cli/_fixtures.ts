/** Canned records shaped like src/model/records.ts, for the fakeAgent's answers. */
import type { Build, Release, SlotStatus } from '../../src/model/index.js';
import { ago } from './_fake-agent.js';

export const COMMIT = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

export function build(over: Partial<Build> = {}): Build {
  return { id: 'b-7f3a2c', app: 'web', ref: 'main', status: 'queued', stage: 'queued', trigger: 'api', createdAt: ago(60_000), ...over };
}

export function release(n: number, over: Partial<Release> = {}): Release {
  return {
    app: 'web',
    number: n,
    kind: 'deploy',
    description: `Deploy ${COMMIT.slice(0, 7)}`,
    commit: COMMIT,
    image: `pleaco/web:v${n}`,
    imageId: 'sha256:abc',
    build: 'b-7f3a2c',
    test: { command: 'npm test', exitCode: 0, durationMs: 3200 },
    port: 5000,
    config: {},
    createdAt: ago(5 * 60_000),
    ...over,
  };
}

export function slot(i: number, over: Partial<SlotStatus> = {}): SlotStatus {
  return {
    app: 'web',
    slot: `web#${i}`,
    node: 'node-a',
    release: 3,
    containerId: `c${i}`,
    state: 'running',
    host: '127.0.0.1',
    hostPort: 32000 + i,
    restarts: 0,
    since: ago(5 * 60_000),
    ...over,
  };
}

export const appInfo = {
  name: 'web',
  repo: 'https://github.com/acme/web',
  branch: 'main',
  release: 3,
  replicas: 2,
  running: 2,
  url: 'http://web.pleaco.local',
  createdAt: ago(86_400_000),
  webhook: { path: '/v1/hooks/github', secret: 'whsec-do-not-print' },
  currentRelease: release(3),
  processes: [slot(1, { node: 'node-b' }), slot(0)],
  lastBuild: build({ status: 'succeeded', stage: 'done', release: 3, commit: COMMIT }),
  configKeys: ['DATABASE_URL', 'WORKERS'],
};
