import type { Logger } from 'pino';
import type { Reason, TrustStatus } from '../../../shared/src/report/types.js';
import type { Timers } from './clock.js';
import type { EvidenceSource } from './evidence.js';
import type { SpoolLimits } from './spool.js';
import type { DaemonState, Policy } from './state.js';
import { ERR_CONFIG } from '../../../shared/src/errors.js';
import { AgentError } from './errors.js';

export interface DaemonOptions {
  /**
   * Collector base URL(s) (ws://, wss://); the agent connects to /v1/agent under one of them. With
   * several it sticks to one and moves to the next on a connection failure or a `move` code.
   */
  collector: string | readonly string[];
  nodeId: string;
  stateDir: string;
  evidence: EvidenceSource;
  logger: Logger;
  /** Report interval before the collector tells us its own, seconds (default 60). */
  intervalSec?: number;
  /** Ping interval, seconds; no pong for two pings drops the connection (default 15). */
  heartbeatSec?: number;
  /** Reconnect backoff (full jitter): first step and cap, ms (defaults 1 s and 60 s). */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Backoff after the collector refused this node (revoked, not enrolled): first step and cap, ms (defaults 10 s and 5 min). */
  refusedBaseMs?: number;
  refusedCapMs?: number;
  /** Wait for the collector's answer to one report, ms (default 30 s). */
  answerTimeoutMs?: number;
  /** Gap between re-sent spooled reports, ms (default 150). */
  spoolPaceMs?: number;
  spool?: Partial<SpoolLimits>;
  /** Extra CA certificates (PEM) for wss. */
  ca?: string | Buffer;
  random?: () => number;
  /** Timers (backoff, heartbeat, report schedule); injected by tests to run on a simulated clock. */
  timers?: Timers;
  /** Enrolment: with a token, hello carries the TPM material and the TPM answers the collector's credential challenge. */
  enroll?: AgentEnrollment;
}

/** The agent's side of TPM-rooted enrolment (see agent/src/daemon/enroll.ts for the TPM-backed one). */
export interface AgentEnrollment {
  token: string;
  /** EK and AK TPM2B_PUBLIC (hex) and the EK certificate (DER base64, null when the TPM has none). */
  material(): Promise<{ ekPublic: string; ekCert: string | null; akPublic: string }>;
  /** TPM2_ActivateCredential with the AK and EK; returns the credential. */
  activate(credentialBlob: Buffer, secret: Buffer): Promise<Buffer>;
}

export interface DaemonEvents {
  state: [s: DaemonState];
  verdict: [v: { seq: number; status: TrustStatus; reasons: Reason[] }];
  ack: [seq: number];
  rejected: [e: { code: string; message: string; seq?: number }];
  report: [r: { seq: number; nonce: string | null }];
}

/** The state machine's policy from the options: the URL list (at least one) and both backoff schedules. */
export function policyFrom(o: DaemonOptions): Policy {
  const urls = typeof o.collector === 'string' ? [o.collector] : [...o.collector];
  if (urls.length === 0) throw new AgentError(ERR_CONFIG, 'the agent needs at least one collector URL');
  return {
    urls,
    backoff: { baseMs: o.backoffBaseMs ?? 1000, capMs: o.backoffCapMs ?? 60_000 },
    refused: { baseMs: o.refusedBaseMs ?? 10_000, capMs: o.refusedCapMs ?? 300_000 },
  };
}
