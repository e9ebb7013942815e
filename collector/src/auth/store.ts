import type { Role } from '../http/router.js';
import type { SqlDb, SqlExecutor } from '../store/sql.js';
import { num } from '../store/sql.js';
import { ERR_STORE_CORRUPT, StoreError, isUniqueViolation } from '../store/errors.js';
import { NodesealError } from '../../../shared/src/errors.js';
import { ERR_AUTH_TOKEN_EXISTS } from './errors.js';

/**
 * API tokens and the audit log, in the collector's database (migration 0100_auth), through the
 * portable SQL port. Only token hashes are stored; the audit log is append-only.
 */
export interface ApiTokenRecord {
  name: string;
  role: Role;
  tokenHash: string;
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export type AuditAction =
  | 'token.create'
  | 'token.revoke'
  | 'enroll-token.create'
  | 'enroll-token.revoke'
  | 'node.enrol'
  | 'node.approve'
  | 'node.revoke'
  | 'node.ek-decision'
  | 'node.key-rotate';

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: AuditAction;
  target: string | null;
  reason: string;
  details: Record<string, unknown> | null;
}

export interface AuditQuery {
  target?: string;
  action?: string;
  /** Entries with id below this (paging backwards); newest first. */
  beforeId?: number;
  /** Default 100, at most 1000. */
  limit?: number;
}

const roles = new Set(['viewer', 'scheduler', 'operator']);

function tokenRow(r: Record<string, unknown>): ApiTokenRecord {
  const role = String(r.role);
  if (!roles.has(role)) throw new StoreError(ERR_STORE_CORRUPT, `api_tokens row ${String(r.name)} has role ${role}`);
  return {
    name: String(r.name),
    role: role as Role,
    tokenHash: String(r.token_hash),
    createdAt: String(r.created_at),
    createdBy: String(r.created_by),
    revokedAt: r.revoked_at == null ? null : String(r.revoked_at),
    lastUsedAt: r.last_used_at == null ? null : String(r.last_used_at),
  };
}

function auditRow(r: Record<string, unknown>): AuditEntry {
  let details: Record<string, unknown> | null = null;
  if (typeof r.details === 'string') {
    try {
      details = JSON.parse(r.details) as Record<string, unknown>;
    } catch {
      details = { unreadable: true };
    }
  }
  return {
    id: num(r.id),
    at: String(r.at),
    actor: String(r.actor),
    action: String(r.action) as AuditAction,
    target: r.target == null ? null : String(r.target),
    reason: String(r.reason),
    details,
  };
}

/** Append one audit entry inside an existing transaction (so the change and its record commit together). */
export async function appendAudit(tx: SqlExecutor, e: Omit<AuditEntry, 'id'>): Promise<void> {
  await tx.run('INSERT INTO audit_log (at, actor, action, target, reason, details) VALUES (?, ?, ?, ?, ?, ?)', [
    e.at,
    e.actor,
    e.action,
    e.target,
    e.reason,
    e.details === null ? null : JSON.stringify(e.details),
  ]);
}

export class AuthStore {
  constructor(readonly db: SqlDb) {}

  /** Stores a new token (by hash) and its audit entry in one transaction. */
  async createToken(t: Omit<ApiTokenRecord, 'revokedAt' | 'lastUsedAt'>, reason: string): Promise<void> {
    try {
      await this.db.transaction(async (tx) => {
        await tx.run('INSERT INTO api_tokens (name, role, token_hash, created_at, created_by) VALUES (?, ?, ?, ?, ?)', [
          t.name,
          t.role,
          t.tokenHash,
          t.createdAt,
          t.createdBy,
        ]);
        await appendAudit(tx, {
          at: t.createdAt,
          actor: t.createdBy,
          action: 'token.create',
          target: `token:${t.name}`,
          reason,
          details: { role: t.role },
        });
      });
    } catch (e) {
      if (isUniqueViolation(e))
        throw new NodesealError(ERR_AUTH_TOKEN_EXISTS, `a token named ${t.name} already exists`, { details: { name: t.name } });
      throw e;
    }
  }

  async findTokenByHash(hash: string): Promise<ApiTokenRecord | null> {
    const r = await this.db.get('SELECT * FROM api_tokens WHERE token_hash = ?', [hash]);
    return r ? tokenRow(r) : null;
  }

  async listTokens(): Promise<ApiTokenRecord[]> {
    return (await this.db.all('SELECT * FROM api_tokens ORDER BY name')).map(tokenRow);
  }

  /** Marks the token revoked; false when no live token has this name. */
  async revokeToken(name: string, actor: string, reason: string, at: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const { changes } = await tx.run('UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL', [at, name]);
      if (changes === 0) return false;
      await appendAudit(tx, { at, actor, action: 'token.revoke', target: `token:${name}`, reason, details: null });
      return true;
    });
  }

  async touchToken(name: string, at: string): Promise<void> {
    await this.db.run('UPDATE api_tokens SET last_used_at = ? WHERE name = ?', [at, name]);
  }

  async audit(e: Omit<AuditEntry, 'id'>): Promise<void> {
    await appendAudit(this.db, e);
  }

  async listAudit(q: AuditQuery = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.target !== undefined) {
      where.push('target = ?');
      params.push(q.target);
    }
    if (q.action !== undefined) {
      where.push('action = ?');
      params.push(q.action);
    }
    if (q.beforeId !== undefined) {
      where.push('id < ?');
      params.push(q.beforeId);
    }
    const limit = Math.max(1, Math.min(1000, Math.floor(q.limit ?? 100)));
    const sql = `SELECT * FROM audit_log${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`;
    return (await this.db.all(sql, params)).map(auditRow);
  }
}
