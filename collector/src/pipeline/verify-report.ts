import { createHash, type KeyObject } from 'node:crypto';
import { canonicalDigest } from '../../../shared/src/canonical.js';
import type { JwsAlg } from '../../../shared/src/jws/index.js';
import { verifyReportJws } from './report-jws.js';
import { parseJsonFrame, parseReportPayload, ERR_REPORT_SCHEMA } from '../../../shared/src/report/schema.js';
import { REPORT_JWS_TYP, type Reason, type ReportPayload, type TpmEvidenceOk, type Verdict } from '../../../shared/src/report/types.js';
import { NodesealError } from '../../../shared/src/errors.js';
import type { Baseline, NodeRecord } from '../store/store.js';
import type { EvaluateInput as VerdictInput } from './verdict.js';
import { ERR_REPORT_DIGEST, ERR_REPORT_NODE_MISMATCH, ERR_REPORT_NONCE_REUSED, ERR_REPORT_SEQ, ReportError } from './report-errors.js';
import { inventoryDigest } from '../../../shared/src/inventory/index.js';

/**
 * The verification pipeline's pure core: parse → JWS verify with the pinned key → schema →
 * freshness → TPM quote with the pinned AK → event-log replay → drift against the baseline →
 * verdict. No I/O and no clock of its own: the session (ws/session.ts) loads the context,
 * persists the outcome, publishes it and answers the agent.
 *
 * Evidence checks the collector does not own are reached through EvidencePorts (wired to
 * shared/src/tpm, shared/src/eventlog, collector/src/drift and pipeline/verdict.ts in
 * pipeline/ports.ts), so this file stays testable with hand-written fakes.
 */

/** What quote verification yields that the rest of the pipeline may trust. */
export interface QuoteOutcome {
  /** Only the PCRs the signed quote selected: { bank: { index: hex } }. */
  pcrs: Record<string, Record<string, string>>;
}

/** What a log that replayed against the quoted PCRs proves about the boot. */
export interface MeasuredBoot {
  /** The SecureBoot variable measured into PCR7; null when PCR7 is not verified or the variable was not measured. */
  secureBoot: boolean | null;
}

export interface EvidencePorts {
  /** Throws a coded error when the quote does not verify; returns the quoted PCR values. */
  verifyQuote(input: {
    attest: string;
    signature: string;
    akPublic: string;
    nonce: string | null;
    pcrs: Record<string, Record<string, string>>;
  }): QuoteOutcome;
  /** Throws a coded error when the event log does not replay to the quoted PCRs; returns what it measured. */
  replayEventLog(eventLogB64: string, quoted: QuoteOutcome): MeasuredBoot;
  /** Drift against the baseline (inventory, PCRs explained by the event log, AK) and the verdict. */
  evaluate(input: EvaluateInput): Verdict & { drift: Reason[] };
}

/** What the pipeline hands the verdict port; policy options (first use, explainer, diff) are wired in ports.ts. */
export type EvaluateInput = Pick<VerdictInput, 'evidence' | 'baseline' | 'node'>;

export interface PinnedKey {
  key: KeyObject;
  kid: string;
  alg: JwsAlg;
}

export interface ReportContext {
  /** The node id the connection said hello with. */
  helloNodeId: string;
  pinned: PinnedKey;
  node: NodeRecord;
  baseline: Baseline | null;
  /** Nonces issued to this connection and not yet used. */
  issuedNonces: ReadonlySet<string>;
  /** Nonces this connection already used. */
  usedNonces: ReadonlySet<string>;
  maxJwsBytes?: number;
}

export interface VerifiedReport {
  readonly trust: 'verified';
  payload: ReportPayload;
  jws: string;
  /** 'fresh' answers a nonce issued to this connection; 'history' is offline/spooled (never fresh proof). */
  kind: 'fresh' | 'history';
  /** Quoted PCRs (null without TPM evidence). */
  pcrs: Record<string, Record<string, string>> | null;
  pcrDigest: string | null;
  akPublic: string | null;
  drift: Reason[];
  verdict: Verdict;
}

/** sha256:<hex> of the canonical JSON of the quoted PCR values. */
export function pcrSetDigest(pcrs: Record<string, Record<string, string>> | null): string | null {
  return pcrs ? canonicalDigest(pcrs) : null;
}

export function jwsDigest(jws: string): string {
  return createHash('sha256').update(jws).digest('hex');
}

/** JWS verification and payload schema: yields an attributable (but not yet fresh or evidenced) payload. */
export async function authenticateReport(jws: string, ctx: Pick<ReportContext, 'pinned' | 'maxJwsBytes'>): Promise<ReportPayload> {
  const { payload } = verifyReportJws(jws, ctx.pinned.key, {
    typ: REPORT_JWS_TYP,
    kid: ctx.pinned.kid,
    alg: ctx.pinned.alg,
    ...(ctx.maxJwsBytes !== undefined ? { maxBytes: ctx.maxJwsBytes } : {}),
  });
  let value: unknown;
  try {
    value = parseJsonFrame(payload.toString('utf8'));
  } catch (e) {
    throw new NodesealError(ERR_REPORT_SCHEMA, 'report payload is not JSON', { cause: e });
  }
  return parseReportPayload(value);
}

/** Freshness: node id matches hello, seq strictly increasing, nonce issued here and unused. */
export function checkFreshness(
  p: ReportPayload,
  ctx: Pick<ReportContext, 'helloNodeId' | 'node' | 'issuedNonces' | 'usedNonces'>,
): 'fresh' | 'history' {
  if (p.nodeId !== ctx.helloNodeId) {
    throw new ReportError(ERR_REPORT_NODE_MISMATCH, 'report is for another node than this connection said hello as', {
      details: { hello: ctx.helloNodeId, report: p.nodeId },
    });
  }
  if (p.seq <= ctx.node.lastSeq) {
    throw new ReportError(ERR_REPORT_SEQ, `seq ${p.seq} is not greater than the last accepted seq ${ctx.node.lastSeq}`, {
      details: { seq: p.seq, lastSeq: ctx.node.lastSeq },
    });
  }
  if (p.nonce === null) return 'history';
  if (ctx.usedNonces.has(p.nonce))
    throw new ReportError(ERR_REPORT_NONCE_REUSED, 'nonce was already used on this connection', { details: { seq: p.seq } });
  // A nonce never issued to this connection (an earlier connection's, spooled across a reconnect)
  // still binds the quote to the payload, but proves nothing about now: history.
  return ctx.issuedNonces.has(p.nonce) ? 'fresh' : 'history';
}

/**
 * Runs the whole pure pipeline on one report. Throws a coded NodesealError on rejection;
 * returns the verified report with its drift and verdict otherwise.
 */
export async function verifyReport(jws: string, ctx: ReportContext, ports: EvidencePorts): Promise<VerifiedReport> {
  const payload = await authenticateReport(jws, ctx);
  const kind = checkFreshness(payload, ctx);
  // The digest decides what the store keeps in full and what approval re-reads: it must be the inventory's.
  if (inventoryDigest(payload.inventory) !== payload.inventoryDigest) {
    throw new ReportError(ERR_REPORT_DIGEST, 'inventoryDigest is not the digest of the canonical inventory', {
      details: { seq: payload.seq },
    });
  }
  let pcrs: Record<string, Record<string, string>> | null = null;
  let akPublic: string | null = null;
  let eventLog: string | null = null;
  let measuredSecureBoot: boolean | null = null;
  if (payload.tpm.status === 'ok') {
    const tpm: TpmEvidenceOk = payload.tpm;
    const quoted = ports.verifyQuote({
      attest: tpm.quote.attest,
      signature: tpm.quote.signature,
      akPublic: tpm.akPublic,
      nonce: payload.nonce,
      pcrs: tpm.pcrs,
    });
    if (tpm.eventLog !== null) measuredSecureBoot = ports.replayEventLog(tpm.eventLog, quoted).secureBoot;
    pcrs = quoted.pcrs;
    akPublic = tpm.akPublic;
    eventLog = tpm.eventLog;
  }
  const { drift, ...verdict } = ports.evaluate({
    evidence: {
      kind,
      inventory: payload.inventory,
      pcrs,
      eventLog,
      akPublic,
      tpm: payload.tpm,
      inventoryDigest: payload.inventoryDigest,
      measuredSecureBoot,
    },
    baseline: ctx.baseline,
    node: ctx.node,
  });
  return { trust: 'verified', payload, jws, kind, pcrs, pcrDigest: pcrSetDigest(pcrs), akPublic, drift, verdict };
}
