import { areaError } from '../../../shared/src/errors.js';

/**
 * Coded errors of the agent's TPM access. Every failure of a TPM or TSS call carries the
 * response code and its decoded name (Tss2_RC_Decode) in `details`.
 */

/** No TPM reachable: library missing, device absent, TCTI refused or swtpm not listening. */
export const ERR_TPM_UNAVAILABLE = 'ERR_TPM_UNAVAILABLE';
/** A TPM command or TSS call returned a response code other than success. */
export const ERR_TPM_COMMAND = 'ERR_TPM_COMMAND';
/** A structure could not be converted to or from TPM wire bytes (bug, or a hostile response). */
export const ERR_TPM_MARSHAL = 'ERR_TPM_MARSHAL';
/** A caller's argument is out of range: nonce too long, PCR index, handle, unknown bank name. */
export const ERR_TPM_INPUT = 'ERR_TPM_INPUT';
/** A requested PCR bank is not active on this TPM (or sha256 is not active at all). */
export const ERR_TPM_BANK = 'ERR_TPM_BANK';
/** The AK's persistent handle holds a key that is not the restricted signing key asked for. */
export const ERR_TPM_AK_MISMATCH = 'ERR_TPM_AK_MISMATCH';
/** No key at the AK's persistent handle: ensureAk has not run on this TPM. */
export const ERR_TPM_AK_MISSING = 'ERR_TPM_AK_MISSING';
/** The TPM context was used after close(). */
export const ERR_TPM_CLOSED = 'ERR_TPM_CLOSED';
/** The event log file could not be read or is larger than the limit. */
export const ERR_TPM_EVENTLOG = 'ERR_TPM_EVENTLOG';

export class TpmError extends areaError('TpmError') {}

/** TSS2 response-code layers (bits 16..23), as in tss2_common.h. */
export const RC_LAYER = {
  tpm: 0,
  feature: 6,
  esapi: 7,
  sys: 8,
  mu: 9,
  tcti: 10,
  resmgr: 11,
  resmgrTpm: 12,
} as const;

export function rcLayer(rc: number): number {
  return (rc >>> 16) & 0xff;
}

/** TPM_RC_RETRY, TPM_RC_YIELDED, TPM_RC_TESTING: the TPM asks to send the command again. */
export function isRetryable(rc: number): boolean {
  if (rcLayer(rc) !== RC_LAYER.tpm) return false;
  const base = rc & 0xfff;
  return base === 0x922 || base === 0x908 || base === 0x90a;
}

/** A response code that means the TPM cannot be reached at all (TCTI layer). */
export function isUnreachable(rc: number): boolean {
  return rcLayer(rc) === RC_LAYER.tcti;
}

export function rcHex(rc: number): string {
  return `0x${(rc >>> 0).toString(16).padStart(8, '0')}`;
}
