import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectInventory } from '../../../agent/src/inventory.js';
import { createHostPorts } from '../../../agent/src/ports/host-ports.js';
import type { AuthPort } from '../../../collector/src/app.js';
import { defaultCollectorConfig } from '../../../collector/src/config.js';
import type { Principal } from '../../../collector/src/http/router.js';
import { silentLogger } from '../../../collector/src/logger.js';
import { startCollector, type RunningCollector } from '../../../collector/src/server.js';
import type { Inventory } from '../../../shared/src/report/types.js';
import { HOSTS_DIR } from '../../helpers/hosts.js';
import { startSimAgent, type SimAgent } from './sim-agent.js';

/** Bearer tokens of the test fleet (a hand-written AuthPort: access control has its own suite). */
export const TOKENS: Record<string, Principal> = {
  'operator-token-0123456789': { name: 'alice', role: 'operator' },
  'viewer-token-0123456789': { name: 'victor', role: 'viewer' },
};
export const OPERATOR = 'operator-token-0123456789';
export const VIEWER = 'viewer-token-0123456789';

const auth: AuthPort = {
  authenticate(req: IncomingMessage) {
    const h = req.headers.authorization;
    return h?.startsWith('Bearer ') ? (TOKENS[h.slice(7)] ?? null) : null;
  },
};

export interface Fleet {
  collector: RunningCollector;
  agents: Map<string, SimAgent>;
  dbPath: string;
  /** POST /v1/nodes/:id/attest?wait=5 as the operator; resolves with the verdict body. */
  attest(nodeId: string): Promise<{ status: string; reasons: Array<{ code: string }> }>;
  close(): Promise<void>;
}

const inventories = new Map<string, Inventory>();
/** A real inventory collected from a recorded host under test/fixtures/hosts. */
export async function hostInventory(host: string): Promise<Inventory> {
  if (!inventories.has(host)) inventories.set(host, (await collectInventory(createHostPorts({ root: join(HOSTS_DIR, host) }))).inventory);
  return structuredClone(inventories.get(host)!);
}

/** A real collector (SQLite file, loopback, WebSocket) with protocol-level agents that become trusted. */
export async function startFleet(nodes: Array<{ id: string; host: string }>, sections: Record<string, unknown> = {}): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'nodeseal-fleet-'));
  const dbPath = join(dir, 'collector.db');
  const collector = await startCollector({ ...defaultCollectorConfig(), listen: { host: '127.0.0.1', port: 0 }, db: dbPath, sections }, { logger: silentLogger(), auth });
  const agents = new Map<string, SimAgent>();
  try {
    for (const n of nodes) {
      const a = await startSimAgent(collector.wsUrl, n.id, await hostInventory(n.host));
      agents.set(n.id, a);
      const v = await a.nextVerdict();
      if (v.status !== 'trusted') throw new Error(`fleet: ${n.id} became ${v.status}: ${JSON.stringify(v.reasons)}`);
    }
  } catch (e) {
    for (const a of agents.values()) await a.close();
    await collector.close();
    throw e;
  }
  return {
    collector,
    agents,
    dbPath,
    async attest(nodeId) {
      const res = await fetch(`${collector.url}/v1/nodes/${nodeId}/attest?wait=5`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR}` } });
      if (!res.ok) throw new Error(`attest ${nodeId}: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as { status: string; reasons: Array<{ code: string }> };
    },
    async close() {
      for (const a of agents.values()) await a.close();
      await collector.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
