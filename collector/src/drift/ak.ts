import { createHash } from 'node:crypto';
import type { Reason } from '../../../shared/src/report/types.js';
import { reason } from './codes.js';

/** A short stable name for an AK: sha256 of its TPM2B_PUBLIC bytes, first 16 hex digits. */
export function akFingerprint(akPublicHex: string): string {
  return `sha256:${createHash('sha256').update(Buffer.from(akPublicHex, 'hex')).digest('hex').slice(0, 16)}`;
}

/** tpm.ak_changed when a pinned AK exists and the report's AK differs (hex compared case-insensitively). */
export function diffAk(pinnedAkPublic: string | null, currentAkPublic: string | null): Reason[] {
  if (pinnedAkPublic === null || currentAkPublic === null) return [];
  if (pinnedAkPublic.toLowerCase() === currentAkPublic.toLowerCase()) return [];
  const b = akFingerprint(pinnedAkPublic);
  const a = akFingerprint(currentAkPublic);
  return [reason('tpm.ak_changed', `attestation key ${b} → ${a} (differs from the key pinned for this node)`, b, a)];
}
