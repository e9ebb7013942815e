import type { KeyObject } from 'node:crypto';
import { compactVerify } from 'jose';
import { ALLOWED_ALGS, type JwsAlg } from './alg.js';
import { ERR_JWS_ALG, ERR_JWS_KID, JwsError, mapJoseError } from './errors.js';
import { parseCompactJws, type JwsHeader } from './header.js';

export interface VerifyJwsOptions {
  /** Required typ header value. */
  typ: string;
  /** The pinned key's kid; the header's kid must equal it. */
  kid: string;
  /** The pinned key's algorithm; the header's alg must equal it (no alg switching). */
  alg: JwsAlg;
  maxBytes?: number;
}

/**
 * Verifies a compact JWS with a pinned public key. Shape, alg allow-list, typ and kid are
 * checked before any crypto; jose then verifies with the allow-list narrowed to the pinned alg.
 * Returns the verified payload bytes and header.
 */
export async function verifyCompact(
  jws: unknown,
  key: KeyObject,
  opts: VerifyJwsOptions,
): Promise<{ payload: Uint8Array; header: JwsHeader }> {
  const parsed = parseCompactJws(jws, { typ: opts.typ, ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}) });
  if (parsed.header.alg !== opts.alg)
    throw new JwsError(ERR_JWS_ALG, `JWS alg ${parsed.header.alg} does not match the pinned key (${opts.alg})`);
  if (parsed.header.kid !== opts.kid) throw new JwsError(ERR_JWS_KID, 'JWS kid does not match the pinned key');
  if (!(ALLOWED_ALGS as readonly string[]).includes(opts.alg)) throw new JwsError(ERR_JWS_ALG, 'pinned alg not allowed');
  try {
    const r = await compactVerify(jws as string, key, { algorithms: [opts.alg] });
    return { payload: r.payload, header: parsed.header };
  } catch (e) {
    throw mapJoseError(e);
  }
}
