/**
 * What an operator decides about a node: `nodes:drain` (it wins no slots any more; each of its slots stops once
 * its new node runs it) and `nodes:undrain`. One record per node, `nodes/<node>`, written by any agent.
 */
import { PleacoError } from '../errors.js';
import { keys, NODE_ID_RE, type NodeSpec, type NodeStatus } from '../model/index.js';
import type { Store } from '../state/index.js';

export interface NodeServiceOptions {
  store: Store;
  /** The ids of the members this node knows (alive or not), besides those with a status record. */
  members: () => string[];
  now?: () => Date;
}

export class NodeService {
  private readonly now: () => Date;

  constructor(private readonly o: NodeServiceOptions) {
    this.now = o.now ?? (() => new Date());
  }

  private known(id: unknown): string {
    if (typeof id !== 'string' || !NODE_ID_RE.test(id)) throw new PleacoError('bad_request', `${JSON.stringify(String(id).slice(0, 80))} is not a node id`);
    if (!this.o.store.get<NodeStatus>(keys.node(id)) && !this.o.members().includes(id)) throw new PleacoError('not_found', `no node named ${JSON.stringify(id)} (pleaco nodes lists them)`);
    return id;
  }

  spec(id: string): NodeSpec | null {
    return this.o.store.get<NodeSpec>(keys.nodeSpec(id)) ?? null;
  }

  /** Drains (true) or undrains (false) a node; returns the record written. */
  async setDrain(id: unknown, drain: boolean): Promise<NodeSpec> {
    const node = this.known(id);
    const spec: NodeSpec = { drain, at: this.now().toISOString() };
    await this.o.store.batch([{ key: keys.nodeSpec(node), value: spec }]);
    return spec;
  }
}
