import { createHash, createPrivateKey, createPublicKey, constants, sign, type KeyObject } from 'node:crypto';
import { TPM_ALG, hashAlgId, type HashName } from './alg.js';
import { TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE, type PcrSelection } from './attest.js';
import { pcrDigest, type PcrValues } from './pcr-digest.js';
import { TPMA_OBJECT } from './public.js';

/**
 * Marshalling of TPM structures for tests and benchmarks: a software key can produce
 * TPM-format quotes without a TPM. Nothing here is used to verify evidence.
 */

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}
function tpm2b(b: Uint8Array): Buffer {
  return Buffer.concat([u16(b.length), b]);
}

/** Attributes of an AK as tpm2_createak makes it. */
export const AK_ATTRIBUTES =
  TPMA_OBJECT.fixedTPM |
  TPMA_OBJECT.fixedParent |
  TPMA_OBJECT.sensitiveDataOrigin |
  TPMA_OBJECT.userWithAuth |
  TPMA_OBJECT.restricted |
  TPMA_OBJECT.sign;

export interface BuildPublicOptions {
  /** Defaults to AK_ATTRIBUTES. */
  objectAttributes?: number;
  nameAlg?: HashName;
  /** Signing scheme written into the key's parameters; defaults to ecdsa (ECC) or rsassa (RSA) with sha256. */
  scheme?: { alg: 'rsassa' | 'rsapss' | 'ecdsa' | 'null'; hash?: HashName };
}

const schemeIds = { rsassa: TPM_ALG.RSASSA, rsapss: TPM_ALG.RSAPSS, ecdsa: TPM_ALG.ECDSA, null: TPM_ALG.NULL } as const;
const curveIds: Record<string, number> = { 'P-256': 0x0003, 'P-384': 0x0004, 'P-521': 0x0005 };

/** TPMT_PUBLIC for a node:crypto public (or private) RSA or EC key. */
export function buildTpmtPublic(key: KeyObject, opts: BuildPublicOptions = {}): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = pub.export({ format: 'jwk' });
  const attrs = opts.objectAttributes ?? AK_ATTRIBUTES;
  const nameAlg = hashAlgId(opts.nameAlg ?? 'sha256');
  const isEc = jwk.kty === 'EC';
  const scheme = opts.scheme ?? { alg: isEc ? 'ecdsa' : 'rsassa', hash: 'sha256' };
  const schemeBytes =
    scheme.alg === 'null' ? u16(TPM_ALG.NULL) : Buffer.concat([u16(schemeIds[scheme.alg]), u16(hashAlgId(scheme.hash ?? 'sha256'))]);
  const head = Buffer.concat([
    u16(isEc ? TPM_ALG.ECC : TPM_ALG.RSA),
    u16(nameAlg),
    u32(attrs),
    tpm2b(Buffer.alloc(0)),
    u16(TPM_ALG.NULL),
    schemeBytes,
  ]);
  if (isEc) {
    const curve = curveIds[jwk.crv!];
    if (curve === undefined) throw new RangeError(`unsupported curve ${jwk.crv}`);
    return Buffer.concat([
      head,
      u16(curve),
      u16(TPM_ALG.NULL),
      tpm2b(Buffer.from(jwk.x!, 'base64url')),
      tpm2b(Buffer.from(jwk.y!, 'base64url')),
    ]);
  }
  const n = Buffer.from(jwk.n!, 'base64url');
  const e = Buffer.from(jwk.e!, 'base64url');
  const exponent = e.readUIntBE(0, e.length);
  return Buffer.concat([head, u16(n.length * 8), u32(exponent === 65537 ? 0 : exponent), tpm2b(n)]);
}

/** TPM2B_PUBLIC (size-prefixed TPMT_PUBLIC), the form tpm2_createak -u writes. */
export function buildPublic(key: KeyObject, opts: BuildPublicOptions = {}): Buffer {
  return tpm2b(buildTpmtPublic(key, opts));
}

/** TPML_PCR_SELECTION. */
export function buildPcrSelection(selection: PcrSelection[]): Buffer {
  const parts = [u32(selection.length)];
  for (const s of selection) {
    const bitmap = Buffer.alloc(3);
    for (const p of s.pcrs) {
      if (!Number.isInteger(p) || p < 0 || p > 23) throw new RangeError(`PCR ${p} out of range`);
      bitmap[p >> 3]! |= 1 << (p & 7);
    }
    parts.push(u16(hashAlgId(s.bank)), Buffer.from([3]), bitmap);
  }
  return Buffer.concat(parts);
}

export interface BuildQuoteAttestOptions {
  nonce: Uint8Array;
  selection: PcrSelection[];
  /** The pcrDigest; use quotePcrDigest() to compute it from values. */
  pcrDigest: Uint8Array;
  qualifiedSigner?: Uint8Array;
  clock?: bigint;
  resetCount?: number;
  restartCount?: number;
  safe?: boolean;
  firmwareVersion?: bigint;
  /** Overrides for negative tests. */
  magic?: number;
  type?: number;
}

/** TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE. */
export function buildQuoteAttest(o: BuildQuoteAttestOptions): Buffer {
  return Buffer.concat([
    u32(o.magic ?? TPM_GENERATED_VALUE),
    u16(o.type ?? TPM_ST_ATTEST_QUOTE),
    tpm2b(o.qualifiedSigner ?? Buffer.alloc(0)),
    tpm2b(o.nonce),
    u64(o.clock ?? 1000n),
    u32(o.resetCount ?? 0),
    u32(o.restartCount ?? 0),
    Buffer.from([o.safe === false ? 0 : 1]),
    u64(o.firmwareVersion ?? 0x2023_0101_0000_0000n),
    buildPcrSelection(o.selection),
    tpm2b(o.pcrDigest),
  ]);
}

/** TPMT_SIGNATURE over `data` with a software key: ECDSA (r,s), RSASSA-PKCS1-v1_5 or RSA-PSS. */
export function buildSignature(
  privateKey: KeyObject,
  data: Uint8Array,
  alg: 'ecdsa' | 'rsassa' | 'rsapss',
  hash: HashName = 'sha256',
): Buffer {
  const head = Buffer.concat([u16(schemeIds[alg]), u16(hashAlgId(hash))]);
  if (alg === 'ecdsa') {
    const p1363 = sign(hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    const half = p1363.length / 2;
    return Buffer.concat([head, tpm2b(p1363.subarray(0, half)), tpm2b(p1363.subarray(half))]);
  }
  const sig =
    alg === 'rsapss'
      ? sign(hash, data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST })
      : sign(hash, data, { key: privateKey, padding: constants.RSA_PKCS1_PADDING });
  return Buffer.concat([head, tpm2b(sig)]);
}

export interface SoftwareQuote {
  attest: Buffer;
  signature: Buffer;
  akPublic: Buffer;
}

/**
 * A complete quote made with a software key, in the TPM's wire formats: what a simulated agent
 * sends. The PCR digest is computed with the signing hash over `pcrs` in `selection` order.
 */
export function softwareQuote(opts: {
  privateKey: KeyObject | string;
  nonce: Uint8Array;
  pcrs: PcrValues;
  selection: PcrSelection[];
  alg?: 'ecdsa' | 'rsassa' | 'rsapss';
  hash?: HashName;
  clock?: bigint;
}): SoftwareQuote {
  const key = typeof opts.privateKey === 'string' ? createPrivateKey(opts.privateKey) : opts.privateKey;
  const alg = opts.alg ?? (key.asymmetricKeyType === 'ec' ? 'ecdsa' : 'rsassa');
  const hash = opts.hash ?? 'sha256';
  const digest = pcrDigest(hash, opts.selection, opts.pcrs);
  const akPublic = buildPublic(key, { scheme: { alg, hash } });
  const name = Buffer.concat([u16(TPM_ALG.SHA256), createHash('sha256').update(akPublic.subarray(2)).digest()]);
  const attest = buildQuoteAttest({
    nonce: opts.nonce,
    selection: opts.selection,
    pcrDigest: digest,
    qualifiedSigner: name,
    ...(opts.clock !== undefined ? { clock: opts.clock } : {}),
  });
  return { attest, signature: buildSignature(key, attest, alg, hash), akPublic };
}
