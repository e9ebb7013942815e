/// <reference lib="dom" />

/**
 * When a dashboard view refreshes, and which answer may render. The fleet and node views share
 * one root: a view that is not shown must not render into it, whether from a pending timer or
 * from an answer still on its way. Answers can also arrive out of order, so every request takes
 * a ticket and only the newest ticket may render.
 */
export class RefreshSchedule {
  private timer: number | null = null;
  private due = 0;
  private generation = 0;

  constructor(private readonly refresh: () => Promise<void>) {}

  /** A ticket for a request about to start; see `isCurrent`. */
  begin(): number {
    return ++this.generation;
  }

  /** Whether the answer to `ticket`'s request may still render. */
  isCurrent(ticket: number): boolean {
    return ticket === this.generation;
  }

  /** Answers already on their way predate a change: none of them may render. */
  invalidate(): void {
    this.generation++;
  }

  /** The view is hidden: no pending timer fires and no answer on its way renders. */
  cancel(): void {
    this.generation++;
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Refresh after `ms`; an earlier request wins over a later pending one. */
  soon(ms = 1000): void {
    const due = Date.now() + ms;
    if (this.timer !== null) {
      if (due >= this.due) return;
      window.clearTimeout(this.timer);
    }
    this.due = due;
    this.timer = window.setTimeout(() => {
      this.timer = null;
      this.refresh().catch(() => undefined);
    }, ms);
  }
}
