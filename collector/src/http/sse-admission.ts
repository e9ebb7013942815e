import { type Principal, type Role, roleRank } from './router.js';

/**
 * Who may open one more event stream: a pure rule over the counts the SSE server keeps.
 *
 * - One principal (token) holds at most `maxPerToken` streams, so one leaked or runaway viewer
 *   token cannot take every slot.
 * - Of `maxStreams`, `reserved` slots are kept for principals of at least `reservedFor`
 *   (operators on the dashboard stream): everyone else together holds at most
 *   maxStreams − reserved, so the people who must act can still watch while everyone else has
 *   filled their share. Privileged principals may use any free slot.
 * A request without a principal (no access control) has no per-token count and no reserve.
 */
export interface StreamLimits {
  maxStreams: number;
  maxPerToken: number;
  reserved: number;
  reservedFor: Role;
  /** What a refusal answers: collector full, and this token's share used up. */
  full: { status: number; code: string };
  perToken: { status: number; code: string };
}

export type Admission = { ok: true } | { ok: false; status: number; code: string; message: string };

export interface StreamCounts {
  /** Streams open now. */
  total: number;
  /** Of those, streams held by principals below `reservedFor` (or without a principal). */
  unprivileged: number;
  /** Streams this principal holds. */
  forToken: number;
}

/** Whether a principal may use the reserved slots. */
export function isPrivileged(limits: Pick<StreamLimits, 'reservedFor'>, principal: Principal | null): boolean {
  return principal !== null && roleRank[principal.role] >= roleRank[limits.reservedFor];
}

export function admitStream(limits: StreamLimits, counts: StreamCounts, principal: Principal | null): Admission {
  if (principal && counts.forToken >= limits.maxPerToken) {
    return { ok: false, ...limits.perToken, message: `this token already holds ${counts.forToken} streams (limit ${limits.maxPerToken})` };
  }
  if (counts.total >= limits.maxStreams) return { ok: false, ...limits.full, message: `too many streams (limit ${limits.maxStreams})` };
  const share = limits.maxStreams - limits.reserved;
  if (!isPrivileged(limits, principal) && counts.unprivileged >= share) {
    return {
      ok: false,
      ...limits.full,
      message: `too many streams (limit ${share}; ${limits.reserved} more are kept for ${limits.reservedFor} tokens)`,
    };
  }
  return { ok: true };
}
