import { generateKeyPairSync, randomBytes, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseEventLog, replay } from '../../../shared/src/eventlog/index.js';
import {
  AK_ATTRIBUTES,
  buildPublic,
  buildQuoteAttest,
  buildSignature,
  parsePublic,
  parseQuoteAttest,
  parseSignature,
  parseTpmtPublic,
  publicKeyPem,
  softwareQuote,
  TPMA_OBJECT,
  tpmName,
  verifyQuote,
} from '../../../shared/src/tpm/index.js';

const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pcrs = { sha256: { '0': '11'.repeat(32), '1': '22'.repeat(32), '7': '33'.repeat(32) }, sha1: { '0': '44'.repeat(20) } };
const selection = [
  { bank: 'sha256' as const, pcrs: [0, 1, 7] },
  { bank: 'sha1' as const, pcrs: [0] },
];

describe('real quote from a Windows GCE Shielded VM (go-attestation dump)', () => {
  const dump = JSON.parse(readFileSync('test/fixtures/eventlogs/go-attestation/windows_gcp_shielded_vm.json', 'utf8'));
  const b64 = (s: string) => Buffer.from(s, 'base64');
  const quoted: Record<string, Record<string, string>> = { sha1: {} };
  for (const p of dump.Log.PCRs as Array<{ Index: number; Digest: string }>) quoted.sha1![String(p.Index)] = b64(p.Digest).toString('hex');

  it('verifies with our verifier (RSASSA/SHA-1 AK, empty nonce, 24 SHA-1 PCRs)', () => {
    const ak = parseTpmtPublic(b64(dump.AK.Public));
    expect(ak.type).toBe('rsa');
    const v = verifyQuote({
      attest: b64(dump.Quote.Quote),
      signature: b64(dump.Quote.Signature),
      akPublic: ak,
      nonce: b64(dump.Quote.Nonce),
      pcrs: quoted,
    });
    expect(v.attest.pcrSelect).toEqual([{ bank: 'sha1', pcrs: Array.from({ length: 24 }, (_, i) => i) }]);
    // qualifiedSigner is the AK's qualified name (sha256 nameAlg), not its Name.
    expect(v.attest.qualifiedSigner.subarray(0, 2).toString('hex')).toBe('000b');
    expect(tpmName(ak).subarray(0, 2).toString('hex')).toBe('000b');
    expect(v.attest.firmwareVersion).toBeGreaterThan(0n);
  });

  it('its event log replays to the quoted PCRs', () => {
    const r = replay(parseEventLog(b64(dump.Log.Raw)), quoted);
    if (!r.ok) throw r.error;
    expect(r.banks.sha1!.matched).toEqual([0, 4, 5, 7, 11, 12, 13, 14]);
  });

  it('a changed PCR value is caught by the digest', () => {
    const bad = structuredClone(quoted);
    bad.sha1!['7'] = '00'.repeat(20);
    expect(() =>
      verifyQuote({
        attest: b64(dump.Quote.Quote),
        signature: b64(dump.Quote.Signature),
        akPublic: parseTpmtPublic(b64(dump.AK.Public)),
        nonce: '',
        pcrs: bad,
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_TPM_QUOTE_PCR_DIGEST' }));
  });
});

describe('software quotes in TPM wire format (build.ts)', () => {
  for (const [name, key, alg] of [
    ['ecdsa P-256', ecKey.privateKey, 'ecdsa'],
    ['rsassa 2048', rsaKey.privateKey, 'rsassa'],
    ['rsapss 2048', rsaKey.privateKey, 'rsapss'],
  ] as const) {
    it(`${name}: verifies, and the public key round-trips to the same PEM`, () => {
      const nonce = randomBytes(32);
      const q = softwareQuote({ privateKey: key, nonce, pcrs, selection, alg });
      const v = verifyQuote({ ...q, nonce, pcrs });
      expect(v.attest.pcrSelect).toEqual(selection);
      const original = (key === ecKey.privateKey ? ecKey.publicKey : rsaKey.publicKey).export({ type: 'spki', format: 'pem' });
      expect(publicKeyPem(parsePublic(q.akPublic))).toBe(original);
      expect(
        tpmName(parsePublic(q.akPublic))
          .subarray(2)
          .equals(createHash('sha256').update(q.akPublic.subarray(2)).digest()),
      ).toBe(true);
    });
  }

  const signed = (attest: Buffer) => ({
    attest,
    signature: buildSignature(ecKey.privateKey, attest, 'ecdsa'),
    akPublic: buildPublic(ecKey.publicKey),
    nonce: Buffer.from('n0nce'),
    pcrs,
  });
  const digest = createHash('sha256')
    .update(Buffer.from('11'.repeat(32) + '22'.repeat(32) + '33'.repeat(32), 'hex'))
    .update(Buffer.from('44'.repeat(20), 'hex'))
    .digest();

  it('bad magic, signed by the AK: ERR_TPM_QUOTE_MAGIC', () => {
    expect(() =>
      verifyQuote(signed(buildQuoteAttest({ nonce: Buffer.from('n0nce'), selection, pcrDigest: digest, magic: 0x12345678 }))),
    ).toThrow(expect.objectContaining({ code: 'ERR_TPM_QUOTE_MAGIC' }));
  });
  it('another attestation type (certify), signed by the AK: ERR_TPM_QUOTE_TYPE', () => {
    expect(() =>
      verifyQuote(signed(buildQuoteAttest({ nonce: Buffer.from('n0nce'), selection, pcrDigest: digest, type: 0x8017 }))),
    ).toThrow(expect.objectContaining({ code: 'ERR_TPM_QUOTE_TYPE' }));
  });
  it('the well-formed quote passes (so the two above fail for their stated reason)', () => {
    expect(
      verifyQuote(signed(buildQuoteAttest({ nonce: Buffer.from('n0nce'), selection, pcrDigest: digest }))).attest.extraData.toString(),
    ).toBe('n0nce');
  });
  it('an AK that is not restricted: ERR_TPM_AK_ATTRIBUTES', () => {
    const nonce = Buffer.from('x');
    const q = softwareQuote({ privateKey: ecKey.privateKey, nonce, pcrs, selection });
    const loose = buildPublic(ecKey.publicKey, { objectAttributes: AK_ATTRIBUTES & ~TPMA_OBJECT.restricted });
    expect(() => verifyQuote({ ...q, akPublic: loose, nonce, pcrs })).toThrow(expect.objectContaining({ code: 'ERR_TPM_AK_ATTRIBUTES' }));
  });
  it('a signature hash other than the key scheme: ERR_TPM_QUOTE_SCHEME', () => {
    const nonce = Buffer.from('x');
    const q = softwareQuote({ privateKey: ecKey.privateKey, nonce, pcrs, selection });
    expect(() => verifyQuote({ ...q, signature: buildSignature(ecKey.privateKey, q.attest, 'ecdsa', 'sha384'), nonce, pcrs })).toThrow(
      expect.objectContaining({ code: 'ERR_TPM_QUOTE_SCHEME' }),
    );
  });
  it('non-hex input: ERR_TPM_INPUT', () => {
    expect(() => verifyQuote({ attest: 'zz', signature: '', akPublic: '', nonce: '', pcrs })).toThrow(
      expect.objectContaining({ code: 'ERR_TPM_INPUT' }),
    );
  });
});

describe('TPM structure parsers under mutation', () => {
  it('2,000 mutations of each structure give a result or an ERR_TPM_ code', () => {
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
    const nonce = randomBytes(16);
    const samples = [
      softwareQuote({ privateKey: ecKey.privateKey, nonce, pcrs, selection }),
      softwareQuote({ privateKey: rsaKey.privateKey, nonce, pcrs, selection, alg: 'rsapss' }),
    ];
    const parsers: Array<[keyof (typeof samples)[0], (b: Buffer) => unknown]> = [
      ['attest', parseQuoteAttest],
      ['akPublic', parsePublic],
      ['signature', parseSignature],
    ];
    const codes = new Set<string>();
    for (const [field, parse] of parsers) {
      for (let i = 0; i < 2000; i++) {
        const src = samples[i % 2]![field];
        let b = Buffer.from(src);
        if (i % 3 === 0) b = b.subarray(0, Math.floor(rand() * b.length));
        else if (i % 3 === 1) b[Math.floor(rand() * b.length)]! ^= 1 << Math.floor(rand() * 8);
        else b.writeUInt16BE(Math.floor(rand() * 0x10000), Math.floor(rand() * (b.length - 1)));
        try {
          parse(b);
          verifyQuote({ ...samples[i % 2]!, [field]: b, nonce, pcrs });
        } catch (e) {
          const code = (e as { code?: unknown }).code;
          if (typeof code !== 'string' || !code.startsWith('ERR_TPM_'))
            throw new Error(`${field} mutation ${i}: uncoded ${(e as Error).stack}`);
          codes.add(code);
        }
      }
    }
    expect(codes.has('ERR_TPM_PARSE')).toBe(true);
    expect(codes.has('ERR_TPM_QUOTE_SIGNATURE')).toBe(true);
  });
});
