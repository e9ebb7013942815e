import type { Inventory, Reason, TrustStatus } from '../../../shared/src/report/types.js';

/**
 * The collector's one persistence port. SQLite (better-sqlite3 12, WAL) and PostgreSQL
 * implement it; test/collector/store.contract.ts runs the same suite against both.
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
}

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
  /** Full JWS kept when digest or PCRs changed since the previous stored report; else null (compact row). */
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
  search?: string;
  limit?: number;
  offset?: number;
}

export interface Store {
  migrate(): Promise<void>;
  close(): Promise<void>;

  getNode(nodeId: string): Promise<NodeRecord | null>;
  listNodes(q?: NodeQuery): Promise<{ nodes: NodeRecord[]; total: number }>;
  upsertNode(node: NodeRecord): Promise<void>;

  getBaseline(nodeId: string): Promise<Baseline | null>;
  setBaseline(b: Baseline, approval: ApprovalRecord | null): Promise<void>;

  /**
   * Append a verified (or rejected-but-attributable) report, its changes, and the node's new
   * state in one transaction. Must be durable before resolving: the agent is acknowledged after.
   * Rejects with a coded duplicate-seq error when (nodeId, seq) already exists.
   */
  recordReport(r: ReportRecord, changes: Omit<ChangeRecord, 'id'>[], node: NodeRecord): Promise<void>;
  listReports(nodeId: string, opts?: { limit?: number; beforeSeq?: number }): Promise<ReportRecord[]>;
  listChanges(nodeId: string, opts?: { limit?: number }): Promise<ChangeRecord[]>;
  listApprovals(nodeId: string): Promise<ApprovalRecord[]>;
}
