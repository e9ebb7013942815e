import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCredential, type CredentialKey } from '../../../shared/src/tpm/make-credential.js';
import type { TpmHashAlg } from '../../../shared/src/tpm/kdf.js';
import { startSwtpm, type Swtpm } from '../../helpers/swtpm.js';

/**
 * Our MakeCredential against a real TPM: tpm2_activatecredential (tpm2-tools, an independent
 * implementation) must recover exactly our credential, for RSA and ECC endorsement keys with
 * SHA-256 and SHA-384 name algorithms. The EK parameters are read from tpm2_readpublic's own
 * YAML, not from our TPM2B_PUBLIC parser, so the oracle shares no code with us.
 */
let tpm: Swtpm;
let other: Swtpm;
let dir: string;

async function ekFromTool(t: Swtpm, handle: string): Promise<CredentialKey> {
  const y = await t.tools('tpm2_readpublic', ['-c', handle]);
  const field = (k: string) => y.match(new RegExp(`^${k}: ?(\\S+)`, 'm'))?.[1];
  const nameAlg = y.match(/^name-alg:\n\s+value: (\w+)/m)![1] as TpmHashAlg;
  const keyBits = Number(field('sym-keybits')) as 128 | 256;
  const symmetric = { algorithm: 'aes', keyBits, mode: 'cfb' } as const;
  if (/^type:\n\s+value: rsa/m.test(y))
    return { type: 'rsa', nameAlg, symmetric, modulus: Buffer.from(field('rsa')!, 'hex'), exponent: Number(field('exponent')) };
  const curve = ({ 'NIST p256': 'P-256', 'NIST p384': 'P-384' } as const)[y.match(/^curve-id:\n\s+value: (.+)$/m)![1] as 'NIST p256'];
  return { type: 'ecc', nameAlg, symmetric, curve, x: Buffer.from(field('x')!, 'hex'), y: Buffer.from(field('y')!, 'hex') };
}

async function createAk(t: Swtpm, ek: string, tag: string): Promise<{ ctx: string; name: Buffer }> {
  const ctx = join(dir, `${tag}.ctx`);
  await t.tools('tpm2_createak', [
    '-C',
    ek,
    '-c',
    ctx,
    '-G',
    'ecc',
    '-g',
    'sha256',
    '-s',
    'ecdsa',
    '-u',
    join(dir, `${tag}.pub`),
    '-n',
    join(dir, `${tag}.name`),
  ]);
  await t.tools('tpm2_flushcontext', ['-t']);
  return { ctx, name: await readFile(join(dir, `${tag}.name`)) };
}

/** Runs tpm2_activatecredential with our blob (tpm2-tools file: magic, version, ID object, secret). */
async function activate(
  t: Swtpm,
  ek: string,
  ekKey: CredentialKey,
  akCtx: string,
  out: { credentialBlob: Buffer; secret: Buffer },
  policyAuth: boolean,
): Promise<Buffer> {
  const credFile = join(dir, 'cred.bin');
  const outFile = join(dir, 'act.bin');
  await rm(outFile, { force: true });
  await writeFile(credFile, Buffer.concat([Buffer.from('badcc0de00000001', 'hex'), out.credentialBlob, out.secret]));
  const session = join(dir, 'session.ctx');
  const auth: string[] = [];
  if (policyAuth) {
    await t.tools('tpm2_startauthsession', ['--policy-session', '-S', session, '-g', ekKey.nameAlg]);
    await t.tools('tpm2_policysecret', ['-S', session, '-c', 'e']);
    auth.push('-P', `session:${session}`);
  }
  try {
    await t.tools('tpm2_activatecredential', ['-c', akCtx, '-C', ek, '-i', credFile, '-o', outFile, ...auth]);
    return await readFile(outFile);
  } finally {
    if (policyAuth) await t.tools('tpm2_flushcontext', [session]);
    await t.tools('tpm2_flushcontext', ['-t']);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nodeseal-mkcred-'));
  [tpm, other] = await Promise.all([startSwtpm({ ekCert: true }), startSwtpm({ ekCert: true })]);
}, 60_000);

afterAll(async () => {
  await Promise.all([tpm?.stop(), other?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

// swtpm_setup persists an RSA-2048 EK (low-range template, policy-only auth) at 0x81010001 and a
// NIST P-384 EK (high-range template, SHA-384, AES-256, userWithAuth) at 0x81010016.
const cases = [
  { label: 'RSA-2048 EK, SHA-256, AES-128 (RSA-OAEP seed)', handle: '0x81010001', policyAuth: true },
  { label: 'ECC P-384 EK, SHA-384, AES-256 (ECDH + KDFe seed)', handle: '0x81010016', policyAuth: false },
];

describe('makeCredential accepted by tpm2_activatecredential', () => {
  for (const c of cases) {
    it(c.label, async () => {
      const ek = await ekFromTool(tpm, c.handle);
      const ak = await createAk(tpm, c.handle, `ak-${c.handle}`);
      const credential = Buffer.from(`${'a5'.repeat(8)}0f1e2d3c4b5a69788796a5b4c3d2e1f0${'11'.repeat(8)}`, 'hex');
      const out = makeCredential({ ek, objectName: ak.name, credential });
      expect(out.credentialBlob.readUInt16BE(0)).toBe(out.credentialBlob.length - 2);
      expect(out.secret.readUInt16BE(0)).toBe(out.secret.length - 2);
      expect(await activate(tpm, c.handle, ek, ak.ctx, out, c.policyAuth)).toEqual(credential);
    }, 30_000);
  }

  it('ECC P-256 EK made by tpm2_createek (low-range template, SHA-256, policy auth)', async () => {
    const ekCtx = join(dir, 'ek256.ctx');
    await tpm.tools('tpm2_createek', ['-c', ekCtx, '-G', 'ecc', '-u', join(dir, 'ek256.pub')]);
    const persisted = '0x81010020';
    await tpm.tools('tpm2_evictcontrol', ['-C', 'o', '-c', ekCtx, persisted]);
    await tpm.tools('tpm2_flushcontext', ['-t']);
    const ek = await ekFromTool(tpm, persisted);
    expect(ek.type === 'ecc' && ek.curve).toBe('P-256');
    const ak = await createAk(tpm, persisted, 'ak-p256');
    const credential = Buffer.from(`${'c0ffee'.repeat(10)}00`, 'hex').subarray(0, 32);
    const out = makeCredential({ ek, objectName: ak.name, credential });
    expect(await activate(tpm, persisted, ek, ak.ctx, out, true)).toEqual(credential);
  }, 30_000);

  it('refuses activation when the AK lives in another TPM than the EK', async () => {
    const ek = await ekFromTool(tpm, '0x81010001');
    const foreignAk = await createAk(other, '0x81010001', 'ak-foreign');
    // The attacker's own TPM holds the AK; the credential is bound to our EK: only that TPM can open it,
    // and it has no object with the foreign AK's name loaded.
    const localAk = await createAk(tpm, '0x81010001', 'ak-local');
    const out = makeCredential({ ek, objectName: foreignAk.name, credential: Buffer.alloc(32, 7) });
    await expect(activate(tpm, '0x81010001', ek, localAk.ctx, out, true)).rejects.toThrow(/tpm2_activatecredential/);
    await expect(activate(other, '0x81010001', ek, foreignAk.ctx, out, true)).rejects.toThrow(/tpm2_activatecredential/);
  }, 30_000);

  it('a tampered credential blob fails the outer HMAC', async () => {
    const ek = await ekFromTool(tpm, '0x81010001');
    const ak = await createAk(tpm, '0x81010001', 'ak-tamper');
    const out = makeCredential({ ek, objectName: ak.name, credential: Buffer.alloc(32, 9) });
    const blob = Buffer.from(out.credentialBlob);
    blob[blob.length - 1]! ^= 1;
    await expect(activate(tpm, '0x81010001', ek, ak.ctx, { ...out, credentialBlob: blob }, true)).rejects.toThrow(
      /integrity|0x9a2|HMAC|activatecredential/i,
    );
  }, 30_000);
});

describe('makeCredential input checks', () => {
  const ek: CredentialKey = {
    type: 'rsa',
    nameAlg: 'sha256',
    symmetric: { algorithm: 'aes', keyBits: 128, mode: 'cfb' },
    modulus: Buffer.alloc(256, 0xc3),
    exponent: 65537,
  };
  const name = Buffer.concat([Buffer.from([0x00, 0x0b]), Buffer.alloc(32, 1)]);
  it.each([
    ['empty credential', { credential: Buffer.alloc(0) }, 'ERR_CREDENTIAL_INPUT'],
    ['credential longer than the EK digest', { credential: Buffer.alloc(33) }, 'ERR_CREDENTIAL_INPUT'],
    ['name with unknown hash id', { objectName: Buffer.concat([Buffer.from([0x00, 0x99]), Buffer.alloc(32)]) }, 'ERR_CREDENTIAL_INPUT'],
    ['name digest of the wrong length', { objectName: name.subarray(0, 20) }, 'ERR_CREDENTIAL_INPUT'],
    ['non-AES symmetric', { ek: { ...ek, symmetric: { algorithm: 'aes', keyBits: 64, mode: 'cfb' } } }, 'ERR_CREDENTIAL_KEY'],
    [
      'point not on the curve',
      { ek: { type: 'ecc', nameAlg: 'sha256', symmetric: ek.symmetric, curve: 'P-256', x: Buffer.alloc(32, 1), y: Buffer.alloc(32, 2) } },
      'ERR_CREDENTIAL_KEY',
    ],
  ] as const)('%s → %s', (_label, patch, code) => {
    expect(() => makeCredential({ ek, objectName: name, credential: Buffer.alloc(32), ...(patch as object) })).toThrow(
      expect.objectContaining({ code }),
    );
  });
});
