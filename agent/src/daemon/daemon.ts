import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { isNodesealError } from '../../../shared/src/errors.js';
import { signCompact } from '../../../shared/src/jws/index.js';
import { parseCollectorMessage, parseJsonFrame } from '../../../shared/src/report/schema.js';
import {
  REPORT_JWS_TYP,
  WS_PATH,
  WS_SUBPROTOCOL,
  type CollectorMessage,
  type ReportPayload,
  type TrustStatus,
  type Reason,
} from '../../../shared/src/report/types.js';
import { writeFileAtomic } from './atomic.js';
import { fullJitterDelay, jitteredInterval } from './backoff.js';
import { AgentError, ERR_AGENT_ANSWER_TIMEOUT, ERR_AGENT_CONNECT, ERR_AGENT_HEARTBEAT } from './errors.js';
import type { EvidenceSource } from './evidence.js';
import { loadOrCreateIdentity } from './identity.js';
import { loadNextIdentity, prepareNextIdentity, promoteNextIdentity, type SigningIdentity } from './key-rotation.js';
import { Spool, type SpoolLimits } from './spool.js';

export const AGENT_VERSION = '0.1.0';

/** Collector error codes after which a spooled report is kept and re-sent later (not the report's fault). */
const RETRYABLE = new Set(['ERR_INTERNAL', 'ERR_WS_RATE_LIMIT', 'ERR_WS_SHUTDOWN', 'ERR_HELLO_REQUIRED']);

export interface DaemonOptions {
  /** Collector base URL (ws://, wss://); the agent connects to /v1/agent under it. */
  collector: string;
  nodeId: string;
  stateDir: string;
  evidence: EvidenceSource;
  logger: Logger;
  /** Report interval before the collector tells us its own, seconds (default 60). */
  intervalSec?: number;
  /** Ping interval, seconds; no pong for two pings drops the connection (default 15). */
  heartbeatSec?: number;
  /** Reconnect backoff: first step and cap, ms (defaults 1 s and 60 s). */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Wait for the collector's answer to one report, ms (default 30 s). */
  answerTimeoutMs?: number;
  /** Gap between re-sent spooled reports, ms (default 150). */
  spoolPaceMs?: number;
  spool?: Partial<SpoolLimits>;
  /** Extra CA certificates (PEM) for wss. */
  ca?: string | Buffer;
  random?: () => number;
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

/** Daemon states; the error that caused a backoff is carried in it. */
export type DaemonState =
  | { name: 'connecting'; attempt: number }
  | { name: 'attesting' }
  | { name: 'backoff'; attempt: number; delayMs: number; error: { code: string; message: string } }
  | { name: 'stopped' };

export interface DaemonEvents {
  state: [s: DaemonState];
  verdict: [v: { seq: number; status: TrustStatus; reasons: Reason[] }];
  ack: [seq: number];
  rejected: [e: { code: string; message: string; seq?: number }];
  report: [r: { seq: number; nonce: string | null }];
}

/**
 * The agent daemon: an explicit state machine connecting → attesting → backoff → connecting.
 * Every report is signed, written to the spool, and only removed when the collector
 * acknowledges it (verdict or ack); spooled reports are re-sent in order, one at a time.
 * Reports are made every interval (the collector's, ±10% jitter) — offline too, with nonce
 * null — and at once whenever the collector challenges.
 */
export class AgentDaemon extends EventEmitter<DaemonEvents> {
  state: DaemonState = { name: 'connecting', attempt: 1 };
  private ws: WebSocket | null = null;
  private spool!: Spool;
  private identity!: Awaited<ReturnType<typeof loadOrCreateIdentity>>;
  private seq = 0;
  private intervalMs: number;
  private nextNonce: string | null = null;
  private reportTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private backoffTimer: NodeJS.Timeout | null = null;
  private answerTimer: NodeJS.Timeout | null = null;
  private inFlight: number | null = null;
  private pongSeen = true;
  private making: Promise<void> = Promise.resolve();
  private pumping = false;
  private stopped = false;
  private readonly random: () => number;
  /** True once the collector accepted our enrolment (or we were enrolled before, for this key). */
  private enrolled = false;
  private enrolAnswered = false;
  /** Key rotation in progress: the next key, the seq of the report that announced it, and reports waiting on its answer. */
  private nextIdentity: SigningIdentity | null = null;
  private announcedSeq: number | null = null;
  private announceWaiters: Array<() => void> = [];

  constructor(private readonly o: DaemonOptions) {
    super();
    this.intervalMs = (o.intervalSec ?? 60) * 1000;
    this.random = o.random ?? Math.random;
  }

  get kid(): string {
    return this.identity.kid;
  }
  get spooled(): number {
    return this.spool.size;
  }
  get lastSeq(): number {
    return this.seq;
  }

  private setState(s: DaemonState): void {
    this.state = s;
    this.emit('state', s);
  }

  async start(): Promise<void> {
    this.identity = await loadOrCreateIdentity(this.o.stateDir);
    this.spool = await Spool.open(join(this.o.stateDir, 'spool'), this.o.spool ?? {}, this.o.logger);
    const stored = await readFile(join(this.o.stateDir, 'seq'), 'utf8')
      .then((t) => Number.parseInt(t, 10))
      .catch(() => 0);
    this.seq = Math.max(Number.isSafeInteger(stored) ? stored : 0, this.spool.maxSeq);
    this.enrolled = (await readFile(join(this.o.stateDir, 'enrolled'), 'utf8').catch(() => '')).trim() === this.identity.kid;
    this.nextIdentity = await loadNextIdentity(this.o.stateDir);
    this.o.logger.info({ nodeId: this.o.nodeId, kid: this.identity.kid, spooled: this.spool.size, seq: this.seq }, 'agent starting');
    this.scheduleReport();
    this.connect(1);
  }

  /**
   * Starts a JWS key rotation: the next key is announced in the next fresh report (signed by the
   * current key) and used from that report's verdict on. Returns the next key's kid.
   */
  async rotateKey(): Promise<string> {
    this.nextIdentity ??= await prepareNextIdentity(this.o.stateDir);
    return this.nextIdentity.kid;
  }

  private releaseAnnounce(): void {
    for (const r of this.announceWaiters.splice(0)) r();
  }

  /** The collector accepted the announcement: switch keys (on disk first). */
  private async promoteKey(): Promise<void> {
    const next = this.nextIdentity;
    if (!next) return;
    await promoteNextIdentity(this.o.stateDir);
    const old = this.identity.kid;
    this.identity = next;
    this.nextIdentity = null;
    this.announcedSeq = null;
    if (this.enrolled) await writeFileAtomic(join(this.o.stateDir, 'enrolled'), `${next.kid}\n`).catch(() => undefined);
    this.o.logger.info({ oldKid: old, kid: next.kid }, 'JWS key rotated');
    this.releaseAnnounce();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of [this.reportTimer, this.pingTimer, this.backoffTimer, this.answerTimer]) if (t) clearTimeout(t);
    this.ws?.terminate();
    this.ws = null;
    await this.making.catch(() => undefined);
    this.setState({ name: 'stopped' });
  }

  // ---- connection -------------------------------------------------------------------------

  private connect(attempt: number): void {
    if (this.stopped) return;
    this.setState({ name: 'connecting', attempt });
    const url = this.o.collector.replace(/\/+$/, '') + WS_PATH;
    const ws = new WebSocket(url, WS_SUBPROTOCOL, {
      handshakeTimeout: 10_000,
      maxPayload: 4 * 1024 * 1024,
      perMessageDeflate: false,
      ...(this.o.ca ? { ca: this.o.ca } : {}),
    });
    this.ws = ws;
    let opened = false;
    ws.on('open', () => {
      opened = true;
      this.pongSeen = true;
      void this.sayHello();
      this.setState({ name: 'attesting' });
      this.startHeartbeat();
    });
    ws.on('message', (data) => this.onMessage(data.toString()));
    ws.on('pong', () => (this.pongSeen = true));
    ws.on('error', (e) => this.o.logger.debug({ err: e.message }, 'collector connection error'));
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.inFlight = null;
      this.nextNonce = null;
      this.releaseAnnounce();
      if (this.pingTimer) clearInterval(this.pingTimer);
      if (this.answerTimer) clearTimeout(this.answerTimer);
      if (this.stopped) return;
      const why = reason.toString() || `close ${code}`;
      this.backoff(opened ? 1 : attempt + 1, { code: opened ? why : ERR_AGENT_CONNECT, message: `connection closed (${code} ${why})` });
    });
  }

  private backoff(attempt: number, error: { code: string; message: string }): void {
    const delayMs = fullJitterDelay(attempt, { baseMs: this.o.backoffBaseMs ?? 1000, capMs: this.o.backoffCapMs ?? 60_000 }, this.random);
    this.o.logger.info({ attempt, delayMs, code: error.code }, 'collector unreachable; backing off');
    this.setState({ name: 'backoff', attempt, delayMs, error });
    this.backoffTimer = setTimeout(() => this.connect(attempt), delayMs);
  }

  private startHeartbeat(): void {
    const ms = (this.o.heartbeatSec ?? 15) * 1000;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      const ws = this.ws;
      if (!ws) return;
      if (!this.pongSeen) {
        this.o.logger.warn({ code: ERR_AGENT_HEARTBEAT }, 'no pong from the collector; reconnecting');
        ws.terminate();
        return;
      }
      this.pongSeen = false;
      try {
        ws.ping();
      } catch {
        ws.terminate();
      }
    }, ms);
  }

  private send(msg: unknown): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  private async sayHello(): Promise<void> {
    const hello = {
      type: 'hello',
      nodeId: this.o.nodeId,
      agentVersion: AGENT_VERSION,
      kid: this.identity.kid,
      jwk: this.identity.publicJwk as Record<string, unknown>,
    };
    const enroll = this.o.enroll;
    if (!enroll || this.enrolled) return void this.send(hello);
    try {
      const material = await enroll.material();
      this.enrolAnswered = false;
      this.send({ ...hello, enrollToken: enroll.token, ...material });
    } catch (e) {
      this.o.logger.warn(
        { code: isNodesealError(e) ? e.code : undefined, err: (e as Error).message },
        'cannot read the TPM enrolment material; saying hello without it',
      );
      this.send(hello);
    }
  }

  private async answerEnrollment(msg: Extract<CollectorMessage, { type: 'enroll-challenge' }>): Promise<void> {
    if (!this.o.enroll) {
      this.o.logger.warn('the collector sent an enrolment challenge but this agent has no enrolment token');
      return;
    }
    try {
      const credential = await this.o.enroll.activate(Buffer.from(msg.credentialBlob, 'hex'), Buffer.from(msg.secret, 'hex'));
      this.enrolAnswered = true;
      this.send({ type: 'enroll-answer', challengeId: msg.challengeId, credential: credential.toString('hex') });
    } catch (e) {
      this.o.logger.warn({ code: isNodesealError(e) ? e.code : undefined, err: (e as Error).message }, 'credential activation failed');
      this.ws?.close(1000, 'enrolment failed');
    }
  }

  private onMessage(text: string): void {
    let msg: CollectorMessage;
    try {
      msg = parseCollectorMessage(parseJsonFrame(text));
    } catch (e) {
      this.o.logger.warn({ code: isNodesealError(e) ? e.code : undefined }, 'ignoring a malformed message from the collector');
      return;
    }
    switch (msg.type) {
      case 'enroll-challenge':
        void this.answerEnrollment(msg);
        return;
      case 'challenge':
        if (this.enrolAnswered && !this.enrolled) {
          // The collector pinned our keys: remember it, so the (one-time) token is not sent again.
          this.enrolled = true;
          this.o.logger.info({ nodeId: this.o.nodeId, kid: this.identity.kid }, 'enrolled with the collector');
          void writeFileAtomic(join(this.o.stateDir, 'enrolled'), `${this.identity.kid}\n`).catch((e: unknown) =>
            this.o.logger.warn({ err: (e as Error).message }, 'cannot record the enrolment'),
          );
        }
        if (msg.intervalSec * 1000 !== this.intervalMs) {
          // The collector sets the pace: reschedule the next round on its interval.
          this.intervalMs = msg.intervalSec * 1000;
          if (this.reportTimer) clearTimeout(this.reportTimer);
          this.scheduleReport();
        }
        // An on-demand challenge is answered at once; a nonce held for the next scheduled report
        // stays valid on the collector, so it is kept (dropping it would leave every later
        // scheduled report without a nonce: history only, and the node would go stale).
        if (msg.next) this.nextNonce = msg.nonce;
        else this.queueReport(msg.nonce);
        return;
      case 'verdict':
        if (msg.seq === this.announcedSeq)
          void this.promoteKey().catch((e: unknown) =>
            this.o.logger.error({ err: (e as Error).message }, 'cannot switch to the rotated key'),
          );
        this.emit('verdict', { seq: msg.seq, status: msg.status, reasons: msg.reasons });
        this.o.logger.info({ seq: msg.seq, status: msg.status, reasons: msg.reasons.map((r) => r.code) }, 'verdict');
        void this.acknowledged(msg.seq);
        return;
      case 'ack':
        this.emit('ack', msg.seq);
        void this.acknowledged(msg.seq);
        return;
      case 'error':
        this.emit('rejected', { code: msg.code, message: msg.message, ...(msg.seq !== undefined ? { seq: msg.seq } : {}) });
        if (this.nextIdentity && msg.code === 'ERR_HELLO_KEY_MISMATCH' && this.announcedSeq !== null) {
          // Our announcement was accepted but its verdict was lost: the collector now knows the next key.
          void this.promoteKey().then(() => this.ws?.close(1000, 'key rotated'));
          return;
        }
        if (msg.seq !== undefined && msg.seq === this.announcedSeq) {
          this.announcedSeq = null;
          this.releaseAnnounce();
        }
        this.o.logger.warn({ code: msg.code, seq: msg.seq, message: msg.message }, 'collector refused');
        if (msg.seq !== undefined && msg.seq === this.inFlight) {
          if (RETRYABLE.has(msg.code)) this.ws?.close(1000, 'retry later');
          else {
            this.o.logger.warn({ seq: msg.seq, code: msg.code }, 'dropping a spooled report the collector will never accept');
            void this.acknowledged(msg.seq);
          }
        }
        return;
    }
  }

  // ---- reports ----------------------------------------------------------------------------

  private scheduleReport(): void {
    if (this.stopped) return;
    this.reportTimer = setTimeout(
      () => {
        const nonce = this.ws ? this.nextNonce : null;
        this.nextNonce = null;
        this.queueReport(nonce);
        this.scheduleReport();
      },
      jitteredInterval(this.intervalMs, this.random),
    );
  }

  /** Makes one report (serialised with any other being made) and pushes the spool. */
  private queueReport(nonce: string | null): void {
    this.making = this.making
      .then(() => this.makeReport(nonce))
      .catch((e: unknown) => this.o.logger.error({ err: (e as Error).message }, 'could not make a report'))
      .then(() => this.pump());
  }

  private async makeReport(nonce: string | null): Promise<void> {
    if (this.stopped) return;
    // While an announced key rotation awaits its answer, new reports wait: they must be signed by the key the collector will pin.
    while (this.announcedSeq !== null && this.ws && !this.stopped) await new Promise<void>((r) => this.announceWaiters.push(r));
    const ev = await this.o.evidence.collect(nonce);
    const seq = this.seq + 1;
    await writeFileAtomic(join(this.o.stateDir, 'seq'), `${seq}\n`, 0o600);
    this.seq = seq;
    const payload: ReportPayload = {
      v: 1,
      nodeId: this.o.nodeId,
      seq,
      nonce,
      collectedAt: new Date().toISOString(),
      inventory: ev.inventory,
      inventoryDigest: ev.inventoryDigest,
      tpm: ev.tpm,
      spoolBacklog: this.spool.size,
    };
    const announce = this.nextIdentity !== null && nonce !== null && this.announcedSeq === null;
    if (announce) payload.nextKey = { jwk: { ...this.nextIdentity!.publicJwk } as Record<string, unknown>, kid: this.nextIdentity!.kid };
    const jws = await signCompact(payload, this.identity.signingKey, { alg: 'ES256', kid: this.identity.kid, typ: REPORT_JWS_TYP });
    await this.spool.append(seq, jws);
    if (announce) this.announcedSeq = seq;
    this.emit('report', { seq, nonce });
  }

  private async acknowledged(seq: number): Promise<void> {
    await this.spool.remove(seq);
    if (this.inFlight === seq) {
      this.inFlight = null;
      if (this.answerTimer) clearTimeout(this.answerTimer);
      const more = this.spool.size > 0;
      if (more) setTimeout(() => void this.pump(), this.o.spoolPaceMs ?? 150).unref();
    }
  }

  /** Sends the oldest spooled report when connected and nothing is awaiting an answer. */
  private async pump(): Promise<void> {
    if (this.pumping || this.inFlight !== null || !this.ws || this.state.name !== 'attesting') return;
    this.pumping = true;
    try {
      const next = await this.spool.peek();
      if (!next || this.inFlight !== null) return;
      if (!this.send({ type: 'report', jws: next.jws })) return;
      this.inFlight = next.seq;
      const ws = this.ws;
      this.answerTimer = setTimeout(() => {
        this.o.logger.warn({ code: ERR_AGENT_ANSWER_TIMEOUT, seq: next.seq }, 'no answer to a report; reconnecting');
        ws?.terminate();
      }, this.o.answerTimeoutMs ?? 30_000);
    } finally {
      this.pumping = false;
    }
  }
}

export { AgentError };
