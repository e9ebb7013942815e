import { withTpm } from '../tpm/tpm.js';
import type { AgentEnrollment } from './daemon.js';

/**
 * Enrolment backed by the TPM: the EK (persistent RSA EK or the TCG default template), its
 * certificate from NV when present, and the AK the evidence collector quotes with. The TPM is
 * opened per call and closed again (the agent never holds it between rounds).
 */
export function tpmEnrollment(opts: { tcti: string; token: string; akHandle?: number }): AgentEnrollment {
  const tpmOpts = opts.akHandle !== undefined ? { akHandle: opts.akHandle } : {};
  return {
    token: opts.token,
    material: () =>
      withTpm(
        opts.tcti,
        async (tpm) => {
          const ekPublic = await tpm.ekPublic();
          const ekCert = await tpm.ekCertificate('rsa');
          const akPublic = await tpm.ensureAk();
          return {
            ekPublic: ekPublic.toString('hex'),
            ekCert: ekCert ? ekCert.toString('base64') : null,
            akPublic: akPublic.toString('hex'),
          };
        },
        tpmOpts,
      ),
    activate: (credentialBlob, secret) => withTpm(opts.tcti, (tpm) => tpm.activateCredential(credentialBlob, secret), tpmOpts),
  };
}
