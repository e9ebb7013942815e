import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import { isNodesealError, NodesealError, ERR_INTERNAL } from '../../../shared/src/errors.js';
import { importPublicJwk, thumbprint, type JWK } from '../../../shared/src/jws/index.js';
import { parseAgentMessage, parseJsonFrame } from '../../../shared/src/report/schema.js';
import type { AgentMessage, CollectorMessage, Verdict } from '../../../shared/src/report/types.js';
import { ERR_REPORT_REPLAY, ERR_REPORT_SEQ, ReportError } from '../pipeline/report-errors.js';
import { buildReportWrites } from '../pipeline/record.js';
import type { PinnedKey, VerifiedReport } from '../pipeline/verify-report.js';
import type { NodeRecord } from '../store/store.js';
import {
  CLOSE_INTERNAL,
  CLOSE_POLICY,
  CLOSE_TOO_BIG,
  ERR_HELLO_KEY,
  ERR_HELLO_KEY_MISMATCH,
  ERR_HELLO_REPEATED,
  ERR_HELLO_REQUIRED,
  ERR_HELLO_TIMEOUT,
  ERR_NODE_REVOKED,
  ERR_WS_BINARY,
  ERR_WS_FRAME_TOO_LARGE,
  ERR_WS_RATE_LIMIT,
  ERR_WS_TOO_MANY_ERRORS,
  ERR_WS_UNPROVEN_LIMIT,
  ERR_WS_UNPROVEN_TIMEOUT,
} from './errors.js';
import { MAX_UNPROVEN_PER_NODE, type AgentHub, type ChallengeOutcome } from './hub.js';
import { ERR_ENROLL_CHALLENGE_EXPIRED, ERR_ENROLL_REPLAY } from '../enroll/errors.js';
import { TokenBucket } from './rate-limit.js';
import { OnDemandChallenges } from './challenges.js';

type HelloMessage = Extract<AgentMessage, { type: 'hello' }>;
type EnrollAnswerMessage = Omit<Extract<AgentMessage, { type: 'enroll-answer' }>, 'type'>;

/** Connection states: awaiting-hello → ready → closed. Errors are carried in the close code/reason. */
type State = 'awaiting-hello' | 'ready' | 'closed';

/**
 * How many unused nonces one connection may hold, and how many used ones it remembers (kept
 * small: 10,000 long-lived connections must fit in memory). A reused nonce older than that
 * memory is not issued to this connection any more, so its report can only count as history.
 */
const MAX_ISSUED = 8;
const MAX_USED = 16;
/**
 * Largest frame before the hello is accepted (a hello with a 22 KB EK certificate is ~35 KB): an
 * unauthenticated connection cannot make the collector parse megabytes of JSON per frame.
 */
export const MAX_PRE_HELLO_FRAME_BYTES = 64 * 1024;
/** How long an unanswered on-demand challenge holds back the next one (an agent answers at once). */
const ON_DEMAND_ANSWER_MS = 10_000;

/**
 * How long a connection past hello may stay unproven (no report verified with the node's pinned
 * key yet) before it is closed with ERR_WS_UNPROVEN_TIMEOUT: two report intervals, at least the
 * hello timeout. An honest agent answers the challenge sent at hello at once.
 */
export function unprovenTimeoutMs(c: { intervalSec: number; helloTimeoutMs: number }): number {
  return Math.max(2 * c.intervalSec * 1000, c.helloTimeoutMs);
}

/**
 * One agent connection. Parses every frame through the protocol schema, applies the
 * per-connection rate limit and error budget, handles hello (key pinning, trust on first use
 * or the enrolment hook), issues nonces, and runs each report through the pipeline under the
 * node's lock: verify → persist → publish → answer.
 */
export class AgentSession {
  state: State = 'awaiting-hello';
  nodeId: string | null = null;
  /**
   * Whether this connection delivered a report verified with the node's pinned key. Until then it
   * does not count as a connection of its node (hub.isConnected, 'agent-connected'): its hello
   * named only the public kid.
   */
  proven = false;
  private proofTimer: NodeJS.Timeout | null = null;
  private pinned: PinnedKey | null = null;
  /** Unused nonces of this connection → when they were issued (ms, hub clock); they expire after the freshness TTL (at least two intervals). */
  private readonly issued = new Map<string, number>();
  private readonly used = new Set<string>();
  /** On-demand challenges, paced (ws/challenges.ts). */
  private readonly demand: OnDemandChallenges;
  private readonly bucket: TokenBucket;
  private errors = 0;
  private alive = true;
  private lastVerifiedAt = 0;
  private readonly openedAt = Date.now();
  private helloTimer: NodeJS.Timeout | null;
  private queue: Promise<void> = Promise.resolve();
  /** The open enrolment challenge of this connection (at most one, during hello). */
  private enrollWaiter: {
    challengeId: string;
    resolve(a: EnrollAnswerMessage): void;
    reject(e: Error): void;
    timer: NodeJS.Timeout;
  } | null = null;

  constructor(
    private readonly hub: AgentHub,
    private readonly ws: WebSocket,
    private readonly req: IncomingMessage,
  ) {
    const c = hub.deps.config;
    this.bucket = new TokenBucket(c.rateLimitPerSec, c.rateLimitBurst);
    // Half the connection's message budget for answers to on-demand challenges; one outstanding at a time.
    this.demand = new OnDemandChallenges({
      issue: () => this.issue(false),
      spacingMs: 2000 / c.rateLimitPerSec,
      answerMs: ON_DEMAND_ANSWER_MS,
    });
    this.helloTimer = setTimeout(() => this.fail(ERR_HELLO_TIMEOUT, 'no hello within the handshake timeout', true), c.helloTimeoutMs);
    ws.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    ws.on('pong', () => (this.alive = true));
    ws.on('error', (e: Error & { code?: string }) => {
      if (e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.rejected(ERR_WS_FRAME_TOO_LARGE);
      hub.deps.logger.debug({ nodeId: this.nodeId, err: e.message }, 'agent connection error');
    });
    ws.on('close', () => this.onClose());
  }

  /** Ordering among one node's connections: verified recently beats merely connected. */
  rank(): number {
    return this.lastVerifiedAt * 2 + (this.state === 'ready' ? 1 : 0) + this.openedAt / 1e13;
  }

  heartbeatTick(): void {
    if (this.state === 'closed') return;
    if (!this.alive) {
      this.hub.deps.logger.info({ nodeId: this.nodeId }, 'agent connection missed a heartbeat; dropping it');
      this.ws.terminate();
      return;
    }
    this.alive = false;
    try {
      this.ws.ping();
    } catch {
      this.ws.terminate();
    }
  }

  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.ws.close(code, reason);
    this.onClose();
  }

  /** Closed by the hub to make room (coded error, then close). */
  evict(code: string, message: string): void {
    this.fail(code, message, true);
  }

  private send(msg: CollectorMessage): void {
    if (this.state === 'closed' || this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(msg));
  }

  private rejected(code: string): void {
    this.hub.deps.events.emit('report-rejected', { nodeId: this.pinned ? this.nodeId : null, code });
  }

  /** Answers with a coded error; closes the connection when `fatal` or the error budget is spent. */
  private fail(code: string, message: string, fatal = false, seq?: number): void {
    this.rejected(code);
    this.send({ type: 'error', code, message: message.slice(0, 500), ...(seq !== undefined ? { seq } : {}) });
    this.errors++;
    if (fatal) this.close(code === ERR_WS_FRAME_TOO_LARGE ? CLOSE_TOO_BIG : CLOSE_POLICY, code);
    else if (this.errors > this.hub.deps.config.maxErrorsPerConnection) {
      this.rejected(ERR_WS_TOO_MANY_ERRORS);
      this.send({ type: 'error', code: ERR_WS_TOO_MANY_ERRORS, message: 'too many errors on this connection' });
      this.close(CLOSE_POLICY, ERR_WS_TOO_MANY_ERRORS);
    }
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    if (this.state === 'closed') return;
    if (!this.bucket.take()) {
      this.fail(ERR_WS_RATE_LIMIT, 'message rate limit exceeded', true);
      return;
    }
    if (isBinary) return this.fail(ERR_WS_BINARY, 'binary frames are not part of the protocol');
    if (this.state !== 'ready' && frameBytes(data) > MAX_PRE_HELLO_FRAME_BYTES) {
      return this.fail(
        ERR_WS_FRAME_TOO_LARGE,
        `frames before the hello is accepted are limited to ${MAX_PRE_HELLO_FRAME_BYTES} bytes`,
        true,
      );
    }
    let msg: AgentMessage;
    try {
      // A Buffer (ws's default) is decoded in place; Buffer.from(buffer) would copy the whole frame first.
      const text = Array.isArray(data)
        ? Buffer.concat(data).toString('utf8')
        : Buffer.isBuffer(data)
          ? data.toString('utf8')
          : Buffer.from(data).toString('utf8');
      msg = parseAgentMessage(parseJsonFrame(text));
    } catch (e) {
      const err = e as NodesealError;
      return this.fail(err.code ?? ERR_INTERNAL, err.message);
    }
    // An enrolment answer is awaited by the hello being handled, so it bypasses the queue.
    if (msg.type === 'enroll-answer') return this.onEnrollAnswer(msg);
    const m = msg;
    // Messages of one connection are handled strictly in order.
    this.queue = this.queue
      .then(() => (m.type === 'hello' ? this.onHello(m) : this.onReport(m.jws)))
      .catch((e: unknown) => this.internal(e));
  }

  /** The answer to this connection's open enrolment challenge; any other is a replay. */
  private onEnrollAnswer(msg: EnrollAnswerMessage): void {
    const w = this.enrollWaiter;
    if (!w || w.challengeId !== msg.challengeId)
      return this.fail(ERR_ENROLL_REPLAY, 'no open enrolment challenge with this id on this connection', true);
    this.enrollWaiter = null;
    clearTimeout(w.timer);
    w.resolve({ challengeId: msg.challengeId, credential: msg.credential });
  }

  /** Sends the enrolment (credential activation) challenge and waits for the agent's answer. */
  private askEnrollment(c: { challengeId: string; credentialBlob: string; secret: string }): Promise<EnrollAnswerMessage> {
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.enrollWaiter = null;
        reject(new NodesealError(ERR_ENROLL_CHALLENGE_EXPIRED, 'no answer to the enrolment challenge in time'));
      }, this.hub.deps.config.helloTimeoutMs * 3);
      this.enrollWaiter = { challengeId: c.challengeId, resolve, reject, timer };
      this.send({ type: 'enroll-challenge', challengeId: c.challengeId, credentialBlob: c.credentialBlob, secret: c.secret });
    });
  }

  private internal(e: unknown): void {
    this.hub.deps.logger.error({ nodeId: this.nodeId, err: (e as Error)?.message, stack: (e as Error)?.stack }, 'agent session failure');
    this.send({ type: 'error', code: ERR_INTERNAL, message: 'internal error' });
    this.close(CLOSE_INTERNAL, ERR_INTERNAL);
  }

  private async onHello(hello: HelloMessage): Promise<void> {
    if (this.state !== 'awaiting-hello') return this.fail(ERR_HELLO_REPEATED, 'hello was already received on this connection');
    const { store, logger, enroll } = this.hub.deps;
    await this.hub.withNodeLock(hello.nodeId, async () => {
      if (this.state === 'closed') return;
      let node = await store.getNode(hello.nodeId);
      // (Re-)enrolment: a hello with an enrolment token and TPM material, for a revoked node or a new key.
      const reenrol = enroll !== undefined && hello.enrollToken !== undefined && hello.ekPublic !== undefined;
      if (node?.revokedAt && !reenrol) return this.fail(ERR_NODE_REVOKED, 'this node has been revoked', true);
      if (node?.kid && node.jwk && !(reenrol && (node.revokedAt || node.kid !== hello.kid))) {
        if (node.kid !== hello.kid) return this.fail(ERR_HELLO_KEY_MISMATCH, 'this node id is pinned to another key', true);
        this.pinned = { kid: node.kid, ...importPublicJwk(node.jwk) };
      } else {
        if (!hello.jwk) return this.fail(ERR_HELLO_KEY, 'first contact must carry the public key (jwk)', true);
        let imported: ReturnType<typeof importPublicJwk>;
        try {
          imported = importPublicJwk(hello.jwk);
          if ((await thumbprint(hello.jwk as JWK)) !== hello.kid)
            return this.fail(ERR_HELLO_KEY, 'kid is not the RFC 7638 thumbprint of the jwk', true);
        } catch (e) {
          return this.fail(isNodesealError(e) ? e.code : ERR_HELLO_KEY, (e as Error).message, true);
        }
        let enrolledVia: NodeRecord['enrolledVia'] = 'tofu';
        let enrolledNode: NodeRecord | undefined;
        if (enroll) {
          try {
            const admitted = await enroll.admit(
              {
                nodeId: hello.nodeId,
                kid: hello.kid,
                jwk: hello.jwk as Record<string, unknown>,
                ...(hello.enrollToken !== undefined ? { enrollToken: hello.enrollToken } : {}),
                ...(hello.ekPublic !== undefined ? { ekPublic: hello.ekPublic } : {}),
                ...(hello.ekCert !== undefined ? { ekCert: hello.ekCert } : {}),
                ...(hello.akPublic !== undefined ? { akPublic: hello.akPublic } : {}),
              },
              { node, req: this.req, ask: (c) => this.askEnrollment(c) },
            );
            enrolledVia = admitted.enrolledVia;
            enrolledNode = admitted.node;
          } catch (e) {
            return this.fail(isNodesealError(e) ? e.code : ERR_INTERNAL, (e as Error).message, true);
          }
        }
        const at = this.hub.now().toISOString();
        const publicJwk = { ...(hello.jwk as Record<string, unknown>) };
        if (enrolledNode)
          node = enrolledNode; // committed by the enrolment, with the activated AK pinned
        else {
          node = node
            ? { ...node, jwk: publicJwk, kid: hello.kid, enrolledVia }
            : {
                nodeId: hello.nodeId,
                jwk: publicJwk,
                kid: hello.kid,
                akPublic: null,
                lastSeq: 0,
                status: 'unknown',
                reasons: [],
                firstSeenAt: at,
                lastSeenAt: at,
                verifiedAt: null,
                enrolledVia,
                revokedAt: null,
                summary: null,
              };
          await store.upsertNode(node);
        }
        logger.info({ nodeId: hello.nodeId, kid: hello.kid, enrolledVia }, 'pinned the key of a new node');
        this.pinned = { kid: hello.kid, ...imported };
      }
      if ((this.state as State) === 'closed') return;
      if (this.helloTimer) clearTimeout(this.helloTimer);
      this.helloTimer = null;
      this.hub
        .register(hello.nodeId, this)
        ?.evict(
          ERR_WS_UNPROVEN_LIMIT,
          `a newer connection for this node arrived while ${MAX_UNPROVEN_PER_NODE} had not delivered a verified report; this, the oldest, is closed`,
        );
      this.nodeId = hello.nodeId;
      this.state = 'ready';
      const ms = unprovenTimeoutMs(this.hub.deps.config);
      this.proofTimer = setTimeout(
        () => this.fail(ERR_WS_UNPROVEN_TIMEOUT, `no report verified with the node's key within ${ms / 1000} s of hello`, true),
        ms,
      );
      // Its first challenge: it needs a nonce to prove possession of the key.
      void this.sendChallenge(false, 0);
    });
  }

  /** Issues a nonce to this connection. `next` = for the agent's next scheduled report. */
  private issue(next: boolean): string {
    const nonce = this.hub.newNonce();
    this.issued.set(nonce, this.hub.now().getTime());
    while (this.issued.size > MAX_ISSUED) this.issued.delete(this.issued.keys().next().value!);
    this.send({ type: 'challenge', nonce, intervalSec: this.hub.deps.config.intervalSec, ...(next ? { next: true } : {}) });
    return nonce;
  }

  /**
   * Challenges this connection: `next` = the nonce for the agent's next scheduled report (sent at
   * once); otherwise an on-demand challenge, paced by ws/challenges.ts (requests close together
   * share one challenge sent after all of them). With waitMs > 0, resolves with the outcome of
   * the report answering it, or null on timeout or close.
   */
  sendChallenge(next: boolean, waitMs: number): Promise<ChallengeOutcome> {
    if (!next) return this.demand.request(waitMs);
    this.issue(true);
    return Promise.resolve(null);
  }

  private settle(nonce: string | null, o: ChallengeOutcome): void {
    this.demand.settle(nonce, o);
  }

  /**
   * Forgets nonces issued longer ago than the freshness TTL: a quote over such a nonce may have
   * been made (and held back, or relayed from elsewhere) that long ago, so it proves nothing
   * about now and its report counts as history. Without this, a connection that keeps its
   * socket alive could hoard nonces and keep a node trusted after its state changed.
   */
  private expireNonces(): void {
    const c = this.hub.deps.config;
    // At least two intervals: the agent holds a `next` nonce for one jittered interval (+10%).
    const ttlMs = Math.max(c.freshnessTtlSec ?? 3 * c.intervalSec, 2 * c.intervalSec) * 1000;
    const now = this.hub.now().getTime();
    for (const [n, at] of this.issued) if (now - at > ttlMs) this.issued.delete(n);
  }

  private useNonce(nonce: string | null): void {
    if (!nonce) return;
    this.issued.delete(nonce);
    this.used.add(nonce);
    while (this.used.size > MAX_USED) this.used.delete(this.used.values().next().value!);
  }

  private async onReport(jws: string): Promise<void> {
    if (this.state !== 'ready' || !this.nodeId || !this.pinned) return this.fail(ERR_HELLO_REQUIRED, 'say hello before sending reports');
    const nodeId = this.nodeId;
    const pinned = this.pinned;
    const { store, events, logger } = this.hub.deps;
    const started = performance.now();
    await this.hub.withNodeLock(nodeId, async () => {
      const node = await store.getNode(nodeId);
      if (!node) return this.fail(ERR_HELLO_REQUIRED, 'node record vanished; reconnect', true);
      const baseline = await store.getBaseline(nodeId);
      this.expireNonces();
      let v: VerifiedReport;
      try {
        v = await this.hub.verifier.verify(jws, {
          helloNodeId: nodeId,
          pinned,
          node,
          baseline,
          issuedNonces: new Set(this.issued.keys()),
          usedNonces: this.used,
          maxJwsBytes: this.hub.deps.config.maxPayloadBytes,
        });
      } catch (e) {
        if (!isNodesealError(e)) throw e;
        let err: NodesealError = e;
        const peeked = peekPayload(jws);
        const seq = peekSeq(peeked);
        if (e.code === ERR_REPORT_SEQ && seq !== undefined) {
          const [same] = await store.listReports(nodeId, { beforeSeq: seq + 1, limit: 1 });
          if (same?.seq === seq) err = new ReportError(ERR_REPORT_REPLAY, `report seq ${seq} was already received`);
        }
        const nonce = peekNonce(peeked);
        if (nonce && this.issued.has(nonce)) this.useNonce(nonce);
        this.settle(nonce, { error: { code: err.code, message: err.message } });
        logger.info({ nodeId, code: err.code, seq }, 'report rejected');
        this.fail(err.code, err.message, false, seq);
        if (this.issued.size === 0) void this.sendChallenge(true, 0);
        return;
      }
      this.useNonce(v.payload.nonce);
      const writes = buildReportWrites(v, node, baseline !== null, this.hub.now());
      // Group commit: resolves once the transaction holding this report (and its TOFU baseline) is durable.
      await this.hub.writer.record({ report: writes.report, changes: writes.changes, node: writes.node, baseline: writes.baseline });
      if (v.payload.nextKey && v.kind === 'fresh') await this.rotateKey(nodeId, v.payload.nextKey, v.payload.seq);
      this.errors = 0;
      this.lastVerifiedAt = Date.now();
      if (!this.proven) this.prove(nodeId);
      const at = writes.report.receivedAt;
      const fresh = v.kind === 'fresh';
      const verdict: Verdict = v.verdict;
      if (fresh && writes.statusChanged)
        events.emit('status-changed', { nodeId, from: writes.statusBefore, to: verdict.status, reasons: verdict.reasons, at });
      if (fresh && v.drift.length > 0) events.emit('drift', { nodeId, seq: v.payload.seq, reasons: v.drift, at });
      events.emit('report-verified', {
        nodeId,
        seq: v.payload.seq,
        status: verdict.status,
        latencyMs: performance.now() - started,
        fresh,
        spoolBacklog: v.payload.spoolBacklog ?? null,
      });
      if (fresh) this.send({ type: 'verdict', seq: v.payload.seq, status: verdict.status, reasons: verdict.reasons });
      else this.send({ type: 'ack', seq: v.payload.seq });
      this.settle(v.payload.nonce, { verdict, seq: v.payload.seq });
      if (this.issued.size === 0) void this.sendChallenge(true, 0);
    });
  }

  /** The first report verified with the pinned key: from now on this connection counts as its node's. */
  private prove(nodeId: string): void {
    if (this.state !== 'ready') return;
    this.proven = true;
    if (this.proofTimer) clearTimeout(this.proofTimer);
    this.proofTimer = null;
    this.hub.promote(nodeId, this);
    this.hub.deps.events.emit('agent-connected', { nodeId });
  }

  /** A key rotation announced in a verified report: from now on this connection verifies with the new key. */
  private async rotateKey(nodeId: string, announced: { jwk: Record<string, unknown>; kid: string }, seq: number): Promise<void> {
    const { enroll, logger } = this.hub.deps;
    if (!enroll?.rotate || !this.pinned) {
      logger.warn({ nodeId }, 'ignoring a key rotation: this collector has no enrolment module');
      return;
    }
    try {
      const node = await enroll.rotate(nodeId, this.pinned.kid, announced);
      this.pinned = { kid: node.kid!, ...importPublicJwk(node.jwk) };
    } catch (e) {
      if (!isNodesealError(e)) throw e;
      logger.info({ nodeId, code: e.code }, 'key rotation refused');
      // With the report's seq, so the agent knows its announcement (not the report) was refused and keeps its key.
      this.send({ type: 'error', code: e.code, message: e.message.slice(0, 500), seq });
      this.rejected(e.code);
    }
  }

  private onClose(): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'ready' && this.proven;
    this.state = 'closed';
    if (this.helloTimer) clearTimeout(this.helloTimer);
    if (this.proofTimer) clearTimeout(this.proofTimer);
    if (this.enrollWaiter) {
      clearTimeout(this.enrollWaiter.timer);
      this.enrollWaiter.reject(new NodesealError(ERR_ENROLL_CHALLENGE_EXPIRED, 'the connection closed during enrolment'));
      this.enrollWaiter = null;
    }
    this.demand.close();
    this.hub.unregister(this);
    if (wasConnected && this.nodeId) this.hub.deps.events.emit('agent-disconnected', { nodeId: this.nodeId });
  }
}

/** Reads seq/nonce from an (unverified) JWS payload for error attribution only; never trusted. */
function peekPayload(jws: string): Record<string, unknown> | null {
  try {
    const part = jws.split('.')[1];
    if (!part || part.length > 8 * 1024 * 1024) return null;
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
function frameBytes(data: RawData): number {
  return Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data instanceof ArrayBuffer ? data.byteLength : data.length;
}
function peekSeq(p: Record<string, unknown> | null): number | undefined {
  const s = p?.seq;
  return typeof s === 'number' && Number.isSafeInteger(s) && s >= 0 ? s : undefined;
}
function peekNonce(p: Record<string, unknown> | null): string | null {
  const n = p?.nonce;
  return typeof n === 'string' && /^[0-9a-f]{32,128}$/.test(n) ? n : null;
}
