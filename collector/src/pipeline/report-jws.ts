import { verify, type KeyObject } from 'node:crypto';
import {
  ERR_JWS_ALG,
  ERR_JWS_KID,
  ERR_JWS_MALFORMED,
  ERR_JWS_SIGNATURE,
  JwsError,
  parseCompactJws,
  type JwsAlg,
} from '../../../shared/src/jws/index.js';

/**
 * The report JWS check of the pipeline, with node:crypto's one-shot verify instead of jose's
 * WebCrypto path (which costs about twice the CPU for a 26 KB report: an async job, a copy of
 * the signing input, promise hops). The checks and codes are those of shared/src/jws
 * verifyCompact, in the same order: shape, header members, alg allow-list and typ
 * (parseCompactJws); alg = the pinned key's (ERR_JWS_ALG) and kid = the pinned kid
 * (ERR_JWS_KID) before any crypto; the key's type must be the alg's (ERR_JWS_ALG, as jose says); then the
 * signature over the exact signing input (ERR_JWS_SIGNATURE). Base64url parts decode as strictly
 * as jose decodes them (a length of 1 mod 4 is malformed). test/collector/pipeline/report-jws.test.ts
 * compares it with verifyCompact on valid and hostile inputs.
 */
export function verifyReportJws(
  jws: unknown,
  key: KeyObject,
  opts: { typ: string; kid: string; alg: JwsAlg; maxBytes?: number },
): { payload: Buffer } {
  const parsed = parseCompactJws(jws, { typ: opts.typ, ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}) });
  if (parsed.header.alg !== opts.alg)
    throw new JwsError(ERR_JWS_ALG, `JWS alg ${parsed.header.alg} does not match the pinned key (${opts.alg})`);
  if (parsed.header.kid !== opts.kid) throw new JwsError(ERR_JWS_KID, 'JWS kid does not match the pinned key');
  // jose refuses a key of another type than the alg's as an unsupported algorithm: same code.
  if (!keyFits(key, opts.alg)) throw new JwsError(ERR_JWS_ALG, 'JWS algorithm not allowed for the pinned key');
  // jose decodes the signature before verifying and the payload after: same order, same code.
  if (parsed.signatureB64.length % 4 === 1) throw new JwsError(ERR_JWS_MALFORMED, 'JWS is malformed');
  const signature = Buffer.from(parsed.signatureB64, 'base64url');
  // Every character of the signing input is base64url (checked above), so latin1 is its exact ASCII bytes.
  const input = Buffer.from(`${parsed.protectedB64}.${parsed.payloadB64}`, 'latin1');
  let ok: boolean;
  try {
    ok =
      opts.alg === 'ES256' ? verify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, signature) : verify(null, input, key, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new JwsError(ERR_JWS_SIGNATURE, 'JWS signature does not verify with the pinned key');
  if (parsed.payloadB64.length % 4 === 1) throw new JwsError(ERR_JWS_MALFORMED, 'JWS is malformed');
  return { payload: Buffer.from(parsed.payloadB64, 'base64url') };
}

function keyFits(key: KeyObject, alg: JwsAlg): boolean {
  if (key.type !== 'public') return false;
  if (alg === 'ES256') return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  return key.asymmetricKeyType === 'ed25519';
}
