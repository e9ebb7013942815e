import { createPublicKey, type KeyObject } from 'node:crypto';
import { TpmError, ERR_TPM_MARSHAL } from './errors.js';
import { ALG, WireReader } from './wire.js';

const CURVES: Record<number, string> = { 3: 'P-256', 4: 'P-384', 5: 'P-521' };

function b64url(b: Buffer): string {
  return b.toString('base64url');
}

/** The public key inside a TPM2B_PUBLIC (RSA or ECC) as a node:crypto KeyObject. */
export function tpmPublicKey(tpm2bPublic: Buffer): KeyObject {
  const r = new WireReader(new WireReader(tpm2bPublic, 'TPM2B_PUBLIC').tpm2b(), 'TPMT_PUBLIC');
  const type = r.u16();
  r.u16();
  r.u32();
  r.tpm2b();
  if (r.u16() !== ALG.null) r.bytes(4); // symmetric
  if (r.u16() !== ALG.null) r.u16(); // scheme
  if (type === ALG.ecc) {
    const curve = CURVES[r.u16()];
    if (r.u16() !== ALG.null) r.u16(); // kdf
    const x = r.tpm2b();
    const y = r.tpm2b();
    if (!curve) throw new TpmError(ERR_TPM_MARSHAL, 'TPM2B_PUBLIC: unsupported ECC curve');
    return createPublicKey({ key: { kty: 'EC', crv: curve, x: b64url(x), y: b64url(y) }, format: 'jwk' });
  }
  if (type === ALG.rsa) {
    r.u16(); // keyBits
    const exp = r.u32() || 65537;
    const n = r.tpm2b();
    const e = Buffer.alloc(4);
    e.writeUInt32BE(exp);
    let i = 0;
    while (i < 3 && e[i] === 0) i++;
    return createPublicKey({ key: { kty: 'RSA', n: b64url(n), e: b64url(e.subarray(i)) }, format: 'jwk' });
  }
  throw new TpmError(ERR_TPM_MARSHAL, `TPM2B_PUBLIC: key type 0x${type.toString(16)} is neither RSA nor ECC`);
}

/** SubjectPublicKeyInfo PEM of a TPM2B_PUBLIC, as tpm2_checkquote and openssl read it. */
export function tpmPublicPem(tpm2bPublic: Buffer): string {
  return tpmPublicKey(tpm2bPublic).export({ type: 'spki', format: 'pem' }).toString();
}
