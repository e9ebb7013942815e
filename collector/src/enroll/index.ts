export { EnrollService, type AdmitHello, type AdmitContext, type AdmitResult, type EnrollServiceOptions } from './service.js';
export { EnrollStore, REVOKED_REASON } from './store.js';
export {
  beginEnrolment,
  finishEnrolment,
  parseEnrollRequest,
  type EnrollRequest,
  type EnrollAnswer,
  type EnrollChallenge,
  type EnrollPolicy,
  type BeginContext,
  type PendingEnrolment,
  type NodeIdentity,
  type EkDecision,
} from './machine.js';
export { loadEkCaDir, parseEkCertificate, verifyEkCertificate, type EkCertResult } from './ek-cert.js';
export { credentialKeyFromEk } from './ek-key.js';
export { createEnrollToken } from './create-token.js';
export { checkEnrollToken, globMatch, parseTtl, parseUses, checkGlob, type EnrollTokenRecord } from './token-rules.js';
export { checkKeyRotation, checkAkUnchanged, type KeyRotation } from './rotation.js';
export * from './errors.js';
