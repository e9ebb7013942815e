import type { Reason } from '../../../shared/src/report/types.js';
import { appendAudit } from '../auth/store.js';
import { NODE_COLUMNS, UPSERT_NODE, nodeFromRow, nodeParams } from '../store/rows.js';
import { num, type SqlDb, type SqlExecutor } from '../store/sql.js';
import type { NodeRecord } from '../store/store.js';
import { EnrollError, ERR_ENROLL_KEY_ROTATION, ERR_ENROLL_NODE_CLAIMED, ERR_ENROLL_REPLAY, ERR_ENROLL_TOKEN_USED } from './errors.js';
import type { EkDecision, NodeIdentity, PendingEnrolment } from './machine.js';
import type { EnrollTokenRecord } from './token-rules.js';

/**
 * Enrolment state in the collector's database (migration 0101_enroll): enrolment tokens (by
 * hash), pinned node identities, operator decisions for TPMs without EK certificates. Every
 * change commits in one transaction with its audit entry and the node's record, so a refused
 * or interrupted enrolment leaves nothing behind.
 */
export const REVOKED_REASON: Reason = { code: 'node.revoked', claim: 'instance-identity', detail: 'the node was revoked by an operator' };

function tokenFromRow(r: Record<string, unknown>): EnrollTokenRecord {
  return {
    tokenHash: String(r.token_hash),
    tokenId: String(r.token_id),
    nodeGlob: String(r.node_glob),
    expiresAt: String(r.expires_at),
    usesLeft: num(r.uses_left),
    maxUses: num(r.max_uses),
    createdAt: String(r.created_at),
    createdBy: String(r.created_by),
    revokedAt: r.revoked_at == null ? null : String(r.revoked_at),
  };
}

function identityFromRow(r: Record<string, unknown>): NodeIdentity {
  return {
    nodeId: String(r.node_id),
    ekName: String(r.ek_name),
    ekPublic: String(r.ek_public),
    ekCertIssuer: r.ek_cert_issuer == null ? null : String(r.ek_cert_issuer),
    akPublic: String(r.ak_public),
    akName: String(r.ak_name),
    kid: String(r.kid),
    jwk: JSON.parse(String(r.jwk)) as Record<string, unknown>,
    enrolledAt: String(r.enrolled_at),
    enrolledVia: String(r.enrolled_via) as NodeIdentity['enrolledVia'],
    enrolledBy: String(r.enrolled_by),
    revokedAt: r.revoked_at == null ? null : String(r.revoked_at),
  };
}

function decisionFromRow(r: Record<string, unknown>): EkDecision {
  return {
    nodeId: String(r.node_id),
    ekName: String(r.ek_name),
    actor: String(r.actor),
    reason: String(r.reason),
    at: String(r.at),
    usedAt: r.used_at == null ? null : String(r.used_at),
  };
}

async function getNodeTx(tx: SqlExecutor, nodeId: string): Promise<NodeRecord | null> {
  const r = await tx.get(`SELECT ${NODE_COLUMNS} FROM nodes WHERE node_id = ?`, [nodeId]);
  return r ? nodeFromRow(r) : null;
}

const UPSERT_IDENTITY = `INSERT INTO node_identities (node_id, ek_name, ek_public, ek_cert_issuer, ak_public, ak_name, kid, jwk, enrolled_at, enrolled_via, enrolled_by, revoked_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
ON CONFLICT (node_id) DO UPDATE SET ek_name = excluded.ek_name, ek_public = excluded.ek_public, ek_cert_issuer = excluded.ek_cert_issuer,
  ak_public = excluded.ak_public, ak_name = excluded.ak_name, kid = excluded.kid, jwk = excluded.jwk, enrolled_at = excluded.enrolled_at,
  enrolled_via = excluded.enrolled_via, enrolled_by = excluded.enrolled_by, revoked_at = NULL`;

export class EnrollStore {
  constructor(readonly db: SqlDb) {}

  async createToken(t: EnrollTokenRecord, reason: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run(
        'INSERT INTO enroll_tokens (token_hash, token_id, node_glob, expires_at, uses_left, max_uses, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [t.tokenHash, t.tokenId, t.nodeGlob, t.expiresAt, t.usesLeft, t.maxUses, t.createdAt, t.createdBy],
      );
      await appendAudit(tx, {
        at: t.createdAt,
        actor: t.createdBy,
        action: 'enroll-token.create',
        target: `enroll-token:${t.tokenId}`,
        reason,
        details: { nodes: t.nodeGlob, expiresAt: t.expiresAt, uses: t.maxUses },
      });
    });
  }

  async findToken(hash: string): Promise<EnrollTokenRecord | null> {
    const r = await this.db.get('SELECT * FROM enroll_tokens WHERE token_hash = ?', [hash]);
    return r ? tokenFromRow(r) : null;
  }

  async listTokens(): Promise<EnrollTokenRecord[]> {
    return (await this.db.all('SELECT * FROM enroll_tokens ORDER BY created_at, token_id')).map(tokenFromRow);
  }

  async revokeToken(tokenIdValue: string, actor: string, reason: string, at: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const { changes } = await tx.run('UPDATE enroll_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL', [
        at,
        tokenIdValue,
      ]);
      if (changes === 0) return false;
      await appendAudit(tx, { at, actor, action: 'enroll-token.revoke', target: `enroll-token:${tokenIdValue}`, reason, details: null });
      return true;
    });
  }

  async getIdentity(nodeId: string): Promise<NodeIdentity | null> {
    const r = await this.db.get('SELECT * FROM node_identities WHERE node_id = ?', [nodeId]);
    return r ? identityFromRow(r) : null;
  }

  async recordEkDecision(d: Omit<EkDecision, 'usedAt'>): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO ek_decisions (node_id, ek_name, actor, reason, at, used_at) VALUES (?, ?, ?, ?, ?, NULL)
         ON CONFLICT (node_id, ek_name) DO UPDATE SET actor = excluded.actor, reason = excluded.reason, at = excluded.at, used_at = NULL`,
        [d.nodeId, d.ekName, d.actor, d.reason, d.at],
      );
      await appendAudit(tx, {
        at: d.at,
        actor: d.actor,
        action: 'node.ek-decision',
        target: `node:${d.nodeId}`,
        reason: d.reason,
        details: { ekName: d.ekName, decision: 'enrol without EK certificate' },
      });
    });
  }

  async findEkDecision(nodeId: string, ekName: string): Promise<EkDecision | null> {
    const r = await this.db.get('SELECT * FROM ek_decisions WHERE node_id = ? AND ek_name = ?', [nodeId, ekName]);
    return r ? decisionFromRow(r) : null;
  }

  /**
   * Pins the identity after a successful activation, in one transaction: consumes one use of
   * the token (still unexpired and unrevoked), re-checks that no other EK holds the node id,
   * marks the operator decision used, writes the identity and the node record (JWS key, AK,
   * enrolled via, revocation cleared) and the audit entry. Throws (and stores nothing) when any
   * of these no longer holds.
   */
  async commitEnrolment(identity: NodeIdentity, pending: PendingEnrolment): Promise<NodeRecord> {
    const at = identity.enrolledAt;
    return this.db.transaction(async (tx) => {
      if (pending.tokenHash !== null) {
        const { changes } = await tx.run(
          'UPDATE enroll_tokens SET uses_left = uses_left - 1 WHERE token_hash = ? AND uses_left > 0 AND revoked_at IS NULL AND expires_at > ?',
          [pending.tokenHash, at],
        );
        if (changes !== 1) throw new EnrollError(ERR_ENROLL_TOKEN_USED, 'the enrolment token was used up, expired or revoked meanwhile');
      }
      const current = await tx.get('SELECT ek_name, revoked_at FROM node_identities WHERE node_id = ?', [identity.nodeId]);
      if (current && current.revoked_at == null && String(current.ek_name) !== identity.ekName) {
        throw new EnrollError(ERR_ENROLL_NODE_CLAIMED, `node ${identity.nodeId} is enrolled with another TPM`);
      }
      if (pending.decision) {
        const { changes } = await tx.run('UPDATE ek_decisions SET used_at = ? WHERE node_id = ? AND ek_name = ? AND used_at IS NULL', [
          at,
          identity.nodeId,
          identity.ekName,
        ]);
        if (changes !== 1) throw new EnrollError(ERR_ENROLL_REPLAY, 'the operator decision for this EK was already used');
      }
      await tx.run(UPSERT_IDENTITY, [
        identity.nodeId,
        identity.ekName,
        identity.ekPublic,
        identity.ekCertIssuer,
        identity.akPublic,
        identity.akName,
        identity.kid,
        JSON.stringify(identity.jwk),
        at,
        identity.enrolledVia,
        identity.enrolledBy,
      ]);
      const prev = await getNodeTx(tx, identity.nodeId);
      const wasRevoked = prev?.revokedAt != null;
      const node: NodeRecord = {
        nodeId: identity.nodeId,
        jwk: identity.jwk,
        kid: identity.kid,
        akPublic: identity.akPublic,
        lastSeq: prev?.lastSeq ?? -1,
        status: prev && !wasRevoked ? prev.status : 'unknown',
        reasons: prev && !wasRevoked ? prev.reasons : [],
        firstSeenAt: prev?.firstSeenAt ?? at,
        lastSeenAt: prev?.lastSeenAt ?? null,
        verifiedAt: prev && !wasRevoked ? prev.verifiedAt : null,
        enrolledVia: identity.enrolledVia,
        revokedAt: null,
        summary: prev?.summary ?? null,
      };
      await tx.run(UPSERT_NODE, nodeParams(node));
      await appendAudit(tx, {
        at,
        actor: identity.enrolledBy,
        action: 'node.enrol',
        target: `node:${identity.nodeId}`,
        reason:
          identity.enrolledVia === 'token'
            ? 'enrolment token and credential activation'
            : identity.enrolledVia === 'operator'
              ? `operator decision: ${pending.decision!.reason}`
              : 'trust on first use (lab setting)',
        details: {
          ekName: identity.ekName,
          akName: identity.akName,
          kid: identity.kid,
          via: identity.enrolledVia,
          tokenId: pending.tokenId,
          ekCertIssuer: identity.ekCertIssuer,
          reenrolment: prev !== null,
        },
      });
      return node;
    });
  }

  /**
   * Revokes a node: its identity and node record are marked revoked (status untrusted with
   * node.revoked) until it enrols again with a new token. Null when the node is unknown.
   */
  async revokeNode(
    nodeId: string,
    actor: string,
    reason: string,
    at: string,
  ): Promise<{ node: NodeRecord; from: NodeRecord['status'] | null } | null> {
    return this.db.transaction(async (tx) => {
      const prev = await getNodeTx(tx, nodeId);
      const ident = await tx.run('UPDATE node_identities SET revoked_at = ? WHERE node_id = ? AND revoked_at IS NULL', [at, nodeId]);
      if (!prev && ident.changes === 0) return null;
      const node: NodeRecord = prev
        ? {
            ...prev,
            status: 'untrusted',
            reasons: [REVOKED_REASON, ...prev.reasons.filter((r) => r.code !== REVOKED_REASON.code)],
            revokedAt: prev.revokedAt ?? at,
          }
        : {
            nodeId,
            jwk: null,
            kid: null,
            akPublic: null,
            lastSeq: -1,
            status: 'untrusted',
            reasons: [REVOKED_REASON],
            firstSeenAt: at,
            lastSeenAt: null,
            verifiedAt: null,
            enrolledVia: null,
            revokedAt: at,
            summary: null,
          };
      await tx.run(UPSERT_NODE, nodeParams(node));
      await appendAudit(tx, { at, actor, action: 'node.revoke', target: `node:${nodeId}`, reason, details: null });
      return { node, from: prev?.status ?? null };
    });
  }

  /** Replaces the pinned JWS key after a verified rotation announcement (see rotation.ts). */
  async rotateKey(nodeId: string, oldKid: string, jwk: Record<string, unknown>, kid: string, at: string): Promise<NodeRecord> {
    return this.db.transaction(async (tx) => {
      const prev = await getNodeTx(tx, nodeId);
      if (!prev || prev.kid !== oldKid || prev.revokedAt !== null)
        throw new EnrollError(ERR_ENROLL_KEY_ROTATION, 'the pinned key changed or the node was revoked meanwhile');
      await tx.run('UPDATE node_identities SET kid = ?, jwk = ? WHERE node_id = ? AND kid = ?', [kid, JSON.stringify(jwk), nodeId, oldKid]);
      const node: NodeRecord = { ...prev, jwk, kid };
      await tx.run(UPSERT_NODE, nodeParams(node));
      await appendAudit(tx, {
        at,
        actor: `node:${nodeId}`,
        action: 'node.key-rotate',
        target: `node:${nodeId}`,
        reason: 'key rotation announced in a report signed by the old key',
        details: { oldKid, kid },
      });
      return node;
    });
  }
}
