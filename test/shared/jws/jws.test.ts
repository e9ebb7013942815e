import { createSecretKey, generateKeyPairSync } from 'node:crypto';
import { CompactSign, exportJWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  generateIdentity,
  importPrivateJwk,
  importPublicJwk,
  parseCompactJws,
  signCompact,
  thumbprint,
  verifyCompact,
  type Identity,
} from '../../../shared/src/jws/index.js';
import { REPORT_JWS_TYP } from '../../../shared/src/report/types.js';

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

describe('JWS sign/verify', () => {
  let id: Identity;
  let other: Identity;
  beforeAll(async () => {
    id = await generateIdentity();
    other = await generateIdentity();
  });

  async function sign(payload: object, who = id, typ = REPORT_JWS_TYP) {
    return signCompact(payload, await importPrivateJwk(who.privateJwk, 'ES256'), { alg: 'ES256', kid: who.kid, typ });
  }
  const opts = () => ({ typ: REPORT_JWS_TYP, kid: id.kid, alg: 'ES256' as const });

  it('round-trips and the kid is the RFC 7638 thumbprint', async () => {
    const jws = await sign({ hello: 1 });
    const { key } = importPublicJwk(id.publicJwk);
    const r = await verifyCompact(jws, key, opts());
    expect(JSON.parse(Buffer.from(r.payload).toString())).toEqual({ hello: 1 });
    expect(await thumbprint(id.publicJwk)).toBe(id.kid);
    expect(id.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('Ed25519 identities work too', async () => {
    const ed = await generateIdentity('EdDSA');
    const jws = await signCompact({ a: 1 }, await importPrivateJwk(ed.privateJwk, 'EdDSA'), {
      alg: 'EdDSA',
      kid: ed.kid,
      typ: REPORT_JWS_TYP,
    });
    const r = await verifyCompact(jws, importPublicJwk(ed.publicJwk).key, { typ: REPORT_JWS_TYP, kid: ed.kid, alg: 'EdDSA' });
    expect(r.header.alg).toBe('EdDSA');
  });

  it('refuses a JWS signed by another key', async () => {
    const jws = await signCompact({ a: 1 }, await importPrivateJwk(other.privateJwk, 'ES256'), {
      alg: 'ES256',
      kid: id.kid,
      typ: REPORT_JWS_TYP,
    });
    await expect(verifyCompact(jws, importPublicJwk(id.publicJwk).key, opts())).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE' });
  });

  it('refuses a kid that is not the pinned one', async () => {
    const jws = await sign({ a: 1 }, other);
    await expect(verifyCompact(jws, importPublicJwk(id.publicJwk).key, opts())).rejects.toMatchObject({ code: 'ERR_JWS_KID' });
  });

  it('refuses alg none before any crypto', async () => {
    const jws = `${b64({ alg: 'none', kid: id.kid, typ: REPORT_JWS_TYP })}.${b64({ a: 1 })}.AA`;
    await expect(verifyCompact(jws, importPublicJwk(id.publicJwk).key, opts())).rejects.toMatchObject({ code: 'ERR_JWS_ALG' });
    const unsigned = `${b64({ alg: 'none', kid: id.kid, typ: REPORT_JWS_TYP })}.${b64({ a: 1 })}.`;
    await expect(verifyCompact(unsigned, importPublicJwk(id.publicJwk).key, opts())).rejects.toMatchObject({ code: 'ERR_JWS_ALG' });
  });

  it('refuses HS256 keyed with the public key (key confusion)', async () => {
    const pubBytes = Buffer.from(JSON.stringify(id.publicJwk));
    const jws = await new CompactSign(new TextEncoder().encode('{"a":1}'))
      .setProtectedHeader({ alg: 'HS256', kid: id.kid, typ: REPORT_JWS_TYP })
      .sign(createSecretKey(pubBytes));
    await expect(verifyCompact(jws, importPublicJwk(id.publicJwk).key, opts())).rejects.toMatchObject({ code: 'ERR_JWS_ALG' });
  });

  it('refuses a wrong typ and unexpected header members', async () => {
    await expect(verifyCompact(await sign({ a: 1 }, id, 'JWT'), importPublicJwk(id.publicJwk).key, opts())).rejects.toMatchObject({
      code: 'ERR_JWS_TYP',
    });
    const crit = `${b64({ alg: 'ES256', kid: id.kid, typ: REPORT_JWS_TYP, crit: ['b64'], b64: false })}.${b64({ a: 1 })}.AAAA`;
    expect(() => parseCompactJws(crit)).toThrow(expect.objectContaining({ code: 'ERR_JWS_MALFORMED' }));
  });

  it.each([
    ['not a string', 42],
    ['two parts', 'a.b'],
    ['four parts', 'a.b.c.d'],
    ['not base64url', 'a+b.c.d'],
    ['empty signature', `${b64({ alg: 'ES256', kid: 'k', typ: 't' })}.${b64('x')}.`],
    ['payload not base64url', `${b64({ alg: 'ES256', kid: 'k', typ: 't' })}.a+b.AA`],
    ['header not JSON', `${b64('nope')}.${b64('x')}.AA`],
    ['header an array', `${b64([1])}.${b64('x')}.AA`],
  ])('refuses malformed input (%s) with ERR_JWS_MALFORMED', (_n, input) => {
    expect(() => parseCompactJws(input)).toThrow(expect.objectContaining({ code: 'ERR_JWS_MALFORMED' }));
  });

  it('refuses private, RSA and malformed JWKs', async () => {
    expect(() => importPublicJwk(id.privateJwk)).toThrow(expect.objectContaining({ code: 'ERR_JWS_KEY' }));
    const rsa = await exportJWK(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
    expect(() => importPublicJwk(rsa)).toThrow(expect.objectContaining({ code: 'ERR_JWS_KEY' }));
    expect(() => importPublicJwk({ kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' })).toThrow(
      expect.objectContaining({ code: 'ERR_JWS_KEY' }),
    );
  });

  it('refuses a tampered payload', async () => {
    const jws = await sign({ seq: 1 });
    const [h, , s] = jws.split('.');
    await expect(verifyCompact(`${h}.${b64({ seq: 2 })}.${s}`, importPublicJwk(id.publicJwk).key, opts())).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE',
    });
  });
});
