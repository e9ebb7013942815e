import type { TrustStatus } from '../../../shared/src/report/types.js';
import type {
  ApprovalRecord,
  Baseline,
  ChangeRecord,
  NodeKeyRecord,
  NodeQuery,
  NodeRecord,
  ReportRecord,
  ReportWrite,
  Store,
  VersionedNode,
} from './store.js';
import type { SqlDb, SqlExecutor, SqlValue } from './sql.js';
import { likeEscape, num } from './sql.js';
import { MIGRATIONS } from './migrations.js';
import type { Migration } from './migrations.js';
import { runMigrations } from './migrate.js';
import { ERR_STORE_CONFLICT, ERR_STORE_DUPLICATE_SEQ, StoreError } from './errors.js';
import {
  NODE_COLUMNS,
  REPORT_COLUMNS,
  TOUCH_NODE,
  UPSERT_NODE_KEEP_REVOKED,
  approvalFromRow,
  baselineFromRow,
  changeFromRow,
  json,
  keyFromRow,
  nodeFromRow,
  nodeParams,
  reportFromRow,
} from './rows.js';

const STATUSES: TrustStatus[] = ['trusted', 'untrusted', 'unknown', 'stale'];
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;
/** Ids per `IN (...)` list in getNodes (well under both engines' parameter limits). */
const IN_CHUNK = 500;

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function clampInt(v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined || !Number.isFinite(v)) return dflt;
  return Math.min(max, Math.max(min, Math.floor(v)));
}

/** Record a key-history row when the node's kid or AK differs from its latest one. */
async function noteKeys(tx: SqlExecutor, n: NodeRecord, at: string): Promise<void> {
  if (n.kid === null && n.akPublic === null) return;
  const last = await tx.get<{ kid: string | null; ak_public: string | null }>(
    'SELECT kid, ak_public FROM node_keys WHERE node_id = ? ORDER BY id DESC LIMIT 1',
    [n.nodeId],
  );
  if (last && last.kid === n.kid && last.ak_public === n.akPublic) return;
  await tx.run('INSERT INTO node_keys (node_id, kid, jwk, ak_public, first_seen_at) VALUES (?, ?, ?, ?, ?)', [
    n.nodeId,
    n.kid,
    json(n.jwk),
    n.akPublic,
    at,
  ]);
}

async function writeNode(tx: SqlExecutor, n: NodeRecord): Promise<void> {
  await noteKeys(tx, n, n.lastSeenAt ?? n.firstSeenAt);
  await tx.run(UPSERT_NODE_KEEP_REVOKED, nodeParams(n));
}

async function writeBaseline(tx: SqlExecutor, b: Baseline, approval: ApprovalRecord | null): Promise<void> {
  // The node row first (the order every node write takes: node, then baseline), so the approval
  // changes its version and, on PostgreSQL, notifies the cluster change feed at commit.
  await tx.run(TOUCH_NODE, [b.nodeId]);
  await tx.run(
    `INSERT INTO baselines (node_id, inventory, inventory_digest, pcrs, event_log, approved_by, reason, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (node_id) DO UPDATE SET inventory = excluded.inventory, inventory_digest = excluded.inventory_digest,
       pcrs = excluded.pcrs, event_log = excluded.event_log, approved_by = excluded.approved_by,
       reason = excluded.reason, created_at = excluded.created_at`,
    [b.nodeId, JSON.stringify(b.inventory), b.inventoryDigest, json(b.pcrs), b.eventLog, b.approvedBy, b.reason, b.createdAt],
  );
  if (approval) {
    await tx.run('INSERT INTO approvals (node_id, actor, reason, at, inventory_digest) VALUES (?, ?, ?, ?, ?)', [
      approval.nodeId,
      approval.actor,
      approval.reason,
      approval.at,
      approval.inventoryDigest,
    ]);
  }
}

/** One report, its changes, the node's new state (and a TOFU baseline) inside the caller's transaction. */
async function writeReport(tx: SqlExecutor, w: ReportWrite): Promise<void> {
  const { report: r, changes, node } = w;
  // Seqs of a node only grow, also when several collectors write it: the node row is locked (on
  // PostgreSQL; SQLite has one writer) and a seq not above its last one is a duplicate.
  const last = await tx.get<{ last_seq: unknown }>(
    `SELECT last_seq FROM nodes WHERE node_id = ?${tx.dialect === 'postgres' ? ' FOR UPDATE' : ''}`,
    [r.nodeId],
  );
  if (last && num(last.last_seq) >= r.seq)
    throw new StoreError(ERR_STORE_DUPLICATE_SEQ, `report ${r.nodeId}#${r.seq} is not after the node's last stored seq`, {
      details: { nodeId: r.nodeId, seq: r.seq, lastSeq: num(last.last_seq) },
    });
  const prev = await tx.get<{ inventory_digest: string; pcr_digest: string | null }>(
    'SELECT inventory_digest, pcr_digest FROM reports WHERE node_id = ? ORDER BY seq DESC LIMIT 1',
    [r.nodeId],
  );
  const same = prev !== undefined && prev.inventory_digest === r.inventoryDigest && (prev.pcr_digest ?? null) === (r.pcrDigest ?? null);
  try {
    await tx.run(`INSERT INTO reports (${REPORT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
      r.nodeId,
      r.seq,
      r.receivedAt,
      r.nonce,
      r.kind,
      r.status,
      JSON.stringify(r.reasons ?? []),
      r.inventoryDigest,
      r.pcrDigest,
      same ? null : r.jws,
    ]);
  } catch (e) {
    if (e instanceof StoreError && e.code === ERR_STORE_CONFLICT) {
      throw new StoreError(ERR_STORE_DUPLICATE_SEQ, `report ${r.nodeId}#${r.seq} is already stored`, {
        cause: e,
        details: { nodeId: r.nodeId, seq: r.seq },
      });
    }
    throw e;
  }
  for (const c of changes) {
    await tx.run('INSERT INTO changes (node_id, seq, at, code, claim, detail, before_value, after_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
      c.nodeId,
      c.seq,
      c.at,
      c.code,
      c.claim,
      c.detail,
      JSON.stringify(c.before ?? null),
      JSON.stringify(c.after ?? null),
    ]);
  }
  await writeNode(tx, node);
  if (w.baseline) await writeBaseline(tx, w.baseline, null);
}

/**
 * The Store written once over the SQL port; openSqliteStore / openPostgresStore pick the engine.
 * `migrations` defaults to the project's registry (tests may pass a longer list).
 */
export function createSqlStore(db: SqlDb, migrations: readonly Migration[] = MIGRATIONS): Store {
  return {
    db,
    async migrate() {
      await runMigrations(db, migrations);
    },
    close: () => db.close(),

    async getNode(nodeId) {
      const r = await db.get(`SELECT ${NODE_COLUMNS} FROM nodes WHERE node_id = ?`, [nodeId]);
      return r ? nodeFromRow(r) : null;
    },

    async listNodes(q: NodeQuery = {}) {
      const where: string[] = [];
      const params: SqlValue[] = [];
      if (q.status) {
        where.push('status = ?');
        params.push(q.status);
      }
      if (q.search) {
        where.push("LOWER(node_id) LIKE ? ESCAPE '\\'");
        params.push(`%${likeEscape(q.search.toLowerCase())}%`);
      }
      if (q.code) {
        where.push("reason_codes LIKE ? ESCAPE '\\'");
        params.push(`% ${likeEscape(q.code)} %`);
      }
      if (q.gpuModel) {
        where.push('gpu_model = ?');
        params.push(q.gpuModel);
      }
      if (q.driver) {
        where.push('driver = ?');
        params.push(q.driver);
      }
      const w = where.length ? ` WHERE ${where.join(' AND ')}` : '';
      const order =
        q.order === 'attention'
          ? "CASE status WHEN 'untrusted' THEN 0 WHEN 'stale' THEN 1 WHEN 'unknown' THEN 2 ELSE 3 END, node_id"
          : 'node_id';
      const limit = clampInt(q.limit, DEFAULT_LIMIT, 0, MAX_LIMIT);
      const offset = clampInt(q.offset, 0, 0, Number.MAX_SAFE_INTEGER);
      const [rows, count] = await Promise.all([
        db.all(`SELECT ${NODE_COLUMNS} FROM nodes${w} ORDER BY ${order} LIMIT ? OFFSET ?`, [...params, limit, offset]),
        db.get<{ n: unknown }>(`SELECT COUNT(*) AS n FROM nodes${w}`, params),
      ]);
      return { nodes: rows.map(nodeFromRow), total: num(count?.n ?? 0) };
    },

    async upsertNode(node) {
      await db.transaction((tx) => writeNode(tx, node));
    },

    async getNodes(ids) {
      const unique = [...new Set(ids)];
      const out: VersionedNode[] = [];
      for (let i = 0; i < unique.length; i += IN_CHUNK) {
        const chunk = unique.slice(i, i + IN_CHUNK);
        const rows = await db.all(`SELECT ${NODE_COLUMNS} FROM nodes WHERE node_id IN (${chunk.map(() => '?').join(', ')})`, chunk);
        for (const r of rows) out.push(nodeFromRow(r));
      }
      // Byte order, as node ids are sorted by listNodes on both engines.
      return out.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
    },

    async nodeVersions() {
      const rows = await db.all<{ node_id: string; version: unknown }>('SELECT node_id, version FROM nodes');
      return new Map(rows.map((r) => [String(r.node_id), num(r.version)]));
    },

    async getBaseline(nodeId) {
      const r = await db.get(
        'SELECT node_id, inventory, inventory_digest, pcrs, event_log, approved_by, reason, created_at FROM baselines WHERE node_id = ?',
        [nodeId],
      );
      return r ? baselineFromRow(r) : null;
    },

    async setBaseline(b: Baseline, approval: ApprovalRecord | null) {
      await db.transaction((tx) => writeBaseline(tx, b, approval));
    },

    async recordReport(r: ReportRecord, changes: Omit<ChangeRecord, 'id'>[], node: NodeRecord) {
      await db.transaction((tx) => writeReport(tx, { report: r, changes, node }));
    },

    async recordReports(batch: readonly ReportWrite[]) {
      if (batch.length === 0) return [];
      return db.transaction(async (tx) => {
        const out: Array<Error | null> = new Array(batch.length).fill(null);
        // Node rows are locked in one order (node id, then seq) so two collectors' batches cannot deadlock.
        const order = batch.map((_, i) => i);
        order.sort((a, b) => cmp(batch[a]!.report.nodeId, batch[b]!.report.nodeId) || batch[a]!.report.seq - batch[b]!.report.seq);
        for (const i of order) {
          // Savepoints are portable (SQLite and PostgreSQL): a failed item leaves the others intact.
          await tx.exec('SAVEPOINT report_write');
          try {
            await writeReport(tx, batch[i]!);
            await tx.exec('RELEASE SAVEPOINT report_write');
          } catch (e) {
            await tx.exec('ROLLBACK TO SAVEPOINT report_write');
            await tx.exec('RELEASE SAVEPOINT report_write');
            out[i] = e instanceof Error ? e : new Error(String(e));
          }
        }
        return out;
      });
    },

    async listReports(nodeId, opts = {}) {
      const limit = clampInt(opts.limit, DEFAULT_LIMIT, 0, MAX_LIMIT);
      const rows =
        opts.beforeSeq === undefined
          ? await db.all(`SELECT ${REPORT_COLUMNS} FROM reports WHERE node_id = ? ORDER BY seq DESC LIMIT ?`, [nodeId, limit])
          : await db.all(`SELECT ${REPORT_COLUMNS} FROM reports WHERE node_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`, [
              nodeId,
              opts.beforeSeq,
              limit,
            ]);
      return rows.map(reportFromRow);
    },

    async getReport(nodeId, seq) {
      const r = await db.get(`SELECT ${REPORT_COLUMNS} FROM reports WHERE node_id = ? AND seq = ?`, [nodeId, seq]);
      return r ? reportFromRow(r) : null;
    },

    async latestFullReport(nodeId, opts = {}) {
      const r = opts.kind
        ? await db.get(
            `SELECT ${REPORT_COLUMNS} FROM reports WHERE node_id = ? AND jws IS NOT NULL AND kind = ? ORDER BY seq DESC LIMIT 1`,
            [nodeId, opts.kind],
          )
        : await db.get(`SELECT ${REPORT_COLUMNS} FROM reports WHERE node_id = ? AND jws IS NOT NULL ORDER BY seq DESC LIMIT 1`, [nodeId]);
      return r ? reportFromRow(r) : null;
    },

    async latestVerifiedState(nodeId) {
      const fresh = await db.get(`SELECT ${REPORT_COLUMNS} FROM reports WHERE node_id = ? AND kind = 'fresh' ORDER BY seq DESC LIMIT 1`, [
        nodeId,
      ]);
      if (!fresh) return null;
      const report = reportFromRow(fresh);
      if (report.jws) return { report, full: report };
      const full = await db.get(
        `SELECT ${REPORT_COLUMNS} FROM reports WHERE node_id = ? AND seq < ? AND jws IS NOT NULL AND inventory_digest = ?
           AND ${report.pcrDigest === null ? 'pcr_digest IS NULL' : 'pcr_digest = ?'} ORDER BY seq DESC LIMIT 1`,
        report.pcrDigest === null
          ? [nodeId, report.seq, report.inventoryDigest]
          : [nodeId, report.seq, report.inventoryDigest, report.pcrDigest],
      );
      return full ? { report, full: reportFromRow(full) } : null;
    },

    async listChanges(nodeId, opts = {}) {
      const limit = clampInt(opts.limit, DEFAULT_LIMIT, 0, MAX_LIMIT);
      const rows = await db.all(
        'SELECT id, node_id, seq, at, code, claim, detail, before_value, after_value FROM changes WHERE node_id = ? ORDER BY id DESC LIMIT ?',
        [nodeId, limit],
      );
      return rows.map(changeFromRow);
    },

    async listApprovals(nodeId) {
      const rows = await db.all('SELECT node_id, actor, reason, at, inventory_digest FROM approvals WHERE node_id = ? ORDER BY id', [
        nodeId,
      ]);
      return rows.map(approvalFromRow);
    },

    async countByStatus() {
      const rows = await db.all<{ status: string; n: unknown }>('SELECT status, COUNT(*) AS n FROM nodes GROUP BY status');
      const out = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<TrustStatus, number>;
      for (const r of rows) if ((STATUSES as string[]).includes(r.status)) out[r.status as TrustStatus] = num(r.n);
      return out;
    },

    async listKeys(nodeId): Promise<NodeKeyRecord[]> {
      const rows = await db.all('SELECT node_id, kid, jwk, ak_public, first_seen_at FROM node_keys WHERE node_id = ? ORDER BY id', [
        nodeId,
      ]);
      return rows.map(keyFromRow);
    },
  };
}
