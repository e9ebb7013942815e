export {
  openTpm,
  withTpm,
  DEFAULT_TCTI,
  type Tpm,
  type OpenTpmOptions,
  type EnsureAkOptions,
  type PcrValues,
  type QuoteResult,
  type AkAlg,
} from './tpm.js';
export {
  collectTpmEvidence,
  quotedPcrDigest,
  DEFAULT_EVENT_LOG_PATH,
  DEFAULT_QUOTE_PCRS,
  MAX_EVENT_LOG_BYTES,
  type CollectTpmEvidenceOptions,
} from './evidence.js';
export { DEFAULT_AK_HANDLE, EK_RSA_HANDLE } from './keys.js';
export { EK_CERT_NV } from './nv.js';
export { probeTpm, type TpmProbe } from './probe.js';
export { objectName, akTemplate, ekRsaTemplate } from './templates.js';
export { tpmPublicKey, tpmPublicPem } from './public-key.js';
export * from './errors.js';
