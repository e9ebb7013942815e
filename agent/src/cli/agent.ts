import { readFileSync, statSync } from 'node:fs';
import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { pino } from 'pino';
import { loadAgentConfig } from '../config.js';
import { AgentDaemon } from '../daemon/daemon.js';
import { hostEvidenceSource } from '../daemon/evidence.js';
import { tpmEnrollment } from '../daemon/enroll.js';
import { UserError, ERR_CONFIG, ERR_USAGE } from '../../../shared/src/errors.js';

const usage =
  'nodeseal agent --collector URL[,URL...] [--node-id ID] [--state-dir DIR] [--tcti T] [--root DIR] [--interval SEC] [--config FILE] [--event-log FILE] [--ca FILE] [--heartbeat SEC] [--log-level L] [--enroll-token T | --enroll-token-file F] [--rotate-key]\n       nodeseal agent --check [--json] [same flags]   (what this host can provide; exit 0 when the agent can run)';

const verb: Verb = {
  summary: [
    'Run the attestation agent: connects to the collector at /v1/agent, answers every challenge and',
    'reports every interval with a signed (ES256) report of inventory and TPM evidence; unacknowledged',
    'reports wait in an on-disk spool under --state-dir (default /var/lib/nodeseal) and are re-sent in',
    'order after a reconnect. --tcti none runs without a TPM; --root reads a recorded host instead of',
    'this one. Flags override NODESEAL_* environment variables, which override --config (JSON).',
    'Several collectors (--collector repeated or comma-separated; a list in the config file): the agent stays',
    'on one and moves to the next when it cannot connect or is sent away; spool and seq carry over. A node the',
    'collector refuses (revoked, not enrolled) backs off up to 5 minutes and logs what the operator must do.',
    'First contact: --enroll-token (or --enroll-token-file, or NODESEAL_ENROLL_TOKEN) enrols this node with',
    "its TPM (EK, EK certificate, AK; the TPM answers the collector's credential challenge).",
    '--rotate-key announces a new signing key in the next report (signed by the current key) and uses it',
    'once the collector has accepted it.',
    '--check runs nothing: it lists what this host can and cannot provide (configuration, state directory,',
    'collector, TPM with AK/EK/EK certificate, event log, GPUs, each inventory source) with reasons and codes,',
    'and exits 0 when the agent can run (a missing TPM or GPU is a warning), 1 when it cannot.',
  ].join('\n'),
  usage,
  async run(argv, io) {
    const { values } = parseFlags(argv, {
      collector: { type: 'string', multiple: true },
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
      check: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (values.check) return (await import('./agent-check.js')).runAgentCheck(values, io);
    if (values.json) throw new UserError(ERR_USAGE, '--json goes with --check');
    const config = loadAgentConfig({ file: values.config ?? io.env.NODESEAL_AGENT_CONFIG ?? null, env: io.env, flags: values });
    const ca = config.caFile ? readCa(config.caFile) : null;
    if (config.root && !isDirectory(config.root))
      throw new UserError(ERR_CONFIG, `--root ${config.root} is not a directory (give a host recorded by nodeseal dump DIR)`);
    const logger = pino(
      {
        level: config.logLevel,
        base: { name: 'agent' },
        redact: {
          paths: ['jws', '*.jws', 'privateJwk', '*.privateJwk', 'eventLog', '*.eventLog', 'enrollToken', '*.enrollToken'],
          censor: '[redacted]',
        },
      },
      pino.destination(2),
    );
    const daemon = new AgentDaemon({
      collector: config.collector,
      nodeId: config.nodeId,
      stateDir: config.stateDir,
      evidence: hostEvidenceSource({
        tcti: config.tcti,
        logger,
        ...(config.root ? { root: config.root } : {}),
        ...(config.eventLogPath ? { eventLogPath: config.eventLogPath } : {}),
      }),
      logger,
      intervalSec: config.intervalSec,
      heartbeatSec: config.heartbeatSec,
      backoffCapMs: config.backoffCapSec * 1000,
      spool: { maxCount: config.spoolMaxCount, maxBytes: config.spoolMaxBytes },
      ...(ca ? { ca } : {}),
      ...(config.enrollToken ? { enroll: tpmEnrollment({ tcti: config.tcti, token: config.enrollToken }) } : {}),
    });
    await daemon.start();
    if (values['rotate-key']) io.stderr(`nodeseal agent: rotating the signing key to ${await daemon.rotateKey()}\n`);
    io.stderr(`nodeseal agent: ${config.nodeId} (kid ${daemon.kid}) reporting to ${config.collector.join(', ')}\n`);
    await new Promise<void>((resolve) => {
      if (!io.stopSignal || io.stopSignal.aborted) return resolve();
      io.stopSignal.addEventListener('abort', () => resolve(), { once: true });
    });
    await daemon.stop();
    return 0;
  },
};

/** The collector's CA bundle, read before anything starts: a wrong path is one ERR_CONFIG line. */
function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UserError(ERR_CONFIG, `cannot read --ca ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export default verb;
