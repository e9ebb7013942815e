import type { Reason, TrustStatus } from '../../../shared/src/report/types.js';
import type { CollectorEventMap, CollectorEvents } from '../events.js';
import type { NodeRecord, Store } from '../store/store.js';
import type { TrustView } from '../trust/cache.js';

/**
 * The dashboard's in-memory view of the fleet: one compact row per node, loaded from the store
 * at start and refreshed from the event bus (changed nodes are re-read in batches, never the
 * whole table). Status comes from the trust cache when given (kept current from its change
 * feed), so `stale` reads the same as schedulers see it. Queries filter and page in memory with
 * no allocation per node: see npm run bench:dashboard for the figures at 10,000 nodes.
 */
export interface FleetRow {
  nodeId: string;
  status: TrustStatus;
  reasons: Reason[];
  verifiedAt: string | null;
  lastSeenAt: string | null;
  connected: boolean | null;
  gpuCount: number | null;
  gpuModel: string | null;
  driver: string | null;
  vbios: string[];
  biosVersion: string | null;
  revoked: boolean;
}

export interface FleetQuery {
  status?: TrustStatus;
  code?: string;
  gpuModel?: string;
  driver?: string;
  search?: string;
  offset?: number;
  limit?: number;
}

export interface FleetPage {
  total: number;
  offset: number;
  limit: number;
  rows: FleetRow[];
  /** Whole-fleet counts by status (not filtered). */
  counts: Record<TrustStatus, number>;
  fleetSize: number;
  /** Values present in the fleet, for the filter menus (bounded). */
  facets: { codes: string[]; gpuModels: string[]; drivers: string[] };
}

/** The trust cache's read side and its change feed (every effective change, including expiries to stale). */
export interface TrustSource {
  get(nodeId: string): TrustView | null;
  on(e: 'change', fn: (c: TrustView) => void): unknown;
  off(e: 'change', fn: (c: TrustView) => void): unknown;
}

export interface FleetDeps {
  store: Pick<Store, 'listNodes' | 'getNode'>;
  events: CollectorEvents;
  trust?: TrustSource | undefined;
  isConnected?: ((nodeId: string) => boolean) | undefined;
}

const RANK: Record<TrustStatus, number> = { untrusted: 0, stale: 1, unknown: 2, trusted: 3 };
const MAX_FACETS = 200;

function toRow(n: NodeRecord): FleetRow {
  const s = n.summary;
  return {
    nodeId: n.nodeId,
    status: n.status,
    reasons: n.reasons.map((r) => ({ code: r.code, claim: r.claim, detail: r.detail.slice(0, 300) })),
    verifiedAt: n.verifiedAt,
    lastSeenAt: n.lastSeenAt,
    connected: null,
    gpuCount: s?.gpuCount ?? null,
    gpuModel: s?.gpuModel ?? null,
    driver: s?.driver ?? null,
    vbios: s?.vbios ?? [],
    biosVersion: s?.biosVersion ?? null,
    revoked: n.revokedAt !== null,
  };
}

export class FleetIndex {
  private readonly rows = new Map<string, FleetRow>();
  private sorted: FleetRow[] | null = null;
  private readonly dirty = new Set<string>();
  private flushing: Promise<void> | null = null;
  private readonly detach: Array<() => void> = [];

  constructor(private readonly deps: FleetDeps) {
    const mark = (e: { nodeId: string }) => this.dirty.add(e.nodeId);
    const on = <K extends keyof CollectorEventMap>(name: K) => {
      deps.events.on(name, mark as never);
      this.detach.push(() => deps.events.off(name, mark as never));
    };
    on('status-changed');
    on('report-verified');
    on('approved');
    on('drift');
    const trust = deps.trust;
    if (trust) {
      // Effective status is kept in the rows as the trust cache changes, so a query reads no cache.
      const onChange = (c: TrustView) => {
        const r = this.rows.get(c.nodeId);
        if (r) this.overlay(r, c);
        else this.dirty.add(c.nodeId);
      };
      trust.on('change', onChange);
      this.detach.push(() => trust.off('change', onChange));
    }
  }

  private overlay(r: FleetRow, t: TrustView | null | undefined): FleetRow {
    if (t) {
      r.status = t.status;
      r.reasons = t.reasons.map((x) => ({ code: x.code, claim: x.claim, detail: x.detail.slice(0, 300) }));
      r.verifiedAt = t.verifiedAt;
    }
    return r;
  }

  private fromStore(n: NodeRecord): FleetRow {
    return this.overlay(toRow(n), this.deps.trust?.get(n.nodeId));
  }

  get size(): number {
    return this.rows.size;
  }

  /** Reads every node (paged). Call once at start; events that arrive meanwhile are kept. */
  async load(pageSize = 1000): Promise<void> {
    for (let offset = 0; ; offset += pageSize) {
      const { nodes } = await this.deps.store.listNodes({ limit: pageSize, offset });
      for (const n of nodes) this.rows.set(n.nodeId, this.fromStore(n));
      if (nodes.length < pageSize) break;
    }
    this.sorted = null;
  }

  /** Re-reads the nodes that changed since the last flush. */
  flush(): Promise<void> {
    if (this.dirty.size === 0) return this.flushing ?? Promise.resolve();
    const run = async () => {
      while (this.dirty.size > 0) {
        const ids = [...this.dirty];
        this.dirty.clear();
        const got = await Promise.all(ids.map((id) => this.deps.store.getNode(id)));
        for (const n of got) {
          if (!n) continue;
          if (!this.rows.has(n.nodeId)) this.sorted = null;
          this.rows.set(n.nodeId, this.fromStore(n));
        }
      }
    };
    const p = (this.flushing ?? Promise.resolve()).then(run).finally(() => {
      if (this.flushing === p) this.flushing = null;
    });
    this.flushing = p;
    return p;
  }

  /** One page, nodes needing attention first (untrusted, stale, unknown, trusted), then by id. */
  query(q: FleetQuery): FleetPage {
    if (!this.sorted) this.sorted = [...this.rows.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
    // Rows are replaced on refresh, so re-read them by id from the map.
    const counts: Record<TrustStatus, number> = { trusted: 0, untrusted: 0, unknown: 0, stale: 0 };
    const codes = new Set<string>();
    const models = new Set<string>();
    const drivers = new Set<string>();
    const buckets: FleetRow[][] = [[], [], [], []];
    const search = q.search?.toLowerCase();
    for (const s of this.sorted) {
      const r = this.rows.get(s.nodeId) ?? s;
      counts[r.status]++;
      if (codes.size < MAX_FACETS) for (const x of r.reasons) codes.add(x.code);
      if (r.gpuModel && models.size < MAX_FACETS) models.add(r.gpuModel);
      if (r.driver && drivers.size < MAX_FACETS) drivers.add(r.driver);
      if (q.status && r.status !== q.status) continue;
      if (q.gpuModel && r.gpuModel !== q.gpuModel) continue;
      if (q.driver && r.driver !== q.driver) continue;
      if (q.code && !r.reasons.some((x) => x.code === q.code)) continue;
      if (search && !r.nodeId.toLowerCase().includes(search)) continue;
      buckets[RANK[r.status]]!.push(r);
    }
    const all = buckets.flat();
    const limit = Math.min(500, Math.max(1, q.limit ?? 50));
    const offset = Math.max(0, q.offset ?? 0);
    const sort = (s: Set<string>) => [...s].sort();
    const isConnected = this.deps.isConnected;
    const rows = all.slice(offset, offset + limit).map((r) => ({ ...r, connected: isConnected ? isConnected(r.nodeId) : null }));
    return {
      total: all.length,
      offset,
      limit,
      rows,
      counts,
      fleetSize: this.rows.size,
      facets: { codes: sort(codes), gpuModels: sort(models), drivers: sort(drivers) },
    };
  }

  close(): void {
    for (const d of this.detach.splice(0)) d();
  }
}
