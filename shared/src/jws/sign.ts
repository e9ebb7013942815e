import type { KeyObject } from 'node:crypto';
import { CompactSign, type CryptoKey } from 'jose';
import type { JwsAlg } from './alg.js';
import { mapJoseError } from './errors.js';

/** Signs `payload` (already-serialised JSON bytes or an object) as a compact JWS with header {alg, kid, typ}. */
export async function signCompact(
  payload: Uint8Array | object,
  key: CryptoKey | Uint8Array | KeyObject,
  header: { alg: JwsAlg; kid: string; typ: string },
): Promise<string> {
  const bytes = payload instanceof Uint8Array ? payload : new TextEncoder().encode(JSON.stringify(payload));
  try {
    return await new CompactSign(bytes).setProtectedHeader({ alg: header.alg, kid: header.kid, typ: header.typ }).sign(key);
  } catch (e) {
    throw mapJoseError(e);
  }
}
