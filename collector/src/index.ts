// The collector's public surface. Each area adds its exports here with a small edit.

// Storage (collector/src/store)
export * from './store/index.js';

// Drift detection and the verdict policy
export * from './drift/index.js';
export { STATUS_REASON, isDrift, decideVerdict, evaluate, expiresAt, isStale, effectiveVerdict } from './pipeline/verdict.js';
export type { VerdictPolicyInput, VerifiedEvidence, EvaluateInput } from './pipeline/verdict.js';

// Access control (API tokens, roles, audit log) and TPM-rooted enrolment
export * from './auth/index.js';
export * from './enroll/index.js';

// Scheduler trust: in-memory trust cache and API, job receipts, Slurm and Kubernetes integrations
export * from './trust/index.js';
export { loadOrCreateReceiptKey, signReceipt, verifyReceipt, receiptRoutes, receiptNodes, RECEIPT_JWS_TYP, type ReceiptNode, type ReceiptPayload } from './receipt.js';
export * from './integrations/index.js';

// Operator surfaces: dashboard, live events, metrics, webhook alerts, operator CLI client
export * from './dashboard/index.js';
export { LiveHub, ERR_LIVE_CLIENT_LIMIT, type LiveOptions } from './api/live.js';
export { createMetrics, type Metrics, type MetricsDeps } from './metrics.js';
export * from './alerts/index.js';
export { ApiClient, ApiError as CliApiError, EXIT as CLI_EXIT, clientFrom } from './cli/client.js';
