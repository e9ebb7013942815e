import { signCompact } from '../../../shared/src/jws/index.js';
import { REPORT_JWS_TYP, type ReportPayload } from '../../../shared/src/report/types.js';
import type { EvidenceSource } from './evidence.js';
import type { SigningIdentity } from './key-rotation.js';

type Evidence = Awaited<ReturnType<EvidenceSource['collect']>>;

/**
 * One report (payload v1) signed as a compact JWS by `signer`; with `nextKey` it announces the
 * key rotation (signed by the current key). `at` is the collection time (agent clock, informational).
 */
export function signReport(p: {
  nodeId: string;
  seq: number;
  nonce: string | null;
  evidence: Evidence;
  spoolBacklog: number;
  signer: Pick<SigningIdentity, 'kid' | 'signingKey'>;
  nextKey: Pick<SigningIdentity, 'kid' | 'publicJwk'> | null;
  at: Date;
}): Promise<string> {
  const payload: ReportPayload = {
    v: 1,
    nodeId: p.nodeId,
    seq: p.seq,
    nonce: p.nonce,
    collectedAt: p.at.toISOString(),
    inventory: p.evidence.inventory,
    inventoryDigest: p.evidence.inventoryDigest,
    tpm: p.evidence.tpm,
    spoolBacklog: p.spoolBacklog,
  };
  if (p.nextKey) payload.nextKey = { jwk: { ...p.nextKey.publicJwk } as Record<string, unknown>, kid: p.nextKey.kid };
  return signCompact(payload, p.signer.signingKey, { alg: 'ES256', kid: p.signer.kid, typ: REPORT_JWS_TYP });
}
