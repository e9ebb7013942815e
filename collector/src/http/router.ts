import type { IncomingMessage, ServerResponse } from 'node:http';
import { NodesealError } from '../../../shared/src/errors.js';

/**
 * A small HTTP router: exact segments and `:param` captures, JSON in and out, coded errors.
 * Feature modules (nodes API, trust API, dashboard, metrics, auth) each export Route[]; the
 * app (collector/src/app.ts) concatenates them. Roles: viewer < scheduler < operator; `public`
 * routes need no token (health, dashboard shell, metrics when so configured).
 */
export type Role = 'viewer' | 'scheduler' | 'operator';
export const roleRank: Record<Role, number> = { viewer: 1, scheduler: 2, operator: 3 };

export interface Principal {
  name: string;
  role: Role;
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Set by the auth layer before the handler runs; null for public routes without a token. */
  principal: Principal | null;
  /** Parsed JSON body (POST/PUT/PATCH), bounded by maxBodyBytes; undefined when empty. */
  body: unknown;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** e.g. '/v1/nodes/:id/trust' */
  path: string;
  /** Minimum role, or 'public'. */
  role: Role | 'public';
  /**
   * Return a value to send it as JSON with status 200, or `reply(status, body)` for another
   * success status (202 Accepted); return undefined after writing the response yourself
   * (streams, HTML, metrics text). Errors are thrown as HttpError.
   */
  handler(ctx: RequestContext): Promise<unknown> | unknown;
}

export class HttpError extends NodesealError {
  readonly status: number;
  constructor(status: number, code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details ? { details } : {});
    this.status = status;
  }
}

/** A handler's JSON answer with a status other than 200; made by `reply`. */
export class JsonReply {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

/** `return reply(202, body)` from a handler: the router sends `body` as JSON with `status`. */
export function reply(status: number, body: unknown): JsonReply {
  if (!Number.isInteger(status) || status < 200 || status > 299)
    throw new RangeError(`reply status must be 2xx, not ${status}: errors are thrown as HttpError`);
  return new JsonReply(status, body);
}

interface CompiledRoute {
  route: Route;
  segments: string[];
}

export class Router {
  private readonly compiled: CompiledRoute[] = [];

  add(routes: Route[]): this {
    for (const route of routes) this.compiled.push({ route, segments: route.path.split('/').filter(Boolean) });
    return this;
  }

  /** Finds the route for a method and path. `methodMismatch` is true when only the method differs. */
  match(method: string, pathname: string): { route: Route; params: Record<string, string> } | { route: null; methodMismatch: boolean } {
    const parts = pathname.split('/').filter(Boolean);
    let methodMismatch = false;
    for (const c of this.compiled) {
      if (c.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const seg = c.segments[i]!;
        if (seg.startsWith(':')) {
          try {
            params[seg.slice(1)] = decodeURIComponent(parts[i]!);
          } catch {
            ok = false;
          }
        } else ok = seg === parts[i];
      }
      if (!ok) continue;
      if (c.route.method !== method) {
        methodMismatch = true;
        continue;
      }
      return { route: c.route, params };
    }
    return { route: null, methodMismatch };
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}
