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
export {
  loadOrCreateReceiptKey,
  signReceipt,
  verifyReceipt,
  receiptRoutes,
  receiptNodes,
  RECEIPT_JWS_TYP,
  type ReceiptNode,
  type ReceiptPayload,
} from './receipt.js';
export * from './integrations/index.js';

// Operator surfaces: dashboard, live events, metrics, webhook alerts, operator CLI client
export * from './dashboard/index.js';
export { LiveHub, ERR_LIVE_CLIENT_LIMIT, ERR_LIVE_TOKEN_LIMIT, LIVE_DEFAULTS, type LiveOptions } from './api/live.js';
export * from './http/errors.js';
export { route, HttpError, reply, type Route, type TypedContext, type InputCodes } from './http/router.js';
export { SseServer, sseFrame, type SseServerOptions, type SseStream } from './http/sse.js';
export { admitStream, type StreamLimits, type Admission } from './http/sse-admission.js';
export { readEventStream, type SseEvent, type SseReaderOptions } from './http/sse-reader.js';
export { createMetrics, type Metrics, type MetricsDeps } from './metrics.js';
export * from './alerts/index.js';
export { ApiClient, ApiError as CliApiError, EXIT as CLI_EXIT, clientFrom } from './cli/client.js';

// The collector service: app (HTTP + WebSocket handlers), server, config, agent hub, verification pipeline
export {
  buildApp,
  type App,
  type AppContext,
  type AppDeps,
  type AuthPort,
} from './app.js';
export { startCollector, type RunningCollector, type StartOptions } from './server.js';
export {
  loadCollectorConfig,
  resolveCollectorConfig,
  defaultCollectorConfig,
  COLLECTOR_CONFIG_OPTIONS,
  SECTION_KEYS,
  type CollectorConfig,
} from './config.js';
export { createLogger, silentLogger } from './logger.js';
export { AgentHub } from './ws/hub.js';
export { AcceptanceService, ERR_NODE_NOT_CONNECTED, type EnrollHook, type ChallengeOutcome } from './accept/index.js';
export * from './ws/errors.js';
export {
  verifyReport,
  authenticateReport,
  checkFreshness,
  pcrSetDigest,
  type EvidencePorts,
  type ReportContext,
  type VerifiedReport,
} from './pipeline/verify-report.js';
export { createEvidencePorts, createReplayCache, replayEventLogFull } from './pipeline/ports.js';
export * from './pipeline/report-errors.js';
export { nodesRoutes, nodeView } from './api/nodes.js';
export { CollectorEvents, type CollectorEventMap } from './events.js';
