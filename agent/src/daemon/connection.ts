import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { isNodesealError } from '../../../shared/src/errors.js';
import { type AgentMessage, type CollectorMessage, WS_PATH, WS_SUBPROTOCOL } from '../../../shared/src/protocol/messages.js';
import { parseCollectorMessage, parseJsonFrame } from '../../../shared/src/report/schema.js';
import type { Timers } from './clock.js';
import { type CloseCause, closeCause, type Ending } from './close-cause.js';
import { ERR_AGENT_HEARTBEAT } from './errors.js';

export interface ConnectionEvents {
  open: [];
  message: [msg: CollectorMessage];
  /** Exactly once per connection, with what ended it and where the next attempt should go. */
  closed: [cause: CloseCause];
}

/** The largest upgrade-refusal body read for its error code. */
const MAX_REFUSAL_BODY = 4096;

/**
 * The socket shell: one WebSocket to one collector. Parses every frame through the protocol
 * schema, keeps the heartbeat (a ping every heartbeatMs; no pong for two pings ends it), reads
 * the coded body of a refused upgrade, and remembers the collector's last coded error so that
 * `closed` says why the connection ended (close-cause.ts).
 */
export class CollectorConnection extends EventEmitter<ConnectionEvents> {
  readonly url: string;
  private readonly ws: WebSocket;
  private opened = false;
  private pongSeen = true;
  private pingTimer: unknown = null;
  private ending: Ending | null = null;
  private lastError: { code: string; message: string } | null = null;
  private connectError: string | null = null;

  constructor(
    url: string,
    private readonly o: { heartbeatMs: number; timers: Timers; logger: Logger; ca?: string | Buffer },
  ) {
    super();
    this.url = url;
    this.ws = new WebSocket(url.replace(/\/+$/, '') + WS_PATH, WS_SUBPROTOCOL, {
      handshakeTimeout: 10_000,
      maxPayload: 4 * 1024 * 1024,
      perMessageDeflate: false,
      ...(o.ca ? { ca: o.ca } : {}),
    });
    this.ws.on('open', () => {
      this.opened = true;
      this.schedulePing();
      this.emit('open');
    });
    this.ws.on('message', (data) => this.onMessage(data.toString()));
    this.ws.on('pong', () => (this.pongSeen = true));
    this.ws.on('unexpected-response', (_req, res) => {
      // A refused upgrade (404 path, 503 capacity ...) carries {error:{code,message}}: read its code.
      let body = '';
      res.on('data', (chunk: Buffer) => {
        if (body.length < MAX_REFUSAL_BODY) body += chunk.toString('utf8');
      });
      res.on('end', () => {
        this.ending ??= { refusal: { status: res.statusCode ?? 0, code: refusalCode(body) } };
        this.ws.terminate();
      });
      res.on('error', () => this.ws.terminate());
    });
    this.ws.on('error', (e) => {
      if (!this.opened) this.connectError = e.message;
      o.logger.debug({ url, err: e.message }, 'collector connection error');
    });
    this.ws.on('close', (code, reason) => {
      if (this.pingTimer) o.timers.clearTimeout(this.pingTimer);
      this.pingTimer = null;
      this.emit(
        'closed',
        closeCause({
          opened: this.opened,
          closeCode: code,
          reason: reason.toString(),
          ending: this.ending,
          lastError: this.lastError,
          connectError: this.connectError,
        }),
      );
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(msg: AgentMessage): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Ends the connection for a reason of the agent's own; `closed` carries it. */
  end(ending: NonNullable<Ending['agent']>, hard = false): void {
    this.ending ??= { agent: ending };
    if (hard || !this.opened) this.ws.terminate();
    else this.ws.close(1000, ending.error.code);
  }

  /** Stops without a cause (the daemon is stopping). */
  terminate(): void {
    this.removeAllListeners('closed');
    this.ws.terminate();
  }

  private onMessage(text: string): void {
    let msg: CollectorMessage;
    try {
      msg = parseCollectorMessage(parseJsonFrame(text));
    } catch (e) {
      this.o.logger.warn({ code: isNodesealError(e) ? e.code : undefined }, 'ignoring a malformed message from the collector');
      return;
    }
    if (msg.type === 'error') this.lastError = { code: msg.code, message: msg.message };
    this.emit('message', msg);
  }

  private schedulePing(): void {
    this.pingTimer = this.o.timers.setTimeout(() => {
      if (this.ws.readyState !== WebSocket.OPEN) return;
      if (!this.pongSeen) {
        this.o.logger.warn({ code: ERR_AGENT_HEARTBEAT, url: this.url }, 'no pong from the collector; reconnecting');
        this.end({ error: { code: ERR_AGENT_HEARTBEAT, message: 'no pong from the collector' }, disposition: 'move' }, true);
        return;
      }
      this.pongSeen = false;
      try {
        this.ws.ping();
      } catch {
        this.ws.terminate();
      }
      this.schedulePing();
    }, this.o.heartbeatMs);
  }
}

function refusalCode(body: string): string | null {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } })?.error?.code;
    return typeof code === 'string' && /^ERR_[A-Z0-9_]{1,60}$/.test(code) ? code : null;
  } catch {
    return null;
  }
}
