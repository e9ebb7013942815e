import { X509Certificate, createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openTpm,
  withTpm,
  objectName,
  tpmPublicKey,
  tpmPublicPem,
  ERR_TPM_AK_MISMATCH,
  ERR_TPM_AK_MISSING,
  ERR_TPM_BANK,
  ERR_TPM_CLOSED,
  ERR_TPM_COMMAND,
  ERR_TPM_INPUT,
} from '../../../agent/src/index.js';
import {
  parsePublic,
  verifyQuote,
  ERR_TPM_QUOTE_NONCE,
  ERR_TPM_QUOTE_PCR_DIGEST,
  ERR_TPM_QUOTE_SIGNATURE,
} from '../../../shared/src/tpm/index.js';
import { makeCredential } from '../../../shared/src/tpm/make-credential.js';
import { startSwtpm, type Swtpm } from '../../helpers/swtpm.js';
import { parsePcrread, readCredentialFile } from './tools.js';

let tpm: Swtpm;
let dir: string;

beforeAll(async () => {
  tpm = await startSwtpm({ ekCert: true });
  dir = await mkdtemp(join(tmpdir(), 'nodeseal-tpm-test-'));
}, 30_000);

afterAll(async () => {
  await tpm?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs tpm2_checkquote (tpm2-tools, an independent implementation) on our quote; resolves to its exit status. */
async function checkquote(args: { ak: Buffer; attest: Buffer; signature: Buffer; nonce: string; pcrFile: string }): Promise<number> {
  const akPem = join(dir, 'ak.pem');
  await writeFile(akPem, tpmPublicPem(args.ak));
  await writeFile(join(dir, 'attest.bin'), args.attest);
  await writeFile(join(dir, 'sig.bin'), args.signature);
  try {
    await tpm.tools('tpm2_checkquote', [
      '-u',
      akPem,
      '-m',
      join(dir, 'attest.bin'),
      '-s',
      join(dir, 'sig.bin'),
      '-q',
      args.nonce,
      '-f',
      args.pcrFile,
      '-g',
      'sha256',
    ]);
    return 0;
  } catch (e) {
    return (e as { code?: number }).code ?? 1;
  }
}

describe('Tpm port on swtpm (tpm2-tss ESAPI through koffi)', () => {
  it('reads every PCR of the active banks, equal to tpm2_pcrread', async () => {
    const ours = await withTpm(tpm.tcti, (t) => t.readPcrs());
    expect(Object.keys(ours)).toContain('sha256');
    expect(Object.keys(ours.sha256!)).toHaveLength(24);
    const theirs = parsePcrread(await tpm.tools('tpm2_pcrread', ['sha256']));
    expect(ours.sha256).toEqual(theirs.sha256);
  });

  it('sees a PCR extended by tpm2_pcrextend, and reads beyond 8 PCRs per call', async () => {
    const digest = createHash('sha256').update('nodeseal test measurement').digest();
    const before = await withTpm(tpm.tcti, (t) => t.readPcrs(['sha256']));
    await tpm.tools('tpm2_pcrextend', [`16:sha256=${digest.toString('hex')}`]);
    const after = await withTpm(tpm.tcti, (t) => t.readPcrs(['sha256']));
    const expected = createHash('sha256').update(Buffer.from(before.sha256!['16']!, 'hex')).update(digest).digest('hex');
    expect(after.sha256!['16']).toBe(expected);
    expect(after.sha256!['15']).toBe(before.sha256!['15']);
  });

  it('refuses an inactive or unknown bank with its code', async () => {
    await withTpm(tpm.tcti, async (t) => {
      await expect(t.readPcrs(['sha1'])).rejects.toMatchObject({ code: ERR_TPM_BANK });
      await expect(t.readPcrs(['md5'])).rejects.toMatchObject({ code: ERR_TPM_INPUT });
    });
  });

  it('quote with no AK at the handle is ERR_TPM_AK_MISSING', async () => {
    await withTpm(
      tpm.tcti,
      async (t) => {
        await expect(t.quote(Buffer.from('00', 'hex'), [0])).rejects.toMatchObject({ code: ERR_TPM_AK_MISSING });
      },
      { akHandle: 0x81010099 },
    );
  });

  it('creates the AK once and finds the same persistent key after close and reopen', async () => {
    const first = await withTpm(tpm.tcti, (t) => t.ensureAk());
    const second = await withTpm(tpm.tcti, (t) => t.ensureAk());
    expect(second.equals(first)).toBe(true);
    // tpm2-tools reads the same public area at the persistent handle.
    await tpm.tools('tpm2_readpublic', ['-c', '0x81010002', '-o', join(dir, 'ak.tss')]);
    expect((await readFile(join(dir, 'ak.tss'))).equals(first)).toBe(true);
    const ak = parsePublic(first);
    expect(ak.type).toBe('ecc');
    expect(ak.attributes).toEqual(expect.arrayContaining(['restricted', 'sign', 'fixedTPM', 'fixedParent']));
  });

  it('quotes over a nonce: tpm2_checkquote and the shared verifier accept; wrong nonce, flipped byte, another AK, tampered PCR each refused', async () => {
    const nonce = Buffer.from('5eed0f00ba11c0ffee', 'hex');
    const pcrList = [0, 1, 2, 3, 4, 5, 6, 7, 16];
    const { ak, quote, pcrs } = await withTpm(tpm.tcti, async (t) => ({
      ak: await t.ensureAk(),
      quote: await t.quote(nonce, pcrList),
      pcrs: await t.readPcrs(),
    }));
    const pcrFile = join(dir, 'pcrs.bin');
    await tpm.tools('tpm2_pcrread', ['-F', 'serialized', '-o', pcrFile, `sha256:${pcrList.join(',')}`]);
    expect(await checkquote({ ak, attest: quote.attest, signature: quote.signature, nonce: nonce.toString('hex'), pcrFile })).toBe(0);
    expect(await checkquote({ ak, attest: quote.attest, signature: quote.signature, nonce: '5eed0f00ba11c0ffef', pcrFile })).not.toBe(0);

    const ok = verifyQuote({ attest: quote.attest, signature: quote.signature, akPublic: ak, nonce, pcrs });
    expect(ok.attest.extraData.equals(nonce)).toBe(true);
    expect(() =>
      verifyQuote({ attest: quote.attest, signature: quote.signature, akPublic: ak, nonce: Buffer.from('00', 'hex'), pcrs }),
    ).toThrow(expect.objectContaining({ code: ERR_TPM_QUOTE_NONCE }));
    const flipped = Buffer.from(quote.attest);
    const clockAt = 4 + 2 + 2 + quote.attest.readUInt16BE(6) + 2 + nonce.length; // magic, type, qualifiedSigner, extraData
    flipped[clockAt + 7]! ^= 0x01; // the signed clock value
    expect(() => verifyQuote({ attest: flipped, signature: quote.signature, akPublic: ak, nonce, pcrs })).toThrow(
      expect.objectContaining({ code: ERR_TPM_QUOTE_SIGNATURE }),
    );
    const otherAk = await withTpm(tpm.tcti, (t) => t.ensureAk({ handle: 0x81010004 }));
    expect(otherAk.equals(ak)).toBe(false);
    expect(() => verifyQuote({ attest: quote.attest, signature: quote.signature, akPublic: otherAk, nonce, pcrs })).toThrow(
      expect.objectContaining({ code: ERR_TPM_QUOTE_SIGNATURE }),
    );
    const tampered = { sha256: { ...pcrs.sha256!, '16': '00'.repeat(32) } };
    expect(() => verifyQuote({ attest: quote.attest, signature: quote.signature, akPublic: ak, nonce, pcrs: tampered })).toThrow(
      expect.objectContaining({ code: ERR_TPM_QUOTE_PCR_DIGEST }),
    );
  });

  it('an RSA-2048 AK at another handle quotes too; asking for RSA at the ECC handle is ERR_TPM_AK_MISMATCH', async () => {
    const nonce = Buffer.from('a1'.repeat(32), 'hex');
    const { ak, quote, pcrs } = await withTpm(tpm.tcti, async (t) => ({
      ak: await t.ensureAk({ handle: 0x81010003, alg: 'rsa' }),
      quote: await t.quote(nonce, [0, 7]),
      pcrs: await t.readPcrs(['sha256']),
    }));
    expect(parsePublic(ak)).toMatchObject({ type: 'rsa', keyBits: 2048 });
    const pcrFile = join(dir, 'pcrs-rsa.bin');
    await tpm.tools('tpm2_pcrread', ['-F', 'serialized', '-o', pcrFile, 'sha256:0,7']);
    expect(await checkquote({ ak, attest: quote.attest, signature: quote.signature, nonce: nonce.toString('hex'), pcrFile })).toBe(0);
    expect(() => verifyQuote({ attest: quote.attest, signature: quote.signature, akPublic: ak, nonce, pcrs })).not.toThrow();
    await withTpm(tpm.tcti, async (t) => {
      await expect(t.ensureAk({ alg: 'rsa' })).rejects.toMatchObject({ code: ERR_TPM_AK_MISMATCH });
    });
  });

  it('rejects out-of-range quote inputs before touching the TPM', async () => {
    await withTpm(tpm.tcti, async (t) => {
      await expect(t.quote(Buffer.alloc(65), [0])).rejects.toMatchObject({ code: ERR_TPM_INPUT });
      await expect(t.quote(Buffer.alloc(8), [24])).rejects.toMatchObject({ code: ERR_TPM_INPUT });
      await expect(t.quote(Buffer.alloc(8), [1, 1])).rejects.toMatchObject({ code: ERR_TPM_INPUT });
      await expect(t.ensureAk({ handle: 0x01c00002 })).rejects.toMatchObject({ code: ERR_TPM_INPUT });
    });
  });

  it('serialises concurrent calls on one context, and refuses use after close', async () => {
    const t = await openTpm(tpm.tcti);
    const [a, b, c] = await Promise.all([t.readPcrs(), t.quote(Buffer.from('01', 'hex'), [0, 1]), t.readPcrs(['sha256'])]);
    expect(a.sha256).toEqual(c.sha256);
    expect(b.attest.readUInt32BE(0)).toBe(0xff544347);
    await t.close();
    await expect(t.readPcrs()).rejects.toMatchObject({ code: ERR_TPM_CLOSED });
  });

  it('returns the EK certificate swtpm_setup wrote, whose key is our EK public key', async () => {
    const { cert, ecc, ek } = await withTpm(tpm.tcti, async (t) => ({
      cert: await t.ekCertificate(),
      ecc: await t.ekCertificate('ecc'),
      ek: await t.ekPublic(),
    }));
    expect(cert).not.toBeNull();
    const x509 = new X509Certificate(cert!);
    expect(x509.publicKey.export({ type: 'spki', format: 'der' }).equals(tpmPublicKey(ek).export({ type: 'spki', format: 'der' }))).toBe(
      true,
    );
    // Independent read of the same NV index; ours has the NV padding (if any) removed.
    await tpm.tools('tpm2_nvread', ['0x01c00002', '-o', join(dir, 'ekcert.nv')]);
    const nv = await readFile(join(dir, 'ekcert.nv'));
    expect(nv.subarray(0, cert!.length).equals(cert!)).toBe(true);
    // swtpm_setup puts its ECC (P-384) EK certificate at 0x01c00016, not the P-256 index.
    expect(ecc).toBeNull();
    // The EK is the persistent one tpm2-tools sees at 0x81010001.
    await tpm.tools('tpm2_readpublic', ['-c', '0x81010001', '-o', join(dir, 'ek.tss')]);
    expect((await readFile(join(dir, 'ek.tss'))).equals(ek)).toBe(true);
  });

  it('activates a credential made by tpm2_makecredential for our AK name, and refuses a tampered one', async () => {
    const ak = await withTpm(tpm.tcti, (t) => t.ensureAk());
    await tpm.tools('tpm2_readpublic', ['-c', '0x81010001', '-o', join(dir, 'ek-oracle.tss')]);
    await tpm.tools('tpm2_readpublic', ['-c', '0x81010002', '-n', join(dir, 'ak.name')]);
    const akName = await readFile(join(dir, 'ak.name'));
    expect(objectName(ak).equals(akName)).toBe(true);
    const secret = Buffer.from('collector challenge 0123456789ab');
    await writeFile(join(dir, 'secret.bin'), secret);
    await tpm.tools('tpm2_makecredential', [
      '-T',
      'none',
      '-u',
      join(dir, 'ek-oracle.tss'),
      '-s',
      join(dir, 'secret.bin'),
      '-n',
      akName.toString('hex'),
      '-o',
      join(dir, 'cred.out'),
    ]);
    const { credentialBlob, encryptedSecret } = readCredentialFile(await readFile(join(dir, 'cred.out')));
    const got = await withTpm(tpm.tcti, (t) => t.activateCredential(credentialBlob, encryptedSecret));
    expect(got.equals(secret)).toBe(true);

    const bad = Buffer.from(credentialBlob);
    bad[bad.length - 1]! ^= 0x01;
    await expect(withTpm(tpm.tcti, (t) => t.activateCredential(bad, encryptedSecret))).rejects.toMatchObject({
      code: ERR_TPM_COMMAND,
      details: expect.objectContaining({ command: 'ActivateCredential' }),
    });
  });

  it('activates a credential made by the shared TypeScript MakeCredential', async () => {
    const { ak, ek } = await withTpm(tpm.tcti, async (t) => ({ ak: await t.ensureAk(), ek: await t.ekPublic() }));
    const ekPub = parsePublic(ek);
    if (ekPub.type !== 'rsa') throw new Error('swtpm EK is expected to be RSA');
    const credential = Buffer.from('fresh 32-byte activation secret!');
    const made = makeCredential({
      ek: {
        type: 'rsa',
        nameAlg: 'sha256',
        symmetric: { algorithm: 'aes', keyBits: 128, mode: 'cfb' },
        modulus: ekPub.modulus,
        exponent: ekPub.exponent,
      },
      objectName: objectName(ak),
      credential,
    });
    const got = await withTpm(tpm.tcti, (t) => t.activateCredential(made.credentialBlob, made.secret));
    expect(got.equals(credential)).toBe(true);
  });
});
