import type { Reason, TrustStatus } from '../../../shared/src/report/types.js';
import type { NodeRecord, ReportWrite, Store } from '../../../collector/src/store/store.js';

/**
 * One fresh verified report's writes, as the collector's pipeline commits them: the report row,
 * a change row per new drift reason, and the node's new state. Alerts are derived from these rows.
 */
export function reportWrite(
  prev: NodeRecord | null,
  nodeId: string,
  seq: number,
  status: TrustStatus,
  reasons: Reason[],
  opts: { drift?: Reason[]; at?: string } = {},
): ReportWrite {
  const at = opts.at ?? new Date().toISOString();
  const base: NodeRecord = prev ?? {
    nodeId,
    jwk: null,
    kid: 'k1',
    akPublic: null,
    lastSeq: 0,
    status: 'unknown',
    reasons: [],
    firstSeenAt: at,
    lastSeenAt: at,
    verifiedAt: null,
    enrolledVia: 'tofu',
    revokedAt: null,
    summary: null,
  };
  return {
    report: {
      nodeId,
      seq,
      receivedAt: at,
      nonce: `nonce-${seq}`,
      kind: 'fresh',
      status,
      reasons,
      inventoryDigest: `sha256:${seq}`,
      pcrDigest: null,
      jws: `h.p${seq}.s`,
    },
    changes: (opts.drift ?? []).map((r) => ({
      nodeId,
      seq,
      at,
      code: r.code,
      claim: r.claim,
      detail: r.detail,
      before: r.before ?? null,
      after: r.after ?? null,
    })),
    node: { ...base, lastSeq: seq, lastSeenAt: at, status, reasons, verifiedAt: at },
  };
}

/** Commits a fresh verdict for the node through the store API (one transaction). */
export async function commitVerdict(
  store: Store,
  nodeId: string,
  seq: number,
  status: TrustStatus,
  reasons: Reason[],
  opts: { drift?: Reason[]; at?: string } = {},
): Promise<void> {
  const w = reportWrite(await store.getNode(nodeId), nodeId, seq, status, reasons, opts);
  await store.recordReport(w.report, w.changes, w.node);
}
