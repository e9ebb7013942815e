import { areaError } from '../errors.js';

/**
 * JWS failure codes. Every failure of sign/verify surfaces as a JwsError with one of these;
 * library (jose) errors are mapped in exactly one place: mapJoseError below.
 */
export const ERR_JWS_MALFORMED = 'ERR_JWS_MALFORMED';
export const ERR_JWS_ALG = 'ERR_JWS_ALG';
export const ERR_JWS_TYP = 'ERR_JWS_TYP';
export const ERR_JWS_KID = 'ERR_JWS_KID';
export const ERR_JWS_KEY = 'ERR_JWS_KEY';
export const ERR_JWS_SIGNATURE = 'ERR_JWS_SIGNATURE';

export class JwsError extends areaError('JwsError') {}

/** The one place jose's error classes become our codes. */
export function mapJoseError(e: unknown): JwsError {
  if (e instanceof JwsError) return e;
  const name = (e as { name?: string; code?: string })?.code ?? '';
  // jose codes are compared by suffix so that the jose names are not repeated here as ours.
  if (name.endsWith('_ALG_NOT_ALLOWED') || name.endsWith('_NOT_SUPPORTED'))
    return new JwsError(ERR_JWS_ALG, 'JWS algorithm not allowed', { cause: e });
  if (name.endsWith('_SIGNATURE_VERIFICATION_FAILED'))
    return new JwsError(ERR_JWS_SIGNATURE, 'JWS signature does not verify with the pinned key', { cause: e });
  if (name.endsWith('_JWK_INVALID') || e instanceof TypeError) return new JwsError(ERR_JWS_KEY, 'JWS key is not usable', { cause: e });
  return new JwsError(ERR_JWS_MALFORMED, 'JWS is malformed', { cause: e });
}
