/**
 * The layering of src/, as docs/architecture.md draws it. `make lint` runs this; a violation prints the rule's
 * name and fails `make test`. Dependencies point inward:
 *
 *   model ← state ← cluster
 *   model ← scale                      (rendezvous ownership and placement: pure)
 *   model ← agent, link, config        (agent/state: the agent's core; link: the subsystem↔agent contract)
 *   model, config, link, cluster ← discovery   (seeds, mDNS, the loop that joins what they find)
 *   link  ← source, runtime, scan, builder, proxy   (subsystems)
 *   agent, link, subsystems ← api ← main;  link ← cli ← main
 *
 * errors.ts and log.ts are leaves every layer may use. Adapters (dockerode, simple-git, dgram, koa, child
 * processes, multicast-dns) are imported only in the files the rules below name; only main/ picks which adapter is real.
 */
const ours = '^src/';
const leaves = '^src/(errors|log)\\.ts$';

/** `layer` may import only the folders in `allowed` (besides itself and the leaves). */
function layer(name, folder, allowed, comment) {
  const ok = [`^src/${folder}/`, leaves, ...allowed.map((f) => `^src/${f}/`)];
  return { name, comment, severity: 'error', from: { path: `^src/${folder}/` }, to: { path: ours, pathNot: ok } };
}

/** `pkg` (a node_modules package or a node: builtin) only from the paths in `where`. */
function adapter(name, pkg, where, comment) {
  return { name, comment, severity: 'error', from: { path: ours, pathNot: where }, to: { path: pkg } };
}

module.exports = {
  forbidden: [
    { name: 'no-file-cycles', comment: 'A file cycle hides which of two files is the inner one.', severity: 'error', from: { path: ours }, to: { circular: true } },
    { name: 'model-imports-nothing-of-ours', comment: 'model/ is the innermost ring: records, keys, validators. It imports only errors.ts.', severity: 'error', from: { path: '^src/model/' }, to: { path: ours, pathNot: ['^src/model/', '^src/errors\\.ts$'] } },
    { name: 'leaves-import-only-model', comment: 'errors.ts and log.ts are used by every layer; they may use model/ and nothing else of ours.', severity: 'error', from: { path: leaves }, to: { path: ours, pathNot: ['^src/model/', leaves] } },
    layer('state-is-inner', 'state', ['model'], 'The replicated store knows records, not who reads them (no API, no client).'),
    layer('config-is-inner', 'config', ['model'], 'Configuration is loaded and validated against the model only.'),
    layer('cluster-knows-only-state', 'cluster', ['state', 'model'], 'Membership and transport carry the store; nothing above.'),
    layer('scale-is-pure', 'scale', ['model'], 'Ownership and placement are pure functions of state and members: any node computes the same.'),
    layer('agent-is-core', 'agent', ['model', 'state', 'config', 'scale'], 'The operations on apps, builds, releases: over the store, never over an adapter or a subsystem.'),
    layer('link-is-the-contract', 'link', ['model', 'state', 'config'], 'The subsystem↔agent contract: it may not depend on either side.'),
    layer('source-is-a-subsystem', 'source', ['model', 'link', 'config'], 'git and webhooks: over the contract and the model.'),
    layer('runtime-is-a-subsystem', 'runtime', ['model', 'link', 'state', 'config', 'scale'], 'Containers: over the contract; planners read a StateReader.'),
    layer('scan-is-a-subsystem', 'scan', ['model', 'link', 'runtime', 'config'], 'The scanner reads images through the runtime\'s ContainerEngine interface.'),
    layer('builder-is-a-subsystem', 'builder', ['model', 'link', 'runtime', 'scan', 'source', 'config'], 'The builder uses the ContainerEngine, the scanner and the git mirror through their faces.'),
    layer('proxy-is-a-subsystem', 'proxy', ['model', 'link', 'state', 'config'], 'The data plane: state in, HAProxy out.'),
    layer('api-serves-the-agent', 'api', ['model', 'agent', 'link', 'state', 'config', 'source', 'runtime', 'scan', 'cluster', 'discovery', 'scale', 'update'], 'Routes use the agent\'s services and the interfaces main/ hands them, never an adapter.'),
    layer('discovery-finds-peers', 'discovery', ['model', 'config', 'link', 'cluster'], 'Seeds and mDNS find peers; the loop joins them through the cluster member.'),
    layer('update-is-the-hosts-own', 'update', ['model', 'state', 'scale', 'link'], 'Host updates: bundles, the rollout over the store and placement\'s hashing, the agent\'s updater loop (the Reconciler).'),
    layer('cli-talks-only-through-the-link', 'cli', ['model', 'link'], 'The CLI is a client: it knows the API contract and the model, not the agent.'),
    {
      name: 'only-through-index', comment: 'Another folder is used through its index.ts (its face); main/ too.', severity: 'error',
      from: { path: '^src/([^/]+)/' }, to: { path: '^src/([^/]+)/.+', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$', '^src/runtime/docker/index\\.ts$'] },
    },
    { name: 'only-main-picks-the-docker-adapters', comment: 'runtime/docker/ implements the runtime\'s interfaces; only main/ decides it is the real one.', severity: 'error', from: { path: ours, pathNot: ['^src/main/', '^src/runtime/docker/'] }, to: { path: '^src/runtime/docker/' } },
    { name: 'internal-stays-inside', comment: 'internal/ is for its own folder only.', severity: 'error', from: { path: '^src/([^/]+)/' }, to: { path: '^src/[^/]+/internal/', pathNot: '^src/$1/internal/' } },
    { name: 'only-main-imports-main', comment: 'main/ wires; nothing imports it (tests may).', severity: 'error', from: { path: ours, pathNot: '^src/main/' }, to: { path: '^src/main/' } },
    adapter('dockerode-only-in-runtime-docker', 'node_modules/(dockerode|docker-modem)/', ['^src/runtime/docker/'], 'Docker Engine is reached only through the ContainerEngine/ContainerRuntime adapters.'),
    adapter('simple-git-only-in-source-internal', 'node_modules/simple-git/', ['^src/source/internal/'], 'git is run only by the source adapter.'),
    adapter('dgram-only-in-cluster-transport', '^(node:)?dgram$|node_modules/dgram-as-promised/', ['^src/cluster/udp\\.ts$', '^src/discovery/mdns\\.ts$'], 'UDP only in the cluster\'s transport and the mDNS adapter (it owns its multicast socket).'),
    adapter('multicast-dns-only-in-discovery-mdns', 'node_modules/(@types/)?(multicast-dns|dns-packet)/', ['^src/discovery/mdns\\.ts$'], 'mDNS (and its wire format) only in the discovery adapter.'),
    adapter('koa-only-in-api', 'node_modules/(koa|@koa/router)/', ['^src/api/'], 'HTTP serving only in the API.'),
    adapter('child-processes-only-in-adapters', '^(node:)?child_process$', ['^src/proxy/haproxy\\.ts$', '^src/builder/kaniko\\.ts$', '^src/source/internal/', '^src/runtime/backlog\\.ts$', '^src/main/'], 'Processes are spawned (argv arrays) only by the HAProxy, kaniko, git and nsenter (runtime/backlog.ts: a replica\'s accept queue, read in its network namespace) adapters and by main/.'),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // The built-ins the adapter rules name are included too: without them those rules could never fire.
    includeOnly: ['^src/', '^(node:)?(dgram|child_process)$', 'node_modules/(dockerode|docker-modem|simple-git|dgram-as-promised|koa|@koa/router|multicast-dns|dns-packet|@types/multicast-dns|@types/dns-packet)/'],
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
    reporterOptions: { dot: { collapsePattern: '^src/[^/]+/', theme: { graph: { rankdir: 'LR' } } } },
  },
};
