import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures. The receiver gets `X-Nodeseal-Timestamp: <unix seconds>` and
 * `X-Nodeseal-Signature: sha256=<hex>` where hex = HMAC-SHA256(secret, `${timestamp}.${body}`).
 * Binding the timestamp lets receivers refuse replays older than their tolerance.
 */
export const SIGNATURE_HEADER = 'x-nodeseal-signature';
export const TIMESTAMP_HEADER = 'x-nodeseal-timestamp';

export function signBody(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** For receivers written in TypeScript: constant-time check plus a freshness window. */
export function verifySignature(
  secret: string,
  header: string | undefined,
  timestamp: string | undefined,
  body: string,
  nowSec: number,
  toleranceSec = 300,
): boolean {
  if (!header || !timestamp || !/^\d{1,12}$/.test(timestamp)) return false;
  const ts = Number(timestamp);
  if (Math.abs(nowSec - ts) > toleranceSec) return false;
  const expected = Buffer.from(signBody(secret, ts, body));
  const given = Buffer.from(header);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
