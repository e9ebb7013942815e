import type { Inventory, Reason, TrustStatus } from '../../../shared/src/report/types.js';
import type { SqlDb } from './sql.js';

/**
 * The collector's one persistence port. SQLite (better-sqlite3 12, WAL) and PostgreSQL
 * implement it; test/collector/store/contract.ts runs the same suite against both.
 * Every write that precedes an acknowledgement to an agent is durable when the promise
 * resolves (SQLite: synchronous=FULL in WAL mode; PostgreSQL: committed transaction).
 *
 * This is the starting contract; extend it (never silently change meaning) as features land.
 */
export interface NodeRecord {
  nodeId: string;
  /** JWS public key (JWK) pinned for this node, and its RFC 7638 thumbprint. */
  jwk: Record<string, unknown> | null;
  kid: string | null;
  /** TPM2B_PUBLIC hex of the pinned attestation key. */
  akPublic: string | null;
  lastSeq: number;
  status: TrustStatus;
  reasons: Reason[];
  /** ISO times. */
  firstSeenAt: string;
  lastSeenAt: string | null;
  verifiedAt: string | null;
  enrolledVia: 'tofu' | 'token' | 'operator' | null;
  revokedAt: string | null;
  /** Summary fields for listings (denormalised from the latest verified report). */
  summary: NodeSummary | null;
  /**
   * Row version: increases on every write of the node row (upsert, report, enrolment, revoke) and
   * on every setBaseline for the node (migration 0400_node_version). Set on every node the store
   * returns; ignored on write (the store assigns it), hence optional for writers.
   * The cluster change feed compares it to never emit an older state than one it already emitted.
   */
  version?: number;
}

/** A node as the store returns it: with its row version. */
export type VersionedNode = NodeRecord & { version: number };

export interface NodeSummary {
  gpuCount: number;
  gpuModel: string | null;
  driver: string | null;
  vbios: string[];
  biosVersion: string | null;
  inventoryDigest: string;
  pcrDigest: string | null;
}

export interface Baseline {
  nodeId: string;
  inventory: Inventory;
  inventoryDigest: string;
  /** sha256 bank (and others when present): { bank: { index: hex } } */
  pcrs: Record<string, Record<string, string>> | null;
  /** base64 event log of the baseline report, for explaining PCR changes. */
  eventLog: string | null;
  approvedBy: string;
  reason: string;
  createdAt: string;
}

export interface ReportRecord {
  nodeId: string;
  seq: number;
  receivedAt: string;
  nonce: string | null;
  /** 'fresh' = answered this connection's nonce; 'history' = spooled/offline (nonce null). */
  kind: 'fresh' | 'history';
  status: TrustStatus;
  reasons: Reason[];
  inventoryDigest: string;
  pcrDigest: string | null;
  /**
   * Full JWS kept when digest or PCRs changed since the previous stored report; else null (compact row).
   * Callers of recordReport pass the full JWS; the store decides (inside the transaction) whether to keep it.
   */
  jws: string | null;
}

export interface ChangeRecord {
  id: number;
  nodeId: string;
  seq: number;
  at: string;
  code: string;
  claim: string;
  detail: string;
  before: unknown;
  after: unknown;
}

export interface ApprovalRecord {
  nodeId: string;
  actor: string;
  reason: string;
  at: string;
  inventoryDigest: string;
}

export interface NodeQuery {
  status?: TrustStatus;
  /** Case-insensitive substring (so also prefix) of the node id. */
  search?: string;
  /** Default 100, at most 10,000. */
  limit?: number;
  offset?: number;
  /** Only nodes whose current reasons include this code (e.g. 'gpu.vbios_changed'). */
  code?: string;
  /** Exact GPU model / driver version from the node's summary. */
  gpuModel?: string;
  driver?: string;
  /** 'nodeId' (default) or 'attention': untrusted, stale, unknown, trusted, then by node id. */
  order?: 'nodeId' | 'attention';
}

/** One pinned key set of a node, in the order they were first seen (key rotation history). */
export interface NodeKeyRecord {
  nodeId: string;
  kid: string | null;
  jwk: Record<string, unknown> | null;
  akPublic: string | null;
  firstSeenAt: string;
}

/** One report's writes for Store.recordReports: what recordReport takes, plus the TOFU baseline it may set. */
export interface ReportWrite {
  report: ReportRecord;
  changes: Omit<ChangeRecord, 'id'>[];
  node: NodeRecord;
  /** Set (no approval row) in the same transaction as the report: the first verified report's baseline. */
  baseline?: Baseline | null;
}

export interface Store {
  migrate(): Promise<void>;
  close(): Promise<void>;

  getNode(nodeId: string): Promise<NodeRecord | null>;
  listNodes(q?: NodeQuery): Promise<{ nodes: NodeRecord[]; total: number }>;
  upsertNode(node: NodeRecord): Promise<void>;
  /** The nodes among `ids` that exist (unknown ids are left out), ordered by node id. */
  getNodes(ids: readonly string[]): Promise<VersionedNode[]>;
  /** Every node's current row version: the cheap catch-up read of the cluster change feed. */
  nodeVersions(): Promise<Map<string, number>>;

  getBaseline(nodeId: string): Promise<Baseline | null>;
  /** Set the node's baseline (and record the approval); bumps the node row's version in the same transaction. */
  setBaseline(b: Baseline, approval: ApprovalRecord | null): Promise<void>;

  /**
   * Append a verified (or rejected-but-attributable) report, its changes, and the node's new
   * state in one transaction. Must be durable before resolving: the agent is acknowledged after.
   * Rejects with a coded duplicate-seq error (ERR_STORE_DUPLICATE_SEQ) when (nodeId, seq) already exists,
   * and then stores nothing. Change rows' before/after are stored as JSON (undefined reads back as null).
   */
  recordReport(r: ReportRecord, changes: Omit<ChangeRecord, 'id'>[], node: NodeRecord): Promise<void>;
  /**
   * Group commit: every write of the batch in ONE transaction (one durable commit), each in its
   * own savepoint, so an item that fails (ERR_STORE_DUPLICATE_SEQ) is rolled back alone and the
   * others commit. Resolves after the commit with one entry per item, in order: null when
   * stored, the item's error otherwise. Rejects (nothing stored) when the transaction fails.
   */
  recordReports(batch: readonly ReportWrite[]): Promise<Array<Error | null>>;
  listReports(nodeId: string, opts?: { limit?: number; beforeSeq?: number }): Promise<ReportRecord[]>;
  listChanges(nodeId: string, opts?: { limit?: number }): Promise<ChangeRecord[]>;
  listApprovals(nodeId: string): Promise<ApprovalRecord[]>;

  /** Node counts per status (every status present, zero when none). */
  countByStatus(): Promise<Record<TrustStatus, number>>;
  /** One stored report, or null. */
  getReport(nodeId: string, seq: number): Promise<ReportRecord | null>;
  /**
   * The newest report that kept its full JWS; with the compact rows after it (same digests)
   * it is the evidence for the node's current state. `kind: 'fresh'` skips history reports.
   */
  latestFullReport(nodeId: string, opts?: { kind?: 'fresh' | 'history' }): Promise<ReportRecord | null>;
  /**
   * The node's latest verified state: its newest fresh report (`report`, possibly a compact row)
   * and the newest report with the same digests that kept its full JWS (`full`), whose payload is
   * that state's evidence. Null when the node has no fresh report or its evidence is not kept.
   */
  latestVerifiedState(nodeId: string): Promise<{ report: ReportRecord; full: ReportRecord } | null>;
  /** The node's key history (JWS key and AK), oldest first; a row is added whenever kid or AK changes. */
  listKeys(nodeId: string): Promise<NodeKeyRecord[]>;
  /**
   * The SQL port underneath, for areas that keep their own tables in the same database
   * (auth tokens, audit log, alert outbox): they add migrations in migrations.ts and use
   * portable SQL with `?` placeholders through this port.
   */
  readonly db: SqlDb;
}
