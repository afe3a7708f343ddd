/**
 * `make up`: one node in the foreground. Starts agent, builder, runner and proxy (the systemd units'
 * entry points) under a small supervisor, creates the bundled example app from a local git
 * repository, deploys it, and prints the routed app URL (once it answers through the proxy), a
 * replica's direct URL, the API address and the token. Ctrl-C stops the
 * processes; containers and state stay, and the next `make up` reuses them.
 */
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentClient } from '../link/index.js';
import { loadConfig } from '../config/index.js';
import type { Build } from '../model/index.js';
import { PleacoError } from '../errors.js';
import { DeployRenderer } from '../cli/index.js';
import { connectToAgent } from './node.js';
import { Supervisor } from './supervisor.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const APP = 'hello';

function say(line: string): void {
  process.stdout.write(line + '\n');
}

/** Shows warnings and errors from the processes; everything is in <state>/logs/<proc>.log. */
function showLine(proc: string, line: string): void {
  try {
    const rec = JSON.parse(line) as { level?: string; msg?: string; err?: { message?: string } };
    if (rec.level === 'warn' || rec.level === 'error') say(`  [${proc}] ${rec.level}: ${rec.msg}${rec.err?.message ? ` (${rec.err.message})` : ''}`);
  } catch {
    if (line.trim()) say(`  [${proc}] ${line}`);
  }
}

/** The example app's source as a local git repository (made once, from examples/hello). */
function exampleRepo(stateDir: string): string {
  const repo = join(stateDir, 'example', APP);
  if (existsSync(join(repo, '.git'))) return repo;
  mkdirSync(dirname(repo), { recursive: true });
  cpSync(join(root, 'examples', APP), repo, { recursive: true });
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'ignore', env: { ...process.env, GIT_AUTHOR_NAME: 'pleaco', GIT_AUTHOR_EMAIL: 'pleaco@localhost', GIT_COMMITTER_NAME: 'pleaco', GIT_COMMITTER_EMAIL: 'pleaco@localhost' } });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'Example app');
  return repo;
}

/** Follows the deploy with the CLI's renderer (same output as `pleaco deploy`). */
async function follow(client: AgentClient, build: Build): Promise<string | null> {
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  const r = new DeployRenderer({ out: say, err: (l) => process.stderr.write(l + '\n'), color });
  await client.stream(`/v1/apps/${APP}/builds/${build.id}/events?follow=1`, (ev) => r.handle(ev));
  const done = r.done;
  if (!done) throw new PleacoError('unavailable', 'the deploy event stream ended early; see ./bin/pleaco builds hello');
  if (!done.ok) throw new PleacoError('build_failed', `deploy of the example failed: ${done.error.message} (${done.error.code})${done.lastLog ? `\n${done.lastLog}` : ''}`);
  return done.url ?? null;
}

async function waitForUrl(client: AgentClient, timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { app } = await client.request<{ app: { url: string | null } }>('GET', `/v1/apps/${APP}`);
    if (app.url) return app.url;
    await new Promise((r) => setTimeout(r, 500));
  }
  return null;
}

/** One GET through the proxy on loopback with the app's Host header; the status, or 0 on a socket error. */
function statusVia(port: number, host: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** Polls until the app answers 200 through the proxy (bounded). */
async function waitForRoute(port: number, host: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await statusVia(port, host)) === 200) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

/** A running replica's own address (`http://host:port`), bypassing the proxy. */
async function replicaUrl(client: AgentClient): Promise<string | null> {
  const { app } = await client.request<{ app: { processes: { state: string; host: string; hostPort: number | null }[] } }>('GET', `/v1/apps/${APP}`);
  const p = app.processes.find((s) => s.state === 'running' && s.hostPort);
  return p ? `http://${p.host}:${p.hostPort}` : null;
}

async function main(): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  env.PLEACO_STATE_DIR ??= join(root, '.pleaco');
  env.PLEACO_ALLOW_LOCAL_REPOS ??= 'true';
  // `make up` starts the first node of its own cluster (as `pleaco init` would make it).
  env.PLEACO_INIT ??= '1';
  const config = loadConfig(env);
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  say(`-----> Starting a pleaco node (state in ${config.stateDir})`);
  const sup = new Supervisor({ logDir: join(config.stateDir, 'logs'), env, onLine: showLine });
  let stopping = false;
  stopNode = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('\n-----> Stopping the node (containers keep running; the next `make up` reuses them)');
    await sup.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stopNode(0));
  process.on('SIGTERM', () => void stopNode(0));

  const dist = join(root, 'dist', 'src', 'main');
  sup.start({ name: 'agent', script: join(dist, 'agent.js') });
  const client = await connectToAgent(config);
  sup.start({ name: 'builder', script: join(dist, 'builder.js') });
  sup.start({ name: 'runner', script: join(dist, 'runner.js') });
  sup.start({ name: 'proxy', script: join(dist, 'proxy.js') });

  const repo = exampleRepo(config.stateDir);
  const apps = await client.request<{ apps: { name: string; release: number | null }[] }>('GET', '/v1/apps');
  let app = apps.apps.find((a) => a.name === APP);
  if (!app) {
    say(`-----> Creating app ${APP} from ${repo}`);
    await client.request('POST', '/v1/apps', { body: { name: APP, repo: `file://${repo}`, branch: 'main' } });
    app = { name: APP, release: null };
  }
  if (app.release === null) {
    say(`-----> Deploying ${APP}`);
    const { build } = await client.request<{ build: Build }>('POST', `/v1/apps/${APP}/deploys`, { body: { trigger: 'up' } });
    await follow(client, build);
  } else {
    say(`-----> ${APP} is at v${app.release}; waiting for it to serve`);
    await waitForUrl(client, 120_000);
  }
  const { port, domain } = config.proxy;
  const host = `${APP}.${domain}`;
  const routed = `http://${host}${port === 80 ? '' : `:${port}`}`;
  const routes = await waitForRoute(port, host, 60_000);
  const replica = await replicaUrl(client).catch(() => null);
  say('');
  say(`  App:     ${routes ? routed : `${routed}   (not answering through the proxy yet: see ./bin/pleaco ps hello and logs/proxy.log)`}`);
  say(`  Replica: ${replica ?? '(none running yet: see ./bin/pleaco ps hello)'}`);
  if (domain === 'localhost') say(`           (if your resolver does not know *.localhost: curl -H 'Host: ${host}' http://127.0.0.1:${port}/)`);
  say(`  API:     http://${config.api.host}:${config.api.port}   (and ${config.socketPath})`);
  say(`  Token:   ${client.opts.token}`);
  say(`  CLI:     ./bin/pleaco apps      (finds this node by itself)`);
  say('');
  say('  Ctrl-C stops the node.');
}

let stopNode = async (code: number): Promise<void> => process.exit(code);

main().catch((err: unknown) => {
  say(`error: ${(err as Error).message}`);
  say('  the processes\' logs are in the state dir under logs/');
  void stopNode(1);
});
