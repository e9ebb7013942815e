import { expandHostlist, type HostlistLimits } from '../../../shared/src/hostlist.js';
import { isNodesealError } from '../../../shared/src/errors.js';
import { HttpError, type Route } from '../http/router.js';
import type { TrustCache, TrustView } from './cache.js';
import { ERR_TRUST_NODE_UNKNOWN, ERR_TRUST_QUERY } from './errors.js';
import type { TrustWatchHub } from './watch.js';

/**
 * Trust API for schedulers; every answer comes from the in-memory cache.
 *   GET /v1/nodes/:id/trust      → {nodeId, status, reasons, verifiedAt, expiresAt}; 404 for a never-seen node
 *   GET /v1/trust?nodes=EXPR     → {nodes: TrustView[], counts: {trusted, untrusted, unknown, stale}}
 *                                  EXPR is a Slurm hostlist (gpu[001-128],login1); absent = every node.
 *                                  `status=S` keeps only nodes with that status.
 *   GET /v1/trust/watch          → Server-Sent Events (see watch.ts)
 */
export interface TrustRoutesDeps {
  cache: TrustCache;
  watch: TrustWatchHub;
  hostlistLimits?: Partial<HostlistLimits>;
}

const statuses = new Set(['trusted', 'untrusted', 'unknown', 'stale']);

export function parseNodesParam(query: URLSearchParams, limits?: Partial<HostlistLimits>): string[] | null {
  const raw = query.getAll('nodes');
  if (raw.length === 0) return null;
  try {
    return expandHostlist(raw.join(','), limits);
  } catch (e) {
    if (isNodesealError(e)) throw new HttpError(400, e.code, e.message);
    throw e;
  }
}

export function trustRoutes(deps: TrustRoutesDeps): Route[] {
  const { cache, watch } = deps;
  return [
    {
      method: 'GET',
      path: '/v1/nodes/:id/trust',
      role: 'viewer',
      handler: ({ params }) => {
        const view = cache.get(params.id!);
        if (!view) throw new HttpError(404, ERR_TRUST_NODE_UNKNOWN, 'no such node');
        return view;
      },
    },
    {
      method: 'GET',
      path: '/v1/trust',
      role: 'viewer',
      handler: ({ query }) => {
        const names = parseNodesParam(query, deps.hostlistLimits);
        const status = query.get('status');
        if (status !== null && !statuses.has(status))
          throw new HttpError(400, ERR_TRUST_QUERY, 'status must be trusted, untrusted, unknown or stale');
        let nodes: TrustView[] = names ? names.map((n) => cache.getOrUnknown(n)) : cache.all();
        if (status) nodes = nodes.filter((n) => n.status === status);
        const counts = { trusted: 0, untrusted: 0, unknown: 0, stale: 0 };
        for (const n of nodes) counts[n.status]++;
        return { nodes, counts };
      },
    },
    {
      method: 'GET',
      path: '/v1/trust/watch',
      role: 'viewer',
      handler: ({ query, res, principal }) => {
        const names = parseNodesParam(query, deps.hostlistLimits);
        const snap = query.get('snapshot');
        watch.open(res, names ? new Set(names) : null, snap === '1' || snap === 'true', principal?.name ?? null);
        return undefined;
      },
    },
  ];
}
