import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { buildApp, type App, type AuthPort } from './app.js';
import type { CollectorConfig } from './config.js';
import { CollectorEvents } from './events.js';
import type { Route } from './http/router.js';
import type { Logger } from './logger.js';
import { createMetrics, parseMetricsConfig } from './metrics.js';
import { LiveHub } from './api/live.js';
import { answerClientError } from './http/client-error.js';
import { parseAlertsConfig, SqlAlertOutbox, startAlerts } from './alerts/index.js';
import { createDashboard } from './dashboard/index.js';
import { createEvidencePorts } from './pipeline/ports.js';
import { createVerifierPool } from './pipeline/verify-pool.js';
import { openPostgresStore, openSqliteStore } from './store/index.js';
import type { Store } from './store/store.js';
import { parseSchedulerSettings, startSchedulerFeatures } from './integrations/index.js';
import { bulkAttestRoutes, createTrust } from './trust/index.js';
import type { EnrollHook } from './accept/index.js';
import { joinFleetKey } from './cluster/fleet-key.js';
import { type Fleet, fleetCollectorId, startFleet } from './cluster/fleet.js';
import { ERR_CONFIG, UserError } from '../../shared/src/errors.js';

/** The collector could not bind its --listen address (in use, no permission, no such address). */
export const ERR_LISTEN = 'ERR_LISTEN';

export interface RunningCollector {
  app: App;
  store: Store;
  events: CollectorEvents;
  server: Server;
  /** http(s)://host:port of the listening server. */
  url: string;
  /** ws(s)://host:port, what agents take as --collector. */
  wsUrl: string;
  port: number;
  /** Cluster mode (--postgres): this collector's place in the fleet; null with SQLite. */
  fleet: Fleet | null;
  close(): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
  /** An already open store (tests); otherwise opened from config (postgresUrl or db). */
  store?: Store;
  auth?: AuthPort;
  enroll?: EnrollHook;
  /** Extra routes (features wired by their owners). */
  routes?: Route[][];
}

/**
 * Opens the store, wires the features (trust cache and API, receipts, Slurm, metrics, live
 * events, alerts, dashboard) around
 * buildApp and listens: https/wss when a certificate is configured, plain http/ws otherwise
 * (config.ts only allows that on loopback unless --insecure). One port serves both.
 */
export async function startCollector(config: CollectorConfig, opts: StartOptions): Promise<RunningCollector> {
  const { logger } = opts;
  const tls = readTls(config);
  const store = opts.store ?? (config.postgresUrl ? await openPostgresStore(config.postgresUrl) : await openSqliteStore(config.db));
  const events = new CollectorEvents();
  // Cluster mode: collectors sharing PostgreSQL read node state from its change feed (cluster/fleet.ts).
  const cluster = config.postgresUrl !== null && store.db.dialect === 'postgres';
  const collectorId = fleetCollectorId(config);
  const trust = await createTrust({
    store,
    events,
    cache: { freshnessTtlSec: config.freshnessTtlSec },
    watch: { logger },
    followEvents: !cluster,
  });
  const settings = parseSchedulerSettings(config.sections, config.db, process.env);
  const sched = await startSchedulerFeatures({
    settings,
    store,
    trust,
    logger,
    ...(cluster ? { key: await joinFleetKey(store.db, settings.stateDir, collectorId), waitForLead: true } : {}),
  });
  const live = new LiveHub(events, trust.cache, {
    maxClients: config.liveMaxStreams,
    maxClientsPerToken: config.liveMaxStreamsPerToken,
    operatorReserve: config.liveOperatorReserve,
    logger,
  });
  const alertsConfig = parseAlertsConfig(config.sections.alerts);
  // Always started, webhooks or not: it keeps the alert cursor current, so webhooks added later
  // get alerts from then on (not the backlog of everything since).
  const alertsRunning = startAlerts({
    events,
    trust: trust.cache,
    outbox: new SqlAlertOutbox(store.db),
    config: alertsConfig,
    logger,
    onAttempt: (w, o) => metrics.alertAttempt(w, o),
    onOverflow: (w, n) => metrics.alertOverflow(w, n),
  });
  const alerts = alertsConfig.webhooks.length ? alertsRunning : null;
  const metricsConfig = parseMetricsConfig(config.sections.metrics);
  const metrics = createMetrics({
    events,
    trust: trust.cache,
    liveClients: () => live.count,
    ...(alerts ? { alerts } : {}),
    role: metricsConfig.public ? 'public' : 'viewer',
    perNodeLimit: metricsConfig.perNodeLimit,
    maxCodeLabels: metricsConfig.maxCodeLabels,
  });
  const dashboard = await createDashboard({ store, events, trust: trust.cache, isConnected: (id) => app.accept.isConnected(id) });
  const verifier = config.verifyWorkers > 0 ? createVerifierPool(config.verifyWorkers) : null;
  const app = buildApp({
    store,
    events,
    logger,
    config,
    ports: createEvidencePorts(),
    ...(verifier ? { verifier } : {}),
    ...(opts.auth ? { auth: opts.auth } : {}),
    ...(opts.enroll ? { enroll: opts.enroll } : {}),
    routes: [
      trust.routes,
      sched.routes,
      (a) => bulkAttestRoutes({ challenger: a.accept, cache: trust.cache, maxWaitSec: a.config.maxAttestWaitSec }),
      live.routes(),
      metrics.routes,
      dashboard.routes,
      alerts?.routes ?? [],
      ...(opts.routes ?? []),
    ],
  });
  const httpOptions = { maxHeaderSize: config.maxHeaderBytes };
  const server = tls
    ? createHttpsServer({ ...tls, ...httpOptions, minVersion: 'TLSv1.2' }, app.handleRequest)
    : createHttpServer(httpOptions, app.handleRequest);
  server.on('upgrade', app.handleUpgrade);
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  // Oversized headers get 431 with ERR_HTTP_HEADERS_TOO_LARGE; other unparsable requests are closed.
  server.on('clientError', answerClientError);
  /**
   * Stops every feature started above (agents' sessions first), then the listening server when
   * there is one, then the verifier pool and the store this function opened.
   */
  let fleet: Fleet | null = null;
  async function stopFeatures(closeServer?: () => Promise<void>): Promise<void> {
    await fleet?.close();
    app.close();
    live.close();
    dashboard.close();
    await alertsRunning.stop();
    metrics.close();
    sched.close();
    trust.close();
    await closeServer?.();
    await verifier?.close();
    if (!opts.store) await store.close();
  }
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.listen.port, config.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await stopFeatures();
    throw listenError(config, e as NodeJS.ErrnoException);
  }
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${tls ? 'https' : 'http'}://${host}:${addr.port}`;
  const wsUrl = `${tls ? 'wss' : 'ws'}://${host}:${addr.port}`;
  if (cluster) {
    try {
      fleet = await startFleet({
        collectorId,
        config,
        url: config.postgresUrl!,
        store,
        events,
        app,
        trust: trust.cache,
        logger,
        onElected: () => sched.lead(),
        onDeposed: () => sched.standDown(),
      });
    } catch (e) {
      await stopFeatures(async () => {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      });
      throw e;
    }
  }
  logger.info({ url, db: config.postgresUrl ? 'postgresql' : config.db, tls: Boolean(tls) }, 'collector listening');
  let closed = false;
  return {
    app,
    store,
    events,
    server,
    url,
    wsUrl,
    port: addr.port,
    fleet,
    async close() {
      if (closed) return;
      closed = true;
      await stopFeatures(async () => {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      });
    },
  };
}

/** The certificate and key, read and checked before anything starts (a typo is one line, not a stack). */
function readTls(config: CollectorConfig): { cert: Buffer; key: Buffer } | null {
  if (!config.tlsCert || !config.tlsKey) return null;
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new UserError(ERR_CONFIG, `cannot read ${flag} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const tls = { cert: read('--tls-cert', config.tlsCert), key: read('--tls-key', config.tlsKey) };
  try {
    createSecureContext(tls);
  } catch (e) {
    throw new UserError(
      ERR_CONFIG,
      `--tls-cert ${config.tlsCert} / --tls-key ${config.tlsKey}: not a usable PEM certificate and matching key (${(e as Error).message})`,
    );
  }
  return tls;
}

function listenError(config: CollectorConfig, e: NodeJS.ErrnoException): UserError {
  const where = `${config.listen.host}:${config.listen.port}`;
  const why =
    e.code === 'EADDRINUSE'
      ? 'the address is already in use (another collector?)'
      : e.code === 'EACCES'
        ? 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)'
        : e.code === 'EADDRNOTAVAIL'
          ? 'no such address on this host'
          : (e.code ?? e.message);
  return new UserError(ERR_LISTEN, `cannot listen on ${where}: ${why}`);
}
