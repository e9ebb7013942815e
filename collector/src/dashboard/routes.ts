import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import { emptyAsAbsent, intString, statusString } from '../http/input.js';
import { HttpError, type Route, route } from '../http/router.js';
import type { Store } from '../store/store.js';
import type { TrustView } from '../trust/cache.js';
import { loadAssets } from './assets.js';
import type { FleetIndex } from './fleet.js';

export const ERR_DASHBOARD_QUERY = 'ERR_DASHBOARD_QUERY';
export const ERR_DASHBOARD_NODE = 'ERR_DASHBOARD_NODE';

/** Strict enough that the page can trust what it is given and an attacker cannot inject scripts. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

function send(res: ServerResponse, type: string, body: string): undefined {
  res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache', ...SECURITY_HEADERS });
  res.end(body);
  return undefined;
}

/** Optional text filters: empty means absent, at most 256 characters. */
const filterText = (name: string) => emptyAsAbsent(z.string().max(256, { error: `${name} is longer than 256 characters` }));

/** GET /v1/dashboard/fleet filters and page. */
const fleetQuery = z.strictObject({
  status: emptyAsAbsent(statusString()),
  code: filterText('code'),
  gpuModel: filterText('gpuModel'),
  driver: filterText('driver'),
  search: filterText('search'),
  offset: emptyAsAbsent(intString('offset', 0, 10_000_000)),
  limit: emptyAsAbsent(intString('limit', 0, 500)),
});

/** The payload of the newest kept JWS (stored after verification), or null. */
function payloadOf(jws: string | null): Record<string, unknown> | null {
  if (!jws) return null;
  try {
    return JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

export interface DashboardRouteDeps {
  store: Store;
  fleet: FleetIndex;
  trust?: { get(nodeId: string): TrustView | null } | undefined;
  isConnected?: ((nodeId: string) => boolean) | undefined;
}

/**
 * The dashboard: the page shell and its assets (public: they hold no data; the page asks for a
 * token) and two read APIs shaped for it (viewer):
 *   GET /v1/dashboard/me          who the token belongs to (the page shows operator actions only to operators)
 *   GET /v1/dashboard/fleet?status&code&gpuModel&driver&search&offset&limit
 *   GET /v1/dashboard/nodes/:id   node, trust, baseline, current inventory, reports, changes, approvals
 * Approve and revoke go to the nodes API (POST /v1/nodes/:id/approve, /revoke; operator).
 */
export function dashboardRoutes(deps: DashboardRouteDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/',
      role: 'public',
      handler: async ({ res }) => send(res, 'text/html; charset=utf-8', (await loadAssets()).html),
    },
    {
      method: 'GET',
      path: '/dashboard/app.js',
      role: 'public',
      handler: async ({ res }) => send(res, 'text/javascript; charset=utf-8', (await loadAssets()).js),
    },
    {
      method: 'GET',
      path: '/dashboard/style.css',
      role: 'public',
      handler: async ({ res }) => send(res, 'text/css; charset=utf-8', (await loadAssets()).css),
    },
    route({
      method: 'GET',
      path: '/v1/dashboard/me',
      role: 'viewer',
      handler: ({ principal }) => ({ name: principal?.name ?? 'anonymous', role: principal?.role ?? 'viewer' }),
    }),
    route({
      method: 'GET',
      path: '/v1/dashboard/fleet',
      role: 'viewer',
      query: fleetQuery,
      codes: { query: ERR_DASHBOARD_QUERY },
      handler: async ({ query }) => {
        await deps.fleet.flush();
        const { offset, limit, ...filters } = query;
        const defined = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined)) as Omit<
          typeof query,
          'offset' | 'limit'
        >;
        return deps.fleet.query({ ...defined, offset: offset ?? 0, limit: limit ?? 50 });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/dashboard/nodes/:id',
      role: 'viewer',
      handler: async ({ params }) => {
        const id = params.id!;
        const node = await deps.store.getNode(id);
        if (!node) throw new HttpError(404, ERR_DASHBOARD_NODE, `no node ${id.slice(0, 100)}`);
        const [baseline, reports, changes, approvals, full] = await Promise.all([
          deps.store.getBaseline(id),
          deps.store.listReports(id, { limit: 50 }),
          deps.store.listChanges(id, { limit: 200 }),
          deps.store.listApprovals(id),
          deps.store.latestFullReport(id),
        ]);
        const current = payloadOf(full?.jws ?? null);
        const { jwk: _jwk, ...rest } = node;
        return {
          node: { ...rest, connected: deps.isConnected ? deps.isConnected(id) : null },
          trust: deps.trust?.get(id) ?? null,
          baseline: baseline
            ? {
                inventoryDigest: baseline.inventoryDigest,
                approvedBy: baseline.approvedBy,
                reason: baseline.reason,
                createdAt: baseline.createdAt,
                pcrs: baseline.pcrs,
              }
            : null,
          inventory: current?.inventory ?? baseline?.inventory ?? null,
          inventoryFrom: current
            ? { seq: full!.seq, receivedAt: full!.receivedAt, digest: full!.inventoryDigest }
            : baseline
              ? { baseline: true, digest: baseline.inventoryDigest }
              : null,
          reports: reports.map((r) => ({
            seq: r.seq,
            receivedAt: r.receivedAt,
            kind: r.kind,
            status: r.status,
            reasons: r.reasons.map((x) => ({ code: x.code, claim: x.claim, detail: x.detail })),
            inventoryDigest: r.inventoryDigest,
            pcrDigest: r.pcrDigest,
          })),
          changes,
          approvals,
        };
      },
    }),
  ];
}
