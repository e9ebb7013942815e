import { TPM_ALG, algName, hashAlg, type HashName } from './alg.js';
import { ERR_TPM_UNSUPPORTED_ALG, TpmError, tpmParseError } from './errors.js';
import { Reader } from './reader.js';

/** A parsed TPMT_SIGNATURE. ECDSA keeps r and s as the TPM gives them (big-endian, unpadded). */
export type TpmSignature =
  | { alg: 'rsassa' | 'rsapss'; hash: HashName; sig: Buffer }
  | { alg: 'ecdsa'; hash: HashName; r: Buffer; s: Buffer };

const fail = (field: string, offset: number, message: string) => tpmParseError('TPMT_SIGNATURE', field, offset, message);

/** Parses TPMT_SIGNATURE wire bytes (TPM 2.0 Part 2, §11.3.4); the whole buffer must be consumed. */
export function parseSignature(bytes: Uint8Array): TpmSignature {
  const r = new Reader(bytes, fail);
  const sigAlg = r.u16be('sigAlg');
  if (sigAlg !== TPM_ALG.RSASSA && sigAlg !== TPM_ALG.RSAPSS && sigAlg !== TPM_ALG.ECDSA) {
    throw new TpmError(ERR_TPM_UNSUPPORTED_ALG, `TPMT_SIGNATURE.sigAlg ${algName(sigAlg)} is not supported (rsassa, rsapss, ecdsa)`, {
      details: { field: 'sigAlg', alg: sigAlg },
    });
  }
  const hashId = r.u16be('hash');
  const h = hashAlg(hashId);
  if (!h)
    throw new TpmError(ERR_TPM_UNSUPPORTED_ALG, `TPMT_SIGNATURE.hash ${algName(hashId)} is not supported`, {
      details: { field: 'hash', alg: hashId },
    });
  if (sigAlg === TPM_ALG.ECDSA) {
    const rr = r.tpm2b('signatureR', 128);
    const s = r.tpm2b('signatureS', 128);
    r.done('end');
    return { alg: 'ecdsa', hash: h.name, r: rr, s };
  }
  const sig = r.tpm2b('sig', 512);
  r.done('end');
  return { alg: sigAlg === TPM_ALG.RSASSA ? 'rsassa' : 'rsapss', hash: h.name, sig };
}
