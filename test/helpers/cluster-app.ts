/**
 * An app served by a cluster of the multi-node harness, for the multi-node suite and benchmarks: a git daemon on the
 * harness bridge's gateway (this host, as the nodes reach it) serving a test repository of a busybox web app, the app
 * created and scaled through one node and deployed through another, until one replica runs on each node.
 */
import { execFileSync } from 'node:child_process';
import { webApp } from './apps.js';
import { waitFor, type Cluster, type ClusterNode } from './cluster.js';
import { startGitDaemon, TestRepo, type Daemon } from './gitrepo.js';

export const CLUSTER_DOMAIN = 'pleaco.test';

/** What every node of such a cluster is started with: local repositories, the domain, the proxy on port 80. */
export const CLUSTER_APP_ENV = { PLEACO_ALLOW_LOCAL_REPOS: 'true', PLEACO_DOMAIN: CLUSTER_DOMAIN, PLEACO_PROXY_PORT: '80', PLEACO_PROXY_BIND: '0.0.0.0' };

export interface Slot { slot: string; node: string; state: string; containerId: string; release: number }

/** POST (or `method`) a JSON body to a node's API. */
export function send<T = unknown>(n: ClusterNode, path: string, body: unknown, method = 'POST'): Promise<T> {
  return n.json<T>(path, { method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
}

/** The app's running slots as `node` shows them (`pleaco ps`). */
export async function runningSlots(node: ClusterNode, app: string): Promise<Slot[]> {
  const ps = await node.json<{ processes: Slot[] }>(`/v1/apps/${app}/ps`);
  return ps.processes.filter((s) => s.state === 'running').sort((a, b) => (a.slot < b.slot ? -1 : 1));
}

/** A git daemon serving `dir`'s repositories where the cluster's nodes reach this host (its bridge's gateway). */
export function gitDaemonFor(cl: Cluster, dir: string): Promise<Daemon> {
  const gateway = execFileSync('docker', ['network', 'inspect', `${cl.name}-net`, '--format', '{{(index .IPAM.Config 0).Gateway}}']).toString().trim();
  return startGitDaemon(dir, undefined, gateway);
}

export interface ClusterApp {
  name: string;
  host: string;
  repo: TestRepo;
  daemon: Daemon;
}

/** Creates `name` from a new repository under `dir` showing `body`, scales it to one replica per node, deploys it. */
export async function serveApp(cl: Cluster, dir: string, name: string, body: string): Promise<ClusterApp> {
  const repo = new TestRepo(dir, 'web');
  repo.commit(webApp(body), 'v0');
  const daemon = await gitDaemonFor(cl, `${dir}/server`);
  const [a, b] = cl.nodes as [ClusterNode, ClusterNode];
  await send(a, '/v1/apps', { name, repo: daemon.url('web.git') });
  await send(a, `/v1/apps/${name}/scale`, { replicas: cl.nodes.length }, 'PUT');
  await send(b, `/v1/apps/${name}/deploys`, {});
  await waitFor(`${cl.nodes.length} replicas, one per node`, async () => {
    const r = await runningSlots(a, name).catch(() => []);
    return r.length === cl.nodes.length && new Set(r.map((s) => s.node)).size === cl.nodes.length ? r : null;
  }, 300_000, 1000);
  return { name, host: `${name}.${CLUSTER_DOMAIN}`, repo, daemon };
}

/** Whether no container of `app` is left in any node's own Engine (`docker ps` inside each node). */
export async function noContainersOf(cl: Cluster, app: string): Promise<boolean> {
  for (const n of cl.nodes) if ((await n.exec(['docker', 'ps', '-q', '--filter', `label=io.pleaco.app=${app}`])).stdout.trim() !== '') return false;
  return true;
}
