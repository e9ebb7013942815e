import type { Inventory, Reason, TpmEvidence, TrustStatus, Verdict } from '../../../shared/src/report/types.js';
import type { Baseline, NodeRecord } from '../store/store.js';
import { diffInventory } from '../drift/inventory.js';
import { diffPcrs } from '../drift/pcrs.js';
import type { PcrExplainer } from '../drift/pcrs.js';
import { diffAk } from '../drift/ak.js';
import { reason } from '../drift/codes.js';

/**
 * The trust policy, pure: facts in, `{status, reasons}` out; the clock is passed in.
 *
 *   untrusted  any drift against the baseline (or the node is revoked)
 *   unknown    never verified, no TPM evidence (tpm.unavailable), no baseline where first use is
 *              not allowed, or a history report (nonce null) without drift
 *   stale      trusted, but no fresh verified report within the freshness TTL (read time)
 *   trusted    fresh verified TPM evidence that matches the baseline
 *
 * Status reasons (below) are not drift; every other reason code counts as drift, so an
 * unknown code fails safe (untrusted).
 */
export const STATUS_REASON = {
  tpmUnavailable: 'tpm.unavailable',
  history: 'report.history',
  neverVerified: 'node.never_verified',
  noBaseline: 'baseline.none',
  /** Same codes as the trust cache (collector/src/trust/cache.ts). */
  stale: 'freshness.expired',
  revoked: 'node.revoked',
} as const;

const STATUS_CODES = new Set<string>(Object.values(STATUS_REASON));

export function isDrift(r: Reason): boolean {
  return !STATUS_CODES.has(r.code);
}

/** Input of the report-time decision (a superset of pipeline/verify-report.ts VerdictInput). */
export interface VerdictPolicyInput {
  tpm: 'verified' | 'unavailable';
  /** Reasons found so far: drift, tpm.ak_changed, tpm.unavailable. */
  reasons: Reason[];
  /** Null when the node has no baseline yet. */
  baseline: Baseline | null;
  /** 'history' = nonce null or not issued to this connection: never makes a node trusted. Default 'fresh'. */
  kind?: 'fresh' | 'history';
  /** With no baseline: true (default) trusts this first report (it becomes the baseline); false answers unknown. */
  allowFirstUse?: boolean;
  revoked?: boolean;
}

/** The verdict for one verified report. */
export function decideVerdict(input: VerdictPolicyInput): Verdict {
  const drift = input.reasons.filter(isDrift);
  const status = input.reasons.filter((r) => !isDrift(r));
  if (input.revoked) {
    return {
      status: 'untrusted',
      reasons: [
        { code: STATUS_REASON.revoked, claim: 'instance-identity', detail: 'the node was revoked by an operator' },
        ...input.reasons,
      ],
    };
  }
  if (drift.length > 0) return { status: 'untrusted', reasons: [...drift, ...status] };
  if (input.tpm === 'unavailable') {
    const r = status.some((x) => x.code === STATUS_REASON.tpmUnavailable)
      ? status
      : [{ code: STATUS_REASON.tpmUnavailable, claim: 'instance-identity' as const, detail: 'no TPM evidence in the report' }, ...status];
    return { status: 'unknown', reasons: r };
  }
  if (input.baseline === null && input.allowFirstUse === false) {
    return {
      status: 'unknown',
      reasons: [{ code: STATUS_REASON.noBaseline, claim: 'configuration', detail: 'no approved baseline for this node yet' }, ...status],
    };
  }
  if ((input.kind ?? 'fresh') === 'history') {
    return {
      status: 'unknown',
      reasons: [
        {
          code: STATUS_REASON.history,
          claim: 'instance-identity',
          detail: 'report made without a collector nonce (offline or spooled): history, not fresh proof',
        },
        ...status,
      ],
    };
  }
  return { status: 'trusted', reasons: status };
}

/** Evidence of one verified report, as the pipeline holds it after quote and event-log checks. */
export interface VerifiedEvidence {
  kind: 'fresh' | 'history';
  inventory: Inventory;
  /** Quoted PCRs (null without TPM evidence). */
  pcrs: Record<string, Record<string, string>> | null;
  eventLog: string | null;
  akPublic: string | null;
  /** For the tpm.unavailable detail when pcrs is null. */
  tpm?: TpmEvidence;
  /** The inventory's digest, when the caller checked it is the canonical inventory's (lets `diffInventory` skip unchanged evidence). */
  inventoryDigest?: string;
  /**
   * Secure Boot as measured into PCR7 of an event log that replayed against the quoted PCRs; null
   * or absent when no such log (the inventory's efivars claim then stands as reported).
   */
  measuredSecureBoot?: boolean | null;
}

/**
 * The Secure Boot state the verdict uses: the measured one where a replayed log has it. A claim
 * (enabled true/false) that contradicts it is `secureboot.claim_mismatch`, and the inventory handed
 * to the drift diff then carries the measured value, so `secureboot.disabled` is decided on the
 * measured state. An absent claim (null: efivars unreadable) is no contradiction and is left as
 * reported, so it compares with a baseline taken from the same kind of reports.
 */
export function verifiedSecureBoot(
  inventory: Inventory,
  measured: boolean | null | undefined,
): { inventory: Inventory; reasons: Reason[]; changed: boolean } {
  const claimed = inventory.secureBoot?.enabled ?? null;
  if (measured === null || measured === undefined || claimed === null || claimed === measured)
    return { inventory, reasons: [], changed: false };
  // A root-on-node agent can claim anything in the inventory; PCR7 is what the TPM quoted.
  const word = (on: boolean) => (on ? 'enabled' : 'disabled');
  const secureBoot = { enabled: measured, setupMode: inventory.secureBoot?.setupMode ?? null };
  const reasons = [
    reason(
      'secureboot.claim_mismatch',
      `the node claims Secure Boot ${word(claimed)}, the measured boot (PCR7) has it ${word(measured)}`,
      { enabled: measured },
      { enabled: claimed },
    ),
  ];
  return { inventory: { ...inventory, secureBoot }, reasons, changed: true };
}

export interface EvaluateInput {
  evidence: VerifiedEvidence;
  baseline: Baseline | null;
  /** Null for a node never seen before. */
  node: Pick<NodeRecord, 'akPublic' | 'revokedAt'> | null;
  allowFirstUse?: boolean;
  explain?: PcrExplainer;
  /** Inventory drift; default the deep diff. pipeline/ports.ts passes drift/unchanged.ts (same result, skips unchanged inventories). */
  diffInventory?: (baseline: Baseline, current: Inventory, currentDigest?: string) => Reason[];
}

/** Drift (inventory, PCRs, AK) plus decision, for callers that hold the whole evidence. */
export function evaluate(input: EvaluateInput): Verdict & { drift: Reason[] } {
  const { evidence: ev, baseline } = input;
  const reasons: Reason[] = [];
  if (ev.pcrs === null) {
    const why = ev.tpm && ev.tpm.status !== 'ok' ? `${ev.tpm.reason} (${ev.tpm.code})` : 'the report carries no TPM quote';
    reasons.push({ code: STATUS_REASON.tpmUnavailable, claim: 'instance-identity', detail: `no TPM evidence: ${why}`.slice(0, 500) });
  }
  const sb = verifiedSecureBoot(ev.inventory, ev.pcrs === null ? null : ev.measuredSecureBoot);
  const drift: Reason[] = [...diffAk(input.node?.akPublic ?? null, ev.akPublic), ...sb.reasons];
  if (baseline) {
    // The digest is the reported inventory's: with the measured Secure Boot in its place it no longer applies.
    const digest = sb.changed ? undefined : ev.inventoryDigest;
    drift.push(
      ...(input.diffInventory ? input.diffInventory(baseline, sb.inventory, digest) : diffInventory(baseline.inventory, sb.inventory)),
    );
    if (ev.pcrs) {
      // A baseline taken without TPM evidence has no PCRs: TPM evidence appearing later is a
      // change to approve (else the boot chain would never be compared), reported as banks none → x.
      drift.push(
        ...diffPcrs(
          { pcrs: baseline.pcrs ?? {}, eventLog: baseline.eventLog },
          { pcrs: ev.pcrs, eventLog: ev.eventLog },
          input.explain ? { explain: input.explain } : {},
        ),
      );
    }
  }
  const v = decideVerdict({
    tpm: ev.pcrs === null ? 'unavailable' : 'verified',
    reasons: [...drift, ...reasons],
    baseline,
    kind: ev.kind,
    revoked: input.node?.revokedAt != null,
    ...(input.allowFirstUse !== undefined ? { allowFirstUse: input.allowFirstUse } : {}),
  });
  return { ...v, drift };
}

const toMs = (t: Date | string | number): number => (t instanceof Date ? t.getTime() : typeof t === 'string' ? Date.parse(t) : t);

/** When the node's last fresh verified report stops counting (verifiedAt + TTL), or null if never verified. */
export function expiresAt(node: Pick<NodeRecord, 'verifiedAt'>, ttlSec: number): Date | null {
  if (node.verifiedAt === null) return null;
  const v = Date.parse(node.verifiedAt);
  return Number.isNaN(v) ? null : new Date(v + ttlSec * 1000);
}

/** True when the node was verified once but has no fresh verified report within the TTL (at or after expiry). */
export function isStale(node: Pick<NodeRecord, 'verifiedAt'>, now: Date | string | number, ttlSec: number): boolean {
  const e = expiresAt(node, ttlSec);
  return e !== null && toMs(now) >= e.getTime();
}

/**
 * The status to show for a stored node at `now`: revoked → untrusted; never verified → unknown;
 * trusted but past its TTL → stale. Untrusted and unknown nodes keep their status and reasons
 * (an unapproved drift does not fade into "stale").
 */
export function effectiveVerdict(
  node: Pick<NodeRecord, 'status' | 'reasons' | 'verifiedAt' | 'revokedAt'>,
  now: Date | string | number,
  ttlSec: number,
): Verdict {
  if (node.revokedAt !== null) {
    return {
      status: 'untrusted',
      reasons: [
        { code: STATUS_REASON.revoked, claim: 'instance-identity', detail: `the node was revoked by an operator at ${node.revokedAt}` },
        ...node.reasons.filter((r) => r.code !== STATUS_REASON.revoked),
      ],
    };
  }
  if (node.verifiedAt === null) {
    return {
      status: 'unknown',
      reasons: [
        { code: STATUS_REASON.neverVerified, claim: 'instance-identity', detail: 'no verified report from this node yet' },
        ...node.reasons,
      ],
    };
  }
  const status: TrustStatus = node.status;
  if (status === 'trusted' && isStale(node, now, ttlSec)) {
    return {
      status: 'stale',
      reasons: [
        {
          code: STATUS_REASON.stale,
          claim: 'instance-identity',
          detail: `no fresh verified report within ${ttlSec} s (last at ${node.verifiedAt})`,
        },
      ],
    };
  }
  return { status, reasons: node.reasons };
}
