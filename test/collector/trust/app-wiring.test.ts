import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../../collector/src/app.js';
import { CollectorEvents } from '../../../collector/src/events.js';
import { parseSchedulerSettings, startSchedulerFeatures, type SchedulerFeatures } from '../../../collector/src/integrations/index.js';
import { silentLogger } from '../../../collector/src/logger.js';
import { createEvidencePorts } from '../../../collector/src/pipeline/ports.js';
import { openSqliteStore } from '../../../collector/src/store/index.js';
import type { Store } from '../../../collector/src/store/store.js';
import { bulkAttestRoutes, createTrust, type TrustModule } from '../../../collector/src/trust/index.js';

/**
 * The wiring the collector uses for the scheduler features, through buildApp: trust routes,
 * receipt routes and bulk attestation on the real agent hub (no agent connected here).
 */
describe('scheduler features inside buildApp', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nodeseal-sched-app-'));
  let store: Store;
  let trust: TrustModule;
  let sched: SchedulerFeatures;
  let app: App;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    store = await openSqliteStore(join(dir, 'collector.db'));
    const events = new CollectorEvents();
    const logger = silentLogger();
    trust = await createTrust({ store, events, cache: { freshnessTtlSec: 180 } });
    sched = await startSchedulerFeatures({
      settings: parseSchedulerSettings({ trust: { stateDir: join(dir, 'state') } }, join(dir, 'collector.db')),
      store,
      trust,
      logger,
    });
    app = buildApp({
      store,
      events,
      logger,
      ports: createEvidencePorts(),
      routes: [
        trust.routes,
        sched.routes,
        (a) => bulkAttestRoutes({ challenger: a.accept, cache: trust.cache, maxWaitSec: a.config.maxAttestWaitSec }),
      ],
    });
    server = createServer(app.handleRequest);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    app.close();
    sched.close();
    trust.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('bulk attestation goes through the real hub: a node without an agent is not fresh', async () => {
    const r = await fetch(`${url}/v1/trust/attest?nodes=gpu001&wait=1`, { method: 'POST' });
    const body = (await r.json()) as { nodes: { nodeId: string; fresh: boolean; error: string; status: string }[]; allTrusted: boolean };
    expect(body.nodes).toMatchObject([{ nodeId: 'gpu001', fresh: false, error: 'ERR_NODE_NOT_CONNECTED', status: 'unknown' }]);
    expect(body.allTrusted).toBe(false);
  });

  it('serves the receipt key and receipts', async () => {
    expect(((await (await fetch(`${url}/v1/receipt/key`)).json()) as { crv: string }).crv).toBe('P-256');
    const r = (await (await fetch(`${url}/v1/receipt?nodes=gpu001`)).json()) as { receipt: string };
    expect(r.receipt.split('.').length).toBe(3);
  });
});
