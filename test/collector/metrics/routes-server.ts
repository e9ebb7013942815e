import { createServer } from 'node:http';
import { HttpError, roleRank, Router, sendError, type Principal, type Route } from '../../../collector/src/http/router.js';
import { listenOnLoopback, type LoopbackServer } from '../../helpers/net.js';

/**
 * A real HTTP server on 127.0.0.1 serving Route[] through the project's Router, with bearer
 * tokens mapped to principals. Used until tests can start the collector's own app.
 */
export async function serveRoutes(routes: Route[], tokens: Record<string, Principal> = {}): Promise<LoopbackServer> {
  const router = new Router().add(routes);
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = router.match(req.method ?? 'GET', url.pathname);
    if (!m.route)
      return sendError(res, m.methodMismatch ? 405 : 404, m.methodMismatch ? 'ERR_HTTP_METHOD' : 'ERR_HTTP_NOT_FOUND', 'no such route');
    const auth = req.headers.authorization;
    const principal = auth?.startsWith('Bearer ') ? (tokens[auth.slice(7)] ?? null) : null;
    if (auth && !principal) return sendError(res, 401, 'ERR_AUTH_TOKEN', 'bad token');
    if (m.route.role !== 'public') {
      if (!principal) return sendError(res, 401, 'ERR_AUTH_REQUIRED', 'token required');
      if (roleRank[principal.role] < roleRank[m.route.role]) return sendError(res, 403, 'ERR_AUTH_FORBIDDEN', 'role too low');
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: unknown;
    try {
      body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    } catch {
      return sendError(res, 400, 'ERR_SCHEMA', 'invalid JSON');
    }
    try {
      const out = await m.route.handler({ req, res, params: m.params, query: url.searchParams, principal, body });
      if (out !== undefined && !res.headersSent) {
        const text = JSON.stringify(out);
        res.writeHead(200, { 'content-type': 'application/json' }).end(text);
      }
    } catch (e) {
      if (res.headersSent) return void res.destroy();
      if (e instanceof HttpError) return sendError(res, e.status, e.code, e.message);
      sendError(res, 500, 'ERR_INTERNAL', (e as Error).message);
    }
  });
  return listenOnLoopback(server);
}
