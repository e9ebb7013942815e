import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reason } from '../../../shared/src/report/types.js';
import type { ApprovalRecord, Baseline, NodeRecord, ReportRecord, Store } from '../../../collector/src/store/store.js';
import { MIGRATIONS, portable } from '../../../collector/src/store/migrations.js';
import { appliedMigrations } from '../../../collector/src/store/migrate.js';
import { createSqlStore } from '../../../collector/src/store/sql-store.js';
import type { SqlDb } from '../../../collector/src/store/sql.js';
import { ERR_STORE_CORRUPT, ERR_STORE_DUPLICATE_SEQ } from '../../../collector/src/store/errors.js';

/**
 * The one contract suite every Store implementation must pass. Each engine's test file calls
 * `storeContract(name, harness)`; the harness opens a fresh, migrated store and can open a raw
 * SQL port on the same database (for migration-registry tests).
 */
export interface StoreHarness {
  open(): Promise<Store>;
  /** A fresh empty database's raw port (its own schema/file), migrated by the test itself. */
  openEmptyDb(): Promise<SqlDb>;
  cleanup(): Promise<void>;
}

const T0 = '2026-01-01T00:00:00.000Z';
const at = (min: number): string => new Date(Date.parse(T0) + min * 60_000).toISOString();

export function node(nodeId: string, over: Partial<NodeRecord> = {}): NodeRecord {
  return {
    nodeId,
    jwk: { kty: 'EC', crv: 'P-256', x: `x-${nodeId}`, y: `y-${nodeId}` },
    kid: `kid-${nodeId}`,
    akPublic: `0023000b${Buffer.from(nodeId).toString('hex')}`,
    lastSeq: 0,
    status: 'trusted',
    reasons: [],
    firstSeenAt: T0,
    lastSeenAt: T0,
    verifiedAt: T0,
    enrolledVia: 'tofu',
    revokedAt: null,
    summary: {
      gpuCount: 8,
      gpuModel: 'NVIDIA H100 80GB HBM3',
      driver: '550.54.15',
      vbios: ['96.00.74.00.01'],
      biosVersion: '2.1.0',
      inventoryDigest: 'sha256:aa',
      pcrDigest: 'sha256:bb',
    },
    ...over,
  };
}

function report(nodeId: string, seq: number, over: Partial<ReportRecord> = {}): ReportRecord {
  return {
    nodeId,
    seq,
    receivedAt: at(seq),
    nonce: 'ab'.repeat(16),
    kind: 'fresh',
    status: 'trusted',
    reasons: [],
    inventoryDigest: 'sha256:inv1',
    pcrDigest: 'sha256:pcr1',
    jws: `header.payload-${seq}.sig`,
    ...over,
  };
}

const vbiosReason: Reason = {
  code: 'gpu.vbios_changed',
  claim: 'firmware',
  detail: 'GPU 3 (0000:3B:00.0) VBIOS 88.00.98.00.01 → 88.00.99.00.01',
  before: '88.00.98.00.01',
  after: '88.00.99.00.01',
};

export function storeContract(engine: string, h: StoreHarness): void {
  describe(`Store contract: ${engine}`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await h.open();
    });
    afterAll(async () => {
      await store?.close();
      await h.cleanup();
    });

    it('records every registered migration once; migrate() again applies nothing new', async () => {
      expect(await appliedMigrations(store.db)).toEqual(MIGRATIONS.map((m) => m.id));
      await store.migrate();
      const rows = await store.db.all<{ n: unknown }>('SELECT COUNT(*) AS n FROM schema_migrations');
      expect(Number(rows[0]!.n)).toBe(MIGRATIONS.length);
    });

    it('applies a migration appended to the registry, once, on an existing database', async () => {
      const db = await h.openEmptyDb();
      try {
        const s1 = createSqlStore(db);
        await s1.migrate();
        const extra = [...MIGRATIONS, portable('9999_test_extra', 'CREATE TABLE test_outbox (id TEXT PRIMARY KEY, body TEXT NOT NULL)')];
        const s2 = createSqlStore(db, extra);
        await s2.migrate();
        await s2.migrate();
        expect(await appliedMigrations(db)).toEqual(extra.map((m) => m.id));
        await db.run('INSERT INTO test_outbox (id, body) VALUES (?, ?)', ['a', '{}']);
        expect(await db.get('SELECT body FROM test_outbox WHERE id = ?', ['a'])).toEqual({ body: '{}' });
      } finally {
        await db.close();
      }
    });

    it('round-trips a node and overwrites it on upsert', async () => {
      const n = node('rt-1', { reasons: [vbiosReason], status: 'untrusted' });
      await store.upsertNode(n);
      expect(await store.getNode('rt-1')).toEqual({ ...n, version: expect.any(Number) });
      const n2 = { ...n, status: 'trusted' as const, reasons: [], lastSeq: 7, summary: null, jwk: null };
      await store.upsertNode(n2);
      expect(await store.getNode('rt-1')).toEqual({ ...n2, version: expect.any(Number) });
      expect(await store.getNode('missing')).toBeNull();
    });

    it('increases a node row version on every write: upsert, report, batch, baseline', async () => {
      const v = async (id: string): Promise<number> => (await store.getNode(id))!.version!;
      await store.upsertNode(node('ver-1'));
      const v1 = await v('ver-1');
      expect(Number.isInteger(v1)).toBe(true);
      // A version passed in by the writer is ignored: the store assigns it.
      await store.upsertNode({ ...node('ver-1'), version: 1_000_000 });
      const v2 = await v('ver-1');
      expect(v2).toBeGreaterThan(v1);
      expect(v2).toBeLessThan(1_000_000);
      await store.recordReport(report('ver-1', 1), [], node('ver-1', { lastSeq: 1 }));
      const v3 = await v('ver-1');
      expect(v3).toBeGreaterThan(v2);
      await store.recordReports([{ report: report('ver-1', 2), changes: [], node: node('ver-1', { lastSeq: 2 }) }]);
      const v4 = await v('ver-1');
      expect(v4).toBeGreaterThan(v3);
      const b: Baseline = {
        nodeId: 'ver-1',
        inventory: {
          platform: null,
          cpu: null,
          kernel: null,
          secureBoot: null,
          gpus: [],
          nvswitches: [],
          nics: [],
          hcas: [],
          disks: [],
          pci: [],
          sources: {},
        },
        inventoryDigest: 'sha256:inv1',
        pcrs: null,
        eventLog: null,
        approvedBy: 'alice',
        reason: 'approved',
        createdAt: T0,
      };
      await store.setBaseline(b, { nodeId: 'ver-1', actor: 'alice', reason: 'approved', at: T0, inventoryDigest: 'sha256:inv1' });
      const v5 = await v('ver-1');
      expect(v5).toBeGreaterThan(v4);
      // A refused duplicate writes nothing, so the version stays.
      await store.recordReport(report('ver-1', 2), [], node('ver-1', { lastSeq: 2 })).catch(() => undefined);
      expect(await v('ver-1')).toBe(v5);
      // Other nodes' versions are untouched by these writes.
      await store.upsertNode(node('ver-2'));
      const v6 = await v('ver-2');
      await store.upsertNode(node('ver-1'));
      expect(await v('ver-2')).toBe(v6);
    });

    it('reads several nodes by id and every node version', async () => {
      await store.upsertNode(node('many-b'));
      await store.upsertNode(node('many-a', { status: 'untrusted', reasons: [vbiosReason] }));
      const got = await store.getNodes(['many-b', 'missing-x', 'many-a', 'many-b']);
      expect(got.map((n) => n.nodeId)).toEqual(['many-a', 'many-b']);
      expect(got[0]).toEqual({ ...node('many-a', { status: 'untrusted', reasons: [vbiosReason] }), version: expect.any(Number) });
      expect(await store.getNodes([])).toEqual([]);
      const versions = await store.nodeVersions();
      expect(versions.get('many-a')).toBe(got[0]!.version);
      expect(versions.get('many-b')).toBe(got[1]!.version);
      expect(versions.has('missing-x')).toBe(false);
      // More ids than one IN list holds.
      const ids = Array.from({ length: 1203 }, (_, i) => `bulk-${String(i).padStart(4, '0')}`);
      await store.recordReports(ids.map((id) => ({ report: report(id, 1), changes: [], node: node(id, { lastSeq: 1 }) })));
      const bulk = await store.getNodes(ids);
      expect(bulk.map((n) => n.nodeId)).toEqual(ids);
      expect((await store.nodeVersions()).size).toBeGreaterThanOrEqual(ids.length + 2);
      // Clean up so the listing tests below count only their own fleet.
      await store.db.run("DELETE FROM nodes WHERE node_id LIKE 'bulk-%'");
    });

    it('keeps a key history row whenever kid or AK changes', async () => {
      const n = node('keys-1');
      await store.upsertNode(n);
      await store.upsertNode({ ...n, lastSeq: 2 });
      await store.upsertNode({ ...n, akPublic: 'beef', lastSeenAt: at(5) });
      const keys = await store.listKeys('keys-1');
      expect(keys.map((k) => [k.kid, k.akPublic])).toEqual([
        [n.kid, n.akPublic],
        [n.kid, 'beef'],
      ]);
      expect(keys[0]!.jwk).toEqual(n.jwk);
      expect(keys[1]!.firstSeenAt).toBe(at(5));
    });

    it('stores a report, its changes and the node state in one transaction', async () => {
      const n = node('rep-1', { status: 'untrusted', reasons: [vbiosReason], lastSeq: 1 });
      await store.recordReport(
        report('rep-1', 1, { status: 'untrusted', reasons: [vbiosReason] }),
        [
          {
            nodeId: 'rep-1',
            seq: 1,
            at: at(1),
            code: vbiosReason.code,
            claim: 'firmware',
            detail: vbiosReason.detail,
            before: '88.00.98.00.01',
            after: '88.00.99.00.01',
          },
          {
            nodeId: 'rep-1',
            seq: 1,
            at: at(1),
            code: 'gpu.added',
            claim: 'hardware',
            detail: 'GPU 8 added',
            before: undefined,
            after: { serial: '1' },
          },
        ],
        n,
      );
      expect(await store.getNode('rep-1')).toEqual({ ...n, version: expect.any(Number) });
      const [r] = await store.listReports('rep-1');
      expect(r).toEqual(report('rep-1', 1, { status: 'untrusted', reasons: [vbiosReason] }));
      const changes = await store.listChanges('rep-1');
      expect(changes.map((c) => c.code)).toEqual(['gpu.added', 'gpu.vbios_changed']);
      expect(changes[0]!.before).toBeNull();
      expect(changes[0]!.after).toEqual({ serial: '1' });
      expect(changes[1]!.before).toBe('88.00.98.00.01');
      expect(changes[1]!.id).toBeLessThan(changes[0]!.id);
    });

    it('rejects a duplicate (nodeId, seq) with ERR_STORE_DUPLICATE_SEQ and stores nothing of it', async () => {
      const n = node('dup-1', { lastSeq: 1 });
      await store.recordReport(report('dup-1', 1), [], n);
      const err = await store
        .recordReport(
          report('dup-1', 1, { status: 'untrusted' }),
          [{ nodeId: 'dup-1', seq: 1, at: at(2), code: 'gpu.added', claim: 'hardware', detail: 'x', before: null, after: null }],
          { ...n, status: 'untrusted', lastSeq: 99 },
        )
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect((err as { code?: string })?.code).toBe(ERR_STORE_DUPLICATE_SEQ);
      expect((await store.getNode('dup-1'))!.lastSeq).toBe(1);
      expect((await store.getNode('dup-1'))!.status).toBe('trusted');
      expect(await store.listChanges('dup-1')).toEqual([]);
      expect((await store.listReports('dup-1')).map((r) => r.status)).toEqual(['trusted']);
    });

    it('keeps the full JWS only when the inventory digest or PCRs changed since the previous report', async () => {
      const id = 'compact-1';
      const n = node(id);
      await store.recordReport(report(id, 1), [], n);
      await store.recordReport(report(id, 2), [], n);
      await store.recordReport(report(id, 3, { pcrDigest: 'sha256:pcr2' }), [], n);
      await store.recordReport(report(id, 4, { pcrDigest: 'sha256:pcr2', kind: 'history', nonce: null }), [], n);
      await store.recordReport(
        report(id, 5, { pcrDigest: 'sha256:pcr2', inventoryDigest: 'sha256:inv2', kind: 'history', nonce: null }),
        [],
        n,
      );
      await store.recordReport(report(id, 6, { pcrDigest: null, inventoryDigest: 'sha256:inv2' }), [], n);
      await store.recordReport(report(id, 7, { pcrDigest: null, inventoryDigest: 'sha256:inv2' }), [], n);
      const rows = await store.listReports(id);
      expect(rows.map((r) => [r.seq, r.jws !== null])).toEqual([
        [7, false],
        [6, true],
        [5, true],
        [4, false],
        [3, true],
        [2, false],
        [1, true],
      ]);
      expect(rows.find((r) => r.seq === 4)!.nonce).toBeNull();
      expect((await store.latestFullReport(id))!.seq).toBe(6);
      expect((await store.latestFullReport(id, { kind: 'history' }))!.seq).toBe(5);
      expect((await store.getReport(id, 3))!.jws).toBe('header.payload-3.sig');
      expect(await store.getReport(id, 42)).toBeNull();
      expect((await store.listReports(id, { beforeSeq: 5, limit: 2 })).map((r) => r.seq)).toEqual([4, 3]);
    });

    it('sets and replaces a baseline, recording each approval', async () => {
      const b: Baseline = {
        nodeId: 'base-1',
        inventory: {
          platform: null,
          cpu: null,
          kernel: null,
          secureBoot: null,
          gpus: [],
          nvswitches: [],
          nics: [],
          hcas: [],
          disks: [],
          pci: [],
          sources: { gpu: { status: 'ok' } },
        },
        inventoryDigest: 'sha256:inv1',
        pcrs: { sha256: { '0': '00'.repeat(32) } },
        eventLog: 'AAEC',
        approvedBy: 'first-use',
        reason: 'trust on first use',
        createdAt: T0,
      };
      expect(await store.getBaseline('base-1')).toBeNull();
      await store.setBaseline(b, null);
      expect(await store.getBaseline('base-1')).toEqual(b);
      const b2: Baseline = {
        ...b,
        inventoryDigest: 'sha256:inv2',
        pcrs: null,
        eventLog: null,
        approvedBy: 'alice',
        reason: 'planned VBIOS update',
        createdAt: at(10),
      };
      const appr: ApprovalRecord = {
        nodeId: 'base-1',
        actor: 'alice',
        reason: 'planned VBIOS update',
        at: at(10),
        inventoryDigest: 'sha256:inv2',
      };
      await store.setBaseline(b2, appr);
      await store.setBaseline({ ...b2, reason: 'again' }, { ...appr, reason: 'again' });
      expect((await store.getBaseline('base-1'))!.reason).toBe('again');
      expect((await store.getBaseline('base-1'))!.pcrs).toBeNull();
      expect((await store.listApprovals('base-1')).map((a) => a.reason)).toEqual(['planned VBIOS update', 'again']);
    });

    it('reports a JSON column damaged outside nodeseal with ERR_STORE_CORRUPT', async () => {
      await store.upsertNode(node('corrupt-1'));
      await store.db.run('UPDATE nodes SET reasons = ? WHERE node_id = ?', ['{not json', 'corrupt-1']);
      await expect(store.getNode('corrupt-1')).rejects.toMatchObject({ code: ERR_STORE_CORRUPT });
      await store.db.run('DELETE FROM nodes WHERE node_id = ?', ['corrupt-1']);
    });

    it('rolls back a failed transaction on the raw port', async () => {
      await store.db
        .transaction(async (tx) => {
          await tx.run('INSERT INTO approvals (node_id, actor, reason, at, inventory_digest) VALUES (?, ?, ?, ?, ?)', [
            'rb-1',
            'a',
            'r',
            T0,
            'd',
          ]);
          throw new Error('boom');
        })
        .catch(() => undefined);
      expect(await store.listApprovals('rb-1')).toEqual([]);
    });

    it('recordReports writes a batch in one transaction; a duplicate seq fails only its own item', async () => {
      await store.recordReport(report('gc-1', 1), [], node('gc-1', { lastSeq: 1 }));
      const tofu: Baseline = {
        nodeId: 'gc-2',
        inventory: {
          platform: null,
          cpu: null,
          kernel: null,
          secureBoot: null,
          gpus: [],
          nvswitches: [],
          nics: [],
          hcas: [],
          disks: [],
          pci: [],
          sources: {},
        },
        inventoryDigest: 'sha256:inv1',
        pcrs: { sha256: { '7': 'ab'.repeat(32) } },
        eventLog: null,
        approvedBy: 'tofu',
        reason: 'first verified report (trust on first use)',
        createdAt: at(1),
      };
      const change = (id: string, seq: number) => ({
        nodeId: id,
        seq,
        at: at(seq),
        code: 'gpu.added',
        claim: 'hardware' as const,
        detail: `d${seq}`,
        before: null,
        after: seq,
      });
      const results = await store.recordReports([
        { report: report('gc-1', 2), changes: [change('gc-1', 2)], node: node('gc-1', { lastSeq: 2 }) },
        // Duplicate of the stored seq 1: rolled back alone, with its change and node state.
        {
          report: report('gc-1', 1, { status: 'untrusted' }),
          changes: [change('gc-1', 1)],
          node: node('gc-1', { lastSeq: 99, status: 'untrusted' }),
        },
        { report: report('gc-2', 1), changes: [], node: node('gc-2', { lastSeq: 1 }), baseline: tofu },
        // Same (nodeId, seq) twice inside one batch: the second fails, the first stays.
        { report: report('gc-1', 3), changes: [], node: node('gc-1', { lastSeq: 3 }) },
        { report: report('gc-1', 3, { status: 'unknown' }), changes: [change('gc-1', 3)], node: node('gc-1', { lastSeq: 98 }) },
      ]);
      expect(results.map((e) => (e === null ? null : (e as { code?: string }).code))).toEqual([
        null,
        ERR_STORE_DUPLICATE_SEQ,
        null,
        null,
        ERR_STORE_DUPLICATE_SEQ,
      ]);
      expect((await store.listReports('gc-1')).map((r) => [r.seq, r.status])).toEqual([
        [3, 'trusted'],
        [2, 'trusted'],
        [1, 'trusted'],
      ]);
      expect((await store.listChanges('gc-1')).map((c) => c.seq)).toEqual([2]);
      expect((await store.getNode('gc-1'))!.lastSeq).toBe(3);
      expect((await store.getNode('gc-1'))!.status).toBe('trusted');
      expect(await store.getBaseline('gc-2')).toEqual(tofu);
      expect(await store.listApprovals('gc-2')).toEqual([]);
      // The compact-row rule holds inside a batch: seq 3 has the digests of seq 2, stored just before it.
      expect((await store.getReport('gc-1', 3))!.jws).toBeNull();
      expect(await store.recordReports([])).toEqual([]);
    });

    it('serves concurrent report writes without losing or interleaving any', async () => {
      // Nodes write concurrently; one node's reports in order (the collector's node lock does that).
      const ids = Array.from({ length: 5 }, (_, i) => `conc-${i}`);
      await Promise.all(
        ids.map(async (id) => {
          for (let s = 0; s < 10; s++)
            await store.recordReport(
              report(id, s + 1),
              [{ nodeId: id, seq: s + 1, at: at(s), code: 'x', claim: 'hardware', detail: 'd', before: s, after: s + 1 }],
              node(id, { lastSeq: s + 1 }),
            );
        }),
      );
      for (const id of ids) {
        expect((await store.listReports(id)).length).toBe(10);
        expect((await store.listChanges(id)).length).toBe(10);
      }
    });

    it("refuses a seq not above the node's last stored one (another collector wrote a later one) with ERR_STORE_DUPLICATE_SEQ", async () => {
      await store.recordReport(report('order-1', 5), [], node('order-1', { lastSeq: 5 }));
      await expect(store.recordReport(report('order-1', 4), [], node('order-1', { lastSeq: 4 }))).rejects.toMatchObject({
        code: ERR_STORE_DUPLICATE_SEQ,
      });
      expect((await store.listReports('order-1')).map((r) => r.seq)).toEqual([5]);
      expect((await store.getNode('order-1'))?.lastSeq).toBe(5);
    });

    describe('listNodes', () => {
      const fleet = 'fleet-';
      beforeAll(async () => {
        for (let i = 0; i < 30; i++) {
          const status = i % 10 === 0 ? 'untrusted' : i % 10 === 1 ? 'stale' : i % 10 === 2 ? 'unknown' : 'trusted';
          const reasons = status === 'untrusted' ? [vbiosReason] : [];
          const gpuModel = i % 2 ? 'NVIDIA A100-SXM4-80GB' : 'NVIDIA H100 80GB HBM3';
          const base = node(`${fleet}gpu${String(i).padStart(3, '0')}`, { status, reasons });
          await store.upsertNode({ ...base, summary: { ...base.summary!, gpuModel, driver: i < 15 ? '550.54.15' : '535.104.05' } });
        }
        await store.upsertNode(node(`${fleet}Mixed_Case%1`));
      });

      it('filters by status and counts the total beyond the page', async () => {
        const page = await store.listNodes({ status: 'trusted', search: fleet, limit: 5 });
        expect(page.total).toBe(22);
        expect(page.nodes.map((n) => n.nodeId)).toEqual([
          'fleet-Mixed_Case%1',
          'fleet-gpu003',
          'fleet-gpu004',
          'fleet-gpu005',
          'fleet-gpu006',
        ]);
        const page2 = await store.listNodes({ status: 'trusted', search: fleet, limit: 5, offset: 20 });
        expect(page2.nodes.map((n) => n.nodeId)).toEqual(['fleet-gpu028', 'fleet-gpu029']);
        expect(page2.total).toBe(22);
      });

      it('searches node ids by case-insensitive substring, with % and _ taken literally', async () => {
        expect((await store.listNodes({ search: 'GPU02' })).nodes.map((n) => n.nodeId)).toEqual(
          Array.from({ length: 10 }, (_, i) => `fleet-gpu02${i}`),
        );
        expect((await store.listNodes({ search: 'mixed_case%' })).nodes.map((n) => n.nodeId)).toEqual(['fleet-Mixed_Case%1']);
        expect((await store.listNodes({ search: 'd_case%' })).total).toBe(1);
        expect((await store.listNodes({ search: 'fleet-gpu0_1' })).total).toBe(0);
      });

      it('filters by reason code, GPU model and driver', async () => {
        const byCode = await store.listNodes({ search: fleet, code: 'gpu.vbios_changed' });
        expect(byCode.nodes.map((n) => n.nodeId)).toEqual(['fleet-gpu000', 'fleet-gpu010', 'fleet-gpu020']);
        expect((await store.listNodes({ search: fleet, code: 'gpu.vbios' })).total).toBe(0);
        expect((await store.listNodes({ search: fleet, gpuModel: 'NVIDIA A100-SXM4-80GB' })).total).toBe(15);
        expect((await store.listNodes({ search: fleet, gpuModel: 'NVIDIA A100-SXM4-80GB', driver: '535.104.05' })).total).toBe(8);
      });

      it('orders by attention: untrusted, stale, unknown, then trusted', async () => {
        const { nodes } = await store.listNodes({ search: fleet, order: 'attention', limit: 10 });
        expect(nodes.map((n) => n.status)).toEqual([
          'untrusted',
          'untrusted',
          'untrusted',
          'stale',
          'stale',
          'stale',
          'unknown',
          'unknown',
          'unknown',
          'trusted',
        ]);
        expect(nodes[0]!.nodeId).toBe('fleet-gpu000');
      });

      it('counts nodes by status', async () => {
        const counts = await store.countByStatus();
        const all = await store.listNodes({ limit: 10_000 });
        for (const s of ['trusted', 'untrusted', 'unknown', 'stale'] as const) {
          expect(counts[s]).toBe(all.nodes.filter((n) => n.status === s).length);
        }
        expect(counts.untrusted).toBeGreaterThanOrEqual(3);
      });
    });
  });
}
