import { X509Certificate, type KeyObject } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  EnrollError,
  ERR_ENROLL_CA_DIR,
  ERR_ENROLL_EK_CERT_MISMATCH,
  ERR_ENROLL_EK_CERT_PARSE,
  ERR_ENROLL_EK_CERT_UNTRUSTED,
} from './errors.js';

/**
 * EK certificate checks: the certificate a TPM vendor (or swtpm's local CA in tests) issued
 * for the endorsement key must chain to a CA the operator trusts (`--ek-ca-dir DIR`, PEM
 * files), be valid now, and certify exactly the EK the node presented.
 */
const pemBlock = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

/** Every CERTIFICATE block in the PEM files (.pem, .crt, .cer) of `dir`; other blocks are ignored. */
export async function loadEkCaDir(dir: string): Promise<X509Certificate[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.(pem|crt|cer)$/i.test(n)).sort();
  } catch (e) {
    throw new EnrollError(
      ERR_ENROLL_CA_DIR,
      `cannot read EK CA directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const certs: X509Certificate[] = [];
  for (const n of names) {
    const text = await readFile(join(dir, n), 'utf8').catch(() => '');
    for (const m of text.matchAll(pemBlock)) {
      try {
        certs.push(new X509Certificate(m[0]));
      } catch (e) {
        throw new EnrollError(ERR_ENROLL_CA_DIR, `${join(dir, n)} holds a certificate that does not parse: ${(e as Error).message}`);
      }
    }
  }
  if (certs.length === 0) throw new EnrollError(ERR_ENROLL_CA_DIR, `no PEM certificates in ${dir}`);
  return certs;
}

/**
 * Parses an EK certificate as read from the TPM's NV index (DER). NV indices are often larger
 * than the certificate: bytes after the outer DER SEQUENCE are dropped.
 */
export function parseEkCertificate(der: Uint8Array): X509Certificate {
  const b = Buffer.from(der);
  let len = b.length;
  if (b.length >= 2 && b[0] === 0x30) {
    const first = b[1]!;
    if (first < 0x80) len = 2 + first;
    else {
      const n = first & 0x7f;
      if (n >= 1 && n <= 3 && b.length >= 2 + n) len = 2 + n + b.readUIntBE(2, n);
    }
  }
  if (len > b.length || len > 16_384) throw new EnrollError(ERR_ENROLL_EK_CERT_PARSE, 'EK certificate length does not fit its data');
  try {
    return new X509Certificate(b.subarray(0, len));
  } catch (e) {
    throw new EnrollError(ERR_ENROLL_EK_CERT_PARSE, `EK certificate does not parse: ${(e as Error).message}`);
  }
}

function validAt(c: X509Certificate, now: Date): boolean {
  const t = now.getTime();
  return Date.parse(c.validFrom) <= t && t <= Date.parse(c.validTo);
}

function sameKey(a: KeyObject, b: KeyObject): boolean {
  const x = a.export({ format: 'jwk' });
  const y = b.export({ format: 'jwk' });
  if (x.kty !== y.kty) return false;
  if (x.kty === 'RSA') return x.n === y.n && x.e === y.e;
  return x.crv === y.crv && x.x === y.x && x.y === y.y;
}

export interface EkCertResult {
  /** Issuer and subject of each certificate from the EK certificate up to the trusted CA. */
  chain: { subject: string; issuer: string; fingerprint256: string }[];
}

/**
 * Verifies `cert` (the EK certificate) against `anchors` at time `now`, and that it certifies
 * `ekKey`. Every certificate in the CA directory (roots and vendor intermediates alike) is a
 * trust anchor: the EK certificate must name one as issuer, carry its valid signature, and
 * both must be within their validity; the CA must be marked CA:TRUE.
 */
export function verifyEkCertificate(cert: X509Certificate, anchors: readonly X509Certificate[], ekKey: KeyObject, now: Date): EkCertResult {
  const untrusted = (why: string) =>
    new EnrollError(ERR_ENROLL_EK_CERT_UNTRUSTED, `EK certificate not trusted: ${why}`, { details: { issuer: cert.issuer } });
  if (!sameKey(cert.publicKey, ekKey))
    throw new EnrollError(ERR_ENROLL_EK_CERT_MISMATCH, 'the EK certificate certifies another key than the EK presented');
  if (!validAt(cert, now)) throw untrusted(`outside its validity (${cert.validFrom} .. ${cert.validTo})`);
  const chain: EkCertResult['chain'] = [{ subject: cert.subject, issuer: cert.issuer, fingerprint256: cert.fingerprint256 }];
  // Every certificate in the CA directory is a trust anchor, so one verified link to any of them suffices.
  const issuer = anchors.find((a) => a.ca && cert.checkIssued(a) && cert.verify(a.publicKey));
  if (!issuer) throw untrusted(`no trusted CA issued it (issuer ${cert.issuer})`);
  if (!validAt(issuer, now)) throw untrusted(`CA ${issuer.subject} is outside its validity`);
  chain.push({ subject: issuer.subject, issuer: issuer.issuer, fingerprint256: issuer.fingerprint256 });
  return { chain };
}
