import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { AcceptanceService } from '../accept/index.js';
import type { CollectorConfig } from '../config.js';
import type { CollectorEvents } from '../events.js';
import type { Logger } from '../logger.js';
import { CLOSE_GOING_AWAY, ERR_WS_SHUTDOWN } from './errors.js';
import { AgentSession } from './session.js';

export type HubConfig = Pick<
  CollectorConfig,
  'heartbeatSec' | 'helloTimeoutMs' | 'rateLimitPerSec' | 'rateLimitBurst' | 'maxErrorsPerConnection'
>;

/**
 * Every live agent WebSocket of this collector: accepts them as sessions (transport only, see
 * session.ts), drives the heartbeat and closes them on shutdown. What their messages mean is
 * the acceptance service's (accept/).
 */
export class AgentHub {
  readonly sessions = new Set<AgentSession>();
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(private readonly deps: { accept: AcceptanceService; events: CollectorEvents; logger: Logger; config: HubConfig }) {
    const ms = Math.round(deps.config.heartbeatSec * 1000);
    this.heartbeat = setInterval(() => {
      for (const s of this.sessions) s.heartbeatTick();
    }, ms);
    this.heartbeat.unref();
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  /** Starts serving an accepted WebSocket. */
  accept(ws: WebSocket, req: IncomingMessage): AgentSession {
    const { accept, events, logger, config } = this.deps;
    const s = new AgentSession(
      {
        accept,
        logger,
        config,
        onRejected: (nodeId, code) => events.emit('report-rejected', { nodeId, code }),
        onClosed: (x) => this.sessions.delete(x),
      },
      ws,
      req,
    );
    this.sessions.add(s);
    return s;
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    for (const s of [...this.sessions]) s.close(CLOSE_GOING_AWAY, ERR_WS_SHUTDOWN);
  }
}
