import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from 'pino';
import { quoteIdent } from './names.js';
import { backoffMs, dropClient, sessionConfig, sleep } from './pg.js';
import { ERR_CLUSTER_CONNECTION } from './errors.js';

export interface ListenerOptions {
  url: string;
  /** Resolved schema (search_path of the session). */
  schema: string;
  channels: readonly string[];
  logger: Logger;
  applicationName: string;
  /** Reconnect backoff: first delay around minBackoffMs, doubling up to maxBackoffMs (defaults 100 ms, 5 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A `SELECT 1` on the session this often; a failure or no answer within pingMs drops and reconnects (default 10 s). */
  pingMs?: number;
  random?: () => number;
}

export interface ListenerEvents {
  notification: [channel: string, payload: string];
  /** LISTEN is in place on a (new) session; `reconnect` is false the first time. Anything notified while no session listened is lost: catch up now. */
  connected: [info: { reconnect: boolean; pid: number }];
  disconnected: [err: Error];
}

/**
 * One dedicated PostgreSQL session that LISTENs on a fixed set of channels and stays up: a dropped
 * connection (server restart, pg_terminate_backend, network) is detected by the `error`/`end`
 * events or by a failed periodic ping, and replaced after a capped exponential backoff with full
 * jitter. Notifications sent while no session listened are lost (PostgreSQL does not queue them
 * for a session that is gone), so users catch up from the tables on every `connected`.
 */
export class PgListener extends EventEmitter<ListenerEvents> {
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private firstConnect: Promise<void>;
  private resolveFirst!: () => void;
  private rejectFirst!: (e: Error) => void;
  private currentPid: number | null = null;
  private reconnects = 0;

  constructor(private readonly opts: ListenerOptions) {
    super();
    this.firstConnect = new Promise<void>((resolve, reject) => {
      this.resolveFirst = resolve;
      this.rejectFirst = reject;
    });
    this.firstConnect.catch(() => undefined);
  }

  /** Starts the session; resolves once LISTEN is first in place (keeps retrying until then). */
  start(): Promise<void> {
    this.loop ??= this.run();
    return this.firstConnect;
  }

  /** The backend pid of the listening session, or null while disconnected. */
  get pid(): number | null {
    return this.currentPid;
  }

  get listening(): boolean {
    return this.currentPid !== null;
  }

  /** Sessions replaced after a loss so far. */
  get reconnectCount(): number {
    return this.reconnects;
  }

  async close(): Promise<void> {
    this.abort.abort();
    this.rejectFirst(new Error('listener closed'));
    await this.loop;
  }

  private async run(): Promise<void> {
    const { logger, minBackoffMs = 100, maxBackoffMs = 5_000, random = Math.random } = this.opts;
    let attempt = 0;
    let everConnected = false;
    while (!this.abort.signal.aborted) {
      const err = await this.session(everConnected, () => {
        everConnected = true;
        attempt = 0;
      });
      this.currentPid = null;
      if (this.abort.signal.aborted) break;
      this.emit('disconnected', err);
      const delay = backoffMs(attempt++, minBackoffMs, maxBackoffMs, random());
      logger.warn(
        { code: ERR_CLUSTER_CONNECTION, err: err.message, retryInMs: delay, channels: this.opts.channels.length },
        'cluster listener lost its PostgreSQL session',
      );
      await sleep(delay, this.abort.signal);
      if (everConnected) this.reconnects++;
    }
  }

  /** One session's life; resolves with the reason it ended. */
  private async session(reconnect: boolean, onUp: () => void): Promise<Error> {
    const { url, schema, applicationName, channels, pingMs = 10_000 } = this.opts;
    const client = new pg.Client(sessionConfig(url, schema, applicationName));
    let fail!: (e: Error) => void;
    const lost = new Promise<Error>((resolve) => {
      fail = resolve;
    });
    client.on('error', (e) => fail(e));
    client.on('end', () => fail(new Error('PostgreSQL session ended')));
    client.on('notification', (m) => this.emit('notification', m.channel, m.payload ?? ''));
    const onAbort = (): void => fail(new Error('closed'));
    this.abort.signal.addEventListener('abort', onAbort, { once: true });
    let ping: NodeJS.Timeout | null = null;
    try {
      const up = (async () => {
        await client.connect();
        for (const ch of channels) await client.query(`LISTEN ${quoteIdent(ch)}`);
        const r = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        return r.rows[0]!.pid;
      })();
      const pid = await Promise.race([up, lost.then((e) => Promise.reject(e))]);
      this.currentPid = pid;
      onUp();
      this.resolveFirst();
      this.emit('connected', { reconnect, pid });
      ping = setInterval(() => {
        const t = setTimeout(() => fail(new Error(`no answer to a ping within ${pingMs} ms`)), pingMs);
        client.query('SELECT 1').then(
          () => clearTimeout(t),
          (e: Error) => {
            clearTimeout(t);
            fail(e);
          },
        );
      }, pingMs);
      return await lost;
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    } finally {
      if (ping) clearInterval(ping);
      this.abort.signal.removeEventListener('abort', onAbort);
      dropClient(client);
    }
  }
}
