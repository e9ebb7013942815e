import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CollectorEventMap, CollectorEvents } from '../events.js';
import type { TrustChange } from '../trust/cache.js';
import type { AlertsConfig } from './config.js';
import type { Route } from '../http/router.js';
import { AlertDispatcher } from './dispatcher.js';
import { alertsRoutes } from './routes.js';
import type { NewOutboxRow } from './outbox.js';
import { DEFAULT_MAX_PENDING, ERR_ALERT_OUTBOX_FULL, type SqlAlertOutbox } from './outbox-sql.js';
import { SqlAlertJournal } from './journal-sql.js';
import { deriveAlerts } from './derive.js';
import { renderAlert, type AlertEvent } from './payload.js';

export { parseAlertsConfig, DEFAULT_ALERTS, type AlertsConfig, type WebhookConfig } from './config.js';
export { SqlAlertOutbox, DEFAULT_MAX_PENDING, ERR_ALERT_OUTBOX_FULL } from './outbox-sql.js';
export { SqlAlertJournal } from './journal-sql.js';
export { deriveAlerts, type AlertCursor } from './derive.js';
export type { AlertOutbox, OutboxRow } from './outbox.js';
export { alertsRoutes } from './routes.js';
export { signBody, verifySignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './sign.js';

/** The trust cache's change feed: effective status changes, including silent expiries to stale. */
export interface TrustChangeFeed {
  /** Freshness TTL, so alerts derived from the store read `stale` by the same rule. */
  readonly ttlMs?: number;
  on(e: 'change', fn: (c: TrustChange) => void): unknown;
  off(e: 'change', fn: (c: TrustChange) => void): unknown;
}

export interface AlertsDeps {
  events: CollectorEvents;
  /** When given, status alerts are also triggered by the trust cache (so trusted → stale alerts too). */
  trust?: TrustChangeFeed;
  outbox: SqlAlertOutbox;
  config: AlertsConfig;
  logger: Logger;
  /** Freshness TTL when no trust feed gives one (default: never stale). */
  freshnessTtlSec?: number;
  fetch?: typeof fetch;
  now?: () => number;
  onAttempt?: (webhook: string, outcome: 'delivered' | 'retry' | 'dead') => void;
  /** Called when a webhook's cap moved its oldest pending alerts to dead-letter (metrics). */
  onOverflow?: (webhook: string, moved: number) => void;
}

export interface Alerts {
  /** GET /v1/alerts and POST /v1/alerts/requeue (operator). */
  routes: Route[];
  /** Resolves when every alert triggered so far (and the start-up scan) is in the outbox (tests, shutdown). */
  flushed(): Promise<void>;
  counts(): Promise<{ pending: number; dead: number }>;
  stop(): Promise<void>;
}

/**
 * Webhook alerts, derived from what the store committed: events (status changes, drift, trust
 * cache expiries) only say which node to look at. For that node, one transaction reads the
 * node and its change rows past the node's alert cursor, writes one outbox row per alert and
 * matching webhook, and advances the cursor. At start every node is checked the same way, so
 * an alert whose event was lost in a crash (store committed, outbox not yet) is queued then.
 * Work runs in trigger order through one promise chain; the dispatcher delivers.
 */
export function startAlerts(deps: AlertsDeps): Alerts {
  const now = deps.now ?? Date.now;
  const log = deps.logger.child({ component: 'alerts' });
  const dispatcher = new AlertDispatcher({ ...deps, logger: log });
  const caps = new Map(deps.config.webhooks.map((h) => [h.name, h.maxPending]));
  const maxPending = (w: string) => caps.get(w) ?? DEFAULT_MAX_PENDING;
  const journal = new SqlAlertJournal(deps.outbox.db, maxPending);
  const ttlSec = deps.trust?.ttlMs !== undefined ? deps.trust.ttlMs / 1000 : (deps.freshnessTtlSec ?? Number.POSITIVE_INFINITY);

  const toRows = (events: AlertEvent[]): NewOutboxRow[] =>
    events.flatMap((e) =>
      deps.config.webhooks
        .filter((h) => h.events.includes(e.kind))
        .map((h) => {
          const eventId = randomUUID();
          return {
            webhook: h.name,
            eventId,
            kind: e.kind,
            nodeId: e.nodeId,
            body: renderAlert(e, h, eventId),
            createdAt: new Date(now()).toISOString(),
            nextAttemptAt: now(),
          };
        }),
    );

  const reconcile = async (nodeId: string, at?: string): Promise<void> => {
    const { rows, overflow } = await journal.reconcile(nodeId, (cursor, node, changes) => {
      const { events, next } = deriveAlerts(cursor, nodeId, node, changes, now(), ttlSec, at);
      return { rows: toRows(events), next };
    });
    for (const [webhook, moved] of overflow) {
      log.warn(
        { code: ERR_ALERT_OUTBOX_FULL, webhook, moved, maxPending: maxPending(webhook) },
        'alert outbox full: oldest pending alerts moved to dead-letter',
      );
      deps.onOverflow?.(webhook, moved);
    }
    if (rows.length) dispatcher.notify();
  };

  /** Start-up: queue whatever was committed past each node's cursor. */
  const scan = async (): Promise<void> => {
    let repaired = 0;
    let adopt: Array<{ nodeId: string; statusKey: string | null }> = [];
    for await (const { node, cursor, maxChangeSeq } of journal.scan()) {
      const { events, next } = deriveAlerts(cursor, node.nodeId, node, [], now(), ttlSec);
      if (maxChangeSeq <= cursor.driftSeq && events.length === 0 && next.statusKey === cursor.statusKey) continue;
      if (maxChangeSeq <= cursor.driftSeq && events.length === 0) {
        adopt.push({ nodeId: node.nodeId, statusKey: next.statusKey }); // nothing to send: batched
        if (adopt.length >= 500) {
          await journal.adopt(adopt);
          adopt = [];
        }
        continue;
      }
      await reconcile(node.nodeId);
      repaired++;
    }
    await journal.adopt(adopt);
    if (repaired) log.info({ nodes: repaired }, 'alert cursor caught up with the store');
  };

  let chain: Promise<void> = Promise.resolve();
  const run = (what: string, nodeId: string | null, fn: () => Promise<void>) => {
    chain = chain
      .then(fn)
      .catch((err: unknown) =>
        log.error({ err, nodeId, what }, 'alerts could not be queued (retried at the next event for this node or the next start)'),
      );
  };
  run('scan', null, scan);
  const onStatus = (e: CollectorEventMap['status-changed'][0]) => run('status-changed', e.nodeId, () => reconcile(e.nodeId, e.at));
  const onDrift = (e: CollectorEventMap['drift'][0]) => run('drift', e.nodeId, () => reconcile(e.nodeId, e.at));
  const onTrust = (c: TrustChange) => run('status-changed', c.nodeId, () => reconcile(c.nodeId, c.at));
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
