import type { Logger } from 'pino';
import type { CollectorEvents } from '../events.js';
import type { AuthStore } from './store.js';

/**
 * Records approvals published on the event bus (by the nodes API) in the audit log, so every
 * approval has its actor and reason there too. Returns the detach function.
 */
export function auditApprovals(events: CollectorEvents, store: Pick<AuthStore, 'audit'>, log?: Pick<Logger, 'error'>): () => void {
  const onApproved = (e: { nodeId: string; actor: string; reason: string; at: string }) => {
    store
      .audit({ at: e.at, actor: e.actor, action: 'node.approve', target: `node:${e.nodeId}`, reason: e.reason, details: null })
      .catch((err: unknown) =>
        log?.error({ err: (err as Error).message, nodeId: e.nodeId }, 'cannot write the audit entry of an approval'),
      );
  };
  events.on('approved', onApproved);
  return () => events.off('approved', onApproved);
}
