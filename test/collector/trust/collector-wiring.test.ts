import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCollectorConfig } from '../../../collector/src/config.js';
import { silentLogger } from '../../../collector/src/logger.js';
import { startCollector, type RunningCollector } from '../../../collector/src/server.js';
import { openSqliteStore } from '../../../collector/src/store/index.js';

/** The trust API as the real collector serves it: startCollector, a real SQLite file, the event bus. */
describe('trust API in the running collector', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nodeseal-trust-wiring-'));
  let c: RunningCollector;

  beforeAll(async () => {
    const db = join(dir, 'collector.db');
    const store = await openSqliteStore(db);
    const now = new Date().toISOString();
    for (const [nodeId, status] of [
      ['gpu001', 'trusted'],
      ['gpu002', 'untrusted'],
    ] as const) {
      await store.upsertNode({
        nodeId,
        jwk: null,
        kid: null,
        akPublic: null,
        lastSeq: 1,
        status,
        reasons: status === 'untrusted' ? [{ code: 'gpu.replaced', claim: 'hardware', detail: 'GPU 1 serial changed' }] : [],
        firstSeenAt: now,
        lastSeenAt: now,
        verifiedAt: now,
        enrolledVia: 'tofu',
        revokedAt: null,
        summary: null,
      });
    }
    await store.close();
    c = await startCollector(loadCollectorConfig({ flags: { listen: '127.0.0.1:0', db } }), { logger: silentLogger() });
  });
  afterAll(async () => {
    await c?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers single and bulk trust from what the store held at start', async () => {
    const one = (await (await fetch(`${c.url}/v1/nodes/gpu002/trust`)).json()) as {
      status: string;
      reasons: { code: string }[];
      expiresAt: string;
    };
    expect(one.status).toBe('untrusted');
    expect(one.reasons[0]!.code).toBe('gpu.replaced');
    const bulk = (await (await fetch(`${c.url}/v1/trust?nodes=gpu%5B001-003%5D`)).json()) as { counts: Record<string, number> };
    expect(bulk.counts).toEqual({ trusted: 1, untrusted: 1, unknown: 1, stale: 0 });
  });

  it('follows the collector event bus, visible on the watch stream', async () => {
    const ac = new AbortController();
    const r = await fetch(`${c.url}/v1/trust/watch?nodes=gpu001`, { signal: ac.signal });
    const reader = r.body!.getReader();
    await reader.read(); // retry line: the stream is open
    c.events.emit('status-changed', {
      nodeId: 'gpu001',
      from: 'trusted',
      to: 'untrusted',
      reasons: [{ code: 'platform.bios_changed', claim: 'firmware', detail: '1.2 -> 1.3' }],
      at: new Date().toISOString(),
    });
    let text = '';
    while (!text.includes('event: trust')) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toContain('"status":"untrusted"');
    ac.abort();
    const one = (await (await fetch(`${c.url}/v1/nodes/gpu001/trust`)).json()) as { status: string };
    expect(one.status).toBe('untrusted');
  });
});
