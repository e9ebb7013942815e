/**
 * How many unused nonces one connection may hold, and how many used ones it remembers (kept
 * small: 10,000 long-lived connections must fit in memory). A reused nonce older than that
 * memory is not issued to this connection any more, so its report can only count as history.
 */
export const MAX_ISSUED = 8;
export const MAX_USED = 16;

/**
 * How long an issued nonce stays fresh: the freshness TTL (default three intervals), at least two
 * intervals, because the agent holds a `next` nonce for one jittered interval (+10%).
 */
export function nonceTtlMs(c: { intervalSec: number; freshnessTtlSec?: number | null | undefined }): number {
  return Math.max(c.freshnessTtlSec ?? 3 * c.intervalSec, 2 * c.intervalSec) * 1000;
}

/**
 * The nonces of one agent connection: those issued and not yet used (with when they were
 * issued, so they expire) and the last few used (a report quoting one again is a replay).
 * Pure bookkeeping; the caller passes the time.
 */
export class NonceLedger {
  private readonly issued = new Map<string, number>();
  readonly used = new Set<string>();

  issue(nonce: string, atMs: number): void {
    this.issued.set(nonce, atMs);
    while (this.issued.size > MAX_ISSUED) this.issued.delete(this.issued.keys().next().value!);
  }

  /**
   * Forgets nonces issued longer than `ttlMs` before `nowMs`: a quote over such a nonce may have
   * been made (and held back, or relayed from elsewhere) that long ago, so it proves nothing
   * about now and its report counts as history. Without this, a connection that keeps its socket
   * alive could hoard nonces and keep a node trusted after its state changed.
   */
  expire(nowMs: number, ttlMs: number): void {
    for (const [n, at] of this.issued) if (nowMs - at > ttlMs) this.issued.delete(n);
  }

  has(nonce: string): boolean {
    return this.issued.has(nonce);
  }

  /** Marks an issued nonce used (a report answered it, verified or not). */
  consume(nonce: string | null): void {
    if (!nonce) return;
    this.issued.delete(nonce);
    this.used.add(nonce);
    while (this.used.size > MAX_USED) this.used.delete(this.used.values().next().value!);
  }

  /** The nonces a report on this connection may answer now. */
  open(): Set<string> {
    return new Set(this.issued.keys());
  }

  get size(): number {
    return this.issued.size;
  }
}
