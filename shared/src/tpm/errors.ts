import { areaError } from '../errors.js';

/**
 * Coded errors for TPM structure parsing and quote verification. Every rejection of a quote
 * has its own code so callers (and operators) can tell a replayed nonce from a forged
 * signature from a changed PCR.
 */
export const ERR_TPM_PARSE = 'ERR_TPM_PARSE';
export const ERR_TPM_UNSUPPORTED_ALG = 'ERR_TPM_UNSUPPORTED_ALG';
export const ERR_TPM_QUOTE_MAGIC = 'ERR_TPM_QUOTE_MAGIC';
export const ERR_TPM_QUOTE_TYPE = 'ERR_TPM_QUOTE_TYPE';
export const ERR_TPM_QUOTE_NONCE = 'ERR_TPM_QUOTE_NONCE';
export const ERR_TPM_QUOTE_SIGNATURE = 'ERR_TPM_QUOTE_SIGNATURE';
export const ERR_TPM_QUOTE_SCHEME = 'ERR_TPM_QUOTE_SCHEME';
export const ERR_TPM_QUOTE_PCR_DIGEST = 'ERR_TPM_QUOTE_PCR_DIGEST';
export const ERR_TPM_QUOTE_PCR_MISSING = 'ERR_TPM_QUOTE_PCR_MISSING';
export const ERR_TPM_AK_ATTRIBUTES = 'ERR_TPM_AK_ATTRIBUTES';
export const ERR_TPM_INPUT = 'ERR_TPM_INPUT';

export class TpmError extends areaError('TpmError') {}

/** A malformed TPM wire structure: which structure, which field, at which offset. */
export function tpmParseError(structure: string, field: string, offset: number, message: string): TpmError {
  return new TpmError(ERR_TPM_PARSE, `${structure}.${field} at offset ${offset}: ${message}`, { details: { structure, field, offset } });
}
