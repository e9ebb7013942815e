import { EventEmitter } from 'node:events';
import type { Reason, TrustStatus } from '../../shared/src/report/types.js';

/**
 * The collector's internal event bus. The pipeline publishes; the trust cache, live dashboard
 * stream, metrics, webhooks and scheduler integrations subscribe. Listeners must not throw
 * and must not block: slow work (HTTP calls, scontrol) is queued by the listener itself.
 */
export interface CollectorEventMap {
  /** A node's trust status or reasons changed (including first verdict). */
  'status-changed': [e: { nodeId: string; from: TrustStatus | null; to: TrustStatus; reasons: Reason[]; at: string }];
  /** A verified report showed drift against the baseline (one event per report, all reasons). */
  drift: [e: { nodeId: string; seq: number; reasons: Reason[]; at: string }];
  /** A report passed verification (any verdict). */
  'report-verified': [
    e: { nodeId: string; seq: number; status: TrustStatus; latencyMs: number; fresh: boolean; spoolBacklog: number | null },
  ];
  /** A report or frame was rejected. nodeId is null when the sender could not be attributed. */
  'report-rejected': [e: { nodeId: string | null; code: string }];
  'agent-connected': [e: { nodeId: string }];
  'agent-disconnected': [e: { nodeId: string }];
  /** A baseline was approved by an operator. */
  approved: [e: { nodeId: string; actor: string; reason: string; at: string }];
}

export class CollectorEvents extends EventEmitter<CollectorEventMap> {}
