/**
 * TPM_ALG_ID values this code understands (TPM 2.0 Part 2, §6.3) and the node:crypto hash
 * names for the hash algorithms.
 */
export const TPM_ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  SM3_256: 0x0012,
  RSASSA: 0x0014,
  RSAPSS: 0x0016,
  ECDSA: 0x0018,
  ECC: 0x0023,
  SYMCIPHER: 0x0025,
  CFB: 0x0043,
} as const;

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

const hashById: ReadonlyMap<number, { name: HashName; size: number }> = new Map([
  [TPM_ALG.SHA1, { name: 'sha1', size: 20 }],
  [TPM_ALG.SHA256, { name: 'sha256', size: 32 }],
  [TPM_ALG.SHA384, { name: 'sha384', size: 48 }],
  [TPM_ALG.SHA512, { name: 'sha512', size: 64 }],
]);

/** The hash for a TPM_ALG_ID, or undefined when it is not a hash node:crypto computes here. */
export function hashAlg(id: number): { name: HashName; size: number } | undefined {
  return hashById.get(id);
}

export function hashAlgId(name: HashName): number {
  for (const [id, h] of hashById) if (h.name === name) return id;
  throw new RangeError(`unknown hash ${name}`);
}

/** Readable name of a TPM_ALG_ID for messages (`0x0023` when unknown). */
export function algName(id: number): string {
  if (id === TPM_ALG.SM3_256) return 'sm3_256';
  const h = hashById.get(id);
  if (h) return h.name;
  for (const [k, v] of Object.entries(TPM_ALG)) if (v === id) return k.toLowerCase();
  return `0x${id.toString(16).padStart(4, '0')}`;
}

/** TPM_ECC_CURVE values with their node:crypto / JWK names and coordinate sizes. */
export const TPM_ECC_CURVE: ReadonlyMap<number, { crv: 'P-256' | 'P-384' | 'P-521'; size: number }> = new Map([
  [0x0003, { crv: 'P-256', size: 32 }],
  [0x0004, { crv: 'P-384', size: 48 }],
  [0x0005, { crv: 'P-521', size: 66 }],
]);
