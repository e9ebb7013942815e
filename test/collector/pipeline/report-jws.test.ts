import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  generateIdentity,
  importPublicJwk,
  signCompact,
  verifyCompact,
  type Identity,
  type JwsAlg,
} from '../../../shared/src/jws/index.js';
import { verifyReportJws } from '../../../collector/src/pipeline/report-jws.js';

/**
 * The pipeline's node:crypto JWS check must accept and refuse exactly what shared/src/jws
 * verifyCompact (jose) accepts and refuses, with the same codes and the same payload bytes.
 */
const TYP = 'nodeseal-report+jws';
const b64u = (s: string | Buffer) => Buffer.from(s).toString('base64url');

interface Signer {
  id: Identity;
  priv: KeyObject;
  pub: KeyObject;
  alg: JwsAlg;
}
const signers: Record<JwsAlg, Signer> = {} as Record<JwsAlg, Signer>;
let other: KeyObject;
beforeAll(async () => {
  for (const alg of ['ES256', 'EdDSA'] as const) {
    const id = await generateIdentity(alg);
    signers[alg] = {
      id,
      alg,
      priv: createPrivateKey({ key: id.privateJwk as import('node:crypto').JsonWebKey, format: 'jwk' }),
      pub: importPublicJwk(id.publicJwk).key,
    };
  }
  other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
});

/** A compact JWS from raw parts, signed over exactly `${h}.${p}` (for hostile shapes jose would not make). */
function raw(s: Signer, header: object | string, payloadB64: string, mutateSig?: (sig: string) => string): string {
  const h = typeof header === 'string' ? header : b64u(JSON.stringify(header));
  const input = `${h}.${payloadB64}`;
  const sig = (
    s.alg === 'ES256'
      ? sign('sha256', Buffer.from(input), { key: s.priv, dsaEncoding: 'ieee-p1363' })
      : sign(null, Buffer.from(input), s.priv)
  ).toString('base64url');
  return `${input}.${mutateSig ? mutateSig(sig) : sig}`;
}

async function both(jws: unknown, key: KeyObject, opts: { kid: string; alg: JwsAlg; typ?: string; maxBytes?: number }) {
  const o = { typ: opts.typ ?? TYP, kid: opts.kid, alg: opts.alg, ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}) };
  const jose = await verifyCompact(jws, key, o).then(
    (r) => ({ payload: Buffer.from(r.payload).toString('hex') }),
    (e: { code?: string }) => ({ code: e.code ?? 'uncoded' }),
  );
  let fast: { payload: string } | { code: string };
  try {
    fast = { payload: verifyReportJws(jws, key, o).payload.toString('hex') };
  } catch (e) {
    fast = { code: (e as { code?: string }).code ?? 'uncoded' };
  }
  return { jose, fast };
}

describe('verifyReportJws equals verifyCompact', () => {
  for (const alg of ['ES256', 'EdDSA'] as const) {
    it(`${alg}: valid, tampered, foreign and hostile JWS give the same outcome and code`, async () => {
      const s = signers[alg];
      const kid = s.id.kid;
      const hdr = { alg, kid, typ: TYP };
      const payload = b64u(JSON.stringify({ v: 1, seq: 7, note: 'ü and some text' }));
      const good = await signCompact({ v: 1, seq: 7 }, s.priv, hdr);
      const [h, p, sig] = good.split('.') as [string, string, string];
      const flip = (x: string, i: number) => x.slice(0, i) + (x[i] === 'A' ? 'B' : 'A') + x.slice(i + 1);
      const cases: Array<[string, unknown, KeyObject, { kid: string; alg: JwsAlg; typ?: string; maxBytes?: number }]> = [
        ['valid (jose-signed)', good, s.pub, { kid, alg }],
        ['valid (raw)', raw(s, hdr, payload), s.pub, { kid, alg }],
        ['payload tampered', `${h}.${flip(p, 3)}.${sig}`, s.pub, { kid, alg }],
        ['signature tampered', `${h}.${p}.${flip(sig, 5)}`, s.pub, { kid, alg }],
        ['signature truncated', `${h}.${p}.${sig.slice(0, -4)}`, s.pub, { kid, alg }],
        ['signature 1 mod 4 long', `${h}.${p}.${sig}A`, s.pub, { kid, alg }],
        [
          'signed payload 1 mod 4 long',
          raw(s, hdr, payload.length % 4 === 1 ? payload : payload + 'A'.repeat((5 - (payload.length % 4)) % 4)),
          s.pub,
          { kid, alg },
        ],
        ['another key', good, alg === 'ES256' ? other : signers.ES256.pub, { kid, alg }],
        ['kid mismatch', good, s.pub, { kid: 'someone-else', alg }],
        ['alg mismatch', good, s.pub, { kid, alg: alg === 'ES256' ? 'EdDSA' : 'ES256' }],
        ['key of another type for the alg', good, alg === 'ES256' ? signers.EdDSA.pub : signers.ES256.pub, { kid, alg }],
        ['typ wrong', raw(s, { alg, kid, typ: 'JWT' }, payload), s.pub, { kid, alg }],
        ['extra header member', raw(s, { alg, kid, typ: TYP, crit: ['b64'], b64: false }, payload), s.pub, { kid, alg }],
        ['alg none', `${b64u(JSON.stringify({ alg: 'none', kid, typ: TYP }))}.${payload}.`, s.pub, { kid, alg }],
        ['HS256', raw(s, { alg: 'HS256', kid, typ: TYP }, payload), s.pub, { kid, alg }],
        ['header not JSON', raw(s, b64u('{nope'), payload), s.pub, { kid, alg }],
        ['not base64url', `${h}.${p.slice(0, 10)}+${p.slice(11)}.${sig}`, s.pub, { kid, alg }],
        ['two parts', `${h}.${p}`, s.pub, { kid, alg }],
        ['not a string', 42, s.pub, { kid, alg }],
        ['too long', good, s.pub, { kid, alg, maxBytes: 20 }],
      ];
      let accepted = 0;
      for (const [name, jws, key, o] of cases) {
        const r = await both(jws, key, o);
        expect(r.fast, name).toEqual(r.jose);
        if ('payload' in r.jose) accepted++;
      }
      expect(accepted).toBe(2);
    });
  }
});
