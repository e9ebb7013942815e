import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Secret tokens: API bearer tokens (`nst_`) and enrolment tokens (`nse_`). A token is a prefix
 * and 32 random octets in base64url (43 characters). Only its SHA-256 is stored; a token is
 * shown once, when made. The prefix makes leaked tokens easy to recognise in logs and scanners.
 */
export const API_TOKEN_PREFIX = 'nst_';
export const ENROLL_TOKEN_PREFIX = 'nse_';

const shape = /^(nst|nse)_[A-Za-z0-9_-]{43}$/;

export function generateToken(
  prefix: typeof API_TOKEN_PREFIX | typeof ENROLL_TOKEN_PREFIX,
  random: (n: number) => Buffer = randomBytes,
): string {
  return prefix + random(32).toString('base64url');
}

/** True when `s` has the exact shape of a token with this prefix (checked before any lookup). */
export function isTokenShaped(s: string, prefix: string): boolean {
  return s.length === prefix.length + 43 && s.startsWith(prefix) && shape.test(s);
}

/** Lowercase hex SHA-256 of the token: what the database holds. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests of equal length (false for any length mismatch). */
export function digestsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** A short public handle for a token (first 12 hex digits of its hash), safe to list and audit. */
export function tokenId(hash: string): string {
  return hash.slice(0, 12);
}

/**
 * The token from an `Authorization` header value: `Bearer <token>`, scheme case-insensitive.
 * Returns null when there is no header, and 'malformed' when there is one we cannot use.
 */
export function parseBearer(header: string | string[] | undefined): string | null | 'malformed' {
  if (header === undefined) return null;
  if (Array.isArray(header) || header.length > 512) return 'malformed';
  const m = /^Bearer +([^\s]+) *$/i.exec(header);
  return m ? m[1]! : 'malformed';
}
