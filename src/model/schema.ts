/**
 * The key schema: every shape of key the replicated state holds (the layout of keys.ts and records.ts), what each
 * part of it must be, and who writes it. The agent's internal write route (POST /v1/internal/state) admits only
 * keys of a shape a subsystem writes, with valid parts and (where the model says what the record is) a value of
 * that record; readers that must survive any record (the proxy) use `parseKey` to skip keys of no known shape.
 */
import { PleacoError } from '../errors.js';
import { ENV_KEY_RE, isAppName, isDnsName } from './names.js';

/**
 * Who writes records of a shape. `agent`: the agent's own services (the public API, under the app's lock; never the
 * internal write route). `builder`, `runner`, `proxy`: that subsystem of the node, through the internal write route
 * (observed state `obs/<node>/` only by the node it names). `bench`: free-form records of benchmarks and cluster tests.
 */
export type KeyWriter = 'agent' | 'builder' | 'runner' | 'proxy' | 'bench';

/** The writers that may use the internal write route. */
export const SUBSYSTEM_WRITERS: readonly KeyWriter[] = ['builder', 'runner', 'proxy', 'bench'];

/** A node id as it appears in keys (`obs/<node>/…`, `metrics/<node>/…`): a host-name-like word. */
export const NODE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** A build id (also the app image's tag): `b` + time + random as the agent makes them. */
export const BUILD_ID_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** A release number as keys.release writes it: zero-padded to 8 digits, never 0. */
const RELEASE_RE = /^(?!0+$)\d{8,15}$/;
const SLOT_RE = /^(.+)#(\d{1,6})$/;
const WORD_RE = /^[A-Za-z0-9._-]{1,200}$/;

type Part = 'app' | 'node' | 'host' | 'build' | 'envKey' | 'release' | 'slot' | 'word';

const PARTS: Record<Part, (s: string) => boolean> = {
  app: isAppName,
  node: (s) => NODE_ID_RE.test(s),
  host: isDnsName,
  build: (s) => BUILD_ID_RE.test(s),
  envKey: (s) => ENV_KEY_RE.test(s),
  release: (s) => RELEASE_RE.test(s),
  slot: (s) => {
    const m = SLOT_RE.exec(s);
    return m !== null && isAppName(m[1]) && Number(m[2]) >= 0;
  },
  word: (s) => WORD_RE.test(s),
};

const PART_HELP: Record<Part, string> = {
  app: 'an app name (1-63 lowercase letters, digits and dashes, starting with a letter)',
  node: 'a node id',
  host: 'a lowercase DNS name',
  build: 'a build id',
  envKey: 'a config key (letters, digits and _)',
  release: 'a release number of 8 or more digits',
  slot: 'a slot <app>#<n>',
  word: 'a word of letters, digits, ".", "_" and "-"',
};

export interface KeyShape {
  /** The layout, e.g. `builds/<app>/<build>` (`<part>` placeholders, the rest literal). */
  layout: string;
  writers: readonly KeyWriter[];
  /**
   * Checks a value written through the internal route (deletes are not checked): returns a reason when it is not
   * the record the key holds. `parts` are the key's placeholders by name.
   */
  value?: (value: Record<string, unknown>, parts: Partial<Record<Part, string>>) => string | null;
  /** Soft state (memory only, POST /v1/internal/soft): never a record of the replicated state. */
  soft?: true;
}

const is = (v: unknown, type: 'string' | 'number' | 'boolean'): boolean => typeof v === type;
const same = (field: string, got: unknown, want: string | undefined): string | null => (got === want ? null : `${field} must be ${JSON.stringify(want)}, as in the key`);
const BUILD_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'superseded'];
const SLOT_STATES = ['starting', 'running', 'crashed', 'backoff', 'stopping', 'failed'];

/** Every key shape of the replicated state (and of soft state: metrics). Order does not matter: shapes never overlap. */
export const KEY_SCHEMA: readonly KeyShape[] = [
  { layout: 'apps/<app>', writers: ['agent'] },
  { layout: 'env/<app>/<envKey>', writers: ['agent'] },
  { layout: 'scale/<app>', writers: ['agent'] },
  { layout: 'current/<app>', writers: ['agent'] },
  { layout: 'clashes/<app>', writers: ['agent'] },
  { layout: 'releases/<app>/<release>', writers: ['agent'] },
  { layout: 'domains/<host>', writers: ['agent'] },
  { layout: 'health/<app>', writers: ['agent'] },
  { layout: 'autoscale/<app>', writers: ['agent'] },
  { layout: 'obs/<node>/autoscale/<app>', writers: ['agent'] },
  { layout: 'scan/policy/<app>', writers: ['agent'] },
  { layout: 'scan/policy-default', writers: ['agent'] },
  { layout: 'scan/db', writers: ['agent'] },
  { layout: 'nodes/<node>', writers: ['agent'] },
  { layout: 'update/desired', writers: ['agent'] },
  { layout: 'update/bad/<word>', writers: ['agent'] },
  { layout: 'obs/<node>/host', writers: ['agent'] },
  {
    layout: 'builds/<app>/<build>', writers: ['agent', 'builder'],
    value: (v, p) => same('app', v.app, p.app) ?? same('id', v.id, p.build) ?? (BUILD_STATUSES.includes(v.status as string) && is(v.ref, 'string') ? null : 'a build needs a ref and a status'),
  },
  { layout: 'scans/<app>/<build>', writers: ['builder'], value: (v, p) => same('app', v.app, p.app) ?? same('build', v.build, p.build) },
  { layout: 'sboms/<app>/<build>', writers: ['builder'], value: (v) => (is(v.data, 'string') && is(v.format, 'string') ? null : 'an SBOM needs format and data') },
  {
    layout: 'obs/<node>/slots/<slot>', writers: ['runner'],
    value: (v, p) => same('slot', v.slot, p.slot) ?? same('app', v.app, SLOT_RE.exec(p.slot ?? '')?.[1]) ?? same('node', v.node, p.node) ?? (SLOT_STATES.includes(v.state as string) ? null : 'state must be a slot state'),
  },
  { layout: 'obs/<node>/node', writers: ['runner'], value: (v, p) => same('id', v.id, p.node) },
  { layout: 'obs/<node>/proxy', writers: ['proxy'], value: (v) => (is(v.ok, 'boolean') && is(v.port, 'number') ? null : 'a proxy status needs ok and port') },
  { layout: 'obs/<node>/proxy-draining', writers: ['proxy'], value: (v) => (Array.isArray(v.ids) && v.ids.every((x) => is(x, 'string')) ? null : 'ids must be a list of container ids') },
  { layout: 'metrics/<node>/<app>', writers: ['proxy'], soft: true },
  { layout: 'bench/<word>', writers: ['bench'] },
];

interface Compiled {
  shape: KeyShape;
  segs: ({ literal: string } | { part: Part })[];
}

const COMPILED: Compiled[] = KEY_SCHEMA.map((shape) => ({
  shape,
  segs: shape.layout.split('/').map((seg) => (seg.startsWith('<') ? { part: seg.slice(1, -1) as Part } : { literal: seg })),
}));

export type ParsedKey = { ok: true; shape: KeyShape; parts: Partial<Record<Part, string>> } | { ok: false; reason: string };

/** The shape of `key` and its parts, or why it has none (no shape, or a part that is not what the shape says). */
export function parseKey(key: string): ParsedKey {
  const segs = typeof key === 'string' ? key.split('/') : [];
  let partial: string | null = null;
  for (const c of COMPILED) {
    if (c.segs.length !== segs.length) continue;
    const parts: Partial<Record<Part, string>> = {};
    let bad: string | null = null;
    let literalMiss = false;
    c.segs.forEach((s, i) => {
      const got = segs[i]!;
      if ('literal' in s) {
        if (s.literal !== got) literalMiss = true;
      } else if (!PARTS[s.part](got)) bad ??= `${JSON.stringify(got.slice(0, 80))} is not ${PART_HELP[s.part]}`;
      else parts[s.part] = got;
    });
    if (literalMiss) continue;
    if (bad === null) return { ok: true, shape: c.shape, parts };
    partial = `invalid key ${JSON.stringify(key.slice(0, 200))} (${c.shape.layout}): ${bad}`;
  }
  return { ok: false, reason: partial ?? `unknown key ${JSON.stringify(String(key).slice(0, 200))}: no record of pleaco has this shape` };
}

/**
 * Checks one write of a subsystem (POST /v1/internal/state) against the schema: the key has a known shape with valid
 * parts (400 otherwise), its shape is written by a subsystem (403 for the records the agent's services write), and a
 * value (not a delete) is the record the key holds where the schema knows it (400).
 */
export function checkSubsystemWrite(key: string, value: unknown): void {
  const parsed = parseKey(key);
  if (!parsed.ok) throw new PleacoError('bad_request', parsed.reason);
  const { shape, parts } = parsed;
  if (shape.soft) throw new PleacoError('bad_request', `${key} is soft state (POST /v1/internal/soft), not a record of the replicated state`);
  if (!shape.writers.some((w) => SUBSYSTEM_WRITERS.includes(w))) {
    throw new PleacoError('forbidden', `${key} (${shape.layout}) is written by the agent's own services, not through the internal state route`);
  }
  if (value === null || !shape.value) return;
  if (typeof value !== 'object' || Array.isArray(value)) throw new PleacoError('bad_request', `the value of ${key} must be a JSON object`);
  const why = shape.value(value as Record<string, unknown>, parts);
  if (why !== null) throw new PleacoError('bad_request', `the value of ${key} is not a ${shape.layout.split('/')[0]} record: ${why}`);
}
