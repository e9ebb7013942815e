import { type Principal, type Role, roleRank } from './router.js';

/**
 * Who may open one more event stream: a pure rule over the counts the SSE server keeps.
 *
 * - One principal (token) holds at most `maxPerToken` streams, so one leaked or runaway viewer
 *   token cannot take every slot.
 * - Of `maxStreams`, the last `reserved` slots are kept for principals of at least
 *   `reservedFor` (operators on the dashboard stream), so the people who must act can still
 *   watch while everyone else has filled the rest.
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

export function admitStream(limits: StreamLimits, counts: { total: number; forToken: number }, principal: Principal | null): Admission {
  if (principal && counts.forToken >= limits.maxPerToken) {
    return { ok: false, ...limits.perToken, message: `this token already holds ${counts.forToken} streams (limit ${limits.maxPerToken})` };
  }
  const privileged = principal !== null && roleRank[principal.role] >= roleRank[limits.reservedFor];
  const cap = privileged ? limits.maxStreams : limits.maxStreams - limits.reserved;
  if (counts.total >= cap) {
    const why =
      privileged || limits.reserved === 0
        ? `too many streams (limit ${limits.maxStreams})`
        : `too many streams (limit ${cap}; ${limits.reserved} more are kept for ${limits.reservedFor} tokens)`;
    return { ok: false, ...limits.full, message: why };
  }
  return { ok: true };
}
