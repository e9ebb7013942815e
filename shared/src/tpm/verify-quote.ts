import { constants, timingSafeEqual, verify } from 'node:crypto';
import { TPM_ECC_CURVE } from './alg.js';
import { parseQuoteAttest, type QuoteAttest } from './attest.js';
import { toBytes, type BytesLike } from './bytes.js';
import {
  ERR_TPM_AK_ATTRIBUTES,
  ERR_TPM_QUOTE_NONCE,
  ERR_TPM_QUOTE_PCR_DIGEST,
  ERR_TPM_QUOTE_SCHEME,
  ERR_TPM_QUOTE_SIGNATURE,
  TpmError,
} from './errors.js';
import { pcrDigest, type PcrValues } from './pcr-digest.js';
import { TPMA_OBJECT, parsePublic, publicKeyObject, type TpmPublic } from './public.js';
import { parseSignature, type TpmSignature } from './signature.js';

export interface VerifyQuoteInput {
  /** TPMS_ATTEST bytes (no TPM2B size prefix), bytes or hex. */
  attest: BytesLike;
  /** TPMT_SIGNATURE wire bytes, bytes or hex. */
  signature: BytesLike;
  /** The AK: TPM2B_PUBLIC bytes/hex, or an already parsed (pinned) key. */
  akPublic: BytesLike | TpmPublic;
  /** The verifier's challenge; must equal the quote's extraData (qualifyingData). */
  nonce: BytesLike;
  /** Claimed PCR values: `{ sha256: { "0": hex, ... } }`; every PCR the quote selects must be present. */
  pcrs: PcrValues;
}

export interface VerifiedQuote {
  attest: QuoteAttest;
  ak: TpmPublic;
  signature: TpmSignature;
}

/** A restricted signing key that never leaves its TPM: what an attestation key must be. */
const AK_REQUIRED = ['restricted', 'sign', 'fixedTPM', 'fixedParent'] as const;

export function checkAkAttributes(ak: TpmPublic): void {
  const missing = AK_REQUIRED.filter((a) => (ak.objectAttributes & TPMA_OBJECT[a]) === 0);
  if (missing.length > 0 || (ak.objectAttributes & TPMA_OBJECT.decrypt) !== 0) {
    throw new TpmError(
      ERR_TPM_AK_ATTRIBUTES,
      `the AK is not a restricted, TPM-bound signing key (missing: ${missing.join(', ') || 'none'}${(ak.objectAttributes & TPMA_OBJECT.decrypt) !== 0 ? '; has decrypt' : ''})`,
      {
        details: { missing, objectAttributes: ak.objectAttributes },
      },
    );
  }
}

function checkScheme(ak: TpmPublic, sig: TpmSignature): void {
  const fits = ak.type === 'ecc' ? sig.alg === 'ecdsa' : sig.alg === 'rsassa' || sig.alg === 'rsapss';
  const keyScheme = ak.scheme.scheme === 'null' ? null : ak.scheme;
  if (!fits || (keyScheme && (keyScheme.scheme !== sig.alg || keyScheme.hash !== sig.hash))) {
    throw new TpmError(
      ERR_TPM_QUOTE_SCHEME,
      `signature scheme ${sig.alg}/${sig.hash} does not fit the ${ak.type} AK (scheme ${ak.scheme.scheme}/${ak.scheme.hash ?? '-'})`,
      {
        details: { sigAlg: sig.alg, sigHash: sig.hash, akType: ak.type, akScheme: ak.scheme.scheme },
      },
    );
  }
}

function signatureValid(ak: TpmPublic, sig: TpmSignature, data: Buffer): boolean {
  const key = publicKeyObject(ak);
  if (sig.alg === 'ecdsa') {
    if (ak.type !== 'ecc') return false;
    const size = [...TPM_ECC_CURVE.values()].find((c) => c.crv === ak.curve)!.size;
    const strip = (b: Buffer) => {
      let i = 0;
      while (i < b.length - 1 && b[i] === 0) i++;
      return b.subarray(i);
    };
    const r = strip(sig.r);
    const s = strip(sig.s);
    if (r.length > size || s.length > size) return false;
    const p1363 = Buffer.alloc(2 * size);
    r.copy(p1363, size - r.length);
    s.copy(p1363, 2 * size - s.length);
    return verify(sig.hash, data, { key, dsaEncoding: 'ieee-p1363' }, p1363);
  }
  if (sig.alg === 'rsapss') {
    return verify(sig.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig.sig);
  }
  return verify(sig.hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, sig.sig);
}

/**
 * Verifies a TPM2_Quote. Checks, in order, each with its own code: shapes of the three
 * structures (ERR_TPM_PARSE / ERR_TPM_UNSUPPORTED_ALG), AK attributes (ERR_TPM_AK_ATTRIBUTES),
 * magic (ERR_TPM_QUOTE_MAGIC), type (ERR_TPM_QUOTE_TYPE), scheme fits the AK
 * (ERR_TPM_QUOTE_SCHEME), signature (ERR_TPM_QUOTE_SIGNATURE), extraData == nonce
 * (ERR_TPM_QUOTE_NONCE), pcrDigest == H(selected PCR values) (ERR_TPM_QUOTE_PCR_MISSING /
 * ERR_TPM_QUOTE_PCR_DIGEST). Pure: no clock, no I/O. Returns the parsed, now trustworthy attest.
 */
export function verifyQuote(input: VerifyQuoteInput): VerifiedQuote {
  const attestBytes = toBytes(input.attest, 'attest');
  const ak =
    typeof input.akPublic === 'string' || input.akPublic instanceof Uint8Array
      ? parsePublic(toBytes(input.akPublic, 'akPublic'))
      : input.akPublic;
  const signature = parseSignature(toBytes(input.signature, 'signature'));
  const nonce = toBytes(input.nonce, 'nonce');
  checkAkAttributes(ak);
  const attest = parseQuoteAttest(attestBytes);
  checkScheme(ak, signature);
  if (!signatureValid(ak, signature, attestBytes)) {
    throw new TpmError(ERR_TPM_QUOTE_SIGNATURE, `the quote signature (${signature.alg}/${signature.hash}) does not verify with the AK`, {
      details: { sigAlg: signature.alg },
    });
  }
  if (attest.extraData.length !== nonce.length || !timingSafeEqual(attest.extraData, nonce)) {
    throw new TpmError(ERR_TPM_QUOTE_NONCE, 'the quote was made over another nonce (extraData differs): stale or replayed', {
      details: { expectedLength: nonce.length, quotedLength: attest.extraData.length },
    });
  }
  const expected = pcrDigest(signature.hash, attest.pcrSelect, input.pcrs);
  if (!expected.equals(attest.pcrDigest)) {
    throw new TpmError(ERR_TPM_QUOTE_PCR_DIGEST, 'the PCR values given do not hash to the quoted pcrDigest', {
      details: {
        selection: attest.pcrSelect.map((s) => `${s.bank}:${s.pcrs.join(',')}`),
        quoted: attest.pcrDigest.toString('hex'),
        computed: expected.toString('hex'),
      },
    });
  }
  return { attest, ak, signature };
}
