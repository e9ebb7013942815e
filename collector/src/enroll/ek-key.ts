import type { CredentialKey } from '../../../shared/src/tpm/make-credential.js';
import { TPMA_OBJECT, type TpmPublic } from '../../../shared/src/tpm/public.js';
import { EnrollError, ERR_ENROLL_KEY_ATTRIBUTES } from './errors.js';

/**
 * An endorsement key as MakeCredential needs it, from its parsed TPM2B_PUBLIC. The EK must be
 * a restricted decryption (storage) key bound to its TPM, with an AES-CFB symmetric definition;
 * anything else is not an EK and is refused before any crypto.
 */
export function credentialKeyFromEk(ek: TpmPublic): CredentialKey {
  const attrs = ek.objectAttributes;
  const need = (['fixedTPM', 'fixedParent', 'restricted', 'decrypt'] as const).filter((a) => (attrs & TPMA_OBJECT[a]) === 0);
  if (need.length > 0 || (attrs & TPMA_OBJECT.sign) !== 0) {
    throw new EnrollError(
      ERR_ENROLL_KEY_ATTRIBUTES,
      `the EK is not a restricted, TPM-bound decryption key (missing: ${need.join(', ') || 'none'}${(attrs & TPMA_OBJECT.sign) !== 0 ? '; has sign' : ''})`,
    );
  }
  const sym = ek.symmetric;
  if (sym?.alg !== 'aes' || sym.mode !== 'cfb' || ![128, 192, 256].includes(sym.keyBits)) {
    throw new EnrollError(ERR_ENROLL_KEY_ATTRIBUTES, 'the EK must carry an AES-CFB symmetric definition');
  }
  const symmetric = { algorithm: 'aes', keyBits: sym.keyBits as 128 | 192 | 256, mode: 'cfb' } as const;
  if (ek.type === 'rsa') return { type: 'rsa', nameAlg: ek.nameAlg, symmetric, modulus: ek.modulus, exponent: ek.exponent };
  return { type: 'ecc', nameAlg: ek.nameAlg, symmetric, curve: ek.curve, x: ek.x, y: ek.y };
}
