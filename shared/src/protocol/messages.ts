import type { Reason, TrustStatus } from '../report/types.js';

/**
 * The WebSocket protocol between agent and collector: subprotocol `nodeseal.v1`, JSON text
 * frames at WS_PATH under the collector's base URL. Frames are parsed through
 * shared/src/report/schema.ts at both edges; these are the shapes after parsing.
 */
export const WS_SUBPROTOCOL = 'nodeseal.v1';
export const WS_PATH = '/v1/agent';

/** WebSocket protocol, subprotocol `nodeseal.v1`, JSON text frames. */
export type AgentMessage =
  | {
      type: 'hello';
      nodeId: string;
      agentVersion: string;
      kid: string;
      jwk?: Record<string, unknown>;
      enrollToken?: string;
      /** Enrolment material (with enrollToken): EK and AK TPM2B_PUBLIC (hex), EK certificate DER (base64) or null. */
      ekPublic?: string;
      ekCert?: string | null;
      akPublic?: string;
    }
  | { type: 'report'; jws: string }
  /** The credential TPM2_ActivateCredential recovered from the collector's enroll-challenge (hex). */
  | { type: 'enroll-answer'; challengeId: string; credential: string };

export type CollectorMessage =
  /**
   * `next: true` hands the agent the nonce for its next scheduled report (sent after each
   * verdict); without it the agent answers at once (connect, on-demand attestation).
   */
  | { type: 'challenge'; nonce: string; intervalSec: number; next?: boolean }
  | { type: 'verdict'; seq: number; status: TrustStatus; reasons: Reason[] }
  | { type: 'ack'; seq: number }
  | { type: 'error'; code: string; message: string; seq?: number }
  /** Enrolment: TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET (hex) made for the AK's name and the EK. */
  | { type: 'enroll-challenge'; challengeId: string; credentialBlob: string; secret: string };
