/**
 * AgentLink: everything a subsystem asks of its node's agent, as typed calls over the contract (contract.ts).
 * Reads go through the StateView; every write a subsystem makes goes through here. Entries the agent acknowledges
 * are handed to the view (when one is attached), so the subsystem reads its own writes at once.
 */
import { keys, type AutoscalePolicy, type Build, type FailureReport, type ImageEnsureResult, type Release, type ReleaseInput, type ScanReport, type StoredSbom } from '../model/index.js';
import type { Entry, WriteOp } from '../state/index.js';
import type { RequestOptions } from './client.js';
import { pathOf, ROUTES, type SoftEntry } from './contract.js';

/** How requests reach the agent (AgentClient: its unix socket or TCP). */
export interface LinkTransport {
  request<T = unknown>(method: string, path: string, o?: RequestOptions): Promise<T>;
}

/** Where acknowledged entries go (StateMirror.absorb). */
export interface WriteSink {
  absorb(entries: Entry[]): void;
}

export class AgentLink {
  constructor(
    private readonly client: LinkTransport,
    private readonly sink?: WriteSink,
  ) {}

  /**
   * Writes records this subsystem is the one writer of (its node's observed state; the builder's build record);
   * resolves once they are durable on the agent.
   */
  async write(ops: WriteOp[]): Promise<Entry[]> {
    const { entries } = await this.client.request<{ entries: Entry[] }>(ROUTES.state.method, pathOf(ROUTES.state), { body: { ops } });
    this.sink?.absorb(entries);
    return entries;
  }

  /** The builder's record of a build it works on (stage, durations, outcome). */
  async putBuild(build: Build): Promise<void> {
    await this.write([{ key: keys.build(build.app, build.id), value: build }]);
  }

  /** Takes a queued build for `node`; 409 when someone else has it or it is no longer queued. */
  async claimBuild(app: string, id: string, node: string): Promise<Build> {
    const { build } = await this.client.request<{ build: Build }>(ROUTES.claim.method, pathOf(ROUTES.claim, { name: app, id }), { body: { node } });
    return build;
  }

  /** Appends lines (text, newline-separated) to a build's log. */
  async appendBuildLog(app: string, id: string, text: string): Promise<void> {
    await this.client.request(ROUTES.buildLog.method, pathOf(ROUTES.buildLog, { name: app, id }), { rawBody: text, contentType: 'text/plain; charset=utf-8' });
  }

  /** Stores a build's scan report and (when it fits one entry) its SBOM: one write each, as each may be near the value bound. */
  async storeScan(report: ScanReport, sbom: StoredSbom | null): Promise<void> {
    await this.write([{ key: keys.scan(report.app, report.build), value: report }]);
    if (sbom) await this.write([{ key: keys.sbom(report.app, report.build), value: sbom }]);
  }

  /** Makes a tested build the app's new current release; idempotent per build. */
  async createRelease(app: string, input: ReleaseInput): Promise<Release> {
    const { release } = await this.client.request<{ release: Release }>(ROUTES.release.method, pathOf(ROUTES.release, { name: app }), { body: input });
    return release;
  }

  /** Gives up a release whose rollout failed; the agent makes the one it replaced current again. */
  async failRelease(app: string, number: number, report: FailureReport): Promise<Release> {
    const { release } = await this.client.request<{ release: Release }>(ROUTES.failRelease.method, pathOf(ROUTES.failRelease, { name: app, number }), { body: report });
    return release;
  }

  /** Soft state (the proxy's request metrics): kept in the agent's memory for `ttlMs`. */
  async postSoft(entries: SoftEntry[]): Promise<void> {
    await this.client.request(ROUTES.soft.method, pathOf(ROUTES.soft), { body: { entries } });
  }

  /** Resolves once the agent has `imageId` (an image of `app`) on this node, fetched from a member when it was not. */
  async ensureImage(imageId: string, app: string): Promise<ImageEnsureResult> {
    const { image } = await this.client.request<{ image: ImageEnsureResult }>(ROUTES.ensureImage.method, pathOf(ROUTES.ensureImage), { body: { imageId, app } });
    return image;
  }

  /** Sets the app's autoscaling policy (the builder, from pleaco.json at a release). */
  async setAutoscale(app: string, policy: AutoscalePolicy): Promise<AutoscalePolicy> {
    const r = await this.client.request<{ policy: AutoscalePolicy }>(ROUTES.autoscale.method, pathOf(ROUTES.autoscale, { name: app }), { body: policy });
    return r.policy;
  }

  /** Wakes an app at zero replicas (the proxy's activator holds a request for it): its owner starts one. */
  async activate(app: string): Promise<{ replicas: number }> {
    return this.client.request<{ replicas: number }>(ROUTES.activate.method, pathOf(ROUTES.activate, { name: app }), { body: {} });
  }

  /** Queues a deploy of `ref` (the poller: a new commit on the app's branch). */
  async queueDeploy(app: string, ref: string, trigger: Build['trigger']): Promise<Build> {
    const { build } = await this.client.request<{ build: Build }>(ROUTES.deploy.method, pathOf(ROUTES.deploy, { name: app }), { body: { ref, trigger } });
    return build;
  }
}
