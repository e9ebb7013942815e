import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../../shared/src/jws/index.js';
import { parsePublic, publicKeyObject } from '../../../shared/src/tpm/public.js';
import {
  checkAkUnchanged,
  checkEnrollToken,
  checkKeyRotation,
  finishEnrolment,
  globMatch,
  loadEkCaDir,
  parseEkCertificate,
  parseTtl,
  parseUses,
  verifyEkCertificate,
  type EnrollTokenRecord,
  type PendingEnrolment,
} from '../../../collector/src/enroll/index.js';
import { startSwtpm, type Swtpm } from '../../helpers/swtpm.js';
import { tpmAgent, type TpmAgent } from './tpm-agent.js';
import { createHash } from 'node:crypto';

/** The pure enrolment rules, table-driven; the EK certificate cases use a real swtpm certificate. */
describe('token rules', () => {
  it.each([
    ['gpu-*', 'gpu-001', true],
    ['gpu-*', 'cpu-001', false],
    ['gpu-00?', 'gpu-001', true],
    ['gpu-00?', 'gpu-0011', false],
    ['a.b,gpu-*', 'a.b', true],
    ['a.b', 'aXb', false],
    ['*', 'anything', true],
  ])('glob %s matches %s: %s', (glob, node, ok) => expect(globMatch(glob, node)).toBe(ok));

  it('parses TTLs and uses within limits', () => {
    expect(parseTtl('90s')).toBe(90_000);
    expect(parseTtl('1h')).toBe(3_600_000);
    expect(parseTtl('30d')).toBe(30 * 86_400_000);
    for (const bad of ['0s', '31d', '1w', '', '-1h', '1.5h'])
      expect(() => parseTtl(bad)).toThrow(expect.objectContaining({ code: 'ERR_ENROLL_TOKEN_INPUT' }));
    expect(parseUses('3')).toBe(3);
    for (const bad of ['0', '-1', 'x', '1000001'])
      expect(() => parseUses(bad)).toThrow(expect.objectContaining({ code: 'ERR_ENROLL_TOKEN_INPUT' }));
  });

  const row: EnrollTokenRecord = {
    tokenHash: 'ab'.repeat(32),
    tokenId: 'abababababab',
    nodeGlob: 'gpu-*',
    expiresAt: '2026-01-01T01:00:00.000Z',
    usesLeft: 1,
    maxUses: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    createdBy: 'x',
    revokedAt: null,
  };
  const t0 = new Date('2026-01-01T00:30:00Z');
  it.each([
    ['valid', row, 'gpu-1', t0, null],
    ['unknown', null, 'gpu-1', t0, 'ERR_ENROLL_TOKEN_INVALID'],
    ['revoked', { ...row, revokedAt: '2026-01-01T00:10:00Z' }, 'gpu-1', t0, 'ERR_ENROLL_TOKEN_INVALID'],
    ['expired', row, 'gpu-1', new Date('2026-01-01T01:00:00Z'), 'ERR_ENROLL_TOKEN_EXPIRED'],
    ['used up', { ...row, usesLeft: 0 }, 'gpu-1', t0, 'ERR_ENROLL_TOKEN_USED'],
    ['other node', row, 'cpu-1', t0, 'ERR_ENROLL_TOKEN_NODE'],
  ] as const)('%s', (_l, r, node, now, code) => {
    if (code === null) expect(() => checkEnrollToken(r, node, now)).not.toThrow();
    else expect(() => checkEnrollToken(r, node, now)).toThrow(expect.objectContaining({ code }));
  });
});

describe('finishEnrolment', () => {
  const credential = Buffer.alloc(32, 5);
  const pending = {
    challengeId: 'c1',
    nodeId: 'n',
    tokenHash: null,
    tokenId: null,
    decision: null,
    identity: {
      nodeId: 'n',
      ekName: 'e',
      ekPublic: 'e',
      ekCertIssuer: null,
      akPublic: 'a',
      akName: 'a',
      kid: 'k',
      jwk: {},
      enrolledVia: 'tofu',
    },
    credentialHash: createHash('sha256').update(credential).digest('hex'),
    expiresAt: '2026-01-01T00:01:00.000Z',
  } satisfies PendingEnrolment;
  const t = new Date('2026-01-01T00:00:30Z');
  it.each([
    ['no open challenge', undefined, { challengeId: 'c1', credential: credential.toString('hex') }, t, 'ERR_ENROLL_REPLAY'],
    ['another challenge id', pending, { challengeId: 'c0', credential: credential.toString('hex') }, t, 'ERR_ENROLL_REPLAY'],
    [
      'too late',
      pending,
      { challengeId: 'c1', credential: credential.toString('hex') },
      new Date('2026-01-01T00:01:00Z'),
      'ERR_ENROLL_CHALLENGE_EXPIRED',
    ],
    ['wrong credential', pending, { challengeId: 'c1', credential: '00'.repeat(32) }, t, 'ERR_ENROLL_ACTIVATION'],
    ['not hex', pending, { challengeId: 'c1', credential: 'zz' }, t, 'ERR_ENROLL_ACTIVATION'],
  ] as const)('%s → %s', (_l, p, answer, now, code) => {
    expect(() => finishEnrolment(p, answer, now)).toThrow(expect.objectContaining({ code }));
  });
  it('accepts the credential once it matches', () => {
    expect(finishEnrolment(pending, { challengeId: 'c1', credential: credential.toString('hex') }, t)).toMatchObject({
      nodeId: 'n',
      enrolledBy: 'tofu',
      revokedAt: null,
    });
  });
});

describe('key rotation and AK pinning', () => {
  it('accepts a new key announced under the pinned key, and nothing else', async () => {
    const [a, b] = await Promise.all([generateIdentity('ES256'), generateIdentity('EdDSA')]);
    const r = await checkKeyRotation(a.kid, a.kid, { jwk: b.publicJwk, kid: b.kid });
    expect(r.kid).toBe(b.kid);
    expect(r.jwk).not.toHaveProperty('d');
    const code = { code: 'ERR_ENROLL_KEY_ROTATION' };
    await expect(checkKeyRotation(a.kid, b.kid, { jwk: b.publicJwk, kid: b.kid })).rejects.toMatchObject(code);
    await expect(checkKeyRotation(a.kid, a.kid, { jwk: b.publicJwk, kid: a.kid })).rejects.toMatchObject(code);
    await expect(checkKeyRotation(a.kid, a.kid, { jwk: a.publicJwk, kid: a.kid })).rejects.toMatchObject(code);
    await expect(checkKeyRotation(a.kid, a.kid, { jwk: b.privateJwk, kid: b.kid })).rejects.toMatchObject(code);
    await expect(checkKeyRotation(a.kid, a.kid, { jwk: b.publicJwk, kid: b.kid, extra: 1 })).rejects.toMatchObject(code);
  });
  it('refuses an AK other than the activated one', () => {
    expect(() => checkAkUnchanged('aabb', 'AABB')).not.toThrow();
    expect(() => checkAkUnchanged(null, 'aabb')).not.toThrow();
    expect(() => checkAkUnchanged('aabb', 'aabc')).toThrow(expect.objectContaining({ code: 'ERR_ENROLL_AK_CHANGED' }));
  });
});

describe('EK certificate from a real swtpm', () => {
  let tpm: Swtpm;
  let agent: TpmAgent;
  beforeAll(async () => {
    tpm = await startSwtpm({ ekCert: true });
    agent = await tpmAgent(tpm, 'rules');
  }, 30_000);
  afterAll(async () => {
    await agent?.close();
    await tpm?.stop();
  });

  it('validates against /var/lib/swtpm-localca, also with NV padding after the DER', async () => {
    const anchors = await loadEkCaDir('/var/lib/swtpm-localca');
    const der = Buffer.concat([Buffer.from(agent.ekCert, 'base64'), Buffer.alloc(100, 0xff)]);
    const cert = parseEkCertificate(der);
    const ek = publicKeyObject(parsePublic(Buffer.from(agent.ekPublic, 'hex')));
    const r = verifyEkCertificate(cert, anchors, ek, new Date(Date.now() + 1000));
    expect(r.chain.map((c) => c.subject)).toEqual([expect.any(String), 'CN=swtpm-localca']);
    // Before the certificate's notBefore it is not valid.
    expect(() => verifyEkCertificate(cert, anchors, ek, new Date('2020-01-01T00:00:00Z'))).toThrow(
      expect.objectContaining({ code: 'ERR_ENROLL_EK_CERT_UNTRUSTED' }),
    );
    // The root alone does not vouch for a certificate issued by the intermediate not in the directory.
    const rootOnly = anchors.filter((a) => a.subject === 'CN=swtpm-localca-rootca');
    expect(() => verifyEkCertificate(cert, rootOnly, ek, new Date())).toThrow(
      expect.objectContaining({ code: 'ERR_ENROLL_EK_CERT_UNTRUSTED' }),
    );
  });

  it('refuses garbage, and an empty CA directory', async () => {
    expect(() => parseEkCertificate(Buffer.from('30820100deadbeef', 'hex'))).toThrow(
      expect.objectContaining({ code: 'ERR_ENROLL_EK_CERT_PARSE' }),
    );
    expect(() => parseEkCertificate(Buffer.from('hello'))).toThrow(expect.objectContaining({ code: 'ERR_ENROLL_EK_CERT_PARSE' }));
    await expect(loadEkCaDir('/nonexistent-ca-dir')).rejects.toMatchObject({ code: 'ERR_ENROLL_CA_DIR' });
  });
});
