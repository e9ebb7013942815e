import { isAllowedAlg, type JwsAlg } from './alg.js';
import { ERR_JWS_ALG, ERR_JWS_MALFORMED, ERR_JWS_TYP, JwsError } from './errors.js';

/** Header fields after the shape check. Unknown members are refused (crit, b64, jwk, jku, x5u ...). */
export interface JwsHeader {
  alg: JwsAlg;
  kid: string;
  typ: string;
}

/** A compact JWS split into its parts, shape-checked but NOT verified. */
export interface UnverifiedJws {
  header: JwsHeader;
  protectedB64: string;
  payloadB64: string;
  signatureB64: string;
}

const B64URL = /^[A-Za-z0-9_-]*$/;
const ALLOWED_HEADER_KEYS = new Set(['alg', 'kid', 'typ']);
/** A report JWS header is tiny; anything larger is hostile. */
const MAX_HEADER_B64 = 1024;

/**
 * Shape checks before any crypto: three base64url parts, a small JSON object header with only
 * alg/kid/typ, an allowed alg and (when `typ` is given) the expected typ.
 */
export function parseCompactJws(jws: unknown, opts: { typ?: string; maxBytes?: number } = {}): UnverifiedJws {
  if (typeof jws !== 'string') throw new JwsError(ERR_JWS_MALFORMED, 'JWS must be a string');
  if (opts.maxBytes !== undefined && jws.length > opts.maxBytes)
    throw new JwsError(ERR_JWS_MALFORMED, `JWS longer than ${opts.maxBytes} bytes`);
  const parts = jws.split('.');
  if (parts.length !== 3) throw new JwsError(ERR_JWS_MALFORMED, 'JWS compact serialization must have three parts');
  const [protectedB64, payloadB64, signatureB64] = parts as [string, string, string];
  if (!protectedB64 || !B64URL.test(protectedB64)) throw new JwsError(ERR_JWS_MALFORMED, 'JWS header is empty or not base64url');
  if (protectedB64.length > MAX_HEADER_B64) throw new JwsError(ERR_JWS_MALFORMED, 'JWS header too large');
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(protectedB64, 'base64url').toString('utf8'));
  } catch (e) {
    throw new JwsError(ERR_JWS_MALFORMED, 'JWS header is not JSON', { cause: e });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new JwsError(ERR_JWS_MALFORMED, 'JWS header is not an object');
  const h = raw as Record<string, unknown>;
  if (!isAllowedAlg(h.alg))
    throw new JwsError(ERR_JWS_ALG, `JWS algorithm ${JSON.stringify(String(h.alg)).slice(0, 40)} not allowed`, {
      details: { alg: String(h.alg).slice(0, 20) },
    });
  // The header is judged first (so `alg: none` with its empty signature is named as such), then the rest.
  if (!payloadB64 || !signatureB64) throw new JwsError(ERR_JWS_MALFORMED, 'JWS payload or signature is empty');
  if (!B64URL.test(payloadB64) || !B64URL.test(signatureB64)) throw new JwsError(ERR_JWS_MALFORMED, 'JWS part is not base64url');
  const extra = Object.keys(h).filter((k) => !ALLOWED_HEADER_KEYS.has(k));
  if (extra.length) throw new JwsError(ERR_JWS_MALFORMED, `JWS header has unexpected members: ${extra.slice(0, 5).join(', ')}`);
  if (typeof h.kid !== 'string' || h.kid.length === 0 || h.kid.length > 128)
    throw new JwsError(ERR_JWS_MALFORMED, 'JWS header kid missing or invalid');
  if (typeof h.typ !== 'string') throw new JwsError(ERR_JWS_TYP, 'JWS header typ missing');
  if (opts.typ !== undefined && h.typ !== opts.typ) throw new JwsError(ERR_JWS_TYP, `JWS typ must be ${opts.typ}`);
  return { header: { alg: h.alg, kid: h.kid, typ: h.typ }, protectedB64, payloadB64, signatureB64 };
}
