import { importPublicJwk, thumbprint, type JWK } from '../../../shared/src/jws/index.js';
import { EnrollError, ERR_ENROLL_AK_CHANGED, ERR_ENROLL_KEY_ROTATION } from './errors.js';

/**
 * Key changes after enrolment, as pure checks.
 *
 * JWS key rotation: the agent announces its next key inside a report signed by its current
 * (pinned) key; after the pipeline has verified that report, `checkKeyRotation` validates the
 * announcement and the store pins the new key (EnrollStore.rotateKey, audited). A key cannot
 * rotate itself into place without the old key's signature, and the kid must be the new key's
 * RFC 7638 thumbprint.
 *
 * AK: an attestation key is pinned only by credential activation against the EK. A report
 * quoting with another AK is refused (`checkAkUnchanged`); a new AK needs a new enrolment.
 */
export interface KeyRotation {
  jwk: Record<string, unknown>;
  kid: string;
}

export async function checkKeyRotation(pinnedKid: string, verifiedWithKid: string, announced: unknown): Promise<KeyRotation> {
  if (verifiedWithKid !== pinnedKid)
    throw new EnrollError(ERR_ENROLL_KEY_ROTATION, 'a key rotation must be announced in a report signed by the pinned key');
  if (announced === null || typeof announced !== 'object' || Array.isArray(announced))
    throw new EnrollError(ERR_ENROLL_KEY_ROTATION, 'the announced key must be {jwk, kid}');
  const a = announced as Record<string, unknown>;
  const extra = Object.keys(a).filter((k) => k !== 'jwk' && k !== 'kid');
  if (extra.length || typeof a.kid !== 'string' || a.kid.length > 100)
    throw new EnrollError(ERR_ENROLL_KEY_ROTATION, 'the announced key must be {jwk, kid}');
  try {
    importPublicJwk(a.jwk);
  } catch (e) {
    throw new EnrollError(ERR_ENROLL_KEY_ROTATION, `the announced key is not usable: ${(e as Error).message}`, { cause: e });
  }
  const jwk = a.jwk as Record<string, unknown>;
  const kid = await thumbprint(jwk as JWK);
  if (kid !== a.kid) throw new EnrollError(ERR_ENROLL_KEY_ROTATION, 'the announced kid is not the thumbprint of the announced key');
  if (kid === pinnedKid) throw new EnrollError(ERR_ENROLL_KEY_ROTATION, 'the announced key is the pinned key');
  const pub: Record<string, unknown> =
    jwk.kty === 'EC' ? { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y } : { kty: 'OKP', crv: jwk.crv, x: jwk.x };
  return { jwk: pub, kid };
}

/** Refuses evidence from an AK other than the one pinned by activation (hex TPM2B_PUBLIC, compared exactly). */
export function checkAkUnchanged(pinnedAkPublic: string | null, reportedAkPublic: string): void {
  if (pinnedAkPublic !== null && pinnedAkPublic.toLowerCase() !== reportedAkPublic.toLowerCase()) {
    throw new EnrollError(
      ERR_ENROLL_AK_CHANGED,
      'the report quotes with an attestation key that was not activated for this node; enrol again',
    );
  }
}
