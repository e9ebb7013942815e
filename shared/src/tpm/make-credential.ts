import {
  createCipheriv,
  createHmac,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  publicEncrypt,
  randomBytes,
  constants,
  type KeyObject,
} from 'node:crypto';
import { NodesealError } from '../errors.js';
import { digestSize, kdfa, kdfe, type TpmHashAlg } from './kdf.js';

/**
 * TPM2_MakeCredential in pure TypeScript (TPM 2.0 Part 1 §24, Part 3 §12.6), run by the
 * collector so that only the TPM holding the endorsement key can recover `credential`, and
 * only if the object named `objectName` (the attestation key) is loaded in that same TPM.
 *
 *   seed            random (RSA EK: protected with RSA-OAEP, label "IDENTITY")
 *                   or KDFe over an ECDH shared secret (ECC EK)
 *   symKey          = KDFa(ekNameAlg, seed, "STORAGE", objectName, "", ekSymBits)
 *   encIdentity     = AES-CFB(symKey, iv = 0, TPM2B(credential))
 *   hmacKey         = KDFa(ekNameAlg, seed, "INTEGRITY", "", "", digestBits)
 *   outerHmac       = HMAC(ekNameAlg, hmacKey, encIdentity || objectName)
 *   TPM2B_ID_OBJECT = size || TPM2B(outerHmac) || encIdentity
 *
 * The EK's parameters come in already parsed (see collector/src/enroll/ek-key.ts for the
 * conversion from TPM2B_PUBLIC). Randomness can be passed in for reproducible tests.
 */
export const ERR_CREDENTIAL_KEY = 'ERR_CREDENTIAL_KEY';
export const ERR_CREDENTIAL_INPUT = 'ERR_CREDENTIAL_INPUT';

export type EccCurve = 'P-256' | 'P-384' | 'P-521';

export interface EkSymmetric {
  algorithm: 'aes';
  keyBits: 128 | 192 | 256;
  mode: 'cfb';
}

/** The parts of an endorsement key's TPMT_PUBLIC that MakeCredential needs. */
export type CredentialKey =
  | { type: 'rsa'; nameAlg: TpmHashAlg; symmetric: EkSymmetric; modulus: Uint8Array; exponent: number }
  | { type: 'ecc'; nameAlg: TpmHashAlg; symmetric: EkSymmetric; curve: EccCurve; x: Uint8Array; y: Uint8Array };

export interface MakeCredentialInput {
  ek: CredentialKey;
  /** TPM Name of the attestation key: nameAlg (2 octets) || digest of its TPMT_PUBLIC. */
  objectName: Uint8Array;
  /** The secret the TPM gives back on activation; 1..digest size of the EK's nameAlg octets. */
  credential: Uint8Array;
  /** Test hooks: the seed for RSA EKs, the ephemeral private key for ECC EKs. */
  seed?: Uint8Array;
  ephemeralPrivateKey?: KeyObject;
}

export interface MakeCredentialOutput {
  /** TPM2B_ID_OBJECT wire bytes (with its size prefix). */
  credentialBlob: Buffer;
  /** TPM2B_ENCRYPTED_SECRET wire bytes (with its size prefix). */
  secret: Buffer;
}

const curveBytes: Record<EccCurve, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };
const nodeCurve: Record<EccCurve, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' };

function tpm2b(data: Uint8Array): Buffer {
  const size = Buffer.alloc(2);
  size.writeUInt16BE(data.length);
  return Buffer.concat([size, data]);
}

function leftPad(b: Uint8Array, len: number): Buffer {
  let v = Buffer.from(b);
  while (v.length > len && v[0] === 0) v = v.subarray(1);
  if (v.length > len) throw new NodesealError(ERR_CREDENTIAL_KEY, `coordinate longer than ${len} octets`);
  return Buffer.concat([Buffer.alloc(len - v.length), v]);
}

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

function checkInput(input: MakeCredentialInput): void {
  const { ek, objectName, credential } = input;
  if (!(ek.nameAlg in digestSize)) throw new NodesealError(ERR_CREDENTIAL_KEY, `unsupported EK name algorithm ${String(ek.nameAlg)}`);
  if (ek.symmetric.algorithm !== 'aes' || ek.symmetric.mode !== 'cfb' || ![128, 192, 256].includes(ek.symmetric.keyBits)) {
    throw new NodesealError(ERR_CREDENTIAL_KEY, 'EK symmetric definition must be AES-CFB with 128, 192 or 256 bits');
  }
  if (credential.length < 1 || credential.length > digestSize[ek.nameAlg]) {
    throw new NodesealError(ERR_CREDENTIAL_INPUT, `credential must be 1..${digestSize[ek.nameAlg]} octets`);
  }
  const nameHash = Object.entries({ sha1: 0x0004, sha256: 0x000b, sha384: 0x000c, sha512: 0x000d } as const).find(
    ([, id]) => objectName.length >= 2 && ((objectName[0]! << 8) | objectName[1]!) === id,
  );
  if (!nameHash || objectName.length !== 2 + digestSize[nameHash[0] as TpmHashAlg]) {
    throw new NodesealError(ERR_CREDENTIAL_INPUT, 'object name must be a hash algorithm id followed by its digest');
  }
}

/** Seed and its protected form (TPM2B_ENCRYPTED_SECRET) for the endorsement key. */
function protectSeed(input: MakeCredentialInput): { seed: Buffer; secret: Buffer } {
  const { ek } = input;
  const seedBits = digestSize[ek.nameAlg] * 8;
  if (ek.type === 'rsa') {
    const seed = Buffer.from(input.seed ?? randomBytes(seedBits / 8));
    if (seed.length !== seedBits / 8) throw new NodesealError(ERR_CREDENTIAL_INPUT, `seed must be ${seedBits / 8} octets`);
    let key: KeyObject;
    try {
      const e = Buffer.alloc(4);
      e.writeUInt32BE(ek.exponent === 0 ? 65537 : ek.exponent);
      key = createPublicKey({ key: { kty: 'RSA', n: b64u(ek.modulus), e: b64u(e.subarray(e.findIndex((x) => x !== 0))) }, format: 'jwk' });
    } catch (cause) {
      throw new NodesealError(ERR_CREDENTIAL_KEY, 'EK RSA public key is not usable', { cause });
    }
    const encrypted = publicEncrypt(
      { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: ek.nameAlg, oaepLabel: Buffer.from('IDENTITY\0', 'ascii') },
      seed,
    );
    return { seed, secret: tpm2b(encrypted) };
  }
  const n = curveBytes[ek.curve];
  if (!n) throw new NodesealError(ERR_CREDENTIAL_KEY, `unsupported EK curve ${String(ek.curve)}`);
  const ekX = leftPad(ek.x, n);
  const ekY = leftPad(ek.y, n);
  let ekKey: KeyObject;
  try {
    ekKey = createPublicKey({ key: { kty: 'EC', crv: ek.curve, x: b64u(ekX), y: b64u(ekY) }, format: 'jwk' });
  } catch (cause) {
    throw new NodesealError(ERR_CREDENTIAL_KEY, 'EK ECC point is not on its curve', { cause });
  }
  const priv = input.ephemeralPrivateKey ?? generateKeyPairSync('ec', { namedCurve: nodeCurve[ek.curve] }).privateKey;
  const jwk = createPublicKey(priv).export({ format: 'jwk' });
  const ephX = leftPad(Buffer.from(jwk.x!, 'base64url'), n);
  const ephY = leftPad(Buffer.from(jwk.y!, 'base64url'), n);
  const z = leftPad(diffieHellman({ privateKey: priv, publicKey: ekKey }), n);
  const seed = kdfe(ek.nameAlg, z, 'IDENTITY', ephX, ekX, seedBits);
  return { seed, secret: tpm2b(Buffer.concat([tpm2b(ephX), tpm2b(ephY)])) };
}

export function makeCredential(input: MakeCredentialInput): MakeCredentialOutput {
  checkInput(input);
  const { ek, objectName, credential } = input;
  const { seed, secret } = protectSeed(input);
  const symKey = kdfa(ek.nameAlg, seed, 'STORAGE', objectName, Buffer.alloc(0), ek.symmetric.keyBits);
  const cipher = createCipheriv(`aes-${ek.symmetric.keyBits}-cfb`, symKey, Buffer.alloc(16));
  const encIdentity = Buffer.concat([cipher.update(tpm2b(credential)), cipher.final()]);
  const hmacKey = kdfa(ek.nameAlg, seed, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), digestSize[ek.nameAlg] * 8);
  const outerHmac = createHmac(ek.nameAlg, hmacKey).update(encIdentity).update(objectName).digest();
  return { credentialBlob: tpm2b(Buffer.concat([tpm2b(outerHmac), encIdentity])), secret };
}
