/**
 * The Builder interface: turns a tar of a repository tree into an image on this node's Docker Engine.
 * Two adapters implement it (docker.ts: the Engine's build API; kaniko.ts: the kaniko executor in a
 * container); only main/ decides which one is real.
 */
import { LABELS } from '../model/index.js';

export interface BuildRequest {
  /** A tar of the repository tree (the build context); the Dockerfile is at its root. */
  context: NodeJS.ReadableStream;
  /** The tag the image gets, e.g. pleaco/web:b-123. */
  tag: string;
  /** Labels the image carries (io.pleaco.managed, io.pleaco.app, io.pleaco.build, …). */
  labels: Record<string, string>;
  memoryBytes: number;
  cpuShares: number;
  /** Each line of build output, without the trailing newline. */
  onLog: (line: string) => void;
  signal?: AbortSignal;
}

export interface Builder {
  readonly name: 'docker' | 'kaniko';
  available(): Promise<{ ok: boolean; reason?: string }>;
  build(req: BuildRequest): Promise<{ imageId: string }>;
}

/** Labels for a resource pleaco creates; `io.pleaco.managed=true` always. */
export function pleacoLabels(fields: { app?: string; build?: string; role?: 'build' | 'test' | 'scan'; node?: string }): Record<string, string> {
  const out: Record<string, string> = { [LABELS.managed]: 'true' };
  if (fields.app) out[LABELS.app] = fields.app;
  if (fields.build) out[LABELS.build] = fields.build;
  if (fields.role) out[LABELS.role] = fields.role;
  if (fields.node) out[LABELS.node] = fields.node;
  return out;
}
