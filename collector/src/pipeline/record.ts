import type { Inventory, Reason } from '../../../shared/src/report/types.js';
import type { Baseline, ChangeRecord, NodeRecord, NodeSummary, ReportRecord } from '../store/store.js';
import type { VerifiedReport } from './verify-report.js';

/**
 * Turns a verified report into what the store keeps: the report row (full JWS only when the
 * inventory digest or PCRs changed since the node's previous state, a compact row otherwise),
 * the new drift changes, the node's new state and, for the first fresh report, the TOFU
 * baseline. Pure: the time is passed in.
 */
export interface ReportWrites {
  report: ReportRecord;
  changes: Omit<ChangeRecord, 'id'>[];
  node: NodeRecord;
  /** Set when this report becomes the node's first baseline (trust on first use). */
  baseline: Baseline | null;
  /** The node's status before, for the status-changed event (null = first verdict). */
  statusBefore: NodeRecord['status'] | null;
  statusChanged: boolean;
}

export function summarise(inv: Inventory, inventoryDigest: string, pcrDigest: string | null): NodeSummary {
  const gpus = inv.gpus;
  return {
    gpuCount: gpus.length,
    gpuModel: gpus[0]?.productName ?? null,
    driver: gpus[0]?.driverVersion ?? inv.kernel?.nvidiaModuleVersion ?? null,
    vbios: [...new Set(gpus.map((g) => g.vbiosVersion).filter((v): v is string => v !== null))],
    biosVersion: inv.platform?.biosVersion ?? null,
    inventoryDigest,
    pcrDigest,
  };
}

const reasonKey = (r: Reason) => `${r.code}\u0000${r.detail}`;

export function buildReportWrites(v: VerifiedReport, node: NodeRecord, hadBaseline: boolean, now: Date): ReportWrites {
  const at = now.toISOString();
  const p = v.payload;
  const prev = node.summary;
  const changed = !prev || prev.inventoryDigest !== p.inventoryDigest || prev.pcrDigest !== v.pcrDigest;
  const fresh = v.kind === 'fresh';
  const report: ReportRecord = {
    nodeId: p.nodeId,
    seq: p.seq,
    receivedAt: at,
    nonce: p.nonce,
    kind: v.kind,
    status: v.verdict.status,
    reasons: v.verdict.reasons,
    inventoryDigest: p.inventoryDigest,
    pcrDigest: v.pcrDigest,
    jws: changed ? v.jws : null,
  };
  // A change row is written when a drift reason first appears, not on every report that still shows it.
  const known = new Set(node.reasons.map(reasonKey));
  const changes = fresh
    ? v.drift
        .filter((r) => !known.has(reasonKey(r)))
        .map((r) => ({
          nodeId: p.nodeId,
          seq: p.seq,
          at,
          code: r.code,
          claim: r.claim,
          detail: r.detail,
          before: r.before ?? null,
          after: r.after ?? null,
        }))
    : [];
  const next: NodeRecord = {
    ...node,
    lastSeq: p.seq,
    lastSeenAt: at,
    ...(fresh
      ? {
          status: v.verdict.status,
          reasons: v.verdict.reasons,
          verifiedAt: at,
          akPublic: node.akPublic ?? v.akPublic,
          summary: summarise(p.inventory, p.inventoryDigest, v.pcrDigest),
        }
      : {}),
  };
  const baseline: Baseline | null =
    fresh && !hadBaseline
      ? {
          nodeId: p.nodeId,
          inventory: p.inventory,
          inventoryDigest: p.inventoryDigest,
          pcrs: v.pcrs,
          eventLog: p.tpm.status === 'ok' ? p.tpm.eventLog : null,
          approvedBy: 'tofu',
          reason: 'first verified report (trust on first use)',
          createdAt: at,
        }
      : null;
  const statusChanged =
    fresh &&
    (node.verifiedAt === null ||
      node.status !== next.status ||
      JSON.stringify(node.reasons.map(reasonKey)) !== JSON.stringify(next.reasons.map(reasonKey)));
  return { report, changes, node: next, baseline, statusBefore: node.verifiedAt === null ? null : node.status, statusChanged };
}
