import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, parseBytes } from '../../src/config/index.js';
import { PleacoError } from '../../src/errors.js';
import { DEFAULT_DEADLINES, scaledDeadlines } from '../../src/runtime/docker/index.js';
import { tempDir } from '../helpers/tmp.js';

function fails(env: Record<string, string>, re: RegExp): void {
  try {
    loadConfig({ PLEACO_CONFIG: '', ...env });
  } catch (err) {
    assert.instance(err, PleacoError);
    assert.is((err as PleacoError).code, 'invalid_config');
    assert.match((err as PleacoError).message, re);
    return;
  }
  assert.unreachable(`accepted ${JSON.stringify(env)}`);
}

test('defaults: state in /var/lib/pleaco, API on loopback 7070, docker builder, local repos refused', () => {
  const c = loadConfig({ PLEACO_CONFIG: '' });
  assert.is(c.stateDir, '/var/lib/pleaco');
  assert.is(c.socketPath, '/var/lib/pleaco/agent.sock');
  assert.equal([c.api.host, c.api.port], ['127.0.0.1', 7070]);
  assert.is(c.build.backend, 'docker');
  assert.is(c.source.allowLocal, false);
});

test('environment overrides the file, the file overrides defaults', () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'pleaco.json');
    writeFileSync(file, JSON.stringify({ stateDir: '/srv/pleaco', api: { port: 8000 }, build: { backend: 'kaniko' } }));
    const c = loadConfig({ PLEACO_CONFIG: file, PLEACO_API_PORT: '9000', PLEACO_POLL_INTERVAL: '15', PLEACO_BUILD_MEMORY: '512m' });
    assert.is(c.stateDir, '/srv/pleaco');
    assert.is(c.socketPath, '/srv/pleaco/agent.sock');
    assert.is(c.api.port, 9000);
    assert.is(c.api.host, '127.0.0.1', 'keys the file does not set keep their defaults');
    assert.is(c.build.backend, 'kaniko');
    assert.is(c.source.pollIntervalMs, 15_000);
    assert.is(c.build.memoryBytes, 512 * 1024 * 1024);
    writeFileSync(file, '{ not json');
    fails({ PLEACO_CONFIG: file }, /not valid JSON/);
  } finally {
    cleanup();
  }
});

test('bad values are refused with a message naming the variable', () => {
  fails({ PLEACO_API_PORT: 'http' }, /PLEACO_API_PORT must be an integer/);
  fails({ PLEACO_API_PORT: '70000' }, /between 0 and 65535/);
  fails({ PLEACO_BUILDER: 'buildah' }, /PLEACO_BUILDER must be docker or kaniko/);
  fails({ PLEACO_ALLOW_LOCAL_REPOS: 'maybe' }, /true or false/);
  fails({ PLEACO_BUILD_MEMORY: '10m' }, /at least 64m/);
  fails({ PLEACO_BUILD_MEMORY: 'lots' }, /size like 512m/);
  fails({ PLEACO_LOG_LEVEL: 'loud' }, /PLEACO_LOG_LEVEL/);
  fails({ PLEACO_CONFIG: '/nonexistent/pleaco.json' }, /cannot read config file/);
});

test('proxy: 8080 on 127.0.0.1 for *.localhost by default; file, then env', () => {
  assert.equal(loadConfig({ PLEACO_CONFIG: '' }).proxy, { port: 8080, domain: 'localhost', bindHost: '127.0.0.1', pdeathsig: true });
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'pleaco.json');
    writeFileSync(file, JSON.stringify({ proxy: { port: 80, domain: 'apps.example.com' } }));
    assert.equal(loadConfig({ PLEACO_CONFIG: file }).proxy, { port: 80, domain: 'apps.example.com', bindHost: '127.0.0.1', pdeathsig: true });
    const c = loadConfig({ PLEACO_CONFIG: file, PLEACO_PROXY_PORT: '8443', PLEACO_DOMAIN: 'Pleaco.Test', PLEACO_PROXY_BIND: '0.0.0.0', PLEACO_PROXY_PDEATHSIG: 'false' });
    assert.equal(c.proxy, { port: 8443, domain: 'pleaco.test', bindHost: '0.0.0.0', pdeathsig: false });
    assert.is(loadConfig({ PLEACO_CONFIG: '', PLEACO_PROXY_BIND: '::' }).proxy.bindHost, '::');
    writeFileSync(file, JSON.stringify({ proxy: { port: '80' } }));
    fails({ PLEACO_CONFIG: file }, /proxy.port must be between 1 and 65535/);
  } finally {
    cleanup();
  }
  fails({ PLEACO_PROXY_PORT: '0' }, /PLEACO_PROXY_PORT must be between 1 and 65535/);
  fails({ PLEACO_PROXY_PORT: 'eighty' }, /PLEACO_PROXY_PORT must be an integer/);
  fails({ PLEACO_DOMAIN: '*.example.com' }, /PLEACO_DOMAIN must be a DNS name/);
  fails({ PLEACO_DOMAIN: 'bad_domain' }, /PLEACO_DOMAIN/);
  fails({ PLEACO_DOMAIN: '-x.example.com' }, /PLEACO_DOMAIN/);
  fails({ PLEACO_PROXY_BIND: 'localhost' }, /PLEACO_PROXY_BIND must be an IP address/);
});

test('Docker deadlines: as documented by default, stretched by PLEACO_DOCKER_DEADLINE_SCALE, bad scales refused', () => {
  assert.is(loadConfig({ PLEACO_CONFIG: '' }).docker.deadlineScale, 1);
  assert.equal(scaledDeadlines(1), DEFAULT_DEADLINES);
  const scale = loadConfig({ PLEACO_CONFIG: '', PLEACO_DOCKER_DEADLINE_SCALE: '10' }).docker.deadlineScale;
  const d = scaledDeadlines(scale);
  assert.equal([d.pingMs, d.callMs, d.firstByteMs, d.livenessEveryMs], [30_000, 300_000, 300_000, 100_000]);
  assert.is(d.livenessFailures, DEFAULT_DEADLINES.livenessFailures, 'a long call still ends after as many missed pings');
  fails({ PLEACO_DOCKER_DEADLINE_SCALE: '0' }, /PLEACO_DOCKER_DEADLINE_SCALE must be between 1 and 20/);
  fails({ PLEACO_DOCKER_DEADLINE_SCALE: '1.5' }, /PLEACO_DOCKER_DEADLINE_SCALE must be an integer/);
});

test('sizes', () => {
  assert.is(parseBytes('x', '2g'), 2 * 1024 ** 3);
  assert.is(parseBytes('x', '1048576'), 1048576);
  assert.is(parseBytes('x', undefined), undefined);
});

test.run();
