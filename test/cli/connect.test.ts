import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CliError } from '../../src/cli/args.js';
import { findNode, parseApi, type FileSystem } from '../../src/cli/connect.js';

let root: string;
/** The real file system, minus /var/lib/pleaco (this machine may or may not run a node). */
const localFs: FileSystem = {
  exists: (p) => !p.startsWith('/var/lib/pleaco') && existsSync(p),
  readFile: (p) => readFileSync(p, 'utf8'),
};

function stateDir(name: string, token: string | null = 'tok-abc\n'): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'agent.sock'), ''); // only its existence matters here
  if (token !== null) writeFileSync(join(dir, 'token'), token, { mode: 0o600 });
  return dir;
}

function cliError(fn: () => unknown, match: RegExp): CliError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, CliError);
    assert.match((err as Error).message, match);
    return err as CliError;
  }
  throw new Error(`expected a CliError matching ${match}`);
}

test.before(() => {
  root = mkdtempSync(join(tmpdir(), 'pleaco-cli-connect-'));
});
test.after(() => rmSync(root, { recursive: true, force: true }));

test('--api / PLEACO_API with a token win over state dirs', () => {
  const dir = stateDir('explicit');
  const env = { PLEACO_API: 'http://10.1.0.5:7070', PLEACO_TOKEN: 'env-tok', PLEACO_STATE_DIR: dir };
  assert.equal(findNode({ env, cwd: root, fs: localFs }).client, { url: 'http://10.1.0.5:7070', token: 'env-tok' });
  const flags = findNode({ api: '127.0.0.1:7071', token: 'flag-tok', env, cwd: root, fs: localFs });
  assert.equal(flags.client, { url: 'http://127.0.0.1:7071', token: 'flag-tok' });
  assert.is(flags.source, '--api');
  cliError(() => findNode({ api: 'http://h:1', env: {}, cwd: root, fs: localFs }), /--api is set but no token: set PLEACO_TOKEN/);
});

test('parseApi: URLs, host:port, socket paths; no credentials, no https', () => {
  assert.equal(parseApi('http://h:7070/ignored', '/'), { url: 'http://h:7070' });
  assert.equal(parseApi('h:7070', '/'), { url: 'http://h:7070' });
  assert.equal(parseApi('/var/lib/pleaco/agent.sock', '/'), { socketPath: '/var/lib/pleaco/agent.sock' });
  assert.equal(parseApi('unix:.pleaco/agent.sock', '/repo'), { socketPath: '/repo/.pleaco/agent.sock' });
  cliError(() => parseApi('http://user:pw@h:1', '/'), /must not carry credentials/);
  cliError(() => parseApi('https://h', '/'), /http:\/\/ URL/);
});

test('PLEACO_STATE_DIR: its socket and token (trimmed)', () => {
  const dir = stateDir('state');
  const c = findNode({ env: { PLEACO_STATE_DIR: dir }, cwd: root, fs: localFs });
  assert.equal(c.client, { socketPath: join(dir, 'agent.sock'), token: 'tok-abc' });
  assert.is(c.source, 'PLEACO_STATE_DIR');
  const withEnvToken = findNode({ env: { PLEACO_STATE_DIR: dir, PLEACO_TOKEN: 'override' }, cwd: root, fs: localFs });
  assert.is(withEnvToken.client.token, 'override');
  const e = cliError(() => findNode({ env: { PLEACO_STATE_DIR: join(root, 'nothing') }, cwd: root, fs: localFs }), /no pleaco node socket at .*nothing\/agent\.sock \(PLEACO_STATE_DIR\)/);
  assert.match(e.hint.join('\n'), /make up/);
});

test('./.pleaco relative to the working directory, then /var/lib/pleaco', () => {
  const repo = join(root, 'repo');
  const dir = stateDir('repo/.pleaco');
  assert.equal(findNode({ env: {}, cwd: repo, fs: localFs }).client, { socketPath: join(dir, 'agent.sock'), token: 'tok-abc' });
  const fake: FileSystem = {
    exists: (p) => p === '/var/lib/pleaco/agent.sock',
    readFile: (p) => {
      if (p === '/var/lib/pleaco/token') throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    },
  };
  const e = cliError(() => findNode({ env: {}, cwd: join(root, 'elsewhere'), fs: fake }), /cannot read the API token at \/var\/lib\/pleaco\/token: permission denied/);
  assert.match(e.hint[0] ?? '', /sudo.*PLEACO_TOKEN/);
  assert.equal(findNode({ env: { PLEACO_TOKEN: 't' }, cwd: '/x', fs: fake }).client, { socketPath: '/var/lib/pleaco/agent.sock', token: 't' });
});

test('nothing found: says how to start a node or pass --api', () => {
  const e = cliError(() => findNode({ env: {}, cwd: join(root, 'empty'), fs: localFs }), /^no pleaco node found: no agent.sock in \.\/\.pleaco or \/var\/lib\/pleaco$/);
  assert.match(e.hint.join('\n'), /make up/);
  assert.match(e.hint.join('\n'), /PLEACO_API=/);
});

test('missing or empty token file', () => {
  const none = stateDir('no-token', null);
  cliError(() => findNode({ env: { PLEACO_STATE_DIR: none }, cwd: root, fs: localFs }), /no token at .*no-token\/token/);
  const empty = stateDir('empty-token', '\n');
  cliError(() => findNode({ env: { PLEACO_STATE_DIR: empty }, cwd: root, fs: localFs }), /is empty/);
});

test('a socket path too long for sun_path is used relative to the working directory', () => {
  const deep = join(root, 'd'.repeat(60), 'e'.repeat(60));
  const dir = stateDir(`${'d'.repeat(60)}/${'e'.repeat(60)}/.pleaco`);
  const c = findNode({ env: {}, cwd: deep, fs: localFs });
  assert.is(c.client.socketPath, '.pleaco/agent.sock');
  assert.is(c.where, join(dir, 'agent.sock'));
});

test.run();
