import { HttpError, type Principal, type Role, type Route } from '../http/router.js';
import type { CollectorEvents } from '../events.js';
import type { NodeRecord } from '../store/store.js';
import type { EnrollStore } from '../enroll/store.js';
import { createEnrollToken } from '../enroll/create-token.js';
import { ERR_AUTH_NODE_UNKNOWN, ERR_AUTH_TOKEN_INPUT, ERR_AUTH_TOKEN_UNKNOWN } from './errors.js';
import type { AuthStore } from './store.js';
import { createApiToken } from './create-token.js';

/**
 * Access-control and enrolment administration API (all operator):
 *   GET  /v1/audit?target=&action=&before=&limit=   audit log, newest first
 *   POST /v1/nodes/:id/revoke {reason}               node untrusted until it enrols again
 *   POST /v1/nodes/:id/ek-decision {ekName, reason}  allow one TPM without EK certificate to enrol
 *   GET  /v1/tokens, POST /v1/tokens {name, role, reason?}, POST /v1/tokens/:name/revoke {reason}
 *   POST /v1/enroll-tokens {nodes?, ttl?, uses?, reason?}
 * Created tokens are in the response once and never again.
 */
export interface AuthRoutesDeps {
  auth: AuthStore;
  enroll: EnrollStore;
  events?: CollectorEvents;
  now?: () => Date;
  /** Called after a revocation commits (close the node's connections, refresh caches). */
  onRevoked?: (node: NodeRecord, from: NodeRecord['status'] | null) => void;
}

function body(b: unknown): Record<string, unknown> {
  if (b === undefined) return {};
  if (b === null || typeof b !== 'object' || Array.isArray(b))
    throw new HttpError(400, ERR_AUTH_TOKEN_INPUT, 'request body must be a JSON object');
  return b as Record<string, unknown>;
}

function text(v: unknown, field: string, opts: { required?: boolean; max?: number } = {}): string | undefined {
  if (v === undefined || v === null) {
    if (opts.required) throw new HttpError(400, ERR_AUTH_TOKEN_INPUT, `${field} is required`);
    return undefined;
  }
  if (typeof v !== 'string' || v.length > (opts.max ?? 1000) || (opts.required && v.trim() === ''))
    throw new HttpError(400, ERR_AUTH_TOKEN_INPUT, `${field} must be a string of at most ${opts.max ?? 1000} characters`);
  return v;
}

function only(b: Record<string, unknown>, allowed: string[]): void {
  const extra = Object.keys(b).filter((k) => !allowed.includes(k));
  if (extra.length) throw new HttpError(400, ERR_AUTH_TOKEN_INPUT, `unknown field ${extra[0]}`);
}

const actor = (p: Principal | null) => `token:${p?.name ?? 'anonymous'}`;

export function authRoutes(deps: AuthRoutesDeps): Route[] {
  const now = deps.now ?? (() => new Date());
  return [
    {
      method: 'GET',
      path: '/v1/audit',
      role: 'operator',
      handler: async ({ query }) => {
        const limit = query.get('limit');
        const before = query.get('before');
        if ((limit !== null && !/^\d{1,4}$/.test(limit)) || (before !== null && !/^\d{1,15}$/.test(before)))
          throw new HttpError(400, ERR_AUTH_TOKEN_INPUT, 'limit and before must be whole numbers');
        const entries = await deps.auth.listAudit({
          ...(query.get('target') !== null ? { target: query.get('target')! } : {}),
          ...(query.get('action') !== null ? { action: query.get('action')! } : {}),
          ...(before !== null ? { beforeId: Number(before) } : {}),
          ...(limit !== null ? { limit: Number(limit) } : {}),
        });
        return { entries };
      },
    },
    {
      method: 'POST',
      path: '/v1/nodes/:id/revoke',
      role: 'operator',
      handler: async ({ params, body: raw, principal }) => {
        const b = body(raw);
        only(b, ['reason']);
        const reason = text(b.reason, 'reason', { required: true })!;
        const at = now().toISOString();
        const done = await deps.enroll.revokeNode(params.id!, actor(principal), reason, at);
        if (!done) throw new HttpError(404, ERR_AUTH_NODE_UNKNOWN, 'no such node');
        const { node } = done;
        deps.events?.emit('status-changed', { nodeId: node.nodeId, from: done.from, to: 'untrusted', reasons: node.reasons, at });
        deps.onRevoked?.(node, done.from);
        return { nodeId: node.nodeId, status: node.status, reasons: node.reasons, revokedAt: node.revokedAt };
      },
    },
    {
      method: 'POST',
      path: '/v1/nodes/:id/ek-decision',
      role: 'operator',
      handler: async ({ params, body: raw, principal }) => {
        const b = body(raw);
        only(b, ['ekName', 'reason']);
        const ekName = text(b.ekName, 'ekName', { required: true, max: 200 })!;
        if (!/^(000b[0-9a-f]{64}|000c[0-9a-f]{96}|000d[0-9a-f]{128}|0004[0-9a-f]{40})$/.test(ekName))
          throw new HttpError(400, ERR_AUTH_TOKEN_INPUT, 'ekName must be the hex TPM Name of the EK');
        const reason = text(b.reason, 'reason', { required: true })!;
        const at = now().toISOString();
        await deps.enroll.recordEkDecision({ nodeId: params.id!, ekName, actor: actor(principal), reason, at });
        return { nodeId: params.id!, ekName, decidedAt: at };
      },
    },
    {
      method: 'GET',
      path: '/v1/tokens',
      role: 'operator',
      handler: async () => ({
        tokens: (await deps.auth.listTokens()).map((t) => ({
          name: t.name,
          role: t.role,
          createdAt: t.createdAt,
          createdBy: t.createdBy,
          revokedAt: t.revokedAt,
          lastUsedAt: t.lastUsedAt,
        })),
        enrollTokens: (await deps.enroll.listTokens()).map((t) => ({
          tokenId: t.tokenId,
          nodes: t.nodeGlob,
          expiresAt: t.expiresAt,
          usesLeft: t.usesLeft,
          maxUses: t.maxUses,
          createdBy: t.createdBy,
          revokedAt: t.revokedAt,
        })),
      }),
    },
    {
      method: 'POST',
      path: '/v1/tokens',
      role: 'operator',
      handler: async ({ body: raw, principal }) => {
        const b = body(raw);
        only(b, ['name', 'role', 'reason']);
        const created = await createApiToken(deps.auth, {
          name: text(b.name, 'name', { required: true, max: 64 })!,
          role: text(b.role, 'role', { required: true, max: 16 }) as Role,
          actor: actor(principal),
          reason: text(b.reason, 'reason') ?? 'created through the API',
          now: now(),
        });
        return created;
      },
    },
    {
      method: 'POST',
      path: '/v1/tokens/:name/revoke',
      role: 'operator',
      handler: async ({ params, body: raw, principal }) => {
        const b = body(raw);
        only(b, ['reason']);
        const reason = text(b.reason, 'reason', { required: true })!;
        if (!(await deps.auth.revokeToken(params.name!, actor(principal), reason, now().toISOString())))
          throw new HttpError(404, ERR_AUTH_TOKEN_UNKNOWN, 'no live token with this name');
        return { name: params.name!, revoked: true };
      },
    },
    {
      method: 'POST',
      path: '/v1/enroll-tokens',
      role: 'operator',
      handler: async ({ body: raw, principal }) => {
        const b = body(raw);
        only(b, ['nodes', 'ttl', 'uses', 'reason']);
        const uses = b.uses === undefined ? undefined : typeof b.uses === 'number' ? String(b.uses) : 'x';
        return createEnrollToken(deps.enroll, {
          nodes: text(b.nodes, 'nodes', { max: 1024 }) ?? '*',
          ttl: text(b.ttl, 'ttl', { max: 16 }) ?? '1h',
          uses: uses ?? '1',
          actor: actor(principal),
          reason: text(b.reason, 'reason') ?? 'created through the API',
          now: now(),
        });
      },
    },
  ];
}
