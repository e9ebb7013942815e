import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { loadCollectorConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { startCollector } from '../server.js';

const usage = 'nodeseal collector [--listen HOST:PORT] [--db PATH] [--config FILE] [--postgres URL] [--tls-cert FILE --tls-key FILE] [--insecure] [--interval SEC] [--freshness-ttl SEC] [--heartbeat SEC] [--log-level L]';

const verb: Verb = {
  summary: [
    'Run the collector: one port for agents (WebSocket /v1/agent, subprotocol nodeseal.v1) and the HTTP',
    'API (/v1/nodes, /v1/trust, /v1/events, /metrics, /healthz). Stores into SQLite at --db (default',
    '/var/lib/nodeseal/collector.db) or PostgreSQL with --postgres. Serves https/wss with --tls-cert and',
    '--tls-key; plain http/ws only on a loopback address unless --insecure. Configuration layers:',
    'defaults, then --config (JSON), then NODESEAL_* environment, then flags.',
  ].join('\n'),
  usage,
  async run(argv, io) {
    const { values } = parseFlags(argv, {
      listen: { type: 'string' },
      db: { type: 'string' },
      config: { type: 'string' },
      postgres: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      insecure: { type: 'boolean' },
      interval: { type: 'string' },
      'freshness-ttl': { type: 'string' },
      heartbeat: { type: 'string' },
      'log-level': { type: 'string' },
    });
    const config = loadCollectorConfig({ file: values.config ?? io.env.NODESEAL_CONFIG ?? null, env: io.env, flags: values });
    const logger = createLogger({ level: config.logLevel, name: 'collector' });
    const running = await startCollector(config, { logger });
    io.stderr(`nodeseal collector: listening on ${running.url} (agents: ${running.wsUrl})\n`);
    await new Promise<void>((resolve) => {
      if (!io.stopSignal || io.stopSignal.aborted) return resolve();
      io.stopSignal.addEventListener('abort', () => resolve(), { once: true });
    });
    logger.info('collector stopping');
    await running.close();
    return 0;
  },
};

export default verb;
