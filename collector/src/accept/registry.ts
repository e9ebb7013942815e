/** What the registry needs to know of a connection. */
export interface Registered {
  readonly nodeId: string | null;
  readonly state: string;
  /** Ordering among one node's connections: higher is preferred for challenges. */
  rank(): number;
}

/** How many connections of one node may be unproven at once (a hello names only the public kid). */
export const MAX_UNPROVEN_PER_NODE = 4;

/**
 * The agent connections of this collector, by node: proven ones (a report verified with the
 * node's pinned key) make the node connected; unproven ones (past hello, no verified report yet)
 * do not.
 */
export class ConnectionRegistry<C extends Registered> {
  private readonly proven = new Map<string, Set<C>>();
  private readonly unproven = new Map<string, Set<C>>();

  /**
   * Adds a connection whose hello was accepted as an unproven one of its node. When the node
   * already has MAX_UNPROVEN_PER_NODE unproven connections, the oldest is returned for eviction:
   * the newest hello always gets its chance to prove the key, so connections that only know the
   * (public) kid cannot lock the node's honest agent out.
   */
  register(nodeId: string, c: C): C | null {
    const set = bucket(this.unproven, nodeId);
    let evicted: C | null = null;
    if (set.size >= MAX_UNPROVEN_PER_NODE) {
      evicted = set.values().next().value!;
      set.delete(evicted);
    }
    set.add(c);
    return evicted;
  }

  /** The connection proved possession of the node's key: it now counts as connected. */
  promote(nodeId: string, c: C): void {
    removeFrom(this.unproven, nodeId, c);
    bucket(this.proven, nodeId).add(c);
  }

  unregister(c: C): void {
    if (!c.nodeId) return;
    removeFrom(this.proven, c.nodeId, c);
    removeFrom(this.unproven, c.nodeId, c);
  }

  /** The proven connection to challenge for a node: the best ranked. */
  best(nodeId: string): C | null {
    let best: C | null = null;
    for (const c of this.proven.get(nodeId) ?? []) if (!best || c.rank() > best.rank()) best = c;
    return best;
  }

  /** Ready connections of the node: the proven ones, or (when there are none) the unproven ones. */
  ready(nodeId: string): { proven: boolean; list: C[] } {
    const list = [...(this.proven.get(nodeId) ?? [])].filter((c) => c.state === 'ready');
    if (list.length > 0) return { proven: true, list };
    return { proven: false, list: [...(this.unproven.get(nodeId) ?? [])].filter((c) => c.state === 'ready') };
  }

  /** Every connection of the node, proven or not. */
  all(nodeId: string): C[] {
    return [...(this.proven.get(nodeId) ?? []), ...(this.unproven.get(nodeId) ?? [])];
  }

  isConnected(nodeId: string): boolean {
    return (this.proven.get(nodeId)?.size ?? 0) > 0;
  }

  connectedNodes(): string[] {
    return [...this.proven.keys()];
  }

  get provenCount(): number {
    let n = 0;
    for (const set of this.proven.values()) n += set.size;
    return n;
  }

  get unprovenCount(): number {
    let n = 0;
    for (const set of this.unproven.values()) n += set.size;
    return n;
  }
}

function bucket<C>(m: Map<string, Set<C>>, nodeId: string): Set<C> {
  let set = m.get(nodeId);
  if (!set) m.set(nodeId, (set = new Set()));
  return set;
}

function removeFrom<C>(m: Map<string, Set<C>>, nodeId: string, c: C): void {
  const set = m.get(nodeId);
  set?.delete(c);
  if (set && set.size === 0) m.delete(nodeId);
}
