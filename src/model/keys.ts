/**
 * Where each record lives in the replicated state (the key layout is described in records.ts; schema.ts says what
 * each part of a key must be and who writes it), and the Docker labels on every resource pleaco creates.
 */
export const keys = {
  app: (app: string) => `apps/${app}`,
  env: (app: string, k: string) => `env/${app}/${k}`,
  envPrefix: (app: string) => `env/${app}/`,
  scale: (app: string) => `scale/${app}`,
  current: (app: string) => `current/${app}`,
  /** An app name made on both sides of a merge (two clusters, or a long partition): which one was kept. */
  clash: (app: string) => `clashes/${app}`,
  release: (app: string, n: number) => `releases/${app}/${String(n).padStart(8, '0')}`,
  releasePrefix: (app: string) => `releases/${app}/`,
  build: (app: string, id: string) => `builds/${app}/${id}`,
  buildPrefix: (app: string) => `builds/${app}/`,
  slot: (node: string, app: string, i: number) => `obs/${node}/slots/${app}#${i}`,
  slotPrefix: (node: string) => `obs/${node}/slots/`,
  node: (node: string) => `obs/${node}/node`,
  nodeSpec: (node: string) => `nodes/${node}`,
  nodeSpecPrefix: 'nodes/',
  domain: (host: string) => `domains/${host}`,
  domainPrefix: 'domains/',
  health: (app: string) => `health/${app}`,
  autoscale: (app: string) => `autoscale/${app}`,
  autoscalePrefix: 'autoscale/',
  autoscaleStatus: (node: string, app: string) => `obs/${node}/autoscale/${app}`,
  scanPolicy: (app: string) => `scan/policy/${app}`,
  scanPolicyDefault: 'scan/policy-default',
  scanDb: 'scan/db',
  scan: (app: string, build: string) => `scans/${app}/${build}`,
  scanPrefix: (app: string) => `scans/${app}/`,
  sbom: (app: string, build: string) => `sboms/${app}/${build}`,
  sbomPrefix: (app: string) => `sboms/${app}/`,
  proxy: (node: string) => `obs/${node}/proxy`,
  proxyDraining: (node: string) => `obs/${node}/proxy-draining`,
  bench: (name: string) => `bench/${name}`,
  metrics: (node: string, app: string) => `metrics/${node}/${app}`,
  metricsPrefix: 'metrics/',
};

export function slotName(app: string, i: number): string {
  return `${app}#${i}`;
}

/** Docker labels on every resource pleaco creates. Nothing without `io.pleaco.managed=true` is ever touched. */
export const LABELS = {
  managed: 'io.pleaco.managed',
  app: 'io.pleaco.app',
  release: 'io.pleaco.release',
  slot: 'io.pleaco.slot',
  node: 'io.pleaco.node',
  build: 'io.pleaco.build',
  role: 'io.pleaco.role',
  base: 'io.pleaco.base',
  /** An app container's spec digest (runtime specHash): a container started ahead of its release is adopted only when it matches. */
  spec: 'io.pleaco.spec',
} as const;

/** What pure planners read from state: the agent's Store and a subsystem's StateView both satisfy it. */
export interface StateReader {
  get<T>(key: string): T | undefined;
  list<T>(prefix: string): { key: string; value: T }[];
}
