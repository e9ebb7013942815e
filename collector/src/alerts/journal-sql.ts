import type { SqlDb, SqlExecutor } from '../store/sql.js';
import { num } from '../store/sql.js';
import { NODE_COLUMNS, changeFromRow, nodeFromRow } from '../store/rows.js';
import type { ChangeRecord, NodeRecord } from '../store/store.js';
import { ADOPT, type AlertCursor } from './derive.js';
import type { NewOutboxRow } from './outbox.js';
import { insertOutboxRows } from './outbox-sql.js';

/** Turns what was committed past a node's cursor into outbox rows and the cursor that covers them. */
export type AlertBuilder = (
  cursor: AlertCursor,
  node: NodeRecord | null,
  changes: ChangeRecord[],
) => { rows: NewOutboxRow[]; next: AlertCursor };

export interface ReconcileResult {
  rows: NewOutboxRow[];
  /** Oldest pending rows moved to dead-letter by a webhook's cap, per webhook. */
  overflow: Map<string, number>;
}

/**
 * The alert cursor (table alert_cursor, migration 0201_alert_cursor) next to the store's own
 * tables. One transaction per node: lock the node's cursor row, read the node and its change
 * rows past the cursor, insert the outbox rows and advance the cursor, so an alert is queued
 * exactly once whichever collector (or restart) gets there first.
 */
export class SqlAlertJournal {
  constructor(
    private readonly db: SqlDb,
    private readonly maxPending: (webhook: string) => number,
  ) {}

  reconcile(nodeId: string, build: AlertBuilder): Promise<ReconcileResult> {
    return this.db.transaction(async (tx) => {
      const cursor = await lockCursor(tx, nodeId);
      const nodeRow = await tx.get(`SELECT ${NODE_COLUMNS} FROM nodes WHERE node_id = ?`, [nodeId]);
      const changes = (
        await tx.all(
          'SELECT id, node_id, seq, at, code, claim, detail, before_value, after_value FROM changes WHERE node_id = ? AND seq > ? ORDER BY id',
          [nodeId, cursor.driftSeq],
        )
      ).map(changeFromRow);
      const { rows, next } = build(cursor, nodeRow ? nodeFromRow(nodeRow) : null, changes);
      const overflow = await insertOutboxRows(tx, rows, this.maxPending);
      if (next.statusKey !== cursor.statusKey || next.driftSeq !== cursor.driftSeq)
        await tx.run('UPDATE alert_cursor SET status_key = ?, drift_seq = ?, updated_at = ? WHERE node_id = ?', [
          next.statusKey,
          next.driftSeq,
          new Date().toISOString(),
          nodeId,
        ]);
      return { rows, overflow };
    });
  }

  /**
   * Adopts nodes' current status without alerting, in one transaction (the first start after
   * migration 0201 marked existing nodes ADOPT); a cursor that moved meanwhile is left alone.
   */
  async adopt(entries: ReadonlyArray<{ nodeId: string; statusKey: string | null }>): Promise<void> {
    if (entries.length === 0) return;
    const at = new Date().toISOString();
    await this.db.transaction(async (tx) => {
      for (const e of entries)
        await tx.run('UPDATE alert_cursor SET status_key = ?, updated_at = ? WHERE node_id = ? AND status_key = ?', [
          e.statusKey,
          at,
          e.nodeId,
          ADOPT,
        ]);
    });
  }

  /**
   * Every node with its cursor and newest change seq, in node id order, a page at a time (the
   * start-up scan for alerts committed but never queued).
   */
  async *scan(pageSize = 1000): AsyncGenerator<{ node: NodeRecord; cursor: AlertCursor; maxChangeSeq: number }> {
    let after = '';
    for (;;) {
      const rows = await this.db.all(
        `SELECT ${NODE_COLUMNS},
           (SELECT c.status_key FROM alert_cursor c WHERE c.node_id = nodes.node_id) AS cursor_key,
           (SELECT c.drift_seq FROM alert_cursor c WHERE c.node_id = nodes.node_id) AS cursor_seq,
           (SELECT MAX(ch.seq) FROM changes ch WHERE ch.node_id = nodes.node_id) AS max_change_seq
         FROM nodes WHERE node_id > ? ORDER BY node_id LIMIT ?`,
        [after, pageSize],
      );
      for (const r of rows) {
        const seq = r.cursor_seq === null || r.cursor_seq === undefined ? -1 : num(r.cursor_seq);
        yield {
          node: nodeFromRow(r),
          cursor: { statusKey: (r.cursor_key as string | null) ?? null, driftSeq: seq },
          maxChangeSeq: r.max_change_seq === null ? -1 : num(r.max_change_seq),
        };
      }
      if (rows.length < pageSize) return;
      after = String(rows[rows.length - 1]!.node_id);
    }
  }
}

/** The node's cursor row, created when missing (never alerted) and locked for this transaction. */
async function lockCursor(tx: SqlExecutor, nodeId: string): Promise<AlertCursor> {
  await tx.run(
    'INSERT INTO alert_cursor (node_id, status_key, drift_seq, updated_at) VALUES (?, NULL, -1, ?) ON CONFLICT (node_id) DO NOTHING',
    [nodeId, new Date().toISOString()],
  );
  // SQLite transactions are already serialised (BEGIN IMMEDIATE); PostgreSQL locks the row.
  const lock = tx.dialect === 'postgres' ? ' FOR UPDATE' : '';
  const r = await tx.get<{ status_key: string | null; drift_seq: unknown }>(
    `SELECT status_key, drift_seq FROM alert_cursor WHERE node_id = ?${lock}`,
    [nodeId],
  );
  return { statusKey: r?.status_key ?? null, driftSeq: r ? num(r.drift_seq) : -1 };
}
