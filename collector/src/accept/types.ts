import type { IncomingMessage } from 'node:http';
import type { CollectorMessage, Verdict } from '../../../shared/src/report/types.js';
import type { CollectorConfig } from '../config.js';
import type { CollectorEvents } from '../events.js';
import type { Logger } from '../logger.js';
import type { EvidencePorts } from '../pipeline/verify-report.js';
import type { ReportVerifier } from '../pipeline/verify-pool.js';
import type { ReportWriter } from '../store/group-commit.js';
import type { NodeRecord, Store } from '../store/store.js';
import type { Clock } from './clock.js';

/** The outcome of a challenge sent on demand: the verdict, or the code its report was rejected with. */
export type ChallengeOutcome = { verdict: Verdict; seq: number } | { error: { code: string; message: string } } | null;

/** A credential-activation challenge sent during hello, and the agent's answer. */
export type EnrollAsk = (c: { challengeId: string; credentialBlob: string; secret: string }) => Promise<{
  challengeId: string;
  credential: string;
}>;

/** Enrolment hook called at hello for a node with no pinned key; throw a coded error to refuse. */
export interface EnrollHook {
  admit(
    hello: {
      nodeId: string;
      kid: string;
      jwk?: Record<string, unknown>;
      enrollToken?: string;
      ekPublic?: string;
      ekCert?: string | null;
      akPublic?: string;
    },
    ctx: {
      node: NodeRecord | null;
      req: IncomingMessage;
      /** Sends a credential-activation challenge on this connection and resolves with the agent's answer. */
      ask?: EnrollAsk;
    },
  ): Promise<{ enrolledVia: 'tofu' | 'token' | 'operator' /** The node as the enrolment committed it (pinned AK). */; node?: NodeRecord }>;
  /**
   * JWS key rotation announced in a verified fresh report signed by the pinned key: checks the
   * announcement, pins the new key (audited) and returns the node; throws a coded error to refuse.
   */
  rotate?(nodeId: string, pinnedKid: string, announced: { jwk: Record<string, unknown>; kid: string }): Promise<NodeRecord>;
}

/**
 * What the acceptance service needs of a connection: a way to answer and a way to refuse. The
 * WebSocket session implements it (framing, limits, heartbeat); tests use an in-memory one.
 */
export interface AgentLink {
  send(msg: CollectorMessage): void;
  /** Answers with a coded error; closes the connection when `fatal` (or its error budget is spent). */
  fail(code: string, message: string, opts?: { fatal?: boolean; seq?: number }): void;
  /** Closes the connection with a WebSocket close code. */
  close(code: number, reason: string): void;
}

export type AcceptConfig = Pick<CollectorConfig, 'intervalSec' | 'helloTimeoutMs' | 'rateLimitPerSec' | 'maxPayloadBytes'> &
  /** Nonces expire after this (default 3 × intervalSec; at least 2 × intervalSec): an older one makes its report history. */
  Partial<Pick<CollectorConfig, 'freshnessTtlSec'>>;

export interface AcceptDeps {
  store: Store;
  events: CollectorEvents;
  logger: Logger;
  ports: EvidencePorts;
  config: AcceptConfig;
  /** Where reports are verified (a worker pool); default: this thread, with `ports`. */
  verifier?: ReportVerifier;
  /** Where verified reports are written; default: group commit over `store`. */
  writer?: ReportWriter;
  enroll?: EnrollHook;
  clock?: Clock;
  nonce?: () => string;
}

/**
 * The rest of the fleet (cluster mode): which collector holds a node's connection, and the way to
 * ask it to challenge or approve the node. Absent with a single collector.
 */
export interface RemoteNodes {
  /** Whether another live collector holds a proven connection of the node (a cached view, refreshed often). */
  isConnectedElsewhere(nodeId: string): boolean;
  /** The live collector holding the node's connection when it is not this one, else null. */
  holderElsewhere(nodeId: string): Promise<string | null>;
  challenge(holder: string, nodeId: string, waitMs: number): Promise<ChallengeOutcome>;
  approve(
    holder: string,
    nodeId: string,
    input: { reason: string; inventoryDigest?: string; pcrDigest?: string | null },
    actor: string,
  ): Promise<unknown>;
}
