import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AlertsConfig, WebhookConfig } from './config.js';
import type { AlertOutbox, OutboxRow } from './outbox.js';
import { signBody, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './sign.js';

export const ERR_ALERT_DELIVERY = 'ERR_ALERT_DELIVERY';
export const ERR_ALERT_DEAD_LETTER = 'ERR_ALERT_DEAD_LETTER';

export interface DispatcherDeps {
  outbox: AlertOutbox;
  config: AlertsConfig;
  logger: Logger;
  /** Injected for tests; defaults to global fetch. */
  fetch?: typeof fetch;
  now?: () => number;
  random?: () => number;
  /** Called after each attempt (metrics). */
  onAttempt?: (webhook: string, outcome: 'delivered' | 'retry' | 'dead') => void;
}

/** Delay before attempt n+1 after n failed attempts: capped exponential with jitter in [0.5, 1). */
export function backoffMs(attempts: number, baseMs: number, maxMs: number, random: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(attempts - 1, 40));
  return Math.round(exp * (0.5 + random / 2));
}

/** A delivery lease outlives any one attempt (so two holders never overlap while both run). */
export function leaseMs(timeoutMs: number): number {
  return Math.max(10_000, 2 * timeoutMs + 5_000);
}

/**
 * Delivers the outbox, one worker per webhook. Each webhook is a FIFO with head-of-line
 * blocking, so a receiver sees a node's alerts in the order they happened even across retries;
 * a row that uses up its attempts is dead-lettered and the queue moves on. Before each attempt
 * the worker takes or renews the webhook's lease: with several collectors on one database only
 * the holder delivers, and a standby takes over when the holder's lease runs out.
 */
export class AlertDispatcher {
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly wakers = new Map<string, () => void>();
  private readonly workers: Promise<void>[] = [];
  private readonly abort = new AbortController();
  /** This dispatcher's lease holder id. */
  readonly holder = randomUUID();

  constructor(private readonly deps: DispatcherDeps) {
    this.fetch = deps.fetch ?? fetch;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
  }

  start(): void {
    for (const hook of this.deps.config.webhooks) this.workers.push(this.run(hook));
  }

  /** Wakes the workers after rows were queued. */
  notify(): void {
    for (const w of this.wakers.values()) w();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.notify();
    await Promise.allSettled(this.workers);
  }

  private sleep(ms: number, hook: string): Promise<void> {
    return new Promise((resolve) => {
      if (this.abort.signal.aborted) return resolve();
      const done = () => {
        clearTimeout(t);
        this.wakers.delete(hook);
        resolve();
      };
      const t = setTimeout(done, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
      this.wakers.set(hook, done);
    });
  }

  private async run(hook: WebhookConfig): Promise<void> {
    const log = this.deps.logger.child({ webhook: hook.name });
    const outbox = this.deps.outbox;
    let held = false;
    while (!this.abort.signal.aborted) {
      let row: OutboxRow | null;
      try {
        row = await outbox.head(hook.name);
        if (!row) {
          if (held) await outbox.release(hook.name, this.holder);
          held = false;
          await this.sleep(60_000, hook.name);
          continue;
        }
        const wait = row.nextAttemptAt - this.now();
        if (wait > 0) {
          await this.sleep(wait, hook.name);
          continue;
        }
        held = await outbox.lease(hook.name, this.holder, leaseMs(hook.timeoutMs));
        if (!held) {
          await this.sleep(1000, hook.name); // another collector delivers this webhook
          continue;
        }
        // Read the head again under the lease: the previous holder may have delivered it.
        const again = await outbox.head(hook.name);
        if (!again || again.id !== row.id || again.nextAttemptAt > this.now()) continue;
        row = again;
      } catch (e) {
        log.error({ err: e }, 'alert outbox read failed');
        await this.sleep(5000, hook.name);
        continue;
      }
      await this.attempt(hook, row, log);
    }
    // Stopping: hand the webhook over at once rather than when the lease runs out.
    if (held) await outbox.release(hook.name, this.holder).catch((err: unknown) => log.warn({ err }, 'alert lease release failed'));
  }

  private async attempt(hook: WebhookConfig, row: OutboxRow, log: Logger): Promise<void> {
    const ts = Math.floor(this.now() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'nodeseal-collector',
      'x-nodeseal-delivery': row.eventId,
      'x-nodeseal-event': row.kind,
      [TIMESTAMP_HEADER]: String(ts),
    };
    if (hook.secret) headers[SIGNATURE_HEADER] = signBody(hook.secret, ts, row.body);
    let error: string | null = null;
    try {
      const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(hook.timeoutMs)]);
      const res = await this.fetch(hook.url, { method: 'POST', headers, body: row.body, redirect: 'manual', signal });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status < 200 || res.status > 299) error = `${ERR_ALERT_DELIVERY}: HTTP ${res.status}`;
    } catch (e) {
      if (this.abort.signal.aborted) return; // shutting down: the row stays pending, retried after restart
      error = `${ERR_ALERT_DELIVERY}: ${(e as Error).name === 'TimeoutError' ? 'timeout' : ((e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message)}`;
    }
    try {
      if (error === null) {
        await this.deps.outbox.delivered(row.id);
        this.deps.onAttempt?.(hook.name, 'delivered');
        log.debug({ delivery: row.eventId, nodeId: row.nodeId }, 'alert delivered');
        return;
      }
      const attempts = row.attempts + 1;
      const dead = attempts >= hook.maxAttempts;
      const next = this.now() + backoffMs(attempts, this.deps.config.backoff.baseMs, this.deps.config.backoff.maxMs, this.random());
      await this.deps.outbox.failed(row.id, attempts, next, error, dead);
      this.deps.onAttempt?.(hook.name, dead ? 'dead' : 'retry');
      if (dead)
        log.error({ code: ERR_ALERT_DEAD_LETTER, delivery: row.eventId, nodeId: row.nodeId, attempts, error }, 'alert dead-lettered');
      else
        log.warn(
          { code: ERR_ALERT_DELIVERY, delivery: row.eventId, attempts, retryInMs: next - this.now(), error },
          'alert delivery failed; will retry',
        );
    } catch (e) {
      log.error({ err: e }, 'alert outbox write failed');
      await this.sleep(5000, hook.name);
    }
  }
}
