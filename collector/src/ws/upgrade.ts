import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { isNodesealError } from '../../../shared/src/errors.js';
import { WS_PATH, WS_SUBPROTOCOL } from '../../../shared/src/report/types.js';
import { HttpError } from '../http/router.js';
import { ERR_WS_CAPACITY, ERR_WS_ORIGIN, ERR_WS_PATH, ERR_WS_SUBPROTOCOL } from './errors.js';
import type { AgentHub } from './hub.js';

/** An extra check on agent upgrades (access control); throw an HttpError to refuse. */
export type UpgradeCheck = (req: IncomingMessage) => Promise<void> | void;

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  const reason =
    status === 404
      ? 'Not Found'
      : status === 403
        ? 'Forbidden'
        : status === 401
          ? 'Unauthorized'
          : status === 503
            ? 'Service Unavailable'
            : 'Bad Request';
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * The `upgrade` handler for the agent endpoint. Every check runs before ws.handleUpgrade:
 * path, subprotocol, no browser Origin, capacity, and the optional access-control check.
 * The ws server runs with noServer, no compression, and the configured max payload.
 */
export function createUpgradeHandler(hub: AgentHub, opts: { maxPayloadBytes: number; maxConnections: number; check?: UpgradeCheck }) {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayloadBytes,
    perMessageDeflate: false,
    clientTracking: false,
    handleProtocols: (protocols) => (protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
  });
  const handler = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    void (async () => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== WS_PATH) return refuse(socket, 404, ERR_WS_PATH, `no WebSocket endpoint at this path (use ${WS_PATH})`);
      const protocols = String(req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((p) => p.trim());
      if (!protocols.includes(WS_SUBPROTOCOL)) return refuse(socket, 400, ERR_WS_SUBPROTOCOL, `subprotocol ${WS_SUBPROTOCOL} required`);
      if (req.headers.origin !== undefined) return refuse(socket, 403, ERR_WS_ORIGIN, 'browser origins may not open agent connections');
      if (hub.connectionCount >= opts.maxConnections) return refuse(socket, 503, ERR_WS_CAPACITY, 'too many agent connections');
      if (opts.check) {
        try {
          await opts.check(req);
        } catch (e) {
          if (e instanceof HttpError) return refuse(socket, e.status, e.code, e.message);
          if (isNodesealError(e)) return refuse(socket, 403, e.code, e.message);
          throw e;
        }
      }
      wss.handleUpgrade(req, socket, head, (ws) => hub.accept(ws, req));
    })().catch(() => socket.destroy());
  };
  return { handler, wss };
}
