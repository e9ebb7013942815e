import pg from 'pg';
import type { Logger } from 'pino';
import { applicationName, leaderLockKeys } from './names.js';
import { backoffMs, dropClient, openClusterDb, sessionConfig, sleep } from './pg.js';
import { ERR_CLUSTER_CONNECTION } from './errors.js';

export interface LeaderOptions {
  url: string;
  schema?: string;
  logger: Logger;
  collectorId: string;
  /** How often a follower tries the lock and the leader checks its session (default 1,000 ms, at most 5,000). */
  retryMs?: number;
  /** Called when this collector becomes the leader (start the fleet-wide jobs). */
  onElected?: () => void | Promise<void>;
  /** Called when it stops being the leader: session lost, stuck, or close() (stop the jobs). */
  onDeposed?: () => void | Promise<void>;
  random?: () => number;
}

/**
 * How long PostgreSQL keeps a silent leader's session (and its lock) before dropping it: TCP
 * keepalive after 5 s idle, probes every 1 s, 3 probes; tcp_user_timeout 8 s for unacknowledged
 * data. A leader whose session stops answering deposes itself sooner (retryMs + query timeout
 * ≤ 7 s), so two leaders never run at once.
 */
export const SERVER_DROP_MS = 8_000;
const SESSION_SETTINGS =
  'SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 3; SET tcp_user_timeout = 8000';
const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/**
 * Leader election with a PostgreSQL session advisory lock (pg_try_advisory_lock on keys derived
 * from the schema), held on a dedicated connection. Chosen over a lease row because the lock is
 * tied to the session: it is released the moment PostgreSQL sees the connection end (close(),
 * kill -9 of the process: the kernel closes the socket), with no expiry to wait out and no clock to
 * trust; a host that vanishes is dropped by the server after SERVER_DROP_MS. Followers try the lock
 * every retryMs, so takeover takes at most retryMs after a clean or killed leader, and
 * SERVER_DROP_MS + retryMs after a vanished host. The leader writes its id into cluster_leader
 * (and refreshes it every retryMs) so the others can tell who leads.
 */
export class LeaderElection {
  private readonly abort = new AbortController();
  private readonly retryMs: number;
  private readonly queryTimeoutMs: number;
  private leading = false;
  private knownLeader: string | null = null;
  private loop: Promise<void> | null = null;
  private currentPid: number | null = null;

  constructor(
    private readonly opts: LeaderOptions,
    private readonly schema: string,
  ) {
    this.retryMs = opts.retryMs ?? 1_000;
    if (!(this.retryMs > 0 && this.retryMs <= 5_000)) throw new RangeError('leader retryMs must be in (0, 5000]');
    this.queryTimeoutMs = 2_000;
  }

  start(): void {
    this.loop ??= this.run();
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The leader's collector id as last read (refreshed every retryMs), or null when none is known. */
  leaderId(): string | null {
    return this.leading ? this.opts.collectorId : this.knownLeader;
  }

  /** Backend pid of the election session (operators, tests), or null while disconnected. */
  sessionPid(): number | null {
    return this.currentPid;
  }

  /** Steps down (releasing the lock at once by ending the session) and stops. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const random = this.opts.random ?? Math.random;
    let attempt = 0;
    while (!this.abort.signal.aborted) {
      const err = await this.session(() => {
        attempt = 0;
      });
      this.currentPid = null;
      const wasLeading = this.leading;
      await this.depose();
      if (this.abort.signal.aborted) break;
      // A leader that lost its session stays out for two retry periods, so a follower with a
      // healthy session takes over rather than the flapping one taking the lock back.
      const delay = Math.max(backoffMs(attempt++, 100, 5_000, random()), wasLeading ? 2 * this.retryMs : 0);
      this.opts.logger.warn({ code: ERR_CLUSTER_CONNECTION, err: err.message, retryInMs: delay }, 'leader election session lost');
      await sleep(delay, this.abort.signal);
    }
  }

  private async depose(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.knownLeader = null;
    this.opts.logger.warn({ collectorId: this.opts.collectorId }, 'no longer the cluster leader');
    await this.callback(this.opts.onDeposed);
  }

  private async callback(fn: (() => void | Promise<void>) | undefined): Promise<void> {
    try {
      await fn?.();
    } catch (err) {
      this.opts.logger.error({ err }, 'leader callback failed');
    }
  }

  private async session(onUp: () => void): Promise<Error> {
    const client = new pg.Client(sessionConfig(this.opts.url, this.schema, applicationName('leader', this.opts.collectorId)));
    let fail!: (e: Error) => void;
    const lost = new Promise<Error>((resolve) => {
      fail = resolve;
    });
    client.on('error', (e) => fail(e));
    client.on('end', () => fail(new Error('PostgreSQL session ended')));
    const onAbort = (): void => fail(new Error('closed'));
    this.abort.signal.addEventListener('abort', onAbort, { once: true });
    /** One query, or the reason the session is to be dropped. */
    const q = async <T extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<T>> => {
      let t: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(new Error(`no answer within ${this.queryTimeoutMs} ms`)), this.queryTimeoutMs);
      });
      try {
        return await Promise.race([client.query<T>(text, values), timeout, lost.then((e) => Promise.reject(e))]);
      } finally {
        clearTimeout(t);
      }
    };
    const [k1, k2] = leaderLockKeys(this.schema);
    try {
      await Promise.race([client.connect(), lost.then((e) => Promise.reject(e))]);
      await q(SESSION_SETTINGS);
      this.currentPid = (await q<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      onUp();
      while (!this.abort.signal.aborted) {
        if (!this.leading) {
          const got = (await q<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [k1, k2])).rows[0]!.ok;
          if (got) {
            await q(
              `INSERT INTO cluster_leader (id, collector_id, elected_at, heartbeat_at) VALUES (1, $1, ${NOW_MS}, ${NOW_MS})
               ON CONFLICT (id) DO UPDATE SET collector_id = excluded.collector_id, elected_at = excluded.elected_at, heartbeat_at = excluded.heartbeat_at`,
              [this.opts.collectorId],
            );
            this.leading = true;
            this.opts.logger.info({ collectorId: this.opts.collectorId }, 'elected cluster leader');
            await this.callback(this.opts.onElected);
          } else {
            const staleBefore = `${NOW_MS} - ${3 * this.retryMs}`;
            const r = await q<{ collector_id: string }>(
              `SELECT collector_id FROM cluster_leader WHERE id = 1 AND heartbeat_at > ${staleBefore}`,
            );
            this.knownLeader = r.rows[0]?.collector_id ?? null;
          }
        } else {
          // The heartbeat doubles as the session check: no answer in time, and the leader steps down.
          await q(`UPDATE cluster_leader SET heartbeat_at = ${NOW_MS} WHERE id = 1 AND collector_id = $1`, [this.opts.collectorId]);
        }
        const stop = await Promise.race([sleep(this.retryMs, this.abort.signal).then(() => null), lost]);
        if (stop) return stop;
      }
      // Ending the session (finally) releases the lock at once; no explicit unlock needed.
      return new Error('closed');
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    } finally {
      this.abort.signal.removeEventListener('abort', onAbort);
      dropClient(client);
    }
  }
}

/** Starts campaigning for leadership; the schema is resolved once (lock keys are per schema). */
export async function startLeaderElection(opts: LeaderOptions): Promise<LeaderElection> {
  const { db, schema } = await openClusterDb(opts, 1);
  await db.close();
  const e = new LeaderElection(opts, schema);
  e.start();
  return e;
}
