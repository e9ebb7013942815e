import { type Clock, systemClock } from './clock.js';
import type { ChallengeOutcome } from './types.js';

interface Waiter {
  resolve(o: ChallengeOutcome): void;
  cancel: () => void;
  /** The nonce it waits on; null while its challenge is deferred. */
  nonce: string | null;
}

export interface OnDemandOptions {
  /** Sends an on-demand challenge on the connection and returns its nonce. */
  issue(): string;
  /** Least time between two on-demand challenges of one connection. */
  spacingMs: number;
  /** How long an unanswered on-demand challenge holds back the next one. */
  answerMs: number;
  clock?: Clock;
}

/**
 * The on-demand challenges of one agent connection (POST /v1/nodes/{id}/attest, bulk attest,
 * the challenge at hello) and who waits for their answers.
 *
 * At most one is outstanding (sent, not yet answered) and at most one is deferred: a request
 * that arrives while one is outstanding, or sooner than `spacingMs` after the last, joins the
 * deferred challenge, which is sent once the outstanding one is answered (or `answerMs` passed)
 * and the spacing allows. A deferred challenge is sent after every request that joined it, so
 * its answer is evidence made after each of them. Whoever may ask for attestation thus cannot
 * make an agent answer faster than its rate limit allows (the collector would close it), nor
 * pile up quotes a slow TPM works through long after.
 */
export class OnDemandChallenges {
  private readonly waiters = new Map<string, Waiter[]>();
  private lastSentAt = -Infinity;
  private outstanding: string | null = null;
  private deferred: { waiters: Waiter[]; cancel: (() => void) | null } | null = null;
  private closed = false;
  private readonly clock: Clock;

  constructor(private readonly o: OnDemandOptions) {
    this.clock = o.clock ?? systemClock;
  }

  /** Asks for fresh evidence; with waitMs > 0 resolves with the answer's outcome, or null on timeout or close. */
  request(waitMs: number): Promise<ChallengeOutcome> {
    if (this.closed) return Promise.resolve(null);
    let join: (w: Waiter) => void;
    if (!this.deferred && this.canSend()) {
      const nonce = this.send();
      join = (w) => this.addWaiter(nonce, w);
    } else {
      const d = this.deferred ?? (this.deferred = { waiters: [], cancel: null });
      this.schedule();
      join = (w) => d.waiters.push(w);
    }
    if (waitMs <= 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      const w: Waiter = {
        resolve,
        nonce: null,
        cancel: this.clock.setTimer(() => {
          this.drop(w);
          resolve(null);
        }, waitMs),
      };
      join(w);
    });
  }

  /** A report answered (or was refused for) `nonce`: settles its waiters and frees the next challenge. */
  settle(nonce: string | null, outcome: ChallengeOutcome): void {
    if (!nonce) return;
    if (nonce === this.outstanding) {
      this.outstanding = null;
      if (this.deferred) this.schedule();
    }
    const list = this.waiters.get(nonce);
    if (!list) return;
    this.waiters.delete(nonce);
    for (const w of list) {
      w.cancel();
      w.resolve(outcome);
    }
  }

  /** The connection closed: every waiter gets null, nothing more is sent. */
  close(): void {
    this.closed = true;
    for (const [nonce] of [...this.waiters]) this.settle(nonce, null);
    if (this.deferred) {
      this.deferred.cancel?.();
      for (const w of this.deferred.waiters) {
        w.cancel();
        w.resolve(null);
      }
      this.deferred = null;
    }
  }

  private canSend(): boolean {
    const t = this.clock.now();
    return t - this.lastSentAt >= this.o.spacingMs && (this.outstanding === null || t - this.lastSentAt >= this.o.answerMs);
  }

  private send(): string {
    this.lastSentAt = this.clock.now();
    const nonce = this.o.issue();
    this.outstanding = nonce;
    return nonce;
  }

  /** (Re)arms the deferred challenge's timer for the earliest moment it may be sent. */
  private schedule(): void {
    const d = this.deferred;
    if (!d || this.closed) return;
    d.cancel?.();
    const t = this.clock.now();
    const at = Math.max(this.lastSentAt + this.o.spacingMs, this.outstanding === null ? -Infinity : this.lastSentAt + this.o.answerMs);
    d.cancel = this.clock.setTimer(
      () => {
        if (this.deferred !== d || this.closed) return;
        if (!this.canSend()) return this.schedule();
        this.deferred = null;
        const nonce = this.send();
        for (const w of d.waiters) this.addWaiter(nonce, w);
      },
      Math.max(0, at - t),
    );
  }

  private addWaiter(nonce: string, w: Waiter): void {
    w.nonce = nonce;
    const list = this.waiters.get(nonce);
    if (list) list.push(w);
    else this.waiters.set(nonce, [w]);
  }

  private drop(w: Waiter): void {
    const list = w.nonce === null ? this.deferred?.waiters : this.waiters.get(w.nonce);
    const i = list ? list.indexOf(w) : -1;
    if (i >= 0) list!.splice(i, 1);
    if (w.nonce !== null && list?.length === 0) this.waiters.delete(w.nonce);
  }
}
