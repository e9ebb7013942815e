import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { isNodesealError, ERR_INTERNAL } from '../../shared/src/errors.js';
import { defaultCollectorConfig, type CollectorConfig } from './config.js';
import type { CollectorEvents } from './events.js';
import {
  HttpError,
  JsonReply,
  roleRank,
  Router,
  sendError,
  sendJson,
  type Principal,
  type RequestContext,
  type Route,
} from './http/router.js';
import type { Logger } from './logger.js';
import { nodesRoutes } from './api/nodes.js';
import type { EvidencePorts } from './pipeline/verify-report.js';
import type { ReportVerifier } from './pipeline/verify-pool.js';
import type { Store } from './store/store.js';
import { AcceptanceService, type Clock, type EnrollHook, systemClock } from './accept/index.js';
import { AgentHub } from './ws/hub.js';
import { createUpgradeHandler, type UpgradeCheck } from './ws/upgrade.js';

import {
  ERR_HTTP_BODY,
  ERR_HTTP_BODY_TOO_LARGE,
  ERR_HTTP_FORBIDDEN,
  ERR_HTTP_METHOD,
  ERR_HTTP_NOT_FOUND,
  ERR_HTTP_UNAUTHORIZED,
} from './http/errors.js';

export { ERR_HTTP_NOT_FOUND, ERR_HTTP_METHOD, ERR_HTTP_BODY, ERR_HTTP_BODY_TOO_LARGE, ERR_HTTP_UNAUTHORIZED, ERR_HTTP_FORBIDDEN };

/** Access control port: who is asking. When absent every request is allowed (as an operator). */
export interface AuthPort {
  authenticate(req: IncomingMessage): Promise<Principal | null> | Principal | null;
  /** Optional role check with the access-control module's own codes; the default is roleRank. */
  authorize?(route: Pick<Route, 'role'>, principal: Principal | null): void;
  /** Optional extra check on agent WebSocket upgrades. */
  checkUpgrade?: UpgradeCheck;
}

/** What feature modules get to build their routes: the shared parts of the running collector. */
export interface AppContext {
  store: Store;
  events: CollectorEvents;
  logger: Logger;
  /** The agent WebSockets of this collector (transport). */
  hub: AgentHub;
  /** Report acceptance: hello, reports, challenges, approval, closing a revoked node's connections. */
  accept: AcceptanceService;
  /** Cluster mode: this collector's place in the fleet (set once it joined), shown by /healthz. */
  cluster: { collectorId: string; leaderId(): string | null; feedLagMs(): number } | null;
  config: CollectorConfig;
  ports: EvidencePorts;
  startedAt: Date;
}

export interface AppDeps {
  store: Store;
  events: CollectorEvents;
  logger: Logger;
  ports: EvidencePorts;
  /** Where reports are verified (pipeline/verify-pool.ts); default: in this thread with `ports`. */
  verifier?: ReportVerifier;
  config?: Partial<CollectorConfig>;
  auth?: AuthPort;
  enroll?: EnrollHook;
  /** Routes of other features (trust, dashboard, metrics, live ...); matched before the nodes API. */
  routes?: Array<Route[] | ((app: AppContext) => Route[])>;
  now?: () => Date;
  nonce?: () => string;
}

export interface App extends AppContext {
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): void;
}

const ANONYMOUS: Principal = { name: 'anonymous', role: 'operator' };

async function readBody(req: IncomingMessage, max: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) throw new HttpError(413, ERR_HTTP_BODY_TOO_LARGE, `request body larger than ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) throw new HttpError(413, ERR_HTTP_BODY_TOO_LARGE, `request body larger than ${max} bytes`);
    chunks.push(c as Buffer);
  }
  if (size === 0) return undefined;
  const type = String(req.headers['content-type'] ?? 'application/json');
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, ERR_HTTP_BODY, 'request body must be application/json');
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, ERR_HTTP_BODY, 'request body is not valid JSON');
  }
}

/**
 * Builds the collector: an HTTP request handler (JSON API through the router, with the
 * injectable access-control port) and the WebSocket upgrade handler for agents. Does not
 * listen: server.ts does, tests call the handlers through their own loopback servers.
 */
export function buildApp(deps: AppDeps): App {
  const config: CollectorConfig = { ...defaultCollectorConfig(), ...deps.config };
  const accept = new AcceptanceService({
    store: deps.store,
    events: deps.events,
    logger: deps.logger,
    ports: deps.ports,
    config,
    ...(deps.enroll ? { enroll: deps.enroll } : {}),
    ...(deps.verifier ? { verifier: deps.verifier } : {}),
    ...(deps.now ? { clock: clockFrom(deps.now) } : {}),
    ...(deps.nonce ? { nonce: deps.nonce } : {}),
  });
  const hub = new AgentHub({ accept, events: deps.events, logger: deps.logger, config });
  const ctx: AppContext = {
    store: deps.store,
    events: deps.events,
    logger: deps.logger,
    hub,
    accept,
    cluster: null,
    config,
    ports: deps.ports,
    startedAt: new Date(),
  };
  const router = new Router();
  for (const r of deps.routes ?? []) router.add(typeof r === 'function' ? r(ctx) : r);
  router.add(nodesRoutes(ctx));
  const upgrade = createUpgradeHandler(hub, {
    maxPayloadBytes: config.maxPayloadBytes,
    maxConnections: config.maxConnections,
    ...(deps.auth?.checkUpgrade ? { check: deps.auth.checkUpgrade } : {}),
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://collector.invalid');
    const m = router.match(req.method ?? 'GET', url.pathname);
    if (!m.route) {
      if (m.methodMismatch) throw new HttpError(405, ERR_HTTP_METHOD, `method ${req.method} not allowed here`);
      throw new HttpError(404, ERR_HTTP_NOT_FOUND, 'no such endpoint');
    }
    let principal: Principal | null = deps.auth ? null : ANONYMOUS;
    if (deps.auth) {
      if (m.route.role === 'public') principal = await Promise.resolve(deps.auth.authenticate(req)).catch(() => null);
      else principal = await deps.auth.authenticate(req);
    }
    if (deps.auth?.authorize) deps.auth.authorize(m.route, principal);
    else if (m.route.role !== 'public') {
      if (!principal) throw new HttpError(401, ERR_HTTP_UNAUTHORIZED, 'a bearer token is required');
      if (roleRank[principal.role] < roleRank[m.route.role])
        throw new HttpError(403, ERR_HTTP_FORBIDDEN, `this needs the ${m.route.role} role`);
    }
    const body =
      req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH' ? await readBody(req, config.maxBodyBytes) : undefined;
    const rc: RequestContext = { req, res, params: m.params, query: url.searchParams, principal, body };
    const out = await m.route.handler(rc);
    if (out === undefined || res.headersSent) return;
    if (out instanceof JsonReply) sendJson(res, out.status, out.body);
    else sendJson(res, 200, out);
  }

  const app: App = {
    ...ctx,
    handleRequest(req, res) {
      handle(req, res).catch((e: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (e instanceof HttpError) return sendError(res, e.status, e.code, e.message);
        if (isNodesealError(e)) return sendError(res, 400, e.code, e.message);
        deps.logger.error({ err: (e as Error)?.message, stack: (e as Error)?.stack, url: req.url }, 'request failed');
        sendError(res, 500, ERR_INTERNAL, 'internal error');
      });
    },
    handleUpgrade: upgrade.handler,
    close() {
      hub.close();
      accept.close();
      upgrade.wss.close();
    },
  };
  // Set once the collector joined its fleet (after listening); the routes read it through ctx.
  Object.defineProperty(app, 'cluster', {
    get: () => ctx.cluster,
    set: (v: AppContext['cluster']) => {
      ctx.cluster = v;
    },
  });
  return app;
}

/** A clock reading `now` (tests pin the time), with real timers. */
function clockFrom(now: () => Date): Clock {
  return { now: () => now().getTime(), setTimer: systemClock.setTimer };
}
