import type { Reason, TrustStatus } from '../../../shared/src/report/types.js';
import type { ApprovalRecord, Baseline, ChangeRecord, NodeKeyRecord, NodeRecord, ReportRecord, VersionedNode } from './store.js';
import { num } from './sql.js';
import { ERR_STORE_CORRUPT, StoreError } from './errors.js';

/** Row <-> record mapping for sql-store.ts. JSON lives in TEXT columns on both engines. */

export function parseJson<T>(text: unknown, column: string): T {
  if (text === null || text === undefined) return null as T;
  try {
    return JSON.parse(String(text)) as T;
  } catch (e) {
    throw new StoreError(ERR_STORE_CORRUPT, `stored ${column} is not valid JSON`, { cause: e, details: { column } });
  }
}

export function json(v: unknown): string | null {
  return v === undefined || v === null ? null : JSON.stringify(v);
}

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export const NODE_COLUMNS =
  'node_id, jwk, kid, ak_public, last_seq, status, reasons, first_seen_at, last_seen_at, verified_at, enrolled_via, revoked_at, summary, version';

export function nodeFromRow(r: Record<string, unknown>): VersionedNode {
  return {
    nodeId: String(r.node_id),
    jwk: parseJson<Record<string, unknown> | null>(r.jwk, 'nodes.jwk'),
    kid: str(r.kid),
    akPublic: str(r.ak_public),
    lastSeq: num(r.last_seq),
    status: String(r.status) as TrustStatus,
    reasons: parseJson<Reason[] | null>(r.reasons, 'nodes.reasons') ?? [],
    firstSeenAt: String(r.first_seen_at),
    lastSeenAt: str(r.last_seen_at),
    verifiedAt: str(r.verified_at),
    enrolledVia: str(r.enrolled_via) as NodeRecord['enrolledVia'],
    revokedAt: str(r.revoked_at),
    summary: parseJson<NodeRecord['summary']>(r.summary, 'nodes.summary'),
    version: num(r.version),
  };
}

/** Space-delimited reason codes with a leading and trailing space, for `LIKE '% code %'` filters. */
export function reasonCodes(reasons: readonly Reason[]): string {
  const codes = [...new Set(reasons.map((x) => x.code))].sort();
  return codes.length ? ` ${codes.join(' ')} ` : '';
}

export const UPSERT_NODE = `INSERT INTO nodes (node_id, jwk, kid, ak_public, last_seq, status, reasons, reason_codes, first_seen_at,
  last_seen_at, verified_at, enrolled_via, revoked_at, summary, gpu_model, driver)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (node_id) DO UPDATE SET jwk = excluded.jwk, kid = excluded.kid, ak_public = excluded.ak_public,
  last_seq = excluded.last_seq, status = excluded.status, reasons = excluded.reasons, reason_codes = excluded.reason_codes,
  first_seen_at = excluded.first_seen_at, last_seen_at = excluded.last_seen_at, verified_at = excluded.verified_at,
  enrolled_via = excluded.enrolled_via, revoked_at = excluded.revoked_at, summary = excluded.summary,
  gpu_model = excluded.gpu_model, driver = excluded.driver, version = nodes.version + 1`;

/**
 * Bump a node row's version without changing anything else (a write that concerns the node but
 * lives in another table, such as its baseline): on PostgreSQL the triggers of migration
 * 0400_node_version then notify the cluster change feed.
 */
export const TOUCH_NODE = 'UPDATE nodes SET version = version + 1 WHERE node_id = ?';

/**
 * UPSERT_NODE for the writes of reports, approvals and first contact: a revocation committed
 * meanwhile (EnrollStore.revokeNode, outside the node's report lock) is kept, and the node stays
 * untrusted. Only an enrolment (EnrollStore.commitEnrolment, with UPSERT_NODE) clears it.
 */
export const UPSERT_NODE_KEEP_REVOKED = UPSERT_NODE.replace(
  'status = excluded.status',
  "status = CASE WHEN nodes.revoked_at IS NOT NULL THEN 'untrusted' ELSE excluded.status END",
).replace('revoked_at = excluded.revoked_at', 'revoked_at = COALESCE(nodes.revoked_at, excluded.revoked_at)');

export function nodeParams(n: NodeRecord): Array<string | number | null> {
  return [
    n.nodeId,
    json(n.jwk),
    n.kid,
    n.akPublic,
    n.lastSeq,
    n.status,
    JSON.stringify(n.reasons ?? []),
    reasonCodes(n.reasons ?? []),
    n.firstSeenAt,
    n.lastSeenAt,
    n.verifiedAt,
    n.enrolledVia,
    n.revokedAt,
    json(n.summary),
    n.summary?.gpuModel ?? null,
    n.summary?.driver ?? null,
  ];
}

export const REPORT_COLUMNS = 'node_id, seq, received_at, nonce, kind, status, reasons, inventory_digest, pcr_digest, jws';

export function reportFromRow(r: Record<string, unknown>): ReportRecord {
  return {
    nodeId: String(r.node_id),
    seq: num(r.seq),
    receivedAt: String(r.received_at),
    nonce: str(r.nonce),
    kind: String(r.kind) as ReportRecord['kind'],
    status: String(r.status) as TrustStatus,
    reasons: parseJson<Reason[] | null>(r.reasons, 'reports.reasons') ?? [],
    inventoryDigest: String(r.inventory_digest),
    pcrDigest: str(r.pcr_digest),
    jws: str(r.jws),
  };
}

export function changeFromRow(r: Record<string, unknown>): ChangeRecord {
  return {
    id: num(r.id),
    nodeId: String(r.node_id),
    seq: num(r.seq),
    at: String(r.at),
    code: String(r.code),
    claim: String(r.claim),
    detail: String(r.detail),
    before: parseJson<unknown>(r.before_value, 'changes.before_value'),
    after: parseJson<unknown>(r.after_value, 'changes.after_value'),
  };
}

export function baselineFromRow(r: Record<string, unknown>): Baseline {
  return {
    nodeId: String(r.node_id),
    inventory: parseJson<Baseline['inventory']>(r.inventory, 'baselines.inventory'),
    inventoryDigest: String(r.inventory_digest),
    pcrs: parseJson<Baseline['pcrs']>(r.pcrs, 'baselines.pcrs'),
    eventLog: str(r.event_log),
    approvedBy: String(r.approved_by),
    reason: String(r.reason),
    createdAt: String(r.created_at),
  };
}

export function approvalFromRow(r: Record<string, unknown>): ApprovalRecord {
  return {
    nodeId: String(r.node_id),
    actor: String(r.actor),
    reason: String(r.reason),
    at: String(r.at),
    inventoryDigest: String(r.inventory_digest),
  };
}

export function keyFromRow(r: Record<string, unknown>): NodeKeyRecord {
  return {
    nodeId: String(r.node_id),
    kid: str(r.kid),
    jwk: parseJson<Record<string, unknown> | null>(r.jwk, 'node_keys.jwk'),
    akPublic: str(r.ak_public),
    firstSeenAt: String(r.first_seen_at),
  };
}
