import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isNodesealError, NodesealError } from '../../../shared/src/errors.js';
import { importPublicJwk, thumbprint, type JWK } from '../../../shared/src/jws/index.js';
import type { AgentMessage } from '../../../shared/src/report/types.js';
import { ERR_REPORT_REPLAY, ERR_REPORT_SEQ, ReportError } from '../pipeline/report-errors.js';
import { buildReportWrites } from '../pipeline/record.js';
import { inThreadVerifier, type ReportVerifier } from '../pipeline/verify-pool.js';
import type { VerifiedReport } from '../pipeline/verify-report.js';
import { createGroupCommitter, type ReportWriter } from '../store/group-commit.js';
import { ERR_STORE_DUPLICATE_SEQ } from '../store/errors.js';
import type { NodeRecord } from '../store/store.js';
import {
  CLOSE_GOING_AWAY,
  ERR_HELLO_KEY,
  ERR_HELLO_KEY_MISMATCH,
  ERR_HELLO_REPEATED,
  ERR_HELLO_REQUIRED,
  ERR_NODE_REVOKED,
  ERR_WS_SHUTDOWN,
  ERR_WS_UNPROVEN_LIMIT,
  ERR_WS_UNPROVEN_TIMEOUT,
} from '../ws/errors.js';
import { type ApproveInput, type ApproveResult, approveLatestState } from './approve.js';
import { type Clock, systemClock } from './clock.js';
import { AgentConnection } from './connection.js';
import { ERR_NODE_NOT_CONNECTED } from './errors.js';
import { NodeLocks } from './locks.js';
import { nonceTtlMs } from './nonces.js';
import { ConnectionRegistry, MAX_UNPROVEN_PER_NODE } from './registry.js';
import type { AcceptDeps, AgentLink, ChallengeOutcome, EnrollAsk, RemoteNodes } from './types.js';

type HelloMessage = Extract<AgentMessage, { type: 'hello' }>;

/**
 * How long a connection past hello may stay unproven (no report verified with the node's pinned
 * key yet) before it is closed with ERR_WS_UNPROVEN_TIMEOUT: two report intervals, at least the
 * hello timeout. An honest agent answers the challenge sent at hello at once.
 */
export function unprovenTimeoutMs(c: { intervalSec: number; helloTimeoutMs: number }): number {
  return Math.max(2 * c.intervalSec * 1000, c.helloTimeoutMs);
}

/**
 * The report-acceptance service: the one place that decides what an agent's messages mean.
 * It owns the node locks, each connection's nonce ledger, key pinning at hello (trust on first
 * use or the enrolment hook), verify → record → publish for reports, key rotation, on-demand
 * challenges, approval and closing a revoked node's connections. Transports (ws/session.ts)
 * only frame, limit and pass messages in; HTTP routes only parse and call it.
 */
export class AcceptanceService {
  readonly registry = new ConnectionRegistry<AgentConnection>();
  readonly locks = new NodeLocks();
  readonly clock: Clock;
  readonly verifier: ReportVerifier;
  readonly writer: ReportWriter;
  private readonly newNonce: () => string;
  private readonly open = new Set<AgentConnection>();
  /** The fleet (cluster mode): challenges and approvals of a node held by another collector go there. */
  remote: RemoteNodes | null = null;

  constructor(readonly deps: AcceptDeps) {
    this.clock = deps.clock ?? systemClock;
    this.verifier = deps.verifier ?? inThreadVerifier(deps.ports);
    this.writer = deps.writer ?? createGroupCommitter(deps.store);
    this.newNonce = deps.nonce ?? (() => randomBytes(32).toString('hex'));
  }

  /** A new connection (before its hello). */
  connect(link: AgentLink, req: IncomingMessage | null = null): AgentConnection {
    const c = new AgentConnection(link, req, this.clock, {
      spacingMs: 2000 / this.deps.config.rateLimitPerSec,
      issue: (conn) => this.issue(conn, false),
    });
    this.open.add(c);
    return c;
  }

  /** The connection closed (by either side): it no longer counts for its node; waiters get null. */
  disconnected(c: AgentConnection): void {
    if (c.state === 'closed') return;
    const wasConnected = c.state === 'ready' && c.proven;
    c.state = 'closed';
    c.cancelProof?.();
    c.demand.close();
    this.open.delete(c);
    this.registry.unregister(c);
    if (wasConnected && c.nodeId) this.deps.events.emit('agent-disconnected', { nodeId: c.nodeId });
  }

  /**
   * A hello: pins the node's key on first contact (trust on first use, or the enrolment hook with
   * `ask` for credential activation), checks it against the pinned one otherwise, and makes the
   * connection an unproven one of its node, challenged at once so it can prove the key.
   */
  async hello(c: AgentConnection, hello: HelloMessage, ask?: EnrollAsk): Promise<void> {
    if (c.state !== 'awaiting-hello') return c.link.fail(ERR_HELLO_REPEATED, 'hello was already received on this connection');
    const fatal = (code: string, message: string) => c.link.fail(code, message, { fatal: true });
    const { store, logger, enroll } = this.deps;
    await this.locks.run(hello.nodeId, async () => {
      if (c.state === 'closed') return;
      let node = await store.getNode(hello.nodeId);
      // (Re-)enrolment: a hello with an enrolment token and TPM material, for a revoked node or a new key.
      const reenrol = enroll !== undefined && hello.enrollToken !== undefined && hello.ekPublic !== undefined;
      if (node?.revokedAt && !reenrol) return fatal(ERR_NODE_REVOKED, 'this node has been revoked');
      if (node?.kid && node.jwk && !(reenrol && (node.revokedAt || node.kid !== hello.kid))) {
        if (node.kid !== hello.kid) return fatal(ERR_HELLO_KEY_MISMATCH, 'this node id is pinned to another key');
        c.pinned = { kid: node.kid, ...importPublicJwk(node.jwk) };
      } else {
        if (!hello.jwk) return fatal(ERR_HELLO_KEY, 'first contact must carry the public key (jwk)');
        let imported: ReturnType<typeof importPublicJwk>;
        try {
          imported = importPublicJwk(hello.jwk);
          if ((await thumbprint(hello.jwk as JWK)) !== hello.kid)
            return fatal(ERR_HELLO_KEY, 'kid is not the RFC 7638 thumbprint of the jwk');
        } catch (e) {
          return fatal(isNodesealError(e) ? e.code : ERR_HELLO_KEY, (e as Error).message);
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
              { node, req: c.req as IncomingMessage, ...(ask ? { ask } : {}) },
            );
            enrolledVia = admitted.enrolledVia;
            enrolledNode = admitted.node;
          } catch (e) {
            if (!isNodesealError(e)) throw e;
            return fatal(e.code, e.message);
          }
        }
        const at = new Date(this.clock.now()).toISOString();
        const publicJwk = { ...(hello.jwk as Record<string, unknown>) };
        if (enrolledNode)
          node = enrolledNode; // committed by the enrolment, with the activated AK pinned
        else {
          node = node
            ? { ...node, jwk: publicJwk, kid: hello.kid, enrolledVia }
            : newNode(hello.nodeId, publicJwk, hello.kid, enrolledVia, at);
          await store.upsertNode(node);
        }
        logger.info({ nodeId: hello.nodeId, kid: hello.kid, enrolledVia }, 'pinned the key of a new node');
        c.pinned = { kid: hello.kid, ...imported };
      }
      if ((c.state as string) === 'closed') return;
      this.registry
        .register(hello.nodeId, c)
        ?.link.fail(
          ERR_WS_UNPROVEN_LIMIT,
          `a newer connection for this node arrived while ${MAX_UNPROVEN_PER_NODE} had not delivered a verified report; this, the oldest, is closed`,
          { fatal: true },
        );
      c.nodeId = hello.nodeId;
      c.state = 'ready';
      const ms = unprovenTimeoutMs(this.deps.config);
      c.cancelProof = this.clock.setTimer(
        () => fatal(ERR_WS_UNPROVEN_TIMEOUT, `no report verified with the node's key within ${ms / 1000} s of hello`),
        ms,
      );
      // Its first challenge (an on-demand one, so attest calls meanwhile join it): it needs a nonce to prove possession of the key.
      void c.demand.request(0);
    });
  }

  /** Issues a nonce to the connection. `next` = for the agent's next scheduled report. */
  private issue(c: AgentConnection, next: boolean): string {
    const nonce = this.newNonce();
    c.nonces.issue(nonce, this.clock.now());
    c.link.send({ type: 'challenge', nonce, intervalSec: this.deps.config.intervalSec, ...(next ? { next: true } : {}) });
    return nonce;
  }

  /**
   * A report: verified against the pinned key, the connection's nonces, the node's last seq and
   * its baseline; recorded (durably, group commit); published; then answered (verdict for a
   * fresh report, ack for history). A rejection answers with its code and the report's seq.
   */
  async report(c: AgentConnection, jws: string): Promise<void> {
    if (c.state !== 'ready' || !c.nodeId || !c.pinned) return c.link.fail(ERR_HELLO_REQUIRED, 'say hello before sending reports');
    const nodeId = c.nodeId;
    const pinned = c.pinned;
    const { store, events } = this.deps;
    const started = performance.now();
    await this.locks.run(nodeId, async () => {
      if (c.state === 'closed') return;
      const node = await store.getNode(nodeId);
      if (!node) return c.link.fail(ERR_HELLO_REQUIRED, 'node record vanished; reconnect', { fatal: true });
      if (node.revokedAt) return c.link.fail(ERR_NODE_REVOKED, 'this node has been revoked', { fatal: true });
      const baseline = await store.getBaseline(nodeId);
      c.nonces.expire(this.clock.now(), nonceTtlMs(this.deps.config));
      let v: VerifiedReport;
      try {
        v = await this.verifier.verify(jws, {
          helloNodeId: nodeId,
          pinned,
          node,
          baseline,
          issuedNonces: c.nonces.open(),
          usedNonces: c.nonces.used,
          maxJwsBytes: this.deps.config.maxPayloadBytes,
        });
      } catch (e) {
        if (!isNodesealError(e)) throw e;
        return this.rejected(c, jws, e);
      }
      c.nonces.consume(v.payload.nonce);
      const writes = buildReportWrites(v, node, baseline !== null, new Date(this.clock.now()));
      try {
        // Group commit: resolves once the transaction holding this report (and its TOFU baseline) is durable.
        await this.writer.record({ report: writes.report, changes: writes.changes, node: writes.node, baseline: writes.baseline });
      } catch (e) {
        // Another collector stored this seq (or a later one) for the node first: the agent's copy is a replay.
        if (isNodesealError(e) && e.code === ERR_STORE_DUPLICATE_SEQ)
          return this.rejected(c, jws, new ReportError(ERR_REPORT_REPLAY, `report seq ${v.payload.seq} was already received`));
        throw e;
      }
      const fresh = v.kind === 'fresh';
      if (v.payload.nextKey && fresh) await this.rotateKey(c, nodeId, v.payload.nextKey, v.payload.seq);
      c.lastVerifiedAt = this.clock.now();
      if (!c.proven) this.prove(c, nodeId);
      const at = writes.report.receivedAt;
      const verdict = v.verdict;
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
      // The report is stored either way, so it is acknowledged; a refused rotation was answered
      // before this with the report's seq, and the agent keeps its key.
      if (fresh) c.link.send({ type: 'verdict', seq: v.payload.seq, status: verdict.status, reasons: verdict.reasons });
      else c.link.send({ type: 'ack', seq: v.payload.seq });
      c.demand.settle(v.payload.nonce, { verdict, seq: v.payload.seq });
      if (c.nonces.size === 0) this.issue(c, true);
    });
  }

  /** Answers a rejected report with its code (ERR_REPORT_SEQ for a stored seq becomes ERR_REPORT_REPLAY). */
  private async rejected(c: AgentConnection, jws: string, e: NodesealError): Promise<void> {
    let err = e;
    const peeked = peekPayload(jws);
    const seq = peekSeq(peeked);
    if (e.code === ERR_REPORT_SEQ && seq !== undefined && c.nodeId) {
      if (await this.deps.store.getReport(c.nodeId, seq))
        err = new ReportError(ERR_REPORT_REPLAY, `report seq ${seq} was already received`);
    }
    const nonce = peekNonce(peeked);
    if (nonce && c.nonces.has(nonce)) c.nonces.consume(nonce);
    c.demand.settle(nonce, { error: { code: err.code, message: err.message } });
    this.deps.logger.info({ nodeId: c.nodeId, code: err.code, seq }, 'report rejected');
    c.link.fail(err.code, err.message, seq !== undefined ? { seq } : {});
    if (c.nonces.size === 0 && c.state === 'ready') this.issue(c, true);
  }

  /** The first report verified with the pinned key: from now on the connection counts as its node's. */
  private prove(c: AgentConnection, nodeId: string): void {
    if (c.state !== 'ready') return;
    c.proven = true;
    c.cancelProof?.();
    c.cancelProof = null;
    this.registry.promote(nodeId, c);
    this.deps.events.emit('agent-connected', { nodeId });
  }

  /**
   * A key rotation announced in a verified fresh report: from now on the connection verifies with
   * the new key. A refusal is answered with the report's seq (the announcement, not the report,
   * was refused).
   */
  private async rotateKey(
    c: AgentConnection,
    nodeId: string,
    announced: { jwk: Record<string, unknown>; kid: string },
    seq: number,
  ): Promise<void> {
    const { enroll, logger } = this.deps;
    if (!enroll?.rotate || !c.pinned) {
      logger.warn({ nodeId }, 'ignoring a key rotation: this collector has no enrolment module');
      return;
    }
    try {
      const node = await enroll.rotate(nodeId, c.pinned.kid, announced);
      c.pinned = { kid: node.kid!, ...importPublicJwk(node.jwk) };
    } catch (e) {
      if (!isNodesealError(e)) throw e;
      logger.info({ nodeId, code: e.code }, 'key rotation refused');
      c.link.send({ type: 'error', code: e.code, message: e.message.slice(0, 500), seq });
      this.deps.events.emit('report-rejected', { nodeId, code: e.code });
    }
  }

  /**
   * Sends a fresh challenge to a connected node. With waitMs > 0, resolves with the verdict of
   * the report that answers it (or the code it was rejected with), or null on timeout.
   * Throws ERR_NODE_NOT_CONNECTED when the node has no proven connection here. Its unproven ones
   * are challenged only then, so an agent that has just said hello can still answer; their
   * verified answer is returned, but without one the node is not connected.
   */
  async challenge(nodeId: string, waitMs: number): Promise<ChallengeOutcome> {
    const { proven, list } = this.registry.ready(nodeId);
    if (!proven && this.remote) {
      const holder = await this.remote.holderElsewhere(nodeId);
      if (holder) return this.remote.challenge(holder, nodeId, waitMs);
    }
    const notConnected = () =>
      new NodesealError(
        ERR_NODE_NOT_CONNECTED,
        `node ${nodeId} is not connected${list.length > 0 ? ` (${list.length} unproven connection(s) challenged)` : ''}`,
      );
    if (list.length === 0) throw notConnected();
    // Every connection claiming the node is challenged: one that merely knows the node's (public)
    // kid cannot absorb the challenge; the first verified answer wins.
    const outcomes = list.map((c) => c.demand.request(waitMs));
    if (waitMs <= 0) {
      if (!proven) throw notConnected();
      return null;
    }
    const o = await firstVerified(outcomes);
    if (!proven && (o === null || 'error' in o)) throw notConnected();
    return o;
  }

  /** Approves the node's latest verified state as its baseline (see approve.ts), under the node's lock. */
  async approve(nodeId: string, input: ApproveInput, actor: string): Promise<ApproveResult> {
    // Approved where the node's reports are accepted, so the approval and its reports are ordered by one node lock.
    if (!this.registry.isConnected(nodeId) && this.remote) {
      const holder = await this.remote.holderElsewhere(nodeId);
      if (holder) return (await this.remote.approve(holder, nodeId, input, actor)) as ApproveResult;
    }
    return this.locks.run(nodeId, () => approveLatestState(this.deps, nodeId, input, actor, new Date(this.clock.now())));
  }

  /** Closes every connection of a node here (revoked): no further report of it is accepted. */
  closeNode(nodeId: string, code = ERR_NODE_REVOKED): number {
    const all = this.registry.all(nodeId);
    for (const c of all) c.link.fail(code, 'this node has been revoked', { fatal: true });
    return all.length;
  }

  /** Whether the node has a proven connection here or (cluster mode) on another live collector. */
  isConnected(nodeId: string): boolean {
    return this.registry.isConnected(nodeId) || (this.remote?.isConnectedElsewhere(nodeId) ?? false);
  }

  /** Connections open now (before hello included). */
  get connectionCount(): number {
    return this.open.size;
  }

  /** Closes every connection (shutdown). */
  close(): void {
    for (const c of [...this.open]) c.link.close(CLOSE_GOING_AWAY, ERR_WS_SHUTDOWN);
  }
}

function newNode(
  nodeId: string,
  jwk: Record<string, unknown>,
  kid: string,
  enrolledVia: NodeRecord['enrolledVia'],
  at: string,
): NodeRecord {
  return {
    nodeId,
    jwk,
    kid,
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
}

/** The first verified outcome among `outcomes`, else the first error, else null. */
function firstVerified(outcomes: Promise<ChallengeOutcome>[]): Promise<ChallengeOutcome> {
  return new Promise((resolve) => {
    let left = outcomes.length;
    let firstError: ChallengeOutcome = null;
    for (const p of outcomes) {
      void p.then((o) => {
        if (o && 'verdict' in o) return resolve(o);
        firstError ??= o;
        if (--left === 0) resolve(firstError);
      });
    }
  });
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
function peekSeq(p: Record<string, unknown> | null): number | undefined {
  const s = p?.seq;
  return typeof s === 'number' && Number.isSafeInteger(s) && s >= 0 ? s : undefined;
}
function peekNonce(p: Record<string, unknown> | null): string | null {
  const n = p?.nonce;
  return typeof n === 'string' && /^[0-9a-f]{32,128}$/.test(n) ? n : null;
}
