import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePublic, tpmName, verifyQuote } from '../../../shared/src/tpm/index.js';
import { startSwtpm, toolsFlushed, type Swtpm } from '../../helpers/swtpm.js';

/**
 * Quotes made by a real TPM (swtpm) with tpm2-tools are accepted by our pure-TypeScript
 * verifier; each kind of tampering is rejected with its own code.
 */
let tpm: Swtpm;
let dir: string;

const tool = (cmd: string, args: string[]) => toolsFlushed(tpm, cmd, args);

interface MadeQuote {
  attest: Buffer;
  signature: Buffer;
  akPublic: Buffer;
  akName: Buffer;
  nonce: Buffer;
  pcrs: Record<string, Record<string, string>>;
}

async function pcrValues(bank: string, indices: number[]): Promise<Record<string, string>> {
  const out = await tpm.tools('tpm2_pcrread', [`${bank}:${indices.join(',')}`]);
  const values: Record<string, string> = {};
  for (const m of out.matchAll(/^\s+(\d+)\s*:\s*0x([0-9A-Fa-f]+)$/gm)) values[m[1]!] = m[2]!.toLowerCase();
  expect(Object.keys(values).length).toBe(indices.length);
  return values;
}

async function makeAk(tag: string, args: string[]): Promise<{ ctx: string; pub: string; name: string }> {
  const ctx = join(dir, `${tag}.ctx`);
  const pub = join(dir, `${tag}.pub`);
  const name = join(dir, `${tag}.name`);
  await tool('tpm2_createak', ['-C', join(dir, 'ek.ctx'), '-c', ctx, ...args, '-u', pub, '-n', name]);
  return { ctx, pub, name };
}

async function quote(
  ak: { ctx: string; pub: string; name: string },
  tag: string,
  hash: string,
  pcrs: number[],
  scheme?: string,
): Promise<MadeQuote> {
  const nonce = randomBytes(20);
  const msg = join(dir, `${tag}.msg`);
  const sig = join(dir, `${tag}.sig`);
  await tool('tpm2_quote', [
    '-c',
    ak.ctx,
    '-l',
    `sha256:${pcrs.join(',')}`,
    '-q',
    nonce.toString('hex'),
    '-m',
    msg,
    '-s',
    sig,
    '-g',
    hash,
    ...(scheme ? [`--scheme=${scheme}`] : []),
  ]);
  return {
    attest: await readFile(msg),
    signature: await readFile(sig),
    akPublic: await readFile(ak.pub),
    akName: await readFile(ak.name),
    nonce,
    pcrs: { sha256: await pcrValues('sha256', pcrs) },
  };
}

const aks: Record<string, { ctx: string; pub: string; name: string }> = {};

beforeAll(async () => {
  tpm = await startSwtpm();
  dir = await mkdtemp(join(tmpdir(), 'nodeseal-quote-'));
  await tool('tpm2_createek', ['-c', join(dir, 'ek.ctx'), '-G', 'ecc', '-u', join(dir, 'ek.pub')]);
  aks.ecc = await makeAk('ak-ecc', ['-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa']);
  aks.rsa = await makeAk('ak-rsa', ['-G', 'rsa', '-g', 'sha256', '-s', 'rsassa']);
  aks.pss = await makeAk('ak-pss', ['-G', 'rsa', '-g', 'sha256', '-s', 'rsapss']);
  // Measurements, so the quoted PCRs are not all zero.
  await tpm.tools('tpm2_pcrextend', [`0:sha256=${'11'.repeat(32)}`, `4:sha256=${'22'.repeat(32)}`, `7:sha256=${'33'.repeat(32)}`]);
}, 120_000);

afterAll(async () => {
  await tpm?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('verifyQuote on tpm2_quote output from swtpm', () => {
  for (const kind of ['ecc', 'rsa', 'pss'] as const) {
    it(`accepts a ${kind} AK quote and returns its attest`, async () => {
      const q = await quote(aks[kind]!, `q-${kind}`, 'sha256', [0, 1, 4, 7], kind === 'pss' ? 'rsapss' : undefined);
      const v = verifyQuote({ attest: q.attest, signature: q.signature, akPublic: q.akPublic, nonce: q.nonce, pcrs: q.pcrs });
      expect(v.attest.pcrSelect).toEqual([{ bank: 'sha256', pcrs: [0, 1, 4, 7] }]);
      expect(v.attest.extraData.equals(q.nonce)).toBe(true);
      expect(v.signature.alg).toBe(kind === 'ecc' ? 'ecdsa' : kind === 'rsa' ? 'rsassa' : 'rsapss');
      expect(v.attest.clockInfo.clock).toBeGreaterThan(0n);
      // Our TPM Name computation equals the TPM's.
      expect(tpmName(parsePublic(q.akPublic)).equals(q.akName)).toBe(true);
      // Hex input (the evidence contract) works the same.
      expect(
        verifyQuote({
          attest: q.attest.toString('hex'),
          signature: q.signature.toString('hex'),
          akPublic: q.akPublic.toString('hex'),
          nonce: q.nonce.toString('hex'),
          pcrs: q.pcrs,
        }).ak.type,
      ).toBe(kind === 'ecc' ? 'ecc' : 'rsa');
    });
  }

  describe('rejections, each with its own code', () => {
    let q: MadeQuote;
    beforeAll(async () => {
      q = await quote(aks.ecc!, 'q-neg', 'sha256', [0, 4, 7]);
    });
    const base = () => ({ attest: q.attest, signature: q.signature, akPublic: q.akPublic, nonce: q.nonce, pcrs: structuredClone(q.pcrs) });

    it('wrong nonce', () => {
      expect(() => verifyQuote({ ...base(), nonce: randomBytes(20) })).toThrow(expect.objectContaining({ code: 'ERR_TPM_QUOTE_NONCE' }));
    });
    it('another AK (same type)', async () => {
      const other = await makeAk('ak-other', ['-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa']);
      expect(() => verifyQuote({ ...base(), akPublic: readFileSyncBuf(other.pub) })).toThrow(
        expect.objectContaining({ code: 'ERR_TPM_QUOTE_SIGNATURE' }),
      );
    });
    it('another AK of another type', async () => {
      expect(() => verifyQuote({ ...base(), akPublic: readFileSyncBuf(aks.rsa!.pub) })).toThrow(
        expect.objectContaining({ code: 'ERR_TPM_QUOTE_SCHEME' }),
      );
    });
    it('a tampered PCR value', () => {
      const b = base();
      b.pcrs.sha256!['4'] = 'ff'.repeat(32);
      expect(() => verifyQuote(b)).toThrow(expect.objectContaining({ code: 'ERR_TPM_QUOTE_PCR_DIGEST' }));
    });
    it('a missing PCR value', () => {
      const b = base();
      delete b.pcrs.sha256!['7'];
      expect(() => verifyQuote(b)).toThrow(expect.objectContaining({ code: 'ERR_TPM_QUOTE_PCR_MISSING' }));
    });
    it('a flipped attest byte (in the clock)', () => {
      const attest = Buffer.from(q.attest);
      // magic(4) type(2) signer(2+34) extraData(2+20) then clock: flip a clock byte.
      attest[4 + 2 + 2 + 34 + 2 + 20 + 7]! ^= 0x01;
      expect(() => verifyQuote({ ...base(), attest })).toThrow(expect.objectContaining({ code: 'ERR_TPM_QUOTE_SIGNATURE' }));
    });
    it('a flipped attest byte in the magic', () => {
      const attest = Buffer.from(q.attest);
      attest[0]! ^= 0x01;
      expect(() => verifyQuote({ ...base(), attest })).toThrow(expect.objectContaining({ code: 'ERR_TPM_QUOTE_MAGIC' }));
    });
    it('a truncated attest', () => {
      expect(() => verifyQuote({ ...base(), attest: q.attest.subarray(0, q.attest.length - 3) })).toThrow(
        expect.objectContaining({ code: 'ERR_TPM_PARSE' }),
      );
    });
    it('an EK (decrypt key, not restricted signing) as AK', async () => {
      expect(() => verifyQuote({ ...base(), akPublic: readFileSyncBuf(join(dir, 'ek.pub')) })).toThrow(
        expect.objectContaining({ code: 'ERR_TPM_AK_ATTRIBUTES' }),
      );
    });
  });
});

function readFileSyncBuf(p: string): Buffer {
  return readFileSync(p);
}
