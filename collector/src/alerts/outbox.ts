/**
 * The persisted alert outbox: every alert is a row before any delivery is tried, so a
 * collector restart loses nothing queued. Delivered rows are deleted; rows that used up
 * their attempts stay with status 'dead' (the dead-letter list) for an operator to inspect.
 * Schema: migration 0200_alert_outbox in collector/src/store/migrations.ts.
 */
export type OutboxStatus = 'pending' | 'dead';

export interface OutboxRow {
  id: number;
  webhook: string;
  /** Delivery id sent as `X-Nodeseal-Delivery` (receivers dedupe on it: delivery is at-least-once). */
  eventId: string;
  kind: string;
  nodeId: string;
  body: string;
  createdAt: string;
  attempts: number;
  /** Epoch milliseconds. */
  nextAttemptAt: number;
  status: OutboxStatus;
  lastError: string | null;
}

export type NewOutboxRow = Pick<OutboxRow, 'webhook' | 'eventId' | 'kind' | 'nodeId' | 'body' | 'createdAt' | 'nextAttemptAt'>;

export interface AlertOutbox {
  /** Durable when resolved. */
  enqueue(rows: NewOutboxRow[]): Promise<void>;
  /** Oldest pending row of this webhook (per-webhook FIFO), or null. */
  head(webhook: string): Promise<OutboxRow | null>;
  delivered(id: number): Promise<void>;
  /** Records a failed attempt; `dead` moves the row to the dead-letter list. */
  failed(id: number, attempts: number, nextAttemptAt: number, error: string, dead: boolean): Promise<void>;
  counts(): Promise<{ pending: number; dead: number }>;
  listDead(limit: number): Promise<OutboxRow[]>;
}

export interface OutboxDbRow {
  id: number | string;
  webhook: string;
  event_id: string;
  kind: string;
  node_id: string;
  body: string;
  created_at: string;
  attempts: number | string;
  next_attempt_at: number | string;
  status: string;
  last_error: string | null;
}

/** Row mapping shared by both engines (PostgreSQL returns BIGINT as string). */
export function fromDb(r: OutboxDbRow): OutboxRow {
  return {
    id: Number(r.id),
    webhook: r.webhook,
    eventId: r.event_id,
    kind: r.kind,
    nodeId: r.node_id,
    body: r.body,
    createdAt: r.created_at,
    attempts: Number(r.attempts),
    nextAttemptAt: Number(r.next_attempt_at),
    status: r.status === 'dead' ? 'dead' : 'pending',
    lastError: r.last_error,
  };
}
