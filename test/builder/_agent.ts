/**
 * The builder's agent in tests: the REAL test agent (createAgent in this process), reached the way pleaco-builder
 * reaches it — a StateMirror over its watch stream and an AgentLink over its unix socket. The claim, supersede and
 * numbering rules are the agent's own. A test may wrap the link's transport to lose an answer or make the agent
 * unreachable for a while; `claims` counts the claim requests that reached the transport.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILDER_PREFIXES } from '../../src/builder/index.js';
import { AgentLink, StateMirror, type LinkTransport } from '../../src/link/index.js';
import { keys, type Build, type Release } from '../../src/model/index.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';

export type TransportWrap = (inner: LinkTransport, h: BuilderAgent) => LinkTransport;

export class BuilderAgent {
  claims = 0;
  readonly view: StateMirror;
  readonly link: AgentLink;

  private constructor(
    readonly a: TestAgent,
    wrap?: TransportWrap,
  ) {
    this.view = new StateMirror(a.client, BUILDER_PREFIXES);
    const counting: LinkTransport = {
      request: <T>(method: string, path: string, o?: Parameters<LinkTransport['request']>[2]): Promise<T> => {
        if (path.endsWith('/claim')) this.claims++;
        return a.client.request<T>(method, path, o);
      },
    };
    this.link = new AgentLink(wrap ? wrap(counting, this) : counting, this.view);
  }

  static async start(env: Record<string, string> = {}, wrap?: TransportWrap): Promise<BuilderAgent> {
    const h = new BuilderAgent(await startTestAgent(env), wrap);
    await h.view.start();
    return h;
  }

  get<T>(key: string): T | undefined {
    return this.a.store.get<T>(key);
  }

  list<T>(prefix: string): { key: string; value: T }[] {
    return this.a.store.list<T>(prefix);
  }

  /**
   * A write by someone else (another node, a user): straight into the agent's store. Resolves once the builder's
   * view holds it too (it arrives there over the watch stream), as a test's next step expects.
   */
  async put(key: string, value: unknown): Promise<void> {
    if (value === null) await this.a.store.delete(key);
    else await this.a.store.put(key, value);
    await this.seen(key);
  }

  /** Waits (bounded) until the view holds what the store holds under `key`. */
  async seen(key: string): Promise<void> {
    const same = (): boolean => JSON.stringify(this.view.get(key) ?? null) === JSON.stringify(this.a.store.get(key) ?? null);
    for (const end = Date.now() + 5000; !same(); ) {
      if (Date.now() > end) throw new Error(`the builder's view did not get ${key}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Queues a deploy the way the API does (a queued build of the app is superseded by it). */
  async enqueue(app: string, ref: string): Promise<Build> {
    const { build } = await this.a.apps.enqueue(app, ref, 'api');
    await this.seen(keys.build(app, build.id));
    return build;
  }

  /** A build record written as is (e.g. one 'running' on another node), not through the queue's rules. */
  async record(app: string, extra: Partial<Build> & { retried?: boolean }): Promise<Build> {
    const now = new Date();
    const b: Build = { id: `b${now.getTime().toString(36)}x${Math.random().toString(36).slice(2, 6)}`, app, ref: 'main', status: 'queued', stage: 'queued', trigger: 'api', createdAt: now.toISOString(), ...extra };
    await this.put(keys.build(app, b.id), b);
    return b;
  }

  /** The build's log as the agent stored it. */
  log(app: string, id: string): string[] {
    try {
      return readFileSync(join(this.a.config.stateDir, 'builds', app, `${id}.log`), 'utf8').replace(/\n$/, '').split('\n');
    } catch {
      return [];
    }
  }

  /** The app's releases, oldest first. */
  releases(app: string): Release[] {
    return this.a.store.list<Release>(keys.releasePrefix(app)).map((e) => e.value).sort((x, y) => x.number - y.number);
  }

  async close(): Promise<void> {
    this.view.stop();
    await this.a.close();
  }
}
