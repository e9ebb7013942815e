import { createHash } from 'node:crypto';

/**
 * Every PostgreSQL name the cluster modules derive, in one place. Channel names are identifiers
 * (at most 63 bytes), so they are built from an md5 of the schema (and collector id) and are
 * always lowercase hex after a fixed prefix; two schemas in one database never share a channel,
 * an advisory-lock key or a listener.
 */

const md5 = (s: string): string => createHash('md5').update(s, 'utf8').digest('hex');

/**
 * The channel the node triggers notify (payload: node id) after each committed insert/update of a
 * node row. Must match migration 0400_node_version: 'nodeseal_nodes_' || md5(TG_TABLE_SCHEMA).
 */
export function nodeChannel(schema: string): string {
  return `nodeseal_nodes_${md5(schema)}`;
}

/** Where requests for one collector are announced (payload: request id). */
export function requestChannel(schema: string, collectorId: string): string {
  return `nodeseal_req_${md5(`${schema}\u0000${collectorId}`)}`;
}

/** Where answers to one collector's requests are announced (payload: request id). */
export function answerChannel(schema: string, collectorId: string): string {
  return `nodeseal_ans_${md5(`${schema}\u0000${collectorId}`)}`;
}

/** The two int4 keys of the leader's session advisory lock, distinct per schema. */
export function leaderLockKeys(schema: string): [number, number] {
  const h = createHash('md5').update(`nodeseal-leader\u0000${schema}`, 'utf8').digest();
  return [h.readInt32BE(0), h.readInt32BE(4)];
}

/** A double-quoted SQL identifier (LISTEN/UNLISTEN take identifiers, not parameters). */
export function quoteIdent(name: string): string {
  if (name.length === 0 || name.includes('\u0000')) throw new RangeError('an SQL identifier must be non-empty and free of NUL');
  return `"${name.replace(/"/g, '""')}"`;
}

/** A pg application_name for one cluster connection, so operators can tell them apart in pg_stat_activity. */
export function applicationName(role: 'feed' | 'requests' | 'leader', collectorId?: string): string {
  const base = `nodeseal-${role}`;
  return (collectorId ? `${base}:${collectorId}` : base).slice(0, 63);
}
