import type { EsysContext } from './esys.js';
import { ESYS_TR } from './esys.js';
import { TpmError, ERR_TPM_INPUT } from './errors.js';
import { checkPersistentHandle, withEk, withPersistent } from './keys.js';
import { ALG, WireReader, tpm2b, unwrapTpm2b } from './wire.js';

const TPM_SE_POLICY = 0x01;

function checkTpm2b(b: Buffer, what: string): void {
  const r = new WireReader(b, what);
  r.tpm2b();
  if (r.remaining !== 0) throw new TpmError(ERR_TPM_INPUT, `${what} has ${r.remaining} bytes after its TPM2B`);
}

/**
 * TPM2_ActivateCredential: recovers the secret a verifier protected to this TPM's EK for the
 * AK's name (TPM 2.0 Part 1 §24). The EK's policy is PolicySecret(TPM_RH_ENDORSEMENT), satisfied
 * in a fresh policy session; the AK is authorised by its (empty) auth value.
 */
export async function activateCredential(ctx: EsysContext, akHandle: number, credentialBlob: Buffer, secret: Buffer): Promise<Buffer> {
  checkPersistentHandle(akHandle);
  checkTpm2b(credentialBlob, 'TPM2B_ID_OBJECT');
  checkTpm2b(secret, 'TPM2B_ENCRYPTED_SECRET');
  const blobIn = ctx.input('TPM2B_ID_OBJECT', credentialBlob);
  const secretIn = ctx.input('TPM2B_ENCRYPTED_SECRET', secret);
  return withPersistent(ctx, akHandle, (ak) =>
    withEk(ctx, async (ek) => {
      const session: [number] = [0];
      await ctx.call(
        'StartAuthSession',
        ESYS_TR.NONE,
        ESYS_TR.NONE,
        ESYS_TR.NONE,
        ESYS_TR.NONE,
        ESYS_TR.NONE,
        null,
        TPM_SE_POLICY,
        ctx.input('TPMT_SYM_DEF', Buffer.from([0, ALG.null])),
        ALG.sha256,
        session,
      );
      try {
        const timeout: [bigint | null] = [null];
        const ticket: [bigint | null] = [null];
        const empty = tpm2b(Buffer.alloc(0));
        await ctx.call(
          'PolicySecret',
          ESYS_TR.RH_ENDORSEMENT,
          session[0],
          ESYS_TR.PASSWORD,
          ESYS_TR.NONE,
          ESYS_TR.NONE,
          ctx.input('TPM2B_NONCE', empty),
          ctx.input('TPM2B_DIGEST', empty),
          ctx.input('TPM2B_NONCE', empty),
          0,
          timeout,
          ticket,
        );
        ctx.free(timeout[0], ticket[0]);
        const certInfo: [bigint | null] = [null];
        await ctx.call('ActivateCredential', ak, ek, ESYS_TR.PASSWORD, session[0], ESYS_TR.NONE, blobIn, secretIn, certInfo);
        return unwrapTpm2b(ctx.output('TPM2B_DIGEST', certInfo[0]), 'TPM2B_DIGEST');
      } finally {
        await ctx.flush(session[0]);
      }
    }),
  );
}
