export {
  createAuthenticator,
  authorize,
  checkAccess,
  BOOTSTRAP_PRINCIPAL,
  type Authenticator,
  type AuthenticatorOptions,
} from './authenticator.js';
export { AuthStore, appendAudit, type ApiTokenRecord, type AuditAction, type AuditEntry, type AuditQuery } from './store.js';
export { authRoutes, type AuthRoutesDeps } from './routes.js';
export { auditApprovals } from './audit-events.js';
export { createApiToken } from './create-token.js';
export { loadBootstrapToken, BOOTSTRAP_MIN_LENGTH } from './bootstrap.js';
export {
  API_TOKEN_PREFIX,
  ENROLL_TOKEN_PREFIX,
  generateToken,
  hashToken,
  parseBearer,
  digestsEqual,
  isTokenShaped,
  tokenId,
} from './token.js';
export * from './errors.js';
export { createAccessControl, type AccessControl, type AccessControlOptions } from './access.js';
