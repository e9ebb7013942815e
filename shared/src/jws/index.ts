export { ALLOWED_ALGS, isAllowedAlg, type JwsAlg } from './alg.js';
export {
  ERR_JWS_ALG,
  ERR_JWS_KEY,
  ERR_JWS_KID,
  ERR_JWS_MALFORMED,
  ERR_JWS_SIGNATURE,
  ERR_JWS_TYP,
  JwsError,
  mapJoseError,
} from './errors.js';
export { parseCompactJws, type JwsHeader, type UnverifiedJws } from './header.js';
export type { JWK } from 'jose';
export { generateIdentity, importPrivateJwk, importPublicJwk, publicPart, thumbprint, type Identity } from './keys.js';
export { signCompact } from './sign.js';
export { verifyCompact, type VerifyJwsOptions } from './verify.js';
