import type { Logger } from 'pino';
import type { CollectorEvents } from '../events.js';
import type { Route } from '../http/router.js';
import { EnrollService } from '../enroll/service.js';
import { EnrollStore } from '../enroll/store.js';
import { loadEkCaDir } from '../enroll/ek-cert.js';
import type { NodeRecord } from '../store/store.js';
import type { SqlDb } from '../store/sql.js';
import { auditApprovals } from './audit-events.js';
import { createAuthenticator, type Authenticator } from './authenticator.js';
import { authRoutes } from './routes.js';
import { AuthStore } from './store.js';

/**
 * Wires access control and enrolment for one collector: the authenticator (the app's AuthPort),
 * the enrolment hook for agent hellos, the administration routes, and (once the collector runs)
 * the audit of approvals and the effects of a revocation (status published, connections closed).
 */
export interface AccessControlOptions {
  db: SqlDb;
  logger: Logger;
  /** Lab setting: nodes without an enrolment token are pinned on first contact. */
  allowTofu: boolean;
  /** PEM directory of trusted EK CAs; none: only operator decisions enrol TPMs (or TOFU). */
  ekCaDir: string | null;
  bootstrapToken: string | null;
}

export interface AccessControl {
  auth: Authenticator;
  enroll: EnrollService;
  routes: Route[];
  /** Call once the collector runs: audit approvals, and act on revocations. */
  attach(running: { events: CollectorEvents; closeNode(nodeId: string): void }): () => void;
}

export async function createAccessControl(o: AccessControlOptions): Promise<AccessControl> {
  const authStore = new AuthStore(o.db);
  const enrollStore = new EnrollStore(o.db);
  const anchors = o.ekCaDir ? await loadEkCaDir(o.ekCaDir) : [];
  if (!o.ekCaDir)
    o.logger.warn('no --ek-ca-dir: EK certificates cannot be verified; only operator decisions (or --allow-tofu) enrol nodes');
  if (o.allowTofu) o.logger.warn('--allow-tofu: nodes without an enrolment token are trusted on first use (lab setting)');
  let target: { events: CollectorEvents; closeNode(nodeId: string): void } | null = null;
  const onRevoked = (n: NodeRecord, from: NodeRecord['status'] | null) => {
    if (!target) return;
    target.events.emit('status-changed', {
      nodeId: n.nodeId,
      from,
      to: n.status,
      reasons: n.reasons,
      at: n.revokedAt ?? new Date().toISOString(),
    });
    target.closeNode(n.nodeId);
  };
  return {
    auth: createAuthenticator({ store: authStore, bootstrapToken: o.bootstrapToken, log: o.logger }),
    enroll: new EnrollService({ store: enrollStore, anchors, allowTofu: o.allowTofu, log: o.logger }),
    routes: authRoutes({ auth: authStore, enroll: enrollStore, onRevoked }),
    attach(running) {
      target = running;
      const off = auditApprovals(running.events, authStore, o.logger);
      return () => {
        off();
        target = null;
      };
    },
  };
}
