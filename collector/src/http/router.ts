import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { NodesealError } from '../../../shared/src/errors.js';
import { ERR_HTTP_BODY, ERR_HTTP_PARAMS, ERR_HTTP_QUERY } from './errors.js';

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

/** What a schema route's handler gets: its params, query and body parsed by its schemas. */
export interface TypedContext<P, Q, B> {
  req: IncomingMessage;
  res: ServerResponse;
  principal: Principal | null;
  params: P;
  query: Q;
  body: B;
}

/** Which code an input error answers with, per part; the defaults are ERR_HTTP_PARAMS, ERR_HTTP_QUERY, ERR_HTTP_BODY. */
export interface InputCodes {
  params?: string;
  query?: string;
  body?: string;
}

const ANY_PARAMS = z.record(z.string(), z.string());
/** A route that declares no query takes none: any parameter is refused. */
const NO_QUERY = z.strictObject({});
/** A route that declares no body takes none (an empty object is tolerated: some clients always send one). */
const NO_BODY = z.union([z.undefined(), z.strictObject({})]);

export interface SchemaRouteDef<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: Route['method'];
  path: string;
  role: Route['role'];
  /** Path captures (strings) to their parsed form; default: the strings as they are. */
  params?: P;
  /** The query string as an object (a repeated key is an array); strict schemas refuse unknown keys. */
  query?: Q;
  /** The JSON body (undefined when empty). */
  body?: B;
  codes?: InputCodes;
  handler(ctx: TypedContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<unknown> | unknown;
}

/**
 * A route whose input is parsed by zod schemas before its handler runs: one input-error path,
 * 400 with the part's code (or the code a refinement names in its issue `params.code`, such as
 * ERR_HOSTLIST_SYNTAX) and a message naming the field. The parsing lives in the returned
 * handler, so every caller of Route.handler (the app, test servers) gets it.
 */
export function route<P extends z.ZodType = typeof ANY_PARAMS, Q extends z.ZodType = typeof NO_QUERY, B extends z.ZodType = typeof NO_BODY>(
  def: SchemaRouteDef<P, Q, B>,
): Route {
  const schemas = { params: def.params ?? ANY_PARAMS, query: def.query ?? NO_QUERY, body: def.body ?? NO_BODY };
  const codes = {
    params: def.codes?.params ?? ERR_HTTP_PARAMS,
    query: def.codes?.query ?? ERR_HTTP_QUERY,
    body: def.codes?.body ?? ERR_HTTP_BODY,
  };
  return {
    method: def.method,
    path: def.path,
    role: def.role,
    handler: (ctx) =>
      def.handler({
        req: ctx.req,
        res: ctx.res,
        principal: ctx.principal,
        params: parseInput(schemas.params, ctx.params, 'params', codes.params) as z.output<P>,
        query: parseInput(schemas.query, queryObject(ctx.query), 'query', codes.query) as z.output<Q>,
        body: parseInput(schemas.body, ctx.body, 'body', codes.body) as z.output<B>,
      }),
  };
}

/** The query string as an object: one value is a string, a repeated key an array of them. */
export function queryObject(q: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of q) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/** Parses one part of a request; the first issue becomes a 400 HttpError with a stable code. */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown, part: 'params' | 'query' | 'body', code: string): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const named = issue.code === 'custom' && typeof issue.params?.code === 'string' ? (issue.params.code as string) : null;
  const field = issue.path.map(String).join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys')
    message = `unknown ${part === 'body' ? 'field' : 'parameter'} ${issue.keys.slice(0, 3).join(', ')}`;
  else if (field) message = `${field}: ${message}`;
  throw new HttpError(
    400,
    named ?? code,
    part === 'body' && !field && issue.code !== 'unrecognized_keys' ? `request body: ${message}` : message,
    {
      part,
      ...(field ? { field } : {}),
    },
  );
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
