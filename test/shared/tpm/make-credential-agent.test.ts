import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTpm, type Tpm } from '../../../agent/src/tpm/index.js';
import { credentialKeyFromEk } from '../../../collector/src/enroll/ek-key.js';
import { makeCredential } from '../../../shared/src/tpm/make-credential.js';
import { parsePublic, tpmName } from '../../../shared/src/tpm/public.js';
import { startSwtpm, type Swtpm } from '../../helpers/swtpm.js';

/**
 * The collector's MakeCredential against the agent's own ActivateCredential (ESAPI through the
 * agent's TPM port) on a real swtpm: the round trip enrolment depends on.
 */
let sw: Swtpm;
let other: Swtpm;
let tpm: Tpm;
let otherTpm: Tpm;

beforeAll(async () => {
  [sw, other] = await Promise.all([startSwtpm({ ekCert: true }), startSwtpm({ ekCert: true })]);
  tpm = await openTpm(sw.tcti);
  otherTpm = await openTpm(other.tcti);
}, 60_000);

afterAll(async () => {
  await tpm?.close();
  await otherTpm?.close();
  await Promise.all([sw?.stop(), other?.stop()]);
});

describe("makeCredential with the agent's activateCredential", () => {
  it('recovers the credential in the TPM that holds both EK and AK', async () => {
    const ek = parsePublic(await tpm.ekPublic());
    const ak = parsePublic(await tpm.ensureAk());
    const credential = Buffer.from('5e'.repeat(32), 'hex');
    const { credentialBlob, secret } = makeCredential({ ek: credentialKeyFromEk(ek), objectName: tpmName(ak), credential });
    expect(await tpm.activateCredential(credentialBlob, secret)).toEqual(credential);
  }, 30_000);

  it('fails when the AK lives in another TPM than the EK', async () => {
    const ek = parsePublic(await tpm.ekPublic());
    const foreignAk = parsePublic(await otherTpm.ensureAk());
    const { credentialBlob, secret } = makeCredential({
      ek: credentialKeyFromEk(ek),
      objectName: tpmName(foreignAk),
      credential: Buffer.alloc(32, 1),
    });
    // This TPM has the EK but its own AK has another name; the other TPM has the AK but not the EK.
    await expect(tpm.activateCredential(credentialBlob, secret)).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_TPM_/) });
    await expect(otherTpm.activateCredential(credentialBlob, secret)).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_TPM_/) });
  }, 30_000);
});
