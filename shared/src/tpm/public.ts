import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { TPM_ALG, TPM_ECC_CURVE, algName, hashAlg, type HashName } from './alg.js';
import { ERR_TPM_UNSUPPORTED_ALG, TpmError, tpmParseError } from './errors.js';
import { Reader } from './reader.js';

/** TPMA_OBJECT bits (TPM 2.0 Part 2, §8.3). */
export const TPMA_OBJECT = {
  fixedTPM: 1 << 1,
  stClear: 1 << 2,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  adminWithPolicy: 1 << 7,
  noDA: 1 << 10,
  encryptedDuplication: 1 << 11,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;

export type ObjectAttributeName = keyof typeof TPMA_OBJECT;

/** A signing scheme as it appears in a key's parameters or a signature: algorithm and hash. */
export interface SigScheme {
  scheme: 'rsassa' | 'rsapss' | 'ecdsa' | 'null' | string;
  hash: HashName | null;
}

interface PublicCommon {
  nameAlg: HashName;
  /** Raw TPMA_OBJECT value. */
  objectAttributes: number;
  /** The attribute names set in objectAttributes. */
  attributes: ObjectAttributeName[];
  authPolicy: Buffer;
  /** Symmetric algorithm of a storage key; null for signing keys (TPM_ALG_NULL). */
  symmetric: { alg: string; keyBits: number; mode: string } | null;
  scheme: SigScheme;
  /** The TPMT_PUBLIC wire bytes (what the Name is computed over). */
  tpmtPublic: Buffer;
}

export interface RsaPublic extends PublicCommon {
  type: 'rsa';
  keyBits: number;
  exponent: number;
  modulus: Buffer;
}

export interface EccPublic extends PublicCommon {
  type: 'ecc';
  curve: 'P-256' | 'P-384' | 'P-521';
  x: Buffer;
  y: Buffer;
}

export type TpmPublic = RsaPublic | EccPublic;

const fail = (field: string, offset: number, message: string) => tpmParseError('TPMT_PUBLIC', field, offset, message);

function readScheme(r: Reader, field: string): SigScheme {
  const id = r.u16be(`${field}.scheme`);
  if (id === TPM_ALG.NULL) return { scheme: 'null', hash: null };
  const hashId = r.u16be(`${field}.hashAlg`);
  const h = hashAlg(hashId);
  const name = id === TPM_ALG.RSASSA ? 'rsassa' : id === TPM_ALG.RSAPSS ? 'rsapss' : id === TPM_ALG.ECDSA ? 'ecdsa' : algName(id);
  return { scheme: name, hash: h ? h.name : null };
}

function readSymmetric(r: Reader): PublicCommon['symmetric'] {
  const alg = r.u16be('parameters.symmetric.algorithm');
  if (alg === TPM_ALG.NULL) return null;
  const keyBits = r.u16be('parameters.symmetric.keyBits');
  const mode = r.u16be('parameters.symmetric.mode');
  return { alg: algName(alg), keyBits, mode: algName(mode) };
}

/** Parses TPMT_PUBLIC (no size prefix); the whole buffer must be consumed. */
export function parseTpmtPublic(bytes: Uint8Array): TpmPublic {
  const r = new Reader(bytes, fail);
  const type = r.u16be('type');
  const nameAlgId = r.u16be('nameAlg');
  const nameHash = hashAlg(nameAlgId);
  if (!nameHash)
    throw new TpmError(ERR_TPM_UNSUPPORTED_ALG, `TPMT_PUBLIC.nameAlg ${algName(nameAlgId)} is not supported`, {
      details: { field: 'nameAlg', alg: nameAlgId },
    });
  const objectAttributes = r.u32be('objectAttributes');
  const authPolicy = r.tpm2b('authPolicy', 64);
  const attributes = (Object.keys(TPMA_OBJECT) as ObjectAttributeName[]).filter((k) => (objectAttributes & TPMA_OBJECT[k]) !== 0);
  const tpmtPublic = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (type === TPM_ALG.RSA) {
    const symmetric = readSymmetric(r);
    const scheme = readScheme(r, 'parameters.scheme');
    const keyBits = r.u16be('parameters.keyBits');
    const exponent = r.u32be('parameters.exponent');
    const modulus = r.tpm2b('unique.rsa', 512);
    r.done('end');
    if (modulus.length * 8 !== keyBits) throw fail('unique.rsa', 0, `modulus is ${modulus.length * 8} bits, keyBits says ${keyBits}`);
    return {
      type: 'rsa',
      nameAlg: nameHash.name,
      objectAttributes,
      attributes,
      authPolicy,
      symmetric,
      scheme,
      tpmtPublic,
      keyBits,
      exponent: exponent === 0 ? 65537 : exponent,
      modulus,
    };
  }
  if (type === TPM_ALG.ECC) {
    const symmetric = readSymmetric(r);
    const scheme = readScheme(r, 'parameters.scheme');
    const curveId = r.u16be('parameters.curveID');
    const curve = TPM_ECC_CURVE.get(curveId);
    if (!curve)
      throw new TpmError(ERR_TPM_UNSUPPORTED_ALG, `TPMT_PUBLIC curve 0x${curveId.toString(16)} is not supported`, {
        details: { field: 'curveID', curve: curveId },
      });
    const kdf = r.u16be('parameters.kdf.scheme');
    if (kdf !== TPM_ALG.NULL) r.u16be('parameters.kdf.hashAlg');
    const x = r.tpm2b('unique.ecc.x', 128);
    const y = r.tpm2b('unique.ecc.y', 128);
    r.done('end');
    if (x.length > curve.size || y.length > curve.size) throw fail('unique.ecc', 0, `point coordinates longer than ${curve.size} bytes`);
    return {
      type: 'ecc',
      nameAlg: nameHash.name,
      objectAttributes,
      attributes,
      authPolicy,
      symmetric,
      scheme,
      tpmtPublic,
      curve: curve.crv,
      x,
      y,
    };
  }
  throw new TpmError(ERR_TPM_UNSUPPORTED_ALG, `TPMT_PUBLIC.type ${algName(type)} is not supported (only RSA and ECC keys)`, {
    details: { field: 'type', alg: type },
  });
}

/** Parses TPM2B_PUBLIC (u16 size + TPMT_PUBLIC), as tpm2_createak -u and our agent write it. */
export function parsePublic(bytes: Uint8Array): TpmPublic {
  const r = new Reader(bytes, (f, o, m) => tpmParseError('TPM2B_PUBLIC', f, o, m));
  const inner = r.tpm2b('publicArea', 0xffff);
  r.done('end');
  return parseTpmtPublic(inner);
}

function leftPad(b: Buffer, size: number): Buffer {
  return b.length === size ? b : Buffer.concat([Buffer.alloc(size - b.length), b]);
}

function b64url(b: Buffer): string {
  return b.toString('base64url');
}

/**
 * Imported keys by TPMT_PUBLIC bytes: a collector verifies the same pinned AKs over and over,
 * and the import costs more than the signature check. Bounded; cleared when full.
 */
const keyCache = new Map<string, KeyObject>();
const KEY_CACHE_MAX = 4096;

/** The key as a node:crypto KeyObject (RSA or EC public key). */
export function publicKeyObject(pub: TpmPublic): KeyObject {
  const id = pub.tpmtPublic.toString('base64');
  const hit = keyCache.get(id);
  if (hit) return hit;
  const key = importKey(pub);
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
  keyCache.set(id, key);
  return key;
}

function importKey(pub: TpmPublic): KeyObject {
  try {
    if (pub.type === 'rsa') {
      const e = Buffer.alloc(4);
      e.writeUInt32BE(pub.exponent);
      let i = 0;
      while (i < 3 && e[i] === 0) i++;
      return createPublicKey({ key: { kty: 'RSA', n: b64url(pub.modulus), e: b64url(e.subarray(i)) }, format: 'jwk' });
    }
    const size = TPM_ECC_CURVE_SIZE[pub.curve];
    return createPublicKey({
      key: { kty: 'EC', crv: pub.curve, x: b64url(leftPad(pub.x, size)), y: b64url(leftPad(pub.y, size)) },
      format: 'jwk',
    });
  } catch (e) {
    throw tpmParseError('TPMT_PUBLIC', 'unique', 0, `not a valid public key: ${(e as Error).message}`);
  }
}

const TPM_ECC_CURVE_SIZE = { 'P-256': 32, 'P-384': 48, 'P-521': 66 } as const;

/** SubjectPublicKeyInfo PEM of the key. */
export function publicKeyPem(pub: TpmPublic): string {
  return publicKeyObject(pub).export({ type: 'spki', format: 'pem' }).toString();
}

/** The TPM Name of the object: nameAlg (u16 big-endian) || H_nameAlg(TPMT_PUBLIC). */
export function tpmName(pub: TpmPublic): Buffer {
  const alg = Buffer.alloc(2);
  alg.writeUInt16BE(nameAlgIds[pub.nameAlg]);
  return Buffer.concat([alg, createHash(pub.nameAlg).update(pub.tpmtPublic).digest()]);
}

const nameAlgIds: Record<HashName, number> = { sha1: TPM_ALG.SHA1, sha256: TPM_ALG.SHA256, sha384: TPM_ALG.SHA384, sha512: TPM_ALG.SHA512 };
