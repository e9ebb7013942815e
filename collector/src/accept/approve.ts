import { parseReportPayload } from '../../../shared/src/report/schema.js';
import type { ReportPayload } from '../../../shared/src/report/types.js';
import { summarise } from '../pipeline/record.js';
import type { EvidencePorts } from '../pipeline/verify-report.js';
import type { NodeRecord } from '../store/store.js';
import { AcceptError, ERR_APPROVE_AK_CHANGED, ERR_APPROVE_NO_STATE, ERR_APPROVE_STATE_CHANGED } from './errors.js';
import type { AcceptDeps } from './types.js';

/** What the operator approves: why, and the state they looked at (digests; absent = not given). */
export interface ApproveInput {
  reason: string;
  inventoryDigest?: string;
  pcrDigest?: string | null;
}

export interface ApproveResult {
  nodeId: string;
  status: NodeRecord['status'];
  reasons: NodeRecord['reasons'];
  inventoryDigest: string;
  approvedBy: string;
  at: string;
}

/**
 * Makes the node's latest verified state (its newest fresh report, read back from the full JWS
 * the store kept for those digests) its baseline, re-evaluates the node against it and records
 * the approval. Refused (AcceptError) when there is no verified state, when the node reported
 * another state than the one the operator looked at, or when that state was quoted by another
 * attestation key than the pinned one (approval never re-pins the AK). Run under the node's lock.
 */
export async function approveLatestState(
  deps: Pick<AcceptDeps, 'store' | 'events' | 'ports'>,
  nodeId: string,
  input: ApproveInput,
  actor: string,
  now: Date,
): Promise<ApproveResult> {
  const { store, events, ports } = deps;
  const node = await store.getNode(nodeId);
  const state = node ? await store.latestVerifiedState(nodeId) : null;
  if (!node || !state) throw new AcceptError(ERR_APPROVE_NO_STATE, 'the node has no verified state to approve yet');
  const { report } = state;
  // The operator approves what they looked at: a newer report with other evidence (sent while
  // they were reading) is not approved in its place.
  if (
    (input.inventoryDigest !== undefined && input.inventoryDigest !== report.inventoryDigest) ||
    (input.pcrDigest !== undefined && input.pcrDigest !== report.pcrDigest)
  ) {
    throw new AcceptError(ERR_APPROVE_STATE_CHANGED, 'the node reported another state since it was shown; look at it again', {
      details: { inventoryDigest: report.inventoryDigest, pcrDigest: report.pcrDigest },
    });
  }
  const part = state.full.jws!.split('.')[1] ?? '';
  const p = parseReportPayload(JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
  // The AK was pinned by credential activation (or first use): approval never re-pins it, else a
  // key made outside the TPM could be approved in and quote anything from then on. The latest
  // fresh report's own verdict is checked too: a report whose digests repeat an earlier one is
  // stored without its JWS, so the payload read back may be that earlier report's.
  const foreignAk =
    report.reasons.some((r) => r.code === 'tpm.ak_changed') ||
    (p.tpm.status === 'ok' && node.akPublic !== null && p.tpm.akPublic.toLowerCase() !== node.akPublic.toLowerCase());
  if (foreignAk) {
    throw new AcceptError(
      ERR_APPROVE_AK_CHANGED,
      'this state was quoted by another attestation key than the one pinned for the node; the node must enrol again',
    );
  }
  const at = now.toISOString();
  const pcrs = quotedPcrs(ports, p);
  // A state without TPM evidence says nothing about the boot chain: the approved PCRs (and their
  // event log) stay, so TPM evidence coming back is compared PCR by PCR, not taken as new banks.
  const prior = pcrs === null ? await store.getBaseline(nodeId) : null;
  const baseline = {
    nodeId,
    inventory: p.inventory,
    inventoryDigest: p.inventoryDigest,
    pcrs: pcrs ?? prior?.pcrs ?? null,
    eventLog: p.tpm.status === 'ok' ? p.tpm.eventLog : (prior?.eventLog ?? null),
    approvedBy: actor,
    reason: input.reason,
    createdAt: at,
  };
  const akPublic = node.akPublic ?? (p.tpm.status === 'ok' ? p.tpm.akPublic : null);
  const verdict = ports.evaluate({
    evidence: {
      kind: 'fresh',
      inventory: p.inventory,
      pcrs,
      eventLog: baseline.eventLog,
      akPublic: p.tpm.status === 'ok' ? p.tpm.akPublic : null,
      tpm: p.tpm,
    },
    baseline,
    node: { akPublic, revokedAt: node.revokedAt },
  });
  const next: NodeRecord = {
    ...node,
    status: verdict.status,
    reasons: verdict.reasons,
    akPublic,
    summary: summarise(p.inventory, p.inventoryDigest, report.pcrDigest),
  };
  await store.setBaseline(baseline, { nodeId, actor, reason: input.reason, at, inventoryDigest: p.inventoryDigest });
  await store.upsertNode(next);
  events.emit('approved', { nodeId, actor, reason: input.reason, at });
  if (node.status !== next.status || JSON.stringify(node.reasons) !== JSON.stringify(next.reasons))
    events.emit('status-changed', { nodeId, from: node.status, to: next.status, reasons: next.reasons, at });
  return { nodeId, status: next.status, reasons: next.reasons, inventoryDigest: p.inventoryDigest, approvedBy: actor, at };
}

/** The PCRs the stored report's quote covers: its evidence is verified again (it was when stored). */
function quotedPcrs(ports: EvidencePorts, p: ReportPayload): Record<string, Record<string, string>> | null {
  if (p.tpm.status !== 'ok') return null;
  return ports.verifyQuote({
    attest: p.tpm.quote.attest,
    signature: p.tpm.quote.signature,
    akPublic: p.tpm.akPublic,
    nonce: p.nonce,
    pcrs: p.tpm.pcrs,
  }).pcrs;
}
