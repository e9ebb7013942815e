import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { loadCollectorConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { type RunningCollector, startCollector } from '../server.js';
import { createAccessControl } from '../auth/access.js';
import { loadBootstrapToken } from '../auth/bootstrap.js';
import { openPostgresStore, openSqliteStore } from '../store/open.js';

const usage =
  'nodeseal collector [--listen HOST:PORT] [--db PATH] [--config FILE] [--postgres URL [--collector-id NAME]] [--tls-cert FILE --tls-key FILE] [--insecure] [--interval SEC] [--freshness-ttl SEC] [--heartbeat SEC] [--verify-workers N] [--log-level L]\n  [--ek-ca-dir DIR] [--allow-tofu] [--bootstrap-token-file FILE]\n\n' +
  '  --listen HOST:PORT     address for agents and the API (default 127.0.0.1:8443)\n' +
  '  --interval SEC         how often agents report (default 60); --freshness-ttl SEC: a verdict older is stale (default 180)\n' +
  '  --heartbeat SEC        WebSocket ping interval (default 15); --verify-workers N: verification threads (default 0, in-process)\n' +
  "  --postgres URL         PostgreSQL store; collectors sharing it form one fleet (docs/deployment.md); --collector-id NAME: this one's name (default hostname:port)\n" +
  '  --log-level L          fatal, error, warn, info (default), debug, trace or silent (logs are JSON on stderr)\n' +
  'Every option, its NODESEAL_* variable and config key: docs/configuration.md. Check a config file: nodeseal config check FILE.\n' +
  'Example (lab, this host only):\n' +
  '  nodeseal collector --db /tmp/nodeseal.db --bootstrap-token-file token.txt --allow-tofu\n' +
  'Exit: 0 stopped by SIGINT/SIGTERM; 1 cannot start (database, EK CAs); 2 usage or configuration (ERR_CONFIG, ERR_LISTEN).';

const verb: Verb = {
  summary: [
    'Run the collector: one port for agents (WebSocket /v1/agent, subprotocol nodeseal.v1) and the HTTP',
    'API (/v1/nodes, /v1/trust, /v1/events, /metrics, /healthz). Stores into SQLite at --db (default',
    '/var/lib/nodeseal/collector.db) or PostgreSQL with --postgres. Serves https/wss with --tls-cert and',
    '--tls-key; plain http/ws only on a loopback address unless --insecure. Configuration layers:',
    'defaults, then --config (JSON), then NODESEAL_* environment, then flags.',
    'Access: every API call needs a bearer token (nodeseal collector token create; or a bootstrap operator',
    'token from --bootstrap-token-file or NODESEAL_BOOTSTRAP_TOKEN). Agents enrol with a one-time token',
    '(nodeseal collector enroll-token create) and their TPM: the EK certificate must chain to a CA in',
    '--ek-ca-dir (PEM files) and the AK is pinned after credential activation. --allow-tofu (lab only)',
    'pins nodes without a token on first contact.',
  ].join('\n'),
  usage,
  async run(argv, io) {
    const { values } = parseFlags(argv, {
      listen: { type: 'string' },
      db: { type: 'string' },
      config: { type: 'string' },
      postgres: { type: 'string' },
      'collector-id': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      insecure: { type: 'boolean' },
      interval: { type: 'string' },
      'freshness-ttl': { type: 'string' },
      heartbeat: { type: 'string' },
      'verify-workers': { type: 'string' },
      'log-level': { type: 'string' },
      'ek-ca-dir': { type: 'string' },
      'allow-tofu': { type: 'boolean' },
      'bootstrap-token-file': { type: 'string' },
    });
    const config = loadCollectorConfig({ file: values.config ?? io.env.NODESEAL_CONFIG ?? null, env: io.env, flags: values });
    const logger = createLogger({ level: config.logLevel, name: 'collector' });
    const bootstrapToken = await loadBootstrapToken({ file: values['bootstrap-token-file'], env: io.env });
    const store = config.postgresUrl ? await openPostgresStore(config.postgresUrl) : await openSqliteStore(config.db);
    let running: RunningCollector;
    let detach = () => {};
    try {
      const access = await createAccessControl({
        db: store.db,
        logger,
        allowTofu: values['allow-tofu'] ?? io.env.NODESEAL_ALLOW_TOFU === '1',
        ekCaDir: values['ek-ca-dir'] ?? io.env.NODESEAL_EK_CA_DIR ?? null,
        bootstrapToken,
      });
      running = await startCollector(config, { logger, store, auth: access.auth, enroll: access.enroll, routes: [access.routes] });
      const app = running.app;
      detach = access.attach({
        events: running.events,
        closeNode: (nodeId) => {
          app.accept.closeNode(nodeId);
        },
      });
    } catch (e) {
      await store.close();
      throw e;
    }
    io.stderr(`nodeseal collector: listening on ${running.url} (agents: ${running.wsUrl})\n`);
    await new Promise<void>((resolve) => {
      if (!io.stopSignal || io.stopSignal.aborted) return resolve();
      io.stopSignal.addEventListener('abort', () => resolve(), { once: true });
    });
    logger.info('collector stopping');
    detach();
    await running.close();
    await store.close();
    return 0;
  },
};

export default verb;
