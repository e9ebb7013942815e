import { createHash, createHmac } from 'node:crypto';

/**
 * TPM 2.0 key derivation functions (TPM 2.0 Part 1, §11.4.10).
 *
 * KDFa: SP 800-108 counter mode with HMAC; used for the symmetric and HMAC keys that protect
 * a credential blob. KDFe: SP 800-56A concatenation KDF; turns an ECDH shared secret into the
 * seed for ECC endorsement keys. Both are pure: same inputs, same bytes.
 */
export type TpmHashAlg = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export const digestSize: Record<TpmHashAlg, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/** A label as the TPM uses it: the ASCII bytes followed by one zero octet (added unless present). */
function labelBytes(label: string): Buffer {
  const b = Buffer.from(label, 'ascii');
  return b.length > 0 && b[b.length - 1] === 0 ? b : Buffer.concat([b, Buffer.alloc(1)]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** Leftmost `bits` of `buf`; when bits is not a whole number of octets, the excess high bits are cleared. */
function truncateBits(buf: Buffer, bits: number): Buffer {
  const bytes = Math.ceil(bits / 8);
  const out = Buffer.from(buf.subarray(0, bytes));
  const extra = bytes * 8 - bits;
  if (extra > 0) out[0] = out[0]! & (0xff >> extra);
  return out;
}

/**
 * KDFa(hashAlg, key, label, contextU, contextV, bits):
 * concatenates HMAC_key(counter || label || 0x00 || contextU || contextV || bits) for counter = 1, 2, ...
 */
export function kdfa(
  hashAlg: TpmHashAlg,
  key: Uint8Array,
  label: string,
  contextU: Uint8Array,
  contextV: Uint8Array,
  bits: number,
): Buffer {
  if (!Number.isInteger(bits) || bits <= 0 || bits > 8 * 1024 * 8) throw new RangeError(`kdfa: bad bit count ${bits}`);
  const fixed = Buffer.concat([labelBytes(label), contextU, contextV, u32(bits)]);
  const parts: Buffer[] = [];
  let have = 0;
  for (let counter = 1; have * 8 < bits; counter++) {
    const block = createHmac(hashAlg, key).update(u32(counter)).update(fixed).digest();
    parts.push(block);
    have += block.length;
  }
  return truncateBits(Buffer.concat(parts), bits);
}

/**
 * KDFe(hashAlg, Z, label, partyUInfo, partyVInfo, bits):
 * concatenates H(counter || Z || label || 0x00 || partyUInfo || partyVInfo) for counter = 1, 2, ...
 * Z is the x coordinate of the ECDH shared point; partyU is the ephemeral key's x, partyV the EK's x.
 */
export function kdfe(
  hashAlg: TpmHashAlg,
  z: Uint8Array,
  label: string,
  partyUInfo: Uint8Array,
  partyVInfo: Uint8Array,
  bits: number,
): Buffer {
  if (!Number.isInteger(bits) || bits <= 0 || bits > 8 * 1024 * 8) throw new RangeError(`kdfe: bad bit count ${bits}`);
  const rest = Buffer.concat([z, labelBytes(label), partyUInfo, partyVInfo]);
  const parts: Buffer[] = [];
  let have = 0;
  for (let counter = 1; have * 8 < bits; counter++) {
    const block = createHash(hashAlg).update(u32(counter)).update(rest).digest();
    parts.push(block);
    have += block.length;
  }
  return truncateBits(Buffer.concat(parts), bits);
}
