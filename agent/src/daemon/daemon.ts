import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { operatorStep } from '../../../shared/src/protocol/dispositions.js';
import type { CollectorMessage } from '../../../shared/src/protocol/messages.js';
import { writeFileAtomic } from './atomic.js';
import { jitteredInterval } from './backoff.js';
import { realTimers, type Timers } from './clock.js';
import { CollectorConnection } from './connection.js';
import { errorAction } from './error-action.js';
import { AgentError, ERR_AGENT_ANSWER_TIMEOUT, ERR_AGENT_RECONNECT } from './errors.js';
import { activateCredential, helloMessage } from './hello.js';
import type { loadOrCreateIdentity } from './identity.js';
import { loadPersisted } from './persisted.js';
import { prepareNextIdentity, promoteNextIdentity, type SigningIdentity } from './key-rotation.js';
import { type DaemonEvents, type DaemonOptions, policyFrom } from './options.js';
import { signReport } from './sign-report.js';
import type { Spool } from './spool.js';
import { canSend, type DaemonEvent, type DaemonState, initialMachine, type Machine, type Policy, transition } from './state.js';

export { AGENT_VERSION } from './hello.js';

export type { DaemonState } from './state.js';
export type { AgentEnrollment, DaemonEvents, DaemonOptions } from './options.js';

/** How many report requests are kept while a key rotation awaits its answer. */
const MAX_DEFERRED = 4;

/**
 * The agent daemon: a state machine (state.ts: connecting → enrolling → attesting ⇄ rotating,
 * backoff, refused, stopped) driven by one connection at a time (connection.ts). Every report is
 * signed, written to the spool, and only removed when the collector acknowledges it (verdict or
 * ack) or answers with a `drop` code; spooled reports are re-sent in order, one at a time, to
 * whichever collector the agent is on. Reports are made every interval (the collector's, ±10%
 * jitter) — offline too, with nonce null — and at once whenever the collector challenges.
 */
export class AgentDaemon extends EventEmitter<DaemonEvents> {
  private m: Machine;
  private readonly policy: Policy;
  private readonly timers: Timers;
  private conn: CollectorConnection | null = null;
  private spool!: Spool;
  private identity!: Awaited<ReturnType<typeof loadOrCreateIdentity>>;
  private seq = 0;
  private intervalMs: number;
  private nextNonce: string | null = null;
  private reportTimer: unknown = null;
  private retryTimer: unknown = null;
  private answerTimer: unknown = null;
  private inFlight: number | null = null;
  private making: Promise<void> = Promise.resolve();
  private pumping = false;
  private readonly random: () => number;
  /** True once the collector accepted our enrolment (or we were enrolled before, for this key). */
  private enrolled = false;
  private enrolAnswered = false;
  /** Key rotation: the next key, and the seq of the report that announced it (null until announced). */
  private nextIdentity: SigningIdentity | null = null;
  private announcedSeq: number | null = null;
  /** Report requests (their nonces) that came while rotating; made once the announcement is answered. */
  private deferred: Array<string | null> = [];
  /** The refusal last logged at warn level (logged again only when it changes). */
  private refusedLogged: string | null = null;

  constructor(private readonly o: DaemonOptions) {
    super();
    this.policy = policyFrom(o);
    this.m = initialMachine(this.policy.urls);
    this.intervalMs = (o.intervalSec ?? 60) * 1000;
    this.random = o.random ?? Math.random;
    this.timers = o.timers ?? realTimers;
  }

  get state(): DaemonState {
    return this.m.state;
  }
  /** The collector the agent is on (or tries next). */
  get collectorUrl(): string {
    return this.policy.urls[this.m.index]!;
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

  async start(): Promise<void> {
    const p = await loadPersisted(this.o.stateDir, this.o.spool ?? {}, this.o.logger);
    ({ identity: this.identity, spool: this.spool, seq: this.seq, enrolled: this.enrolled, nextIdentity: this.nextIdentity } = p);
    this.o.logger.info(
      { nodeId: this.o.nodeId, kid: this.identity.kid, spooled: this.spool.size, seq: this.seq, collectors: this.policy.urls },
      'agent starting',
    );
    this.scheduleReport();
    this.emit('state', this.m.state);
    this.enter(this.m.state, this.m.state);
  }

  /**
   * Starts a JWS key rotation: the next key is announced in the next fresh report (signed by the
   * current key) and used from that report's verdict on. Returns the next key's kid.
   */
  async rotateKey(): Promise<string> {
    this.nextIdentity ??= await prepareNextIdentity(this.o.stateDir);
    return this.nextIdentity.kid;
  }

  async stop(): Promise<void> {
    for (const t of [this.reportTimer, this.retryTimer, this.answerTimer]) if (t) this.timers.clearTimeout(t);
    this.dispatch({ type: 'stop' });
    this.conn?.terminate();
    this.conn = null;
    await this.making.catch(() => undefined);
  }

  // ---- states -----------------------------------------------------------------------------

  private dispatch(e: DaemonEvent): void {
    const before = this.m.state;
    this.m = transition(this.m, e, this.policy, this.random);
    const s = this.m.state;
    if (s === before) return;
    this.emit('state', s);
    this.enter(s, before);
  }

  /** What entering a state does (the transition itself is pure: state.ts). */
  private enter(s: DaemonState, before: DaemonState): void {
    const log = this.o.logger;
    if (before.name === 'rotating' && s.name !== 'rotating') this.flushDeferred();
    switch (s.name) {
      case 'connecting':
        log.debug({ url: s.url, attempt: s.attempt }, 'connecting to the collector');
        this.connect(s.url);
        return;
      case 'attesting':
      case 'rotating':
        if (before.name === 'connecting' || before.name === 'enrolling') log.info({ url: s.url }, 'attesting to the collector');
        void this.pump();
        return;
      case 'backoff':
        log.info({ attempt: s.attempt, delayMs: s.delayMs, code: s.error.code, next: s.url }, 'collector unavailable; backing off');
        this.retryTimer = this.timers.setTimeout(() => this.dispatch({ type: 'retry' }), s.delayMs);
        return;
      case 'refused':
        if (this.refusedLogged !== s.code) {
          this.refusedLogged = s.code;
          log.warn(
            { code: s.code, url: s.url, delayMs: s.delayMs, message: s.error.message, next: operatorStep(s.code) },
            'the collector refused this node; retrying with a growing backoff (up to the cap) until the operator acts',
          );
        } else log.debug({ code: s.code, attempt: s.attempt, delayMs: s.delayMs }, 'still refused');
        this.retryTimer = this.timers.setTimeout(() => this.dispatch({ type: 'retry' }), s.delayMs);
        return;
      default:
        return;
    }
  }

  private rotation(): { nextKid: string; seq: number } | null {
    return this.nextIdentity && this.announcedSeq !== null ? { nextKid: this.nextIdentity.kid, seq: this.announcedSeq } : null;
  }

  private connect(url: string): void {
    const conn = new CollectorConnection(url, {
      heartbeatMs: (this.o.heartbeatSec ?? 15) * 1000,
      timers: this.timers,
      logger: this.o.logger,
      ...(this.o.ca ? { ca: this.o.ca } : {}),
    });
    this.conn = conn;
    conn.on('open', () => {
      if (this.conn !== conn) return;
      const enrol = this.o.enroll !== undefined && !this.enrolled;
      this.dispatch({ type: 'open', enrol, rotation: this.rotation() });
      void this.sayHello(conn, enrol);
    });
    conn.on('message', (msg) => {
      if (this.conn === conn) this.onMessage(conn, msg);
    });
    conn.on('closed', (cause) => {
      if (this.conn !== conn) return;
      this.conn = null;
      this.inFlight = null;
      this.nextNonce = null;
      if (this.answerTimer) this.timers.clearTimeout(this.answerTimer);
      this.dispatch({ type: 'closed', error: cause.error, disposition: cause.disposition });
    });
  }

  // ---- hello, enrolment, messages ---------------------------------------------------------

  private async sayHello(conn: CollectorConnection, enrol: boolean): Promise<void> {
    const hello = await helloMessage(
      { nodeId: this.o.nodeId, identity: this.identity, logger: this.o.logger },
      enrol ? this.o.enroll : undefined,
    );
    if (hello.enrollToken !== undefined) this.enrolAnswered = false;
    conn.send(hello);
  }

  private async answerEnrollment(conn: CollectorConnection, msg: Extract<CollectorMessage, { type: 'enroll-challenge' }>): Promise<void> {
    if (!this.o.enroll || this.m.state.name !== 'enrolling') {
      this.o.logger.warn('the collector sent an enrolment challenge but this agent is not enrolling');
      return;
    }
    const answer = await activateCredential(this.o.enroll, msg, this.o.logger);
    if ('error' in answer) return conn.end({ error: answer.error, disposition: 'retry' });
    this.enrolAnswered = true;
    conn.send(answer.message);
  }

  /** The collector's first challenge after an enrolling hello: it admitted (and pinned) us. */
  private admitted(): void {
    if (this.enrolAnswered && !this.enrolled) {
      // The collector pinned our keys: remember it, so the (one-time) token is not sent again.
      this.enrolled = true;
      this.o.logger.info({ nodeId: this.o.nodeId, kid: this.identity.kid }, 'enrolled with the collector');
      void writeFileAtomic(join(this.o.stateDir, 'enrolled'), `${this.identity.kid}\n`).catch((e: unknown) =>
        this.o.logger.warn({ err: (e as Error).message }, 'cannot record the enrolment'),
      );
    }
    this.dispatch({ type: 'admitted', rotation: this.rotation() });
  }

  private onMessage(conn: CollectorConnection, msg: CollectorMessage): void {
    switch (msg.type) {
      case 'enroll-challenge':
        void this.answerEnrollment(conn, msg);
        return;
      case 'challenge':
        if (this.m.state.name === 'enrolling') this.admitted();
        if (msg.intervalSec * 1000 !== this.intervalMs) {
          // The collector sets the pace: reschedule the next round on its interval.
          this.intervalMs = msg.intervalSec * 1000;
          if (this.reportTimer) this.timers.clearTimeout(this.reportTimer);
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
        void this.acknowledged(msg.seq, true);
        return;
      case 'ack':
        this.emit('ack', msg.seq);
        void this.acknowledged(msg.seq, true);
        return;
      case 'error':
        this.onError(conn, msg);
        return;
    }
  }

  /** A coded error: its disposition (shared/src/protocol) says whether the report or the connection ends. */
  private onError(conn: CollectorConnection, msg: Extract<CollectorMessage, { type: 'error' }>): void {
    this.emit('rejected', { code: msg.code, message: msg.message, ...(msg.seq !== undefined ? { seq: msg.seq } : {}) });
    const { action, disposition, settlesRotation } = errorAction(msg, {
      inFlight: this.inFlight,
      announcedSeq: this.announcedSeq,
      rotating: this.nextIdentity !== null,
    });
    if (action.kind === 'promote') {
      const error = { code: ERR_AGENT_RECONNECT, message: 'key rotated; saying hello with the new key' };
      void this.promoteKey().then(() => conn.end({ error, disposition: 'retry' }));
      return;
    }
    if (settlesRotation) {
      this.announcedSeq = null;
      this.dispatch({ type: 'rotation-settled' });
    }
    // A refusal of the node is logged once per change by the refused state, not at every connection.
    const level = disposition === 'refused' ? 'debug' : 'warn';
    this.o.logger[level]({ code: msg.code, seq: msg.seq, message: msg.message, disposition }, 'collector refused');
    if (action.kind === 'drop') {
      this.o.logger.warn({ seq: action.seq, code: msg.code }, 'dropping a spooled report the collector will never accept');
      void this.acknowledged(action.seq, false);
    } else if (action.kind === 'end') conn.end({ error: { code: msg.code, message: msg.message }, disposition: action.disposition });
  }

  // ---- key rotation -----------------------------------------------------------------------

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
    this.dispatch({ type: 'rotation-settled' });
  }

  private flushDeferred(): void {
    const connected = canSend(this.m.state);
    for (const nonce of this.deferred.splice(0)) this.queueReport(connected ? nonce : null);
  }

  // ---- reports ----------------------------------------------------------------------------

  private scheduleReport(): void {
    if (this.m.state.name === 'stopped') return;
    this.reportTimer = this.timers.setTimeout(
      () => {
        const nonce = this.conn ? this.nextNonce : null;
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
    if (this.m.state.name === 'stopped') return;
    // While an announced key rotation awaits its answer, new reports wait: they must be signed by the key the collector will pin.
    if (this.m.state.name === 'rotating') {
      this.deferred.push(nonce);
      if (this.deferred.length > MAX_DEFERRED) this.deferred.shift();
      return;
    }
    const ev = await this.o.evidence.collect(nonce);
    const seq = this.seq + 1;
    await writeFileAtomic(join(this.o.stateDir, 'seq'), `${seq}\n`, 0o600);
    this.seq = seq;
    const next = this.nextIdentity;
    const announce = next !== null && nonce !== null && this.announcedSeq === null && this.m.state.name === 'attesting';
    const jws = await signReport({
      nodeId: this.o.nodeId,
      seq,
      nonce,
      evidence: ev,
      spoolBacklog: this.spool.size,
      signer: this.identity,
      nextKey: announce ? next : null,
      at: new Date(),
    });
    await this.spool.append(seq, jws);
    if (announce) {
      this.announcedSeq = seq;
      this.dispatch({ type: 'announced', nextKid: next.kid, seq });
    }
    this.emit('report', { seq, nonce });
  }

  /** The collector is done with `seq`: verified or acknowledged (`accepted`), or a report it will never accept. */
  private async acknowledged(seq: number, accepted: boolean): Promise<void> {
    // Only an accepted report ends a run of failures: an open socket proves nothing about the node.
    if (accepted) {
      this.refusedLogged = null;
      this.dispatch({ type: 'accepted' });
    }
    await this.spool.remove(seq);
    if (this.inFlight === seq) {
      this.inFlight = null;
      if (this.answerTimer) this.timers.clearTimeout(this.answerTimer);
      if (this.spool.size > 0) this.timers.setTimeout(() => void this.pump(), this.o.spoolPaceMs ?? 150);
    }
  }

  /** Sends the oldest spooled report when attesting and nothing is awaiting an answer. */
  private async pump(): Promise<void> {
    const conn = this.conn;
    if (this.pumping || this.inFlight !== null || !conn?.isOpen || !canSend(this.m.state)) return;
    this.pumping = true;
    try {
      const next = await this.spool.peek();
      if (!next || this.inFlight !== null || this.conn !== conn) return;
      if (!conn.send({ type: 'report', jws: next.jws })) return;
      this.inFlight = next.seq;
      this.answerTimer = this.timers.setTimeout(() => {
        this.o.logger.warn({ code: ERR_AGENT_ANSWER_TIMEOUT, seq: next.seq, url: conn.url }, 'no answer to a report; reconnecting');
        conn.end({ error: { code: ERR_AGENT_ANSWER_TIMEOUT, message: `no answer to report ${next.seq}` }, disposition: 'move' }, true);
      }, this.o.answerTimeoutMs ?? 30_000);
    } finally {
      this.pumping = false;
    }
  }
}

export { AgentError };
