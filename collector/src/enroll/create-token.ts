import { ENROLL_TOKEN_PREFIX, generateToken, hashToken, tokenId } from '../auth/token.js';
import type { EnrollStore } from './store.js';
import { checkGlob, parseTtl, parseUses } from './token-rules.js';

/** Makes an enrolment token, stores its hash with an audit entry, and returns the token (shown once). */
export async function createEnrollToken(
  store: Pick<EnrollStore, 'createToken'>,
  o: { nodes: string; ttl: string; uses: string; actor: string; reason: string; now: Date; random?: (n: number) => Buffer },
): Promise<{ token: string; tokenId: string; nodes: string; expiresAt: string; uses: number }> {
  const nodeGlob = checkGlob(o.nodes);
  const ttlMs = parseTtl(o.ttl);
  const uses = parseUses(o.uses);
  const token = generateToken(ENROLL_TOKEN_PREFIX, o.random);
  const hash = hashToken(token);
  const expiresAt = new Date(o.now.getTime() + ttlMs).toISOString();
  await store.createToken(
    {
      tokenHash: hash,
      tokenId: tokenId(hash),
      nodeGlob,
      expiresAt,
      usesLeft: uses,
      maxUses: uses,
      createdAt: o.now.toISOString(),
      createdBy: o.actor,
      revokedAt: null,
    },
    o.reason,
  );
  return { token, tokenId: tokenId(hash), nodes: nodeGlob, expiresAt, uses };
}
