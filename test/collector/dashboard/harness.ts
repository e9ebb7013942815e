import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectInventory } from '../../../agent/src/inventory.js';
import { createHostPorts } from '../../../agent/src/ports/host-ports.js';
import { createAccessControl } from '../../../collector/src/auth/access.js';
import { loadCollectorConfig } from '../../../collector/src/config.js';
import { openSqliteStore } from '../../../collector/src/store/index.js';
import { silentLogger } from '../../../collector/src/logger.js';
import { startCollector, type RunningCollector } from '../../../collector/src/server.js';
import type { Inventory } from '../../../shared/src/report/types.js';
import { copyHost, HOSTS_DIR, removeHost } from '../../helpers/hosts.js';
import { INTERVAL_SEC, softTpmSource, startTestAgent, waitFor, type TestAgent } from '../../e2e/harness.js';

/** The bootstrap operator token the test collector starts with (it then makes named tokens). */
export const BOOTSTRAP = 'bootstrap-operator-token-for-tests-0123456789';

export interface FleetNode {
  agent: TestAgent;
  /** The node's own copy of a recorded host (edit it with setGpuField to make drift). */
  root: string;
  /** The agent's simulated TPM: set `variant` to change the measured bootloader. */
  evidence: ReturnType<typeof softTpmSource>;
}

export interface Fleet {
  collector: RunningCollector;
  /** API tokens made through POST /v1/tokens: operator `alice`, viewer `victor`. */
  operator: string;
  viewer: string;
  nodes: Map<string, FleetNode>;
  dbPath: string;
  /** POST /v1/nodes/:id/attest?wait=5 as the operator; resolves with the verdict body. */
  attest(nodeId: string): Promise<{ status: string; reasons: Array<{ code: string }> }>;
  close(): Promise<void>;
}

/**
 * A real collector (SQLite file, loopback HTTP and WebSocket, the e2e suite's short interval) with
 * real agent daemons (test/e2e/harness.ts) on copies of recorded hosts, each with a simulated TPM
 * whose quotes the collector verifies for real; resolves when every node is trusted.
 */
export async function startFleet(nodes: Array<{ id: string; host: string }>, sections: Record<string, unknown> = {}): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'nodeseal-fleet-'));
  const dbPath = join(dir, 'collector.db');
  const config = {
    ...loadCollectorConfig({ flags: { listen: '127.0.0.1:0', db: dbPath, interval: String(INTERVAL_SEC), heartbeat: '1' } }),
    sections,
  };
  // Real access control, wired as `nodeseal collector --allow-tofu --bootstrap-token-file` does.
  const store = await openSqliteStore(dbPath);
  const access = await createAccessControl({
    db: store.db,
    logger: silentLogger(),
    allowTofu: true,
    ekCaDir: null,
    bootstrapToken: BOOTSTRAP,
  });
  const collector = await startCollector(config, {
    logger: silentLogger(),
    store,
    auth: access.auth,
    enroll: access.enroll,
    routes: [access.routes],
  });
  const detach = access.attach({
    events: collector.events,
    closeNode: (nodeId) => {
      collector.app.accept.closeNode(nodeId);
    },
  });
  const makeToken = async (name: string, role: string) => {
    const res = await fetch(`${collector.url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${BOOTSTRAP}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, role }),
    });
    if (!res.ok) throw new Error(`token ${name}: HTTP ${res.status} ${await res.text()}`);
    return ((await res.json()) as { token: string }).token;
  };
  const operator = await makeToken('alice', 'operator');
  const viewer = await makeToken('victor', 'viewer');
  const started = new Map<string, FleetNode>();
  const attest = async (nodeId: string) => {
    const res = await fetch(`${collector.url}/v1/nodes/${nodeId}/attest?wait=5`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}` },
    });
    if (!res.ok) throw new Error(`attest ${nodeId}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as { status: string; reasons: Array<{ code: string }> };
  };
  const close = async () => {
    for (const n of started.values()) {
      await n.agent.stop();
      await removeHost(n.root);
    }
    detach();
    await collector.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const n of nodes) {
      const root = await copyHost(n.host);
      const evidence = softTpmSource(root);
      started.set(n.id, { root, evidence, agent: await startTestAgent({ collector: collector.wsUrl, nodeId: n.id, evidence }) });
    }
    await waitFor('every node trusted', async () => {
      const res = await fetch(`${collector.url}/v1/nodes?limit=1000`, { headers: { authorization: `Bearer ${operator}` } });
      const body = (await res.json()) as { nodes: Array<{ nodeId: string; status: string }> };
      return nodes.every((n) => body.nodes.some((x) => x.nodeId === n.id && x.status === 'trusted'));
    });
  } catch (e) {
    await close();
    throw e;
  }
  return { collector, operator, viewer, nodes: started, dbPath, attest, close };
}

const inventories = new Map<string, Inventory>();
/** A real inventory collected from a recorded host under test/fixtures/hosts (as the agent sees it). */
export async function hostInventory(host: string): Promise<Inventory> {
  if (!inventories.has(host)) inventories.set(host, (await collectInventory(createHostPorts({ root: join(HOSTS_DIR, host) }))).inventory);
  return structuredClone(inventories.get(host)!);
}
