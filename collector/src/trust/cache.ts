import { EventEmitter } from 'node:events';
import type { Reason, TrustStatus } from '../../../shared/src/report/types.js';
import type { CollectorEvents } from '../events.js';
import { effectiveVerdict, STATUS_REASON } from '../pipeline/verdict.js';
import type { NodeRecord, Store } from '../store/store.js';

/**
 * The in-memory trust cache that schedulers read. Loaded from the store at start, then kept
 * current from the collector's event bus; never touches the store on a read. Staleness is
 * computed at read time with the nodes API's rule (pipeline/verdict.ts effectiveVerdict): a
 * trusted node whose last fresh verified report is older than the freshness TTL reads `stale`;
 * an untrusted node stays untrusted; a node never verified reads `unknown`. A periodic sweep turns those silent expiries into `change` events, so watchers
 * and scheduler integrations hear about them too.
 */
export interface TrustView {
  nodeId: string;
  status: TrustStatus;
  reasons: Reason[];
  verifiedAt: string | null;
  expiresAt: string | null;
}

export interface TrustChange extends TrustView {
  from: TrustStatus | null;
  at: string;
}

export interface TrustCacheOptions {
  /** Freshness TTL in seconds (default 3 × the 60 s report interval = 180). */
  freshnessTtlSec?: number;
  /** Clock in epoch milliseconds (tests pass their own). */
  now?: () => number;
  /** How often silent expiries are looked for, ms (default 1,000; 0 disables the sweep). */
  sweepMs?: number;
}

interface Entry {
  nodeId: string;
  status: TrustStatus;
  reasons: Reason[];
  verifiedAtMs: number | null;
  revokedAt: string | null;
  /** Effective status and reason codes last published to listeners. */
  published: string | null;
}

export const STALE_REASON_CODE = STATUS_REASON.stale;
export const REVOKED_REASON_CODE = STATUS_REASON.revoked;

interface TrustCacheEvents {
  change: [c: TrustChange];
}

export class TrustCache extends EventEmitter<TrustCacheEvents> {
  readonly ttlMs: number;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly detachers: (() => void)[] = [];

  constructor(opts: TrustCacheOptions = {}) {
    super();
    this.ttlMs = Math.round((opts.freshnessTtlSec ?? 180) * 1000);
    this.now = opts.now ?? Date.now;
    const sweepMs = opts.sweepMs ?? 1000;
    if (sweepMs > 0) {
      this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
      this.sweepTimer.unref();
    }
  }

  /** Reads every node from the store (paged) into memory. Call once at start, after attach. */
  async load(store: Pick<Store, 'listNodes'>, pageSize = 1000): Promise<number> {
    let offset = 0;
    for (;;) {
      const { nodes } = await store.listNodes({ limit: pageSize, offset });
      for (const n of nodes) {
        const seen = this.entries.get(n.nodeId);
        // A node the bus already updated while loading keeps that newer state.
        if (!seen) this.setFromRecord(n, false);
        else if (seen.verifiedAtMs === null && n.verifiedAt) seen.verifiedAtMs = Date.parse(n.verifiedAt) || null;
      }
      if (nodes.length < pageSize) break;
      offset += nodes.length;
    }
    for (const e of this.entries.values()) e.published = publishKey(this.effective(e, this.now()));
    return this.entries.size;
  }

  /** Subscribes to the collector's event bus. Returns a function that unsubscribes. */
  attach(events: CollectorEvents): () => void {
    const onStatus = (e: { nodeId: string; to: TrustStatus; reasons: Reason[]; at: string }) => {
      const entry = this.ensure(e.nodeId);
      entry.status = e.to;
      entry.reasons = e.reasons;
      this.publishIfChanged(entry);
    };
    const onVerified = (e: { nodeId: string; fresh: boolean }) => {
      // Only a report answering this connection's nonce is fresh proof; spooled history is not.
      if (!e.fresh) return;
      // Status and reasons come with 'status-changed'; this only renews freshness.
      const entry = this.ensure(e.nodeId);
      entry.verifiedAtMs = this.now();
      this.publishIfChanged(entry);
    };
    events.on('status-changed', onStatus);
    events.on('report-verified', onVerified);
    const off = () => {
      events.off('status-changed', onStatus);
      events.off('report-verified', onVerified);
    };
    this.detachers.push(off);
    return off;
  }

  /** Replaces one node's state from a store record (also used after approvals or revocations). */
  setFromRecord(n: NodeRecord, publish = true): void {
    const entry = this.ensure(n.nodeId);
    entry.status = n.status;
    entry.reasons = n.reasons;
    entry.verifiedAtMs = n.verifiedAt ? Date.parse(n.verifiedAt) : null;
    if (entry.verifiedAtMs !== null && Number.isNaN(entry.verifiedAtMs)) entry.verifiedAtMs = null;
    entry.revokedAt = n.revokedAt;
    if (publish) this.publishIfChanged(entry);
  }

  has(nodeId: string): boolean {
    return this.entries.has(nodeId);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The node's trust now, or null when the collector has never heard of it. */
  get(nodeId: string): TrustView | null {
    const e = this.entries.get(nodeId);
    return e ? this.effective(e, this.now()) : null;
  }

  /** Like get, but a never-seen node reads as `unknown` (bulk answers list every name asked for). */
  getOrUnknown(nodeId: string): TrustView {
    return (
      this.get(nodeId) ?? {
        nodeId,
        status: 'unknown',
        reasons: [
          { code: STATUS_REASON.neverVerified, claim: 'instance-identity', detail: 'the collector has never heard from this node' },
        ],
        verifiedAt: null,
        expiresAt: null,
      }
    );
  }

  /** Every node, in insertion order. */
  all(): TrustView[] {
    const now = this.now();
    return [...this.entries.values()].map((e) => this.effective(e, now));
  }

  /** Publishes silent expiries (trusted → stale). Called by the timer; tests call it directly. */
  sweep(): void {
    // Only time can change a trusted node's effective status (to stale): a numeric check per
    // node, full views only for the few that just expired.
    const now = this.now();
    for (const e of this.entries.values()) {
      if (
        e.status === 'trusted' &&
        e.revokedAt === null &&
        e.verifiedAtMs !== null &&
        now >= e.verifiedAtMs + this.ttlMs &&
        !e.published?.startsWith('stale ')
      )
        this.publishIfChanged(e);
    }
  }

  close(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const off of this.detachers.splice(0)) off();
    this.removeAllListeners();
  }

  private ensure(nodeId: string): Entry {
    let e = this.entries.get(nodeId);
    if (!e) {
      e = { nodeId, status: 'unknown', reasons: [], verifiedAtMs: null, revokedAt: null, published: null };
      this.entries.set(nodeId, e);
    }
    return e;
  }

  /** The same rule as the nodes API (pipeline/verdict.ts effectiveVerdict), from memory. */
  private effective(e: Entry, now: number): TrustView {
    const verifiedAt = e.verifiedAtMs === null ? null : new Date(e.verifiedAtMs).toISOString();
    const v = effectiveVerdict({ status: e.status, reasons: e.reasons, verifiedAt, revokedAt: e.revokedAt }, now, this.ttlMs / 1000);
    return {
      nodeId: e.nodeId,
      status: v.status,
      reasons: v.reasons,
      verifiedAt,
      expiresAt: e.verifiedAtMs === null ? null : new Date(e.verifiedAtMs + this.ttlMs).toISOString(),
    };
  }

  private publishIfChanged(e: Entry): void {
    const now = this.now();
    const view = this.effective(e, now);
    const key = publishKey(view);
    if (key === e.published) return;
    const from = e.published === null ? null : (e.published.split(' ', 1)[0] as TrustStatus);
    e.published = key;
    this.emit('change', { ...view, from, at: new Date(now).toISOString() });
  }
}

function publishKey(v: TrustView): string {
  return `${v.status} ${v.reasons.map((r) => r.code).join(',')}`;
}
