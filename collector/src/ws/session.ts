import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import { ERR_INTERNAL, NodesealError } from '../../../shared/src/errors.js';
import { parseAgentMessage, parseJsonFrame } from '../../../shared/src/report/schema.js';
import type { AgentMessage, CollectorMessage } from '../../../shared/src/report/types.js';
import type { AcceptanceService, AgentConnection, AgentLink } from '../accept/index.js';
import { ERR_ENROLL_CHALLENGE_EXPIRED, ERR_ENROLL_REPLAY } from '../enroll/errors.js';
import type { Logger } from '../logger.js';
import {
  CLOSE_INTERNAL,
  CLOSE_POLICY,
  CLOSE_TOO_BIG,
  ERR_HELLO_TIMEOUT,
  ERR_WS_BINARY,
  ERR_WS_FRAME_TOO_LARGE,
  ERR_WS_RATE_LIMIT,
  ERR_WS_TOO_MANY_ERRORS,
} from './errors.js';
import { TokenBucket } from './rate-limit.js';

type EnrollAnswerMessage = Omit<Extract<AgentMessage, { type: 'enroll-answer' }>, 'type'>;

/**
 * Largest frame before the hello is accepted (a hello with a 22 KB EK certificate is ~35 KB): an
 * unauthenticated connection cannot make the collector parse megabytes of JSON per frame.
 */
export const MAX_PRE_HELLO_FRAME_BYTES = 64 * 1024;

export interface SessionDeps {
  accept: AcceptanceService;
  logger: Logger;
  config: { rateLimitPerSec: number; rateLimitBurst: number; maxErrorsPerConnection: number; helloTimeoutMs: number };
  /** A rejection to count (metrics): the node when its key is pinned on this connection. */
  onRejected(nodeId: string | null, code: string): void;
  onClosed(s: AgentSession): void;
}

/**
 * One agent WebSocket connection, transport only: parses every frame through the protocol
 * schema, applies the per-connection rate limit, frame limits and error budget, the hello
 * timeout and the heartbeat, and hands messages in order to the acceptance service
 * (accept/service.ts), which decides what they mean.
 */
export class AgentSession implements AgentLink {
  readonly conn: AgentConnection;
  private readonly bucket: TokenBucket;
  private errors = 0;
  private alive = true;
  private closed = false;
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
    private readonly deps: SessionDeps,
    private readonly ws: WebSocket,
    req: IncomingMessage,
  ) {
    const c = deps.config;
    this.conn = deps.accept.connect(this, req);
    this.bucket = new TokenBucket(c.rateLimitPerSec, c.rateLimitBurst);
    this.helloTimer = setTimeout(
      () => this.fail(ERR_HELLO_TIMEOUT, 'no hello within the handshake timeout', { fatal: true }),
      c.helloTimeoutMs,
    );
    ws.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    ws.on('pong', () => (this.alive = true));
    ws.on('error', (e: Error & { code?: string }) => {
      if (e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.deps.onRejected(this.pinnedNode(), ERR_WS_FRAME_TOO_LARGE);
      deps.logger.debug({ nodeId: this.nodeId, err: e.message }, 'agent connection error');
    });
    ws.on('close', () => this.onClose());
  }

  get nodeId(): string | null {
    return this.conn.nodeId;
  }

  heartbeatTick(): void {
    if (this.closed) return;
    if (!this.alive) {
      this.deps.logger.info({ nodeId: this.nodeId }, 'agent connection missed a heartbeat; dropping it');
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
    if (this.closed) return;
    this.ws.close(code, reason);
    this.onClose();
  }

  send(msg: CollectorMessage): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(msg));
  }

  private pinnedNode(): string | null {
    return this.conn.pinned ? this.conn.nodeId : null;
  }

  /** Answers with a coded error; closes the connection when `fatal` or the error budget is spent. */
  fail(code: string, message: string, opts: { fatal?: boolean; seq?: number } = {}): void {
    this.deps.onRejected(this.pinnedNode(), code);
    this.send({ type: 'error', code, message: message.slice(0, 500), ...(opts.seq !== undefined ? { seq: opts.seq } : {}) });
    this.errors++;
    if (opts.fatal) this.close(code === ERR_WS_FRAME_TOO_LARGE ? CLOSE_TOO_BIG : CLOSE_POLICY, code);
    else if (this.errors > this.deps.config.maxErrorsPerConnection) {
      this.deps.onRejected(this.pinnedNode(), ERR_WS_TOO_MANY_ERRORS);
      this.send({ type: 'error', code: ERR_WS_TOO_MANY_ERRORS, message: 'too many errors on this connection' });
      this.close(CLOSE_POLICY, ERR_WS_TOO_MANY_ERRORS);
    }
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    if (!this.bucket.take()) return this.fail(ERR_WS_RATE_LIMIT, 'message rate limit exceeded', { fatal: true });
    if (isBinary) return this.fail(ERR_WS_BINARY, 'binary frames are not part of the protocol');
    if (this.conn.state !== 'ready' && frameBytes(data) > MAX_PRE_HELLO_FRAME_BYTES) {
      return this.fail(ERR_WS_FRAME_TOO_LARGE, `frames before the hello is accepted are limited to ${MAX_PRE_HELLO_FRAME_BYTES} bytes`, {
        fatal: true,
      });
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
    const accept = this.deps.accept;
    // Messages of one connection are handled strictly in order.
    this.queue = this.queue
      .then(async () => {
        if (m.type !== 'hello') return accept.report(this.conn, m.jws);
        await accept.hello(this.conn, m, (c) => this.askEnrollment(c));
        if (this.conn.state === 'ready') this.clearHelloTimer();
      })
      .catch((e: unknown) => this.internal(e));
  }

  private clearHelloTimer(): void {
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
  }

  /** The answer to this connection's open enrolment challenge; any other is a replay. */
  private onEnrollAnswer(msg: EnrollAnswerMessage): void {
    const w = this.enrollWaiter;
    if (!w || w.challengeId !== msg.challengeId)
      return this.fail(ERR_ENROLL_REPLAY, 'no open enrolment challenge with this id on this connection', { fatal: true });
    this.enrollWaiter = null;
    clearTimeout(w.timer);
    w.resolve({ challengeId: msg.challengeId, credential: msg.credential });
  }

  /** Sends the enrolment (credential activation) challenge and waits for the agent's answer. */
  private askEnrollment(c: { challengeId: string; credentialBlob: string; secret: string }): Promise<EnrollAnswerMessage> {
    this.clearHelloTimer();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.enrollWaiter = null;
        reject(new NodesealError(ERR_ENROLL_CHALLENGE_EXPIRED, 'no answer to the enrolment challenge in time'));
      }, this.deps.config.helloTimeoutMs * 3);
      this.enrollWaiter = { challengeId: c.challengeId, resolve, reject, timer };
      this.send({ type: 'enroll-challenge', challengeId: c.challengeId, credentialBlob: c.credentialBlob, secret: c.secret });
    });
  }

  private internal(e: unknown): void {
    this.deps.logger.error({ nodeId: this.nodeId, err: (e as Error)?.message, stack: (e as Error)?.stack }, 'agent session failure');
    this.send({ type: 'error', code: ERR_INTERNAL, message: 'internal error' });
    this.close(CLOSE_INTERNAL, ERR_INTERNAL);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearHelloTimer();
    if (this.enrollWaiter) {
      clearTimeout(this.enrollWaiter.timer);
      this.enrollWaiter.reject(new NodesealError(ERR_ENROLL_CHALLENGE_EXPIRED, 'the connection closed during enrolment'));
      this.enrollWaiter = null;
    }
    this.deps.accept.disconnected(this.conn);
    this.deps.onClosed(this);
  }
}

function frameBytes(data: RawData): number {
  return Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data instanceof ArrayBuffer ? data.byteLength : data.length;
}
