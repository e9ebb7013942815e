import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { roleRank, type Principal, type Role, type Route } from '../http/router.js';
import { authForbidden, authInvalid, authRequired } from './errors.js';
import type { AuthStore } from './store.js';
import { API_TOKEN_PREFIX, digestsEqual, hashToken, isTokenShaped, parseBearer } from './token.js';

/**
 * Turns an HTTP request into a Principal for the router.
 *
 *   no Authorization header           → null (the route decides: public, or 401 ERR_AUTH_REQUIRED)
 *   malformed, unknown, revoked token → throws 401 ERR_AUTH_INVALID (same message for each)
 *   valid token                       → { name, role }
 *
 * Tokens are looked up by their SHA-256 (never stored or compared in the clear) and the found
 * hash is compared again in constant time. The bootstrap operator token, when configured,
 * is held only as its hash too.
 */
export interface Authenticator {
  authenticate(req: Pick<IncomingMessage, 'headers'>): Promise<Principal | null>;
  /** The role check (see `authorize` below), so the authenticator is the app's whole AuthPort. */
  authorize(route: Pick<Route, 'role'>, principal: Principal | null): void;
}

export interface AuthenticatorOptions {
  store: Pick<AuthStore, 'findTokenByHash' | 'touchToken'>;
  /** A bootstrap operator token (from --bootstrap-token-file or NODESEAL_BOOTSTRAP_TOKEN). */
  bootstrapToken?: string | null;
  now?: () => Date;
  log?: Pick<Logger, 'warn' | 'debug'>;
  /** Minimum ms between last_used_at updates for one token (default 60 s). */
  touchIntervalMs?: number;
}

export const BOOTSTRAP_PRINCIPAL: Principal = { name: 'bootstrap', role: 'operator' };

export function createAuthenticator(opts: AuthenticatorOptions): Authenticator {
  const now = opts.now ?? (() => new Date());
  const bootstrapHash = opts.bootstrapToken ? hashToken(opts.bootstrapToken) : null;
  const touchInterval = opts.touchIntervalMs ?? 60_000;
  const lastTouch = new Map<string, number>();
  return {
    authorize,
    async authenticate(req) {
      const token = parseBearer(req.headers.authorization);
      if (token === null) return null;
      if (token === 'malformed') throw authInvalid();
      const hash = hashToken(token);
      if (bootstrapHash !== null && digestsEqual(hash, bootstrapHash)) return BOOTSTRAP_PRINCIPAL;
      if (!isTokenShaped(token, API_TOKEN_PREFIX)) throw authInvalid();
      const row = await opts.store.findTokenByHash(hash);
      if (!row || !digestsEqual(hash, row.tokenHash) || row.revokedAt !== null) {
        opts.log?.debug({ reason: row ? 'revoked' : 'unknown' }, 'bearer token refused');
        throw authInvalid();
      }
      const t = now().getTime();
      if ((lastTouch.get(row.name) ?? -Infinity) + touchInterval <= t) {
        lastTouch.set(row.name, t);
        opts.store
          .touchToken(row.name, new Date(t).toISOString())
          .catch((e: unknown) => opts.log?.warn({ err: e, token: row.name }, 'cannot record token use'));
      }
      return { name: row.name, role: row.role };
    },
  };
}

/**
 * The role check for one route: public routes pass; otherwise a principal is required
 * (401 ERR_AUTH_REQUIRED) with at least the route's role (403 ERR_AUTH_FORBIDDEN).
 */
export function authorize(route: Pick<Route, 'role'>, principal: Principal | null): void {
  if (route.role === 'public') return;
  if (!principal) throw authRequired();
  if (roleRank[principal.role] < roleRank[route.role as Role]) throw authForbidden(route.role, principal.role);
}

/** Authenticate then authorize, for callers that hold a request and its matched route. */
export async function checkAccess(
  auth: Authenticator,
  req: Pick<IncomingMessage, 'headers'>,
  route: Pick<Route, 'role'>,
): Promise<Principal | null> {
  const principal = await auth.authenticate(req);
  authorize(route, principal);
  return principal;
}
