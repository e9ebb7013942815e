import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CollectorEventMap, CollectorEvents } from '../events.js';
import type { TrustChange } from '../trust/cache.js';
import type { AlertsConfig } from './config.js';
import type { Route } from '../http/router.js';
import { AlertDispatcher } from './dispatcher.js';
import { alertsRoutes } from './routes.js';
import type { AlertOutbox, NewOutboxRow } from './outbox.js';
import { renderAlert, type AlertEvent } from './payload.js';

export { parseAlertsConfig, DEFAULT_ALERTS, type AlertsConfig, type WebhookConfig } from './config.js';
export { SqlAlertOutbox } from './outbox-sql.js';
export type { AlertOutbox, OutboxRow } from './outbox.js';
export { alertsRoutes } from './routes.js';
export { signBody, verifySignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './sign.js';

/** The trust cache's change feed: effective status changes, including silent expiries to stale. */
export interface TrustChangeFeed {
  on(e: 'change', fn: (c: TrustChange) => void): unknown;
  off(e: 'change', fn: (c: TrustChange) => void): unknown;
}

export interface AlertsDeps {
  events: CollectorEvents;
  /** When given, status alerts follow the trust cache (so trusted → stale alerts too) instead of the bus. */
  trust?: TrustChangeFeed;
  outbox: AlertOutbox;
  config: AlertsConfig;
  logger: Logger;
  fetch?: typeof fetch;
  now?: () => number;
  onAttempt?: (webhook: string, outcome: 'delivered' | 'retry' | 'dead') => void;
}

export interface Alerts {
  /** GET /v1/alerts and POST /v1/alerts/requeue (operator). */
  routes: Route[];
  /** Resolves when every alert queued so far is in the outbox (tests, shutdown). */
  flushed(): Promise<void>;
  counts(): Promise<{ pending: number; dead: number }>;
  stop(): Promise<void>;
}

/**
 * Webhook alerts: subscribes to status changes and drift, writes one outbox row per matching
 * webhook, and starts the dispatcher. Rows are written in event order through one promise chain.
 */
export function startAlerts(deps: AlertsDeps): Alerts {
  const now = deps.now ?? Date.now;
  const log = deps.logger.child({ component: 'alerts' });
  const dispatcher = new AlertDispatcher({ ...deps, logger: log });
  let chain: Promise<void> = Promise.resolve();

  const queue = (e: AlertEvent) => {
    const hooks = deps.config.webhooks.filter((h) => h.events.includes(e.kind));
    if (hooks.length === 0) return;
    const rows: NewOutboxRow[] = hooks.map((h) => {
      const eventId = randomUUID();
      return { webhook: h.name, eventId, kind: e.kind, nodeId: e.nodeId, body: renderAlert(e, h, eventId), createdAt: new Date(now()).toISOString(), nextAttemptAt: now() };
    });
    chain = chain
      .then(() => deps.outbox.enqueue(rows))
      .then(
        () => dispatcher.notify(),
        (err: unknown) => log.error({ err, nodeId: e.nodeId, kind: e.kind }, 'alert could not be queued'),
      );
  };
  const onStatus = (e: CollectorEventMap['status-changed'][0]) => queue({ kind: 'status-changed', ...e });
  const onDrift = (e: CollectorEventMap['drift'][0]) => queue({ kind: 'drift', ...e });
  const onTrust = (c: TrustChange) => queue({ kind: 'status-changed', nodeId: c.nodeId, from: c.from, to: c.status, reasons: c.reasons, at: c.at });
  if (deps.trust) deps.trust.on('change', onTrust);
  else deps.events.on('status-changed', onStatus);
  deps.events.on('drift', onDrift);
  dispatcher.start();

  return {
    routes: alertsRoutes({ outbox: deps.outbox, notify: () => dispatcher.notify(), now }),
    flushed: () => chain,
    counts: () => deps.outbox.counts(),
    async stop() {
      deps.trust?.off('change', onTrust);
      deps.events.off('status-changed', onStatus);
      deps.events.off('drift', onDrift);
      await chain;
      await dispatcher.stop();
    },
  };
}
