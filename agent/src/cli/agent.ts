import { readFileSync } from 'node:fs';
import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { pino } from 'pino';
import { loadAgentConfig } from '../config.js';
import { AgentDaemon } from '../daemon/daemon.js';
import { hostEvidenceSource } from '../daemon/evidence.js';
import { tpmEnrollment } from '../daemon/enroll.js';
import { UserError, ERR_USAGE } from '../../../shared/src/errors.js';

const usage = 'nodeseal agent --collector URL [--node-id ID] [--state-dir DIR] [--tcti T] [--root DIR] [--interval SEC] [--config FILE] [--event-log FILE] [--ca FILE] [--heartbeat SEC] [--log-level L] [--enroll-token T | --enroll-token-file F] [--rotate-key]';

const verb: Verb = {
  summary: [
    'Run the attestation agent: connects to the collector at /v1/agent, answers every challenge and',
    'reports every interval with a signed (ES256) report of inventory and TPM evidence; unacknowledged',
    'reports wait in an on-disk spool under --state-dir (default /var/lib/nodeseal) and are re-sent in',
    'order after a reconnect. --tcti none runs without a TPM; --root reads a recorded host instead of',
    'this one. Flags override NODESEAL_* environment variables, which override --config (JSON).',
    'First contact: --enroll-token (or --enroll-token-file, or NODESEAL_ENROLL_TOKEN) enrols this node with',
    'its TPM (EK, EK certificate, AK; the TPM answers the collector\'s credential challenge).',
    '--rotate-key announces a new signing key in the next report (signed by the current key) and uses it',
    'once the collector has accepted it.',
  ].join('\n'),
  usage,
  async run(argv, io) {
    const { values } = parseFlags(argv, {
      collector: { type: 'string' },
      'node-id': { type: 'string' },
      'state-dir': { type: 'string' },
      tcti: { type: 'string' },
      root: { type: 'string' },
      interval: { type: 'string' },
      heartbeat: { type: 'string' },
      config: { type: 'string' },
      'event-log': { type: 'string' },
      ca: { type: 'string' },
      'log-level': { type: 'string' },
      'enroll-token': { type: 'string' },
      'enroll-token-file': { type: 'string' },
      'rotate-key': { type: 'boolean' },
    });
    const config = loadAgentConfig({ file: values.config ?? io.env.NODESEAL_AGENT_CONFIG ?? null, env: io.env, flags: values });
    const logger = pino({ level: config.logLevel, base: { name: 'agent' }, redact: { paths: ['jws', '*.jws', 'privateJwk', '*.privateJwk', 'eventLog', '*.eventLog', 'enrollToken', '*.enrollToken'], censor: '[redacted]' } }, pino.destination(2));
    let enrollToken = values['enroll-token'] ?? io.env.NODESEAL_ENROLL_TOKEN;
    if (values['enroll-token-file']) {
      try {
        enrollToken = readFileSync(values['enroll-token-file'], 'utf8').split(/\r?\n/, 1)[0]!.trim();
      } catch (e) {
        throw new UserError(ERR_USAGE, `cannot read --enroll-token-file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    if (enrollToken !== undefined && config.tcti === 'none') throw new UserError(ERR_USAGE, 'enrolment needs the TPM: --enroll-token cannot be used with --tcti none');
    const daemon = new AgentDaemon({
      collector: config.collector,
      nodeId: config.nodeId,
      stateDir: config.stateDir,
      evidence: hostEvidenceSource({ tcti: config.tcti, logger, ...(config.root ? { root: config.root } : {}), ...(config.eventLogPath ? { eventLogPath: config.eventLogPath } : {}) }),
      logger,
      intervalSec: config.intervalSec,
      heartbeatSec: config.heartbeatSec,
      backoffCapMs: config.backoffCapSec * 1000,
      spool: { maxCount: config.spoolMaxCount, maxBytes: config.spoolMaxBytes },
      ...(config.caFile ? { ca: readFileSync(config.caFile) } : {}),
      ...(enrollToken ? { enroll: tpmEnrollment({ tcti: config.tcti, token: enrollToken }) } : {}),
    });
    await daemon.start();
    if (values['rotate-key']) io.stderr(`nodeseal agent: rotating the signing key to ${await daemon.rotateKey()}\n`);
    io.stderr(`nodeseal agent: ${config.nodeId} (kid ${daemon.kid}) reporting to ${config.collector}\n`);
    await new Promise<void>((resolve) => {
      if (!io.stopSignal || io.stopSignal.aborted) return resolve();
      io.stopSignal.addEventListener('abort', () => resolve(), { once: true });
    });
    await daemon.stop();
    return 0;
  },
};

export default verb;
