import { createHash } from 'node:crypto';
import { TpmError, ERR_TPM_MARSHAL } from './errors.js';
import { ALG, WireReader, WireWriter } from './wire.js';

/**
 * Key templates as TPM2B_PUBLIC wire bytes, and a small reader for the fields the agent
 * checks. Attribute bits from TPM 2.0 Part 2 §8.3 (TPMA_OBJECT).
 */
export const TPMA = {
  fixedTPM: 0x2,
  fixedParent: 0x10,
  sensitiveDataOrigin: 0x20,
  userWithAuth: 0x40,
  adminWithPolicy: 0x80,
  noDA: 0x400,
  restricted: 0x10000,
  decrypt: 0x20000,
  sign: 0x40000,
} as const;

const NIST_P256 = 0x0003;

/** AK attributes: a restricted signing key that never leaves this TPM (as tpm2_createak). */
export const AK_ATTRIBUTES = TPMA.fixedTPM | TPMA.fixedParent | TPMA.sensitiveDataOrigin | TPMA.userWithAuth | TPMA.restricted | TPMA.sign;

export type AkAlg = 'ecc' | 'rsa';

/** AK template: ECC NIST P-256 with ECDSA/SHA-256, or RSA-2048 with RSASSA/SHA-256. */
export function akTemplate(alg: AkAlg): Buffer {
  const w = new WireWriter();
  if (alg === 'ecc') {
    w.u16(ALG.ecc).u16(ALG.sha256).u32(AK_ATTRIBUTES).tpm2b(Buffer.alloc(0));
    w.u16(ALG.null); // symmetric
    w.u16(ALG.ecdsa).u16(ALG.sha256); // scheme
    w.u16(NIST_P256).u16(ALG.null); // curve, kdf
    w.tpm2b(Buffer.alloc(0)).tpm2b(Buffer.alloc(0)); // unique x, y
  } else {
    w.u16(ALG.rsa).u16(ALG.sha256).u32(AK_ATTRIBUTES).tpm2b(Buffer.alloc(0));
    w.u16(ALG.null);
    w.u16(ALG.rsassa).u16(ALG.sha256);
    w.u16(2048).u32(0);
    w.tpm2b(Buffer.alloc(0));
  }
  return new WireWriter().tpm2b(w.done()).done();
}

/**
 * Storage root key in the owner hierarchy: ECC P-256, AES-128-CFB, the usual SRK attributes.
 * Deterministic (same seed, same template, same key), so it is created when needed and flushed.
 */
export function srkTemplate(): Buffer {
  const attrs =
    TPMA.fixedTPM | TPMA.fixedParent | TPMA.sensitiveDataOrigin | TPMA.userWithAuth | TPMA.noDA | TPMA.restricted | TPMA.decrypt;
  const w = new WireWriter().u16(ALG.ecc).u16(ALG.sha256).u32(attrs).tpm2b(Buffer.alloc(0));
  w.u16(ALG.aes).u16(128).u16(ALG.cfb);
  w.u16(ALG.null).u16(NIST_P256).u16(ALG.null);
  w.tpm2b(Buffer.alloc(0)).tpm2b(Buffer.alloc(0));
  return new WireWriter().tpm2b(w.done()).done();
}

/** PolicySecret(TPM_RH_ENDORSEMENT) digest: the authPolicy of the TCG default EK templates. */
export const EK_POLICY = Buffer.from('837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa', 'hex');

/** TCG EK Credential Profile template L-1: RSA-2048, AES-128-CFB, policy-only use. */
export function ekRsaTemplate(): Buffer {
  const attrs = TPMA.fixedTPM | TPMA.fixedParent | TPMA.sensitiveDataOrigin | TPMA.adminWithPolicy | TPMA.restricted | TPMA.decrypt;
  const w = new WireWriter().u16(ALG.rsa).u16(ALG.sha256).u32(attrs).tpm2b(EK_POLICY);
  w.u16(ALG.aes).u16(128).u16(ALG.cfb);
  w.u16(ALG.null).u16(2048).u32(0);
  w.tpm2b(Buffer.alloc(256));
  return new WireWriter().tpm2b(w.done()).done();
}

/** Empty TPM2B_SENSITIVE_CREATE (no auth value, no data). */
export function emptySensitiveCreate(): Buffer {
  return new WireWriter().tpm2b(new WireWriter().tpm2b(Buffer.alloc(0)).tpm2b(Buffer.alloc(0)).done()).done();
}

/** The fields of a TPM2B_PUBLIC the agent looks at. */
export interface PublicSummary {
  type: 'rsa' | 'ecc' | 'other';
  nameAlg: number;
  attributes: number;
  /** Signing scheme algorithm (ALG.ecdsa, ALG.rsassa ...) or ALG.null. */
  scheme: number;
  curve?: number;
  keyBits?: number;
}

export function summarizePublic(tpm2bPublic: Buffer): PublicSummary {
  const outer = new WireReader(tpm2bPublic, 'TPM2B_PUBLIC');
  const r = new WireReader(outer.tpm2b(), 'TPMT_PUBLIC');
  const type = r.u16();
  const nameAlg = r.u16();
  const attributes = r.u32();
  r.tpm2b();
  if (type !== ALG.ecc && type !== ALG.rsa) return { type: 'other', nameAlg, attributes, scheme: ALG.null };
  const sym = r.u16();
  if (sym !== ALG.null) r.bytes(4);
  const scheme = r.u16();
  if (scheme !== ALG.null) r.u16();
  if (type === ALG.ecc) return { type: 'ecc', nameAlg, attributes, scheme, curve: r.u16() };
  return { type: 'rsa', nameAlg, attributes, scheme, keyBits: r.u16() };
}

/** TPM object name: nameAlg || H_nameAlg(TPMT_PUBLIC). Only SHA-256 names are produced here. */
export function objectName(tpm2bPublic: Buffer): Buffer {
  const outer = new WireReader(tpm2bPublic, 'TPM2B_PUBLIC');
  const inner = outer.tpm2b();
  const nameAlg = inner.readUInt16BE(2);
  if (nameAlg !== ALG.sha256) throw new TpmError(ERR_TPM_MARSHAL, `name algorithm 0x${nameAlg.toString(16)} is not sha256`);
  const w = new WireWriter().u16(nameAlg).bytes(createHash('sha256').update(inner).digest());
  return w.done();
}
