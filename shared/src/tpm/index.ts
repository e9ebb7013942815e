export { TPM_ALG, algName, hashAlg, hashAlgId, type HashName } from './alg.js';
export {
  parseQuoteAttest,
  TPM_GENERATED_VALUE,
  TPM_ST_ATTEST_QUOTE,
  type QuoteAttest,
  type PcrSelection,
  type ClockInfo,
} from './attest.js';
export { toBytes, type BytesLike } from './bytes.js';
export * from './errors.js';
export { pcrDigest, type PcrValues } from './pcr-digest.js';
export {
  parsePublic,
  parseTpmtPublic,
  publicKeyObject,
  publicKeyPem,
  tpmName,
  TPMA_OBJECT,
  type TpmPublic,
  type RsaPublic,
  type EccPublic,
  type SigScheme,
} from './public.js';
export { parseSignature, type TpmSignature } from './signature.js';
export { verifyQuote, checkAkAttributes, type VerifyQuoteInput, type VerifiedQuote } from './verify-quote.js';
export {
  buildPublic,
  buildTpmtPublic,
  buildQuoteAttest,
  buildSignature,
  buildPcrSelection,
  softwareQuote,
  AK_ATTRIBUTES,
  type SoftwareQuote,
} from './build.js';
export {
  makeCredential,
  ERR_CREDENTIAL_KEY,
  ERR_CREDENTIAL_INPUT,
  type CredentialKey,
  type MakeCredentialInput,
  type MakeCredentialOutput,
  type EkSymmetric,
  type EccCurve,
} from './make-credential.js';
export { kdfa, kdfe, type TpmHashAlg } from './kdf.js';
