import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, type Identity } from '../../../shared/src/jws/index.js';
import type { EnrollAnswer, EnrollChallenge } from '../../../collector/src/enroll/index.js';
import type { Swtpm } from '../../helpers/swtpm.js';

/**
 * The agent's side of enrolment for tests, driven by tpm2-tools against a real swtpm (an
 * implementation independent of ours): the RSA EK that swtpm_setup persisted at 0x81010001, its
 * certificate from NV index 0x01c00002, an AK made with tpm2_createak, and ActivateCredential
 * with a PolicySecret(endorsement) session.
 */
export const RSA_EK_HANDLE = '0x81010001';
export const RSA_EK_CERT_NV = '0x01c00002';

export interface TpmAgent {
  ekPublic: string;
  ekCert: string;
  akPublic: string;
  identity: Identity;
  /** Activates a challenge in this agent's TPM with its AK; returns the answer. */
  activate(c: EnrollChallenge): Promise<EnrollAnswer>;
  /** Activates in this TPM using another agent's loaded AK context (for cross-TPM attacks). */
  dir: string;
  akCtx: string;
  close(): Promise<void>;
}

export async function tpmAgent(tpm: Swtpm, tag: string): Promise<TpmAgent> {
  const dir = await mkdtemp(join(tmpdir(), `nodeseal-enroll-${tag}-`));
  const f = (n: string) => join(dir, n);
  await tpm.tools('tpm2_readpublic', ['-c', RSA_EK_HANDLE, '-o', f('ek.pub')]);
  await tpm.tools('tpm2_nvread', [RSA_EK_CERT_NV, '-o', f('ek.der')]);
  await tpm.tools('tpm2_createak', [
    '-C',
    RSA_EK_HANDLE,
    '-c',
    f('ak.ctx'),
    '-G',
    'ecc',
    '-g',
    'sha256',
    '-s',
    'ecdsa',
    '-u',
    f('ak.pub'),
    '-n',
    f('ak.name'),
  ]);
  await tpm.tools('tpm2_flushcontext', ['-t']);
  const identity = await generateIdentity('ES256');
  return {
    ekPublic: (await readFile(f('ek.pub'))).toString('hex'),
    ekCert: (await readFile(f('ek.der'))).toString('base64'),
    akPublic: (await readFile(f('ak.pub'))).toString('hex'),
    identity,
    dir,
    akCtx: f('ak.ctx'),
    async activate(c) {
      return { challengeId: c.challengeId, credential: (await activateIn(tpm, dir, f('ak.ctx'), c)).toString('hex') };
    },
    async close() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** tpm2_activatecredential with the challenge's blob and secret (tpm2-tools credential file format). */
export async function activateIn(tpm: Swtpm, dir: string, akCtx: string, c: EnrollChallenge): Promise<Buffer> {
  const cred = join(dir, 'challenge.cred');
  const out = join(dir, 'challenge.out');
  const session = join(dir, 'session.ctx');
  await rm(out, { force: true });
  await writeFile(
    cred,
    Buffer.concat([Buffer.from('badcc0de00000001', 'hex'), Buffer.from(c.credentialBlob, 'hex'), Buffer.from(c.secret, 'hex')]),
  );
  await tpm.tools('tpm2_startauthsession', ['--policy-session', '-S', session]);
  try {
    await tpm.tools('tpm2_policysecret', ['-S', session, '-c', 'e']);
    await tpm.tools('tpm2_activatecredential', ['-c', akCtx, '-C', RSA_EK_HANDLE, '-i', cred, '-o', out, '-P', `session:${session}`]);
    return await readFile(out);
  } finally {
    await tpm.tools('tpm2_flushcontext', [session]).catch(() => undefined);
    await tpm.tools('tpm2_flushcontext', ['-t']).catch(() => undefined);
  }
}
