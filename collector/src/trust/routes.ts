import { z } from 'zod';
import type { HostlistLimits } from '../../../shared/src/hostlist.js';
import { flagString, hostlistString, statusString } from '../http/input.js';
import { HttpError, type Route, route } from '../http/router.js';
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
 * Queries are parsed by schemas (unknown parameters refused with ERR_TRUST_QUERY; hostlist
 * errors keep their own codes, ERR_HOSTLIST_SYNTAX and ERR_HOSTLIST_TOO_LARGE).
 */
export interface TrustRoutesDeps {
  cache: TrustCache;
  watch: TrustWatchHub;
  hostlistLimits?: Partial<HostlistLimits>;
}

export function trustRoutes(deps: TrustRoutesDeps): Route[] {
  const { cache, watch } = deps;
  const codes = { query: ERR_TRUST_QUERY };
  const nodes = hostlistString(deps.hostlistLimits).optional();
  return [
    route({
      method: 'GET',
      path: '/v1/nodes/:id/trust',
      role: 'viewer',
      codes,
      handler: ({ params }) => {
        const view = cache.get(params.id!);
        if (!view) throw new HttpError(404, ERR_TRUST_NODE_UNKNOWN, 'no such node');
        return view;
      },
    }),
    route({
      method: 'GET',
      path: '/v1/trust',
      role: 'viewer',
      query: z.strictObject({ nodes, status: statusString().optional() }),
      codes,
      handler: ({ query }) => {
        let list: TrustView[] = query.nodes ? query.nodes.map((n) => cache.getOrUnknown(n)) : cache.all();
        if (query.status) list = list.filter((n) => n.status === query.status);
        const counts = { trusted: 0, untrusted: 0, unknown: 0, stale: 0 };
        for (const n of list) counts[n.status]++;
        return { nodes: list, counts };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/trust/watch',
      role: 'viewer',
      query: z.strictObject({ nodes, snapshot: flagString('snapshot').default(false) }),
      codes,
      handler: ({ req, res, query, principal }) => {
        watch.open(req, res, { filter: query.nodes ? new Set(query.nodes) : null, snapshot: query.snapshot, principal });
        return undefined;
      },
    }),
  ];
}
