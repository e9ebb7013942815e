import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { waitUntil } from '../helpers/wait.js';
import { AgentDaemon, type DaemonOptions } from '../../agent/src/daemon/daemon.js';
import { hostEvidenceSource, type EvidenceSource } from '../../agent/src/daemon/evidence.js';
import { collectInventory } from '../../agent/src/inventory.js';
import { createHostPorts } from '../../agent/src/ports/index.js';
import { loadCollectorConfig, type CollectorConfig } from '../../collector/src/config.js';
import { startCollector, type RunningCollector } from '../../collector/src/server.js';
import { withDefaultUser } from '../../collector/src/store/postgres-db.js';
import { freePort, waitHealthy } from '../helpers/net.js';
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

/** Polls `fn` until it returns a truthy value (every 100 ms by default); fails with the last value seen. */
export function waitFor<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 10_000, everyMs = 100): Promise<NonNullable<T>> {
  return waitUntil(what, fn, timeoutMs, everyMs);
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
    collector: string | readonly string[];
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

/** The local PostgreSQL server (trust auth, database `test`), as the store tests use it. */
export const PG_URL = process.env.NODESEAL_TEST_PG ?? 'postgresql:///test?host=/var/run/postgresql';

/**
 * A fresh PostgreSQL schema for one test file: `url` pins it as the search_path (libpq `options`),
 * so collector processes given `--postgres url` share it; `drop()` removes it afterwards.
 */
export async function pgTestSchema(tag: string): Promise<{ schema: string; url: string; drop(): Promise<void> }> {
  const schema = `nodeseal_test_${tag}_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: withDefaultUser(PG_URL) });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE SCHEMA ${schema}`);
  const sep = PG_URL.includes('?') ? '&' : '?';
  return {
    schema,
    url: `${PG_URL}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    drop: () => admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`),
  };
}

export interface CollectorProcess {
  proc: ChildProcess;
  port: number;
  /** http://127.0.0.1:port */
  url: string;
  /** ws://127.0.0.1:port */
  wsUrl: string;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * `nodeseal collector` as a real process on 127.0.0.1 (a free port, or the one given), with a
 * SQLite file (`db`) or, with `postgres`, the shared PostgreSQL store: several such collectors on
 * one schema are one fleet. `--allow-tofu` and the bootstrap token `token` unless told otherwise.
 */
export async function startCollectorProcess(o: {
  db?: string;
  postgres?: string;
  port?: number;
  token?: string;
  args?: string[];
}): Promise<CollectorProcess> {
  const port = o.port ?? (await freePort());
  const store = o.postgres ? ['--postgres', o.postgres] : ['--db', o.db ?? join(await tempDir('collector'), 'c.db')];
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'bin/nodeseal.ts',
      'collector',
      '--listen',
      `127.0.0.1:${port}`,
      ...store,
      '--interval',
      String(INTERVAL_SEC),
      '--heartbeat',
      '1',
      '--allow-tofu',
      '--log-level',
      'warn',
      ...(o.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODESEAL_BOOTSTRAP_TOKEN: o.token ?? 'b'.repeat(48) } },
  );
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, proc, 30_000);
  return {
    proc,
    port,
    url,
    wsUrl: `ws://127.0.0.1:${port}`,
    output: () => out,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill(signal);
      await gone;
    },
  };
}
