import { z } from 'zod';
import { HttpError, type Principal, type Route, route } from '../http/router.js';
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

/** A required text field: 1..max characters, not only white space; a missing one says so. */
function required(field: string, max = 1000) {
  const msg = `${field} must be a string of at most ${max} characters`;
  return z
    .string({ error: (iss) => (iss.input === undefined || iss.input === null ? `${field} is required` : msg) })
    .max(max, { error: msg })
    .refine((v) => v.trim() !== '', { error: `${field} is required` });
}

/** An optional text field (null counts as absent). */
function optional(field: string, max = 1000) {
  const msg = `${field} must be a string of at most ${max} characters`;
  return z
    .string({ error: msg })
    .max(max, { error: msg })
    .nullish()
    .transform((v) => v ?? undefined);
}

const EK_NAME = /^(000b[0-9a-f]{64}|000c[0-9a-f]{96}|000d[0-9a-f]{128}|0004[0-9a-f]{40})$/;
const reasonBody = z.strictObject({ reason: required('reason') }, { error: 'request body must be a JSON object' });
const codes = { query: ERR_AUTH_TOKEN_INPUT, body: ERR_AUTH_TOKEN_INPUT };
const wholeNumber = (digits: number) =>
  z
    .string()
    .regex(new RegExp(`^\\d{1,${digits}}$`), { error: 'limit and before must be whole numbers' })
    .transform(Number)
    .optional();

const actor = (p: Principal | null) => `token:${p?.name ?? 'anonymous'}`;

export function authRoutes(deps: AuthRoutesDeps): Route[] {
  const now = deps.now ?? (() => new Date());
  return [
    route({
      method: 'GET',
      path: '/v1/audit',
      role: 'operator',
      query: z.strictObject({
        target: z.string().max(1000).optional(),
        action: z.string().max(100).optional(),
        before: wholeNumber(15),
        limit: wholeNumber(4),
      }),
      codes,
      handler: async ({ query }) => {
        const entries = await deps.auth.listAudit({
          ...(query.target !== undefined ? { target: query.target } : {}),
          ...(query.action !== undefined ? { action: query.action } : {}),
          ...(query.before !== undefined ? { beforeId: query.before } : {}),
          ...(query.limit !== undefined ? { limit: query.limit } : {}),
        });
        return { entries };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/nodes/:id/revoke',
      role: 'operator',
      body: reasonBody,
      codes,
      handler: async ({ params, body: { reason }, principal }) => {
        const at = now().toISOString();
        const done = await deps.enroll.revokeNode(params.id!, actor(principal), reason, at);
        if (!done) throw new HttpError(404, ERR_AUTH_NODE_UNKNOWN, 'no such node');
        const { node } = done;
        deps.events?.emit('status-changed', { nodeId: node.nodeId, from: done.from, to: 'untrusted', reasons: node.reasons, at });
        deps.onRevoked?.(node, done.from);
        return { nodeId: node.nodeId, status: node.status, reasons: node.reasons, revokedAt: node.revokedAt };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/nodes/:id/ek-decision',
      role: 'operator',
      body: z.strictObject(
        {
          ekName: required('ekName', 200).refine((v) => EK_NAME.test(v), { error: 'ekName must be the hex TPM Name of the EK' }),
          reason: required('reason'),
        },
        { error: 'request body must be a JSON object' },
      ),
      codes,
      handler: async ({ params, body: { ekName, reason }, principal }) => {
        const at = now().toISOString();
        await deps.enroll.recordEkDecision({ nodeId: params.id!, ekName, actor: actor(principal), reason, at });
        return { nodeId: params.id!, ekName, decidedAt: at };
      },
    }),
    route({
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
    }),
    route({
      method: 'POST',
      path: '/v1/tokens',
      role: 'operator',
      body: z.strictObject(
        {
          name: required('name', 64),
          role: z.enum(['viewer', 'scheduler', 'operator'], { error: 'role must be viewer, scheduler or operator' }),
          reason: optional('reason'),
        },
        { error: 'request body must be a JSON object' },
      ),
      codes,
      handler: async ({ body: b, principal }) => {
        const created = await createApiToken(deps.auth, {
          name: b.name,
          role: b.role,
          actor: actor(principal),
          reason: b.reason ?? 'created through the API',
          now: now(),
        });
        return created;
      },
    }),
    route({
      method: 'POST',
      path: '/v1/tokens/:name/revoke',
      role: 'operator',
      body: reasonBody,
      codes,
      handler: async ({ params, body: { reason }, principal }) => {
        if (!(await deps.auth.revokeToken(params.name!, actor(principal), reason, now().toISOString())))
          throw new HttpError(404, ERR_AUTH_TOKEN_UNKNOWN, 'no live token with this name');
        return { name: params.name!, revoked: true };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/enroll-tokens',
      role: 'operator',
      // Empty body: one single-use token for any node, valid one hour.
      body: z
        .strictObject(
          {
            nodes: optional('nodes', 1024),
            ttl: optional('ttl', 16),
            uses: z.number({ error: 'uses must be a number' }).optional(),
            reason: optional('reason'),
          },
          { error: 'request body must be a JSON object' },
        )
        .optional(),
      codes,
      handler: async ({ body: b, principal }) =>
        createEnrollToken(deps.enroll, {
          nodes: b?.nodes ?? '*',
          ttl: b?.ttl ?? '1h',
          uses: b?.uses === undefined ? '1' : String(b.uses),
          actor: actor(principal),
          reason: b?.reason ?? 'created through the API',
          now: now(),
        }),
    }),
  ];
}
