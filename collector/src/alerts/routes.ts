import { type Route, route } from '../http/router.js';
import type { AlertOutbox } from './outbox.js';

/**
 * Alert outbox for operators:
 *   GET  /v1/alerts             {pending, dead, deadLetters: newest 100 dead rows with their last error}
 *   POST /v1/alerts/requeue     moves every dead row back to the queue with a fresh attempt budget
 * Neither takes input: a query parameter or body field is refused (ERR_HTTP_QUERY, ERR_HTTP_BODY).
 */
export function alertsRoutes(deps: { outbox: AlertOutbox; notify(): void; now?: () => number }): Route[] {
  const now = deps.now ?? Date.now;
  return [
    route({
      method: 'GET',
      path: '/v1/alerts',
      role: 'operator',
      handler: async () => {
        const [counts, dead] = await Promise.all([deps.outbox.counts(), deps.outbox.listDead(100)]);
        return {
          ...counts,
          deadLetters: dead.map((r) => ({
            id: r.id,
            webhook: r.webhook,
            delivery: r.eventId,
            kind: r.kind,
            nodeId: r.nodeId,
            createdAt: r.createdAt,
            attempts: r.attempts,
            lastError: r.lastError,
            body: r.body,
          })),
        };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/alerts/requeue',
      role: 'operator',
      handler: async () => {
        const requeued = await deps.outbox.requeueDead(now());
        deps.notify();
        return { requeued };
      },
    }),
  ];
}
