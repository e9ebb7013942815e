import {
  EnrollError,
  ERR_ENROLL_TOKEN_EXPIRED,
  ERR_ENROLL_TOKEN_INPUT,
  ERR_ENROLL_TOKEN_INVALID,
  ERR_ENROLL_TOKEN_NODE,
  ERR_ENROLL_TOKEN_USED,
} from './errors.js';

/**
 * Enrolment-token rules as pure functions: TTL parsing, node-name globs, and the check a
 * presented token must pass (clock passed in). The token itself never reaches these: only the
 * stored row found by its hash.
 */
export interface EnrollTokenRecord {
  tokenHash: string;
  /** Short public handle (first 12 hex digits of the hash), for listings and the audit log. */
  tokenId: string;
  /** Node-name glob: `*` any run of characters, `?` one character; several separated by commas. */
  nodeGlob: string;
  expiresAt: string;
  usesLeft: number;
  maxUses: number;
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
}

const ttlUnits: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Longest TTL accepted: 30 days. An enrolment token is a bearer secret; it should not live long. */
export const MAX_TTL_MS = 30 * 86_400_000;
export const MAX_USES = 100_000;

/** `90s`, `15m`, `1h`, `7d` → milliseconds. */
export function parseTtl(s: string): number {
  const m = /^(\d{1,6})([smhd])$/.exec(s.trim());
  if (!m) throw new EnrollError(ERR_ENROLL_TOKEN_INPUT, `TTL ${JSON.stringify(s)} is not a number followed by s, m, h or d`);
  const ms = Number(m[1]) * ttlUnits[m[2]!]!;
  if (ms <= 0 || ms > MAX_TTL_MS) throw new EnrollError(ERR_ENROLL_TOKEN_INPUT, `TTL must be between 1s and 30d`);
  return ms;
}

export function parseUses(s: string): number {
  if (!/^\d{1,6}$/.test(s) || Number(s) < 1 || Number(s) > MAX_USES)
    throw new EnrollError(ERR_ENROLL_TOKEN_INPUT, `uses must be a whole number from 1 to ${MAX_USES}`);
  return Number(s);
}

const globChars = /^[A-Za-z0-9._\-*?,]{1,1024}$/;

export function checkGlob(glob: string): string {
  if (!globChars.test(glob) || glob.split(',').some((p) => p === '')) {
    throw new EnrollError(
      ERR_ENROLL_TOKEN_INPUT,
      'node glob may hold letters, digits, . _ - and the wildcards * ?, alternatives separated by commas',
    );
  }
  return glob;
}

/** True when `nodeId` matches one comma-separated alternative of `glob` in full. */
export function globMatch(glob: string, nodeId: string): boolean {
  return glob.split(',').some((alt) => {
    const re = alt
      .replace(/[.+^${}()|\\[\]-]/g, (c) => `\\${c}`)
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    return new RegExp(`^${re}$`).test(nodeId);
  });
}

/** Throws the coded reason why `row` does not admit `nodeId` at `now`; returns when it does. */
export function checkEnrollToken(row: EnrollTokenRecord | null, nodeId: string, now: Date): void {
  if (!row || row.revokedAt !== null) throw new EnrollError(ERR_ENROLL_TOKEN_INVALID, 'the enrolment token is not valid');
  if (Date.parse(row.expiresAt) <= now.getTime())
    throw new EnrollError(ERR_ENROLL_TOKEN_EXPIRED, `the enrolment token expired at ${row.expiresAt}`, {
      details: { tokenId: row.tokenId },
    });
  if (row.usesLeft <= 0)
    throw new EnrollError(ERR_ENROLL_TOKEN_USED, 'the enrolment token has been used up', { details: { tokenId: row.tokenId } });
  if (!globMatch(row.nodeGlob, nodeId))
    throw new EnrollError(ERR_ENROLL_TOKEN_NODE, `the enrolment token is not for node ${nodeId}`, { details: { tokenId: row.tokenId } });
}
