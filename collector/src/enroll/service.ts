import { randomBytes, type X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { isNodesealError } from '../../../shared/src/errors.js';
import { hashToken, isTokenShaped, ENROLL_TOKEN_PREFIX } from '../auth/token.js';
import type { AgentMessage } from '../../../shared/src/report/types.js';
import type { NodeRecord } from '../store/store.js';
import {
  EnrollError,
  ERR_ENROLL_INPUT,
  ERR_ENROLL_NODE_CLAIMED,
  ERR_ENROLL_NOT_ENROLLED,
  ERR_ENROLL_REVOKED,
  ERR_ENROLL_TOKEN_INVALID,
} from './errors.js';
import {
  beginEnrolment,
  finishEnrolment,
  parseEnrollRequest,
  type EnrollAnswer,
  type EnrollChallenge,
  type EnrollRequest,
} from './machine.js';
import type { EnrollStore } from './store.js';
import { checkKeyRotation } from './rotation.js';

/**
 * The enrolment shell around the pure state machine: looks up stored rows, runs begin, sends
 * the credential challenge through the connection (`ask`), runs finish on the answer and
 * commits the identity. One challenge per hello; the pending enrolment lives only in this
 * call's frame, so an answer replayed on another connection or after the fact finds nothing.
 *
 * The agent WebSocket session calls `admit` at hello for a node without a pinned key, and for
 * a revoked node that presents an enrolment token.
 */
export type AdmitHello = Omit<Extract<AgentMessage, { type: 'hello' }>, 'type' | 'agentVersion'>;

export interface AdmitContext {
  node: NodeRecord | null;
  /** Sends the credential challenge to the agent and resolves with its answer (rejects on timeout/close). */
  ask?: (challenge: EnrollChallenge) => Promise<EnrollAnswer>;
}

export interface AdmitResult {
  enrolledVia: 'tofu' | 'token' | 'operator';
  /** The node record as committed by the enrolment (with the pinned AK); absent for TOFU. */
  node?: NodeRecord;
}

export interface EnrollServiceOptions {
  store: EnrollStore;
  anchors: readonly X509Certificate[];
  allowTofu?: boolean;
  challengeTtlMs?: number;
  now?: () => Date;
  random?: (n: number) => Buffer;
  log?: Pick<Logger, 'info' | 'warn'>;
}

export class EnrollService {
  private readonly now: () => Date;
  private readonly random: (n: number) => Buffer;

  constructor(private readonly opts: EnrollServiceOptions) {
    this.now = opts.now ?? (() => new Date());
    this.random = opts.random ?? randomBytes;
  }

  async admit(hello: AdmitHello, ctx: AdmitContext): Promise<AdmitResult> {
    try {
      return await this.run(hello, ctx);
    } catch (e) {
      this.opts.log?.warn(
        {
          nodeId: hello.nodeId,
          code: isNodesealError(e) ? e.code : 'internal',
          ...(isNodesealError(e) && e.details ? { details: e.details } : {}),
        },
        'enrolment refused',
      );
      throw e;
    }
  }

  /** Pins the next JWS key announced in a report the pipeline verified with the pinned key (`pinnedKid`). */
  async rotate(nodeId: string, pinnedKid: string, announced: unknown): Promise<NodeRecord> {
    const next = await checkKeyRotation(pinnedKid, pinnedKid, announced);
    const node = await this.opts.store.rotateKey(nodeId, pinnedKid, next.jwk, next.kid, this.now().toISOString());
    this.opts.log?.info({ nodeId, oldKid: pinnedKid, kid: next.kid }, 'JWS key rotated');
    return node;
  }

  private async run(hello: AdmitHello, ctx: AdmitContext): Promise<AdmitResult> {
    const { store } = this.opts;
    const identity = await store.getIdentity(hello.nodeId);
    const revoked = ctx.node?.revokedAt != null || (identity !== null && identity.revokedAt !== null);
    const hasTpm = hello.ekPublic !== undefined && hello.akPublic !== undefined;
    if (revoked && hello.enrollToken === undefined)
      throw new EnrollError(ERR_ENROLL_REVOKED, `node ${hello.nodeId} was revoked; it must enrol again with a new token`);
    if (identity && !revoked && !hasTpm)
      throw new EnrollError(ERR_ENROLL_NODE_CLAIMED, `node ${hello.nodeId} is enrolled with another key`);
    // A node pinned without a TPM identity (trust on first use) keeps its key: only a revocation frees its id.
    if (!identity && !revoked && ctx.node?.kid && ctx.node.kid !== hello.kid)
      throw new EnrollError(ERR_ENROLL_NODE_CLAIMED, `node ${hello.nodeId} is pinned to another key`);
    if (!hasTpm) {
      if (this.opts.allowTofu && hello.enrollToken === undefined && !revoked) return { enrolledVia: 'tofu' };
      throw new EnrollError(
        hello.enrollToken === undefined ? ERR_ENROLL_NOT_ENROLLED : ERR_ENROLL_INPUT,
        'enrolment needs the TPM endorsement key, its certificate and an attestation key',
      );
    }
    if (!ctx.ask) throw new EnrollError(ERR_ENROLL_INPUT, 'this connection cannot carry a credential challenge');
    if (hello.jwk === undefined) throw new EnrollError(ERR_ENROLL_INPUT, 'enrolment needs the JWS public key (jwk)');

    const req: EnrollRequest = {
      nodeId: hello.nodeId,
      ekPublic: hello.ekPublic!,
      ekCert: hello.ekCert ?? null,
      akPublic: hello.akPublic!,
      jwk: hello.jwk,
      kid: hello.kid,
      enrollToken: hello.enrollToken ?? null,
    };
    const { ekName } = await parseEnrollRequest(req);
    let tokenRow = null;
    if (req.enrollToken !== null) {
      if (!isTokenShaped(req.enrollToken, ENROLL_TOKEN_PREFIX))
        throw new EnrollError(ERR_ENROLL_TOKEN_INVALID, 'the enrolment token is not valid');
      tokenRow = await store.findToken(hashToken(req.enrollToken));
    }
    const ekDecision = req.ekCert === null ? await store.findEkDecision(req.nodeId, ekName) : null;
    const { challenge, pending } = await beginEnrolment(
      req,
      { anchors: this.opts.anchors, allowTofu: this.opts.allowTofu ?? false, challengeTtlMs: this.opts.challengeTtlMs ?? 60_000 },
      { now: this.now(), identity, tokenRow, ekDecision, credential: this.random(32), challengeId: this.random(16).toString('hex') },
    );
    const answer = await ctx.ask(challenge);
    const pinned = finishEnrolment(pending, answer, this.now());
    const node = await store.commitEnrolment(pinned, pending);
    this.opts.log?.info({ nodeId: req.nodeId, via: pinned.enrolledVia, ekName, kid: pinned.kid }, 'node enrolled');
    return { enrolledVia: pinned.enrolledVia, node };
  }
}
