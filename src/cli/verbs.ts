/**
 * The one table of verbs: what each accepts (parsed by args.ts), its help text, and the function that runs it.
 * `pleaco help`, `pleaco help VERB` and docs/cli.md (checked by test/cli/docs.test.ts) all come from here.
 */
import { usageLine } from './args.js';
import { apps, appsCreate, appsDestroy, appsInfo } from './commands/apps.js';
import { autoscale, autoscaleOff, autoscaleSet } from './commands/autoscale.js';
import { config, configSet, configUnset } from './commands/config.js';
import { builds, buildsInfo, deploy } from './commands/deploy.js';
import { domains, domainsAdd, domainsRemove, healthcheck, healthcheckSet } from './commands/domains.js';
import { logs } from './commands/logs.js';
import { metrics } from './commands/metrics.js';
import { token, version } from './commands/meta.js';
import { nodeDrain, nodes } from './commands/nodes.js';
import { updateGate, updateKeys, updateStart, updateStatus } from './commands/update.js';
import { init, joinCluster } from './commands/cluster.js';
import { ps, psScale } from './commands/ps.js';
import { releases, rollback } from './commands/releases.js';
import { resources, resourcesSet } from './commands/resources.js';
import { scan, scanDb, scanDbUpdate, scanPolicy, scanSbom } from './commands/scan.js';
import type { Verb } from './context.js';
import { helpText, unknownVerb, verbHelp } from './help.js';

export type { Verb } from './context.js';

export const VERBS: Verb[] = [
  { name: 'apps', group: 'Apps', args: [], json: true, summary: 'List the apps on the cluster', example: 'pleaco apps', run: apps },
  {
    name: 'apps:create', group: 'Apps', args: ['NAME'],
    flags: {
      repo: { type: 'string', value: 'URL', required: true, help: 'git repository to build from (https:// or ssh)' },
      branch: { type: 'string', value: 'B', help: "branch to deploy (default: the repository's default branch)" },
    },
    summary: 'Create an app from a git repository',
    details: ['Prints the webhook path and secret to configure on GitHub; pushes to the branch then deploy.'],
    example: 'pleaco apps:create web --repo https://github.com/acme/web --branch main', run: appsCreate,
  },
  { name: 'apps:info', group: 'Apps', args: ['NAME'], json: true, summary: 'Show an app: repo, URL, release, processes', example: 'pleaco apps:info web', run: appsInfo },
  {
    name: 'apps:destroy', group: 'Apps', args: ['NAME'],
    flags: { confirm: { type: 'string', value: 'NAME', help: 'the app name again; required when stdin is not a terminal' } },
    summary: 'Destroy an app, its releases, config, containers and images',
    details: ['Asks for the name on a terminal; scripts must pass --confirm NAME.'],
    example: 'pleaco apps:destroy web --confirm web', run: appsDestroy,
  },
  {
    name: 'deploy', group: 'Deploys', args: ['NAME'],
    flags: {
      ref: { type: 'string', value: 'R', help: "branch, tag or commit to deploy (default: the app's branch)" },
      'no-follow': { type: 'boolean', help: 'queue the build and return without showing its progress' },
    },
    summary: 'Build, test and release an app, showing live progress',
    details: [
      'Exits 0 when released, 1 when the build, tests or rollout failed or a newer deploy superseded it.',
      'Ctrl-C stops following (exit 130); the deploy continues on the node.',
    ],
    example: 'pleaco deploy web', run: deploy,
  },
  { name: 'builds', group: 'Deploys', args: ['NAME'], json: true, summary: 'List the builds of an app, newest first', example: 'pleaco builds web', run: builds },
  {
    name: 'builds:info', group: 'Deploys', args: ['NAME', 'ID'], json: true,
    flags: { follow: { type: 'boolean', short: 'f', help: "show the build's log and progress, following it until it finishes" } },
    summary: 'Show one build; -f replays its log and follows it',
    example: 'pleaco builds:info web b-7f3a2c', run: buildsInfo,
  },
  { name: 'releases', group: 'Releases', args: ['NAME'], json: true, summary: 'List the releases of an app, newest first', example: 'pleaco releases web', run: releases },
  {
    name: 'rollback', group: 'Releases', args: ['NAME', '[RELEASE]'],
    summary: 'Roll back to an earlier release (default: the one before the current)',
    details: ['RELEASE is v3 or 3. A rollback is itself a new release, as on Heroku.'],
    example: 'pleaco rollback web v3', run: rollback,
  },
  { name: 'ps', group: 'Processes', args: ['NAME'], json: true, summary: "Show an app's replicas and their state", example: 'pleaco ps web', run: ps },
  {
    name: 'ps:scale', group: 'Processes', args: ['NAME=N...'],
    summary: 'Set the number of replicas of one or more apps (0 to 100)',
    example: 'pleaco ps:scale web=3 api=1', run: psScale,
  },
  { name: 'autoscale', group: 'Processes', args: ['NAME'], json: true, summary: "Show an app's autoscaling: policy, traffic now and over the last minutes, last decisions", example: 'pleaco autoscale web', run: autoscale },
  {
    name: 'autoscale:set', group: 'Processes', args: ['NAME'],
    flags: {
      min: { type: 'string', value: 'N', help: 'fewest replicas, 0 to 100 (0: an idle app goes to zero; its first request wakes it)' },
      max: { type: 'string', value: 'N', help: 'most replicas, 1 to 100' },
      'target-rps': { type: 'string', value: 'N', help: 'requests per second per replica' },
      'target-concurrency': { type: 'string', value: 'N', help: 'in-flight requests per replica (instead of --target-rps)' },
      window: { type: 'string', value: 'DURATION', help: 'scale-down stabilization window, 1s to 60m (default 5m)' },
    },
    summary: 'Scale an app on its traffic, across the cluster',
    details: [
      'Every proxy reports the app\'s requests; the app\'s owner node sums them over the live nodes and sizes the app like',
      'the Kubernetes HPA: ceil(traffic / target), 10% tolerance, at most double (or +4) per step, down only to the',
      'highest need of the window. At twice the capacity it scales up at once (panic) and not down for a minute.',
      'ps:scale is refused while autoscaling is on.',
    ],
    example: 'pleaco autoscale:set web --min 1 --max 10 --target-rps 50', run: autoscaleSet,
  },
  { name: 'autoscale:off', group: 'Processes', args: ['NAME'], summary: 'Stop autoscaling an app (its replica count stays)', example: 'pleaco autoscale:off web', run: autoscaleOff },
  { name: 'resources', group: 'Processes', args: ['NAME'], json: true, summary: "Show an app's container limits (memory, CPUs, processes)", example: 'pleaco resources web', run: resources },
  {
    name: 'resources:set', group: 'Processes', args: ['NAME'],
    flags: {
      memory: { type: 'string', value: 'SIZE', help: 'memory limit like 512m or 1g, no swap on top (or default)' },
      cpus: { type: 'string', value: 'N', help: 'CPU quota like 1 or 0.5 (or default)' },
      pids: { type: 'string', value: 'N', help: 'most processes and threads (or default)' },
    },
    summary: "Set an app's container limits",
    details: [
      'Flags left out keep their value; `default` goes back to the node\'s default (PLEACO_APP_MEMORY, PLEACO_APP_CPUS,',
      'PLEACO_APP_PIDS). When the app has a release, a new release carries the limits and rolls out one replica at a',
      'time; a rollback restores the limits of the release it goes back to. A replica killed for memory says so in ps.',
    ],
    example: 'pleaco resources:set web --memory 512m --cpus 1', run: resourcesSet,
  },
  { name: 'domains', group: 'Routing', args: ['NAME'], json: true, summary: 'List the host names routed to an app', example: 'pleaco domains web', run: domains },
  {
    name: 'domains:add', group: 'Routing', args: ['NAME', 'HOST'],
    summary: 'Route one more host name to an app',
    details: ['HOST is a DNS name like www.example.com (no wildcards); a host another app has is refused.', 'Point its DNS at the node(s) running pleaco-proxy.'],
    example: 'pleaco domains:add web www.example.com', run: domainsAdd,
  },
  { name: 'domains:remove', group: 'Routing', args: ['NAME', 'HOST'], summary: 'Stop routing a host name to an app', example: 'pleaco domains:remove web www.example.com', run: domainsRemove },
  { name: 'healthcheck', group: 'Routing', args: ['NAME'], json: true, summary: "Show an app's HTTP health check", example: 'pleaco healthcheck web', run: healthcheck },
  {
    name: 'healthcheck:set', group: 'Routing', args: ['NAME', 'PATH'],
    flags: {
      interval: { type: 'string', value: 'DURATION', help: 'time between checks, 500ms to 60s (default 2s)' },
      rise: { type: 'string', value: 'N', help: 'passing checks before a replica takes traffic, 1 to 10 (default 2)' },
      fall: { type: 'string', value: 'N', help: 'failing checks before a replica leaves rotation, 1 to 10 (default 3)' },
      deadline: { type: 'string', value: 'DURATION', help: 'how long a new release may take to get healthy before it is rolled back, 1s to 60m (default 60s)' },
    },
    summary: "Set an app's HTTP health check",
    details: [
      'A 2xx or 3xx answer to GET PATH counts as healthy. Flags left out take the defaults.',
      'In a rollout a new replica takes traffic only after `rise` passing checks; a release whose replica is not',
      'healthy within the deadline (or crashes 3 times) is rolled back to the release it replaced.',
    ],
    example: 'pleaco healthcheck:set web /up --interval 5s --rise 3', run: healthcheckSet,
  },
  {
    name: 'metrics', group: 'Routing', args: ['NAME'], json: true,
    summary: "Show an app's request rate, response codes and latency",
    example: 'pleaco metrics web', run: metrics,
  },
  {
    name: 'config', group: 'Config', args: ['NAME'], json: true,
    flags: { shell: { type: 'boolean', help: 'print KEY=value lines for a shell' } },
    summary: "Show an app's config vars", example: 'pleaco config web', run: config,
  },
  {
    name: 'config:set', group: 'Config', args: ['NAME', 'KEY=VALUE...'],
    summary: 'Set config vars (a new release when the app has one)',
    details: ['Values may contain `=`; quote them for your shell.'],
    example: "pleaco config:set web DATABASE_URL='postgres://db/web?sslmode=require' WORKERS=4", run: configSet,
  },
  { name: 'config:unset', group: 'Config', args: ['NAME', 'KEY...'], summary: 'Remove config vars', example: 'pleaco config:unset web WORKERS', run: configUnset },
  {
    name: 'logs', group: 'Logs', args: ['NAME'],
    flags: {
      follow: { type: 'boolean', short: 'f', help: 'keep streaming new lines (Ctrl-C to stop)' },
      num: { type: 'string', short: 'n', value: 'N', help: 'lines per replica to show first (default 100)' },
    },
    summary: "Show an app's output: `web#0 v3 | line`", example: 'pleaco logs web -f -n 20', run: logs,
  },
  {
    name: 'scan', group: 'Security', args: ['NAME', '[RELEASE]'], json: true,
    flags: { build: { type: 'string', value: 'ID', help: 'the report of this build (also one the scan blocked)' } },
    summary: "Show an image's vulnerability report: findings, what blocks, what is allowed",
    details: [
      'Default: the latest scanned build (a blocked one too); RELEASE (v3 or 3) shows that release\'s build.',
      'A finding marked ! blocks the release under the policy (pleaco scan:policy NAME).',
    ],
    example: 'pleaco scan web v3', run: scan,
  },
  {
    name: 'scan:sbom', group: 'Security', args: ['NAME', '[RELEASE]'],
    flags: { build: { type: 'string', value: 'ID', help: 'the SBOM of this build' } },
    summary: "Print the CycloneDX 1.5 SBOM of a release's image (JSON)",
    example: 'pleaco scan:sbom web v3 > web-v3.cdx.json', run: scanSbom,
  },
  {
    name: 'scan:policy', group: 'Security', args: ['[NAME]'], json: true,
    flags: {
      cluster: { type: 'boolean', help: 'the cluster default instead of one app' },
      'fail-on': { type: 'string', value: 'LEVEL', help: 'lowest severity that blocks a release: none, low, medium, high or critical' },
      inherit: { type: 'boolean', help: "drop the app's own threshold and follow the cluster default" },
      allow: { type: 'string', value: 'ID', help: 'accept an advisory (GHSA-…, CVE-…, DSA-…) until a date; needs --until and --reason' },
      until: { type: 'string', value: 'DATE', help: 'expiry of --allow: a date (2026-12-31) or a span (30d, 8w); at most two years' },
      reason: { type: 'string', value: 'TEXT', help: 'why the advisory is acceptable (kept with the entry)' },
      remove: { type: 'string', value: 'ID', help: 'take an advisory off the allow-list' },
    },
    summary: 'Show or change the scan policy of an app or of the cluster',
    details: [
      'Without flags it shows the policy. Default threshold: critical. Unknown severities never block.',
      'An allowed advisory is reported but does not block, until its date; expired entries are listed in scan reports.',
    ],
    example: 'pleaco scan:policy web --fail-on high --allow GHSA-35jh-r3h4-6jhm --until 30d --reason "not reachable: no template input"', run: scanPolicy,
  },
  { name: 'scan:db', group: 'Security', args: [], json: true, summary: "Show the cluster's advisory database and this node's copy", example: 'pleaco scan:db', run: scanDb },
  {
    name: 'scan:db:update', group: 'Security', args: ['SOURCE'],
    summary: 'Load a new OSV advisory database (a directory, .zip or .json on the node, or a URL) for the whole cluster',
    details: [
      'SOURCE is read by the node the CLI talks to: an OSV JSON directory, an OSV per-ecosystem .zip, or an http(s) URL.',
      'Malformed files are skipped and counted, never fatal. Every node fetches the new copy by digest (air-gapped clusters work).',
    ],
    example: 'pleaco scan:db:update /srv/osv/all.zip', run: scanDbUpdate,
  },
  {
    name: 'init', group: 'Cluster', args: [], json: true,
    flags: {
      seed: { type: 'string', value: 'ADDR', help: 'the address other nodes join this one at (default: its cluster address)' },
      id: { type: 'string', value: 'ID', help: 'a name for the cluster, 3-63 of a-z, 0-9, - (default: derived from the key)' },
    },
    summary: 'Make this node the first of a new cluster, and print how to join others to it',
    details: [
      'Runs on the node itself, as root: writes a new cluster key to /etc/pleaco/cluster.yaml (PLEACO_CLUSTER_FILE), 0600.',
      'A node without a key never makes one by itself. Prints the cloud-init user-data (and the shell commands) that',
      'join another node to this one. On a node that already has a key it changes nothing and prints the same.',
    ],
    example: 'pleaco init', run: init,
  },
  {
    name: 'join', group: 'Cluster', args: ['ADDR...'], json: true,
    summary: 'Join the cluster that the node at ADDR belongs to',
    details: [
      'ADDR: ip:port, [ipv6]:port or a DNS name (every address it resolves to is tried); the port defaults to 7946.',
      'Both nodes need the same cluster key. The seed is kept across restarts and retried with backoff until it answers;',
      'the state of the two clusters is merged (apps of both are kept; a name on both sides is resolved by last write).',
    ],
    example: 'pleaco join 10.0.0.5:7946', run: joinCluster,
  },
  { name: 'nodes', group: 'Cluster', args: [], json: true, summary: 'List the nodes of the cluster, how this node finds them, and foreign announcements it ignored', example: 'pleaco nodes', run: nodes },
  {
    name: 'nodes:drain', group: 'Cluster', args: ['NODE'],
    summary: 'Move every replica off a node before maintenance; it gets no new ones',
    details: ['Each replica starts on another node first and stops on NODE once it runs there (pleaco ps shows where).', 'The node stays a member: undrain it to let it take replicas again.'],
    example: 'pleaco nodes:drain node-2', run: nodeDrain(true),
  },
  { name: 'nodes:undrain', group: 'Cluster', args: ['NODE'], summary: 'Let a drained node take replicas again', example: 'pleaco nodes:undrain node-2', run: nodeDrain(false) },
  {
    name: 'update:start', group: 'Host updates', args: ['VERSION'], json: true,
    flags: {
      from: { type: 'string', value: 'URL|FILE', required: true, help: 'the bundle (make release): a file here, uploaded to the node, or an http(s) URL the node fetches' },
      'max-unavailable': { type: 'string', value: 'N', help: 'nodes updating at once (default 1)' },
    },
    summary: "Roll a new host version through the cluster, one node at a time",
    details: [
      'The bundle is verified (signature by a key the image trusts, digests, newer than the running version) before anything starts.',
      'Each node fetches it once (from its peers), writes it to its spare root slot, and in its turn drains, reboots into',
      'that slot and marks it good once it is healthy and back in the cluster. A node that does not become healthy boots',
      'back into its old slot by itself; the version is then marked bad and the rollout halts on every node.',
    ],
    example: 'pleaco update:start 1.4.0 --from ./pleaco-1.4.0.bundle', run: updateStart,
  },
  { name: 'update:status', group: 'Host updates', args: [], json: true, summary: 'Show the host update: per node its slot, version, state and last error', example: 'pleaco update:status', run: updateStatus },
  {
    name: 'update:keys', group: 'Host updates', args: [],
    flags: { dir: { type: 'string', value: 'DIR', help: 'where to write release.key and release.pub (default: here)' } },
    summary: 'Make a signing key pair for host update bundles',
    details: ['Bundles are signed with the private key (make release UPDATE_KEY=…); images built with the public key trust them.'],
    example: 'pleaco update:keys --dir ~/pleaco-keys', run: updateKeys,
  },
  {
    name: 'update:gate', group: 'Host updates', args: [],
    flags: { timeout: { type: 'string', value: 'S', help: 'give up after S seconds (default 600)' } },
    summary: 'Wait until this node is healthy and back in its cluster (pleaco-update-gate runs it on a new slot)',
    example: 'pleaco update:gate --timeout 900', run: updateGate,
  },
  {
    name: 'token', group: 'Cluster', args: [],
    summary: "Print the node's API token (for PLEACO_TOKEN on another machine)",
    example: 'export PLEACO_TOKEN=$(pleaco token)', run: token,
  },
  { name: 'help', group: 'Other', args: ['[VERB]'], summary: 'Show help for all verbs or one', example: 'pleaco help deploy', run: async (ctx) => help(ctx.args[0], ctx.out.out) },
  { name: 'version', group: 'Other', args: [], summary: "Show the CLI's version (and the node's, when reachable)", example: 'pleaco version', run: version },
];

export function findVerb(name: string): Verb | undefined {
  return VERBS.find((v) => v.name === name);
}

export function usageOf(v: Verb): string {
  return `pleaco ${usageLine(v.name, v)}`;
}

function help(name: string | undefined, print: (line: string) => void): number {
  const v = name === undefined ? undefined : findVerb(name);
  if (name !== undefined && !v) throw unknownVerb(name, VERBS);
  for (const line of v ? verbHelp(v) : helpText(VERBS)) print(line);
  return 0;
}
