import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { AgentDaemon, type DaemonOptions } from '../../agent/src/daemon/daemon.js';
import { hostEvidenceSource, type EvidenceSource } from '../../agent/src/daemon/evidence.js';
import { collectInventory } from '../../agent/src/inventory.js';
import { createHostPorts } from '../../agent/src/ports/index.js';
import { loadCollectorConfig, type CollectorConfig } from '../../collector/src/config.js';
import { startCollector, type RunningCollector } from '../../collector/src/server.js';
import { simulatedBootLog } from '../../shared/src/eventlog/index.js';
import { softwareQuote } from '../../shared/src/tpm/index.js';

export const silent = pino({ level: 'silent' });

/** Test timings: short intervals keep the suites fast. */
export const INTERVAL_SEC = 1;

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `nodeseal-${prefix}-`));
}
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Polls `fn` until it returns a truthy value; fails with the last value seen. */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 10_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      last = await fn();
      if (last) return last as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last, null, 1)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** An in-process collector on 127.0.0.1 (port 0 unless given) with a real SQLite file. */
export async function startTestCollector(db: string, over: Partial<CollectorConfig> = {}): Promise<RunningCollector> {
  const config = {
    ...loadCollectorConfig({ flags: { listen: '127.0.0.1:0', db, interval: String(INTERVAL_SEC), heartbeat: '1' } }),
    ...over,
  };
  return startCollector(config, { logger: silent });
}

export async function api(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(base + path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

/**
 * A simulated TPM for agents that do not get a swtpm: the inventory of a recorded host and a
 * quote in the TPM's wire formats signed with a software P-256 AK, over a 100-event simulated
 * boot log (shared/src/tpm/build.ts, shared/src/eventlog/build.ts). A hand-written fake of the
 * agent's evidence port, not of any collector part: the collector verifies it for real.
 */
export function softTpmSource(root: string, opts: { variant?: string; ak?: KeyObject } = {}): EvidenceSource & { variant: string } {
  const ports = createHostPorts({ root });
  const ak = opts.ak ?? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const src = {
    variant: opts.variant ?? '',
    async collect(nonce: string | null) {
      const inv = await collectInventory(ports);
      const log = simulatedBootLog(100, { variant: src.variant, banks: ['sha256'] });
      const selection = [{ bank: 'sha256' as const, pcrs: [0, 1, 2, 3, 4, 5, 6, 7] }];
      const q = softwareQuote({ privateKey: ak, nonce: nonce ? Buffer.from(nonce, 'hex') : Buffer.alloc(0), pcrs: log.pcrs, selection });
      const pcrs = { sha256: Object.fromEntries(Object.entries(log.pcrs.sha256!).filter(([k]) => Number(k) <= 7)) };
      return {
        inventory: inv.inventory,
        inventoryDigest: inv.inventoryDigest,
        tpm: {
          status: 'ok' as const,
          pcrs,
          quote: { attest: q.attest.toString('hex'), signature: q.signature.toString('hex') },
          akPublic: q.akPublic.toString('hex'),
          eventLog: log.bytes.toString('base64'),
        },
      };
    },
  };
  return src;
}

export interface TestAgent {
  daemon: AgentDaemon;
  stateDir: string;
  nodeId: string;
  stop(): Promise<void>;
}

/** An agent daemon in this process with a real WebSocket to the collector. */
export async function startTestAgent(
  opts: {
    collector: string;
    nodeId: string;
    evidence?: EvidenceSource;
    root?: string;
    tcti?: string;
    eventLogPath?: string;
    stateDir?: string;
  } & Partial<DaemonOptions>,
): Promise<TestAgent> {
  const stateDir = opts.stateDir ?? (await tempDir(`agent-${opts.nodeId}`));
  const evidence =
    opts.evidence ??
    hostEvidenceSource({
      tcti: opts.tcti ?? 'none',
      logger: silent,
      ...(opts.root ? { root: opts.root } : {}),
      ...(opts.eventLogPath ? { eventLogPath: opts.eventLogPath } : {}),
    });
  const daemon = new AgentDaemon({
    logger: silent,
    intervalSec: INTERVAL_SEC,
    heartbeatSec: 1,
    backoffBaseMs: 100,
    backoffCapMs: 1000,
    spoolPaceMs: 20,
    ...opts,
    stateDir,
    evidence,
  });
  await daemon.start();
  return {
    daemon,
    stateDir,
    nodeId: opts.nodeId,
    async stop() {
      await daemon.stop();
      if (!opts.stateDir) await removeDir(stateDir);
    },
  };
}
