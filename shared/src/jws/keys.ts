import { createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { expectedKty, type JwsAlg } from './alg.js';
import { ERR_JWS_KEY, JwsError } from './errors.js';

/** An agent's signing identity: private JWK (kept 0600 on disk), public JWK, RFC 7638 kid. */
export interface Identity {
  alg: JwsAlg;
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

export async function generateIdentity(alg: JwsAlg = 'ES256'): Promise<Identity> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  const privateJwk = await exportJWK(privateKey);
  const publicJwk = await exportJWK(publicKey);
  const kid = await thumbprint(publicJwk);
  return { alg, kid, privateJwk: { ...privateJwk, kid, alg }, publicJwk: { ...publicJwk, kid, alg } };
}

/** RFC 7638 SHA-256 thumbprint, base64url. */
export async function thumbprint(jwk: JWK): Promise<string> {
  try {
    return await calculateJwkThumbprint(publicPart(jwk), 'sha256');
  } catch (e) {
    throw new JwsError(ERR_JWS_KEY, 'JWK thumbprint cannot be computed', { cause: e });
  }
}

/** Only the public members of an EC/OKP JWK (drops d and any extra members). */
export function publicPart(jwk: JWK): JWK {
  if (jwk.kty === 'EC') return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
  if (jwk.kty === 'OKP') return { kty: 'OKP', crv: jwk.crv, x: jwk.x };
  throw new JwsError(ERR_JWS_KEY, `unsupported key type ${String(jwk.kty).slice(0, 10)}`);
}

/** Shape-checks a public JWK from the network and turns it into a KeyObject; refuses private keys and other types. */
export function importPublicJwk(jwk: unknown): { key: KeyObject; alg: JwsAlg } {
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw new JwsError(ERR_JWS_KEY, 'JWK must be an object');
  const j = jwk as Record<string, unknown>;
  if ('d' in j) throw new JwsError(ERR_JWS_KEY, 'JWK must be a public key');
  let alg: JwsAlg;
  if (j.kty === 'EC' && j.crv === 'P-256' && typeof j.x === 'string' && typeof j.y === 'string') alg = 'ES256';
  else if (j.kty === 'OKP' && j.crv === 'Ed25519' && typeof j.x === 'string') alg = 'EdDSA';
  else throw new JwsError(ERR_JWS_KEY, 'JWK must be EC P-256 or OKP Ed25519');
  const exp = expectedKty(alg);
  try {
    return { key: createPublicKey({ key: { ...publicPart(j as JWK), kty: exp.kty, crv: exp.crv }, format: 'jwk' }), alg };
  } catch (e) {
    throw new JwsError(ERR_JWS_KEY, 'JWK is not a valid public key', { cause: e });
  }
}

/** Private signing key from a stored private JWK. */
export async function importPrivateJwk(jwk: JWK, alg: JwsAlg): Promise<CryptoKey | Uint8Array> {
  try {
    return await importJWK(jwk, alg);
  } catch (e) {
    throw new JwsError(ERR_JWS_KEY, 'stored private key is not usable', { cause: e });
  }
}
