import type { ReportWrite, Store } from './store.js';

/**
 * Group commit in front of Store.recordReports. Each `record` call queues one report's writes;
 * the queue is written as one transaction (one durable commit, one fsync) at the next
 * setImmediate, so every report verified in the same event-loop turn shares it, and reports
 * arriving while that commit is in flight form the next batch. A call resolves only after the
 * transaction holding its report has committed (the agent is acknowledged after that), and
 * rejects with its own error when only its report failed (duplicate seq), or with the
 * transaction's error when the whole batch failed.
 */
export interface ReportWriter {
  record(w: ReportWrite): Promise<void>;
  /** Resolves when every report queued so far has been committed (or has failed). */
  drain(): Promise<void>;
}

export interface GroupCommitOptions {
  /** Largest batch written in one transaction (default 256); a longer queue is split. */
  maxBatch?: number;
  /** Called with the size of each committed batch (metrics, tests). */
  onBatch?: (size: number) => void;
}

interface Queued {
  w: ReportWrite;
  resolve(): void;
  reject(e: unknown): void;
}

export function createGroupCommitter(store: Pick<Store, 'recordReports'>, opts: GroupCommitOptions = {}): ReportWriter {
  const maxBatch = Math.max(1, Math.floor(opts.maxBatch ?? 256));
  let queue: Queued[] = [];
  let running: Promise<void> | null = null;

  const writeBatch = async (batch: Queued[]): Promise<void> => {
    let results: Array<Error | null>;
    try {
      results = await store.recordReports(batch.map((q) => q.w));
    } catch (e) {
      for (const q of batch) q.reject(e);
      return;
    }
    opts.onBatch?.(batch.length);
    batch.forEach((q, i) => {
      const err = results[i];
      if (err) q.reject(err);
      else q.resolve();
    });
  };

  const loop = async (): Promise<void> => {
    // Let every report verified in this turn of the event loop join the first batch.
    await new Promise<void>((r) => setImmediate(r));
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      await writeBatch(batch);
    }
  };

  const start = (): void => {
    if (running) return;
    running = loop().finally(() => {
      running = null;
      if (queue.length > 0) start();
    });
  };

  return {
    record(w) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ w, resolve, reject });
        start();
      });
    },
    async drain() {
      while (running) await running;
    },
  };
}
