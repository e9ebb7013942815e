import { ERR_TPM_INPUT, TpmError } from './errors.js';

/** Bytes given either as a Uint8Array or as hex (the evidence contract carries hex). */
export type BytesLike = Uint8Array | string;

export function toBytes(v: BytesLike, field: string): Buffer {
  if (typeof v === 'string') {
    if (v.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(v))
      throw new TpmError(ERR_TPM_INPUT, `${field} is not an even-length hex string`, { details: { field } });
    return Buffer.from(v, 'hex');
  }
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.length);
  throw new TpmError(ERR_TPM_INPUT, `${field} must be bytes or hex`, { details: { field } });
}
