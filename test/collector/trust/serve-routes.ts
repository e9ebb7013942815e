import { createServer } from 'node:http';
import { HttpError, Router, sendError, sendJson, type Route } from '../../../collector/src/http/router.js';
import { listenOnLoopback, type LoopbackServer } from '../../helpers/net.js';

/**
 * A real HTTP server on 127.0.0.1:0 that dispatches feature routes through the collector's
 * Router (no auth layer): used by feature tests until they run inside buildApp.
 */
export async function serveRoutes(routes: Route[]): Promise<LoopbackServer> {
  const router = new Router().add(routes);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = router.match(req.method ?? 'GET', url.pathname);
    if (!m.route) return sendError(res, m.methodMismatch ? 405 : 404, 'ERR_NOT_FOUND', 'no route');
    Promise.resolve()
      .then(() => m.route.handler({ req, res, params: m.params, query: url.searchParams, principal: null, body: undefined }))
      .then(
        (v) => {
          if (v !== undefined) sendJson(res, 200, v);
        },
        (e: unknown) => {
          if (e instanceof HttpError) sendError(res, e.status, e.code, e.message);
          else sendError(res, 500, 'ERR_INTERNAL', String(e));
        },
      );
  });
  return listenOnLoopback(server);
}
