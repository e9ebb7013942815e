import type { EsysContext } from './esys.js';
import { ESYS_TR } from './esys.js';
import { handleExists } from './capability.js';
import { TpmError, ERR_TPM_AK_MISMATCH, ERR_TPM_AK_MISSING, ERR_TPM_INPUT } from './errors.js';
import {
  AK_ATTRIBUTES,
  TPMA,
  akTemplate,
  ekRsaTemplate,
  emptySensitiveCreate,
  srkTemplate,
  summarizePublic,
  type AkAlg,
} from './templates.js';
import { ALG, pcrSelectionBytes, tpm2b, unwrapTpm2b } from './wire.js';

/** Default persistent handle of the AK (owner range; 0x81010001 is the EK's by convention). */
export const DEFAULT_AK_HANDLE = 0x81010002;
/** TCG-recommended persistent handle of the RSA EK. */
export const EK_RSA_HANDLE = 0x81010001;

export function checkPersistentHandle(handle: number): void {
  if (!Number.isInteger(handle) || handle < 0x81000000 || handle > 0x817fffff) {
    throw new TpmError(ERR_TPM_INPUT, `0x${handle.toString(16)} is not an owner persistent handle (0x81000000-0x817fffff)`);
  }
}

async function fromTpmPublic(ctx: EsysContext, handle: number): Promise<number> {
  const out: [number] = [0];
  await ctx.call('TR_FromTPMPublic', handle, ESYS_TR.NONE, ESYS_TR.NONE, ESYS_TR.NONE, out);
  return out[0];
}

/** Runs fn with an ESYS_TR for a persistent handle, releasing the ESYS_TR afterwards. */
export async function withPersistent<T>(ctx: EsysContext, handle: number, fn: (tr: number) => Promise<T>): Promise<T> {
  const tr = await fromTpmPublic(ctx, handle);
  try {
    return await fn(tr);
  } finally {
    ctx.trClose(tr);
  }
}

export async function readPublic(ctx: EsysContext, tr: number): Promise<Buffer> {
  const pub: [bigint | null] = [null];
  const name: [bigint | null] = [null];
  const qname: [bigint | null] = [null];
  await ctx.call('ReadPublic', tr, ESYS_TR.NONE, ESYS_TR.NONE, ESYS_TR.NONE, pub, name, qname);
  ctx.free(name[0], qname[0]);
  return ctx.output('TPM2B_PUBLIC', pub[0]);
}

async function createPrimary(ctx: EsysContext, hierarchy: number, template: Buffer): Promise<{ tr: number; pub: Buffer }> {
  const tr: [number] = [0];
  const pub: [bigint | null] = [null];
  const cdata: [bigint | null] = [null];
  const chash: [bigint | null] = [null];
  const ticket: [bigint | null] = [null];
  await ctx.call(
    'CreatePrimary',
    hierarchy,
    ESYS_TR.PASSWORD,
    ESYS_TR.NONE,
    ESYS_TR.NONE,
    ctx.input('TPM2B_SENSITIVE_CREATE', emptySensitiveCreate()),
    ctx.input('TPM2B_PUBLIC', template),
    ctx.input('TPM2B_DATA', tpm2b(Buffer.alloc(0))),
    ctx.input('TPML_PCR_SELECTION', pcrSelectionBytes([])),
    tr,
    pub,
    cdata,
    chash,
    ticket,
  );
  ctx.free(cdata[0], chash[0], ticket[0]);
  return { tr: tr[0], pub: ctx.output('TPM2B_PUBLIC', pub[0]) };
}

/** Throws ERR_TPM_AK_MISMATCH unless `pub` is a restricted signing key of the asked type. */
export function checkAkPublic(pub: Buffer, alg: AkAlg, handle: number): void {
  const s = summarizePublic(pub);
  const problems: string[] = [];
  if (s.type !== alg) problems.push(`type ${s.type}, expected ${alg}`);
  if ((s.attributes & AK_ATTRIBUTES) !== AK_ATTRIBUTES) problems.push('not a fixed restricted signing key');
  if (s.attributes & TPMA.decrypt) problems.push('decrypt attribute set');
  if (problems.length) {
    throw new TpmError(ERR_TPM_AK_MISMATCH, `persistent handle 0x${handle.toString(16)} holds another key: ${problems.join('; ')}`, {
      details: { handle: `0x${handle.toString(16)}`, problems },
    });
  }
}

/**
 * Returns the AK's TPM2B_PUBLIC, creating it when the persistent handle is empty: a child of the
 * owner-hierarchy SRK (ECC P-256, created from its template and flushed), made persistent with
 * EvictControl so it survives restarts. An existing key of the wrong shape is never evicted.
 */
export async function ensureAk(ctx: EsysContext, handle: number, alg: AkAlg): Promise<Buffer> {
  checkPersistentHandle(handle);
  if (await handleExists(ctx, handle)) {
    const pub = await withPersistent(ctx, handle, (tr) => readPublic(ctx, tr));
    checkAkPublic(pub, alg, handle);
    return pub;
  }
  const srk = await createPrimary(ctx, ESYS_TR.RH_OWNER, srkTemplate());
  let ak: number | undefined;
  try {
    const priv: [bigint | null] = [null];
    const pubOut: [bigint | null] = [null];
    const cdata: [bigint | null] = [null];
    const chash: [bigint | null] = [null];
    const ticket: [bigint | null] = [null];
    await ctx.call(
      'Create',
      srk.tr,
      ESYS_TR.PASSWORD,
      ESYS_TR.NONE,
      ESYS_TR.NONE,
      ctx.input('TPM2B_SENSITIVE_CREATE', emptySensitiveCreate()),
      ctx.input('TPM2B_PUBLIC', akTemplate(alg)),
      ctx.input('TPM2B_DATA', tpm2b(Buffer.alloc(0))),
      ctx.input('TPML_PCR_SELECTION', pcrSelectionBytes([])),
      priv,
      pubOut,
      cdata,
      chash,
      ticket,
    );
    ctx.free(cdata[0], chash[0], ticket[0]);
    const privBytes = ctx.output('TPM2B_PRIVATE', priv[0]);
    const pub = ctx.output('TPM2B_PUBLIC', pubOut[0]);
    const loaded: [number] = [0];
    await ctx.call(
      'Load',
      srk.tr,
      ESYS_TR.PASSWORD,
      ESYS_TR.NONE,
      ESYS_TR.NONE,
      ctx.input('TPM2B_PRIVATE', privBytes),
      ctx.input('TPM2B_PUBLIC', pub),
      loaded,
    );
    ak = loaded[0];
    const persisted: [number] = [0];
    await ctx.call('EvictControl', ESYS_TR.RH_OWNER, ak, ESYS_TR.PASSWORD, ESYS_TR.NONE, ESYS_TR.NONE, handle, persisted);
    ctx.trClose(persisted[0]);
    return pub;
  } finally {
    await ctx.flush(ak);
    await ctx.flush(srk.tr);
  }
}

/**
 * Runs fn with the RSA EK: the persistent one at 0x81010001 when present (swtpm_setup and most
 * provisioned machines put it there), otherwise created from the TCG default template L-1
 * (deterministic, so its public key matches the EK certificate) and flushed afterwards.
 */
export async function withEk<T>(ctx: EsysContext, fn: (tr: number, pub: Buffer) => Promise<T>): Promise<T> {
  if (await handleExists(ctx, EK_RSA_HANDLE)) {
    return withPersistent(ctx, EK_RSA_HANDLE, async (tr) => fn(tr, await readPublic(ctx, tr)));
  }
  const ek = await createPrimary(ctx, ESYS_TR.RH_ENDORSEMENT, ekRsaTemplate());
  try {
    return await fn(ek.tr, ek.pub);
  } finally {
    await ctx.flush(ek.tr);
  }
}

export interface QuoteResult {
  /** TPMS_ATTEST bytes, without the TPM2B size. */
  attest: Buffer;
  /** TPMT_SIGNATURE wire bytes. */
  signature: Buffer;
}

/** TPM2_Quote with the AK's own scheme over `pcrs` of one bank; `nonce` becomes qualifyingData. */
export async function quote(ctx: EsysContext, akHandle: number, nonce: Buffer, pcrs: number[], bankAlgId: number): Promise<QuoteResult> {
  if (nonce.length > 64) throw new TpmError(ERR_TPM_INPUT, `nonce of ${nonce.length} bytes exceeds the TPM's 64-byte qualifyingData`);
  if (pcrs.length === 0 || pcrs.some((p) => !Number.isInteger(p) || p < 0 || p > 23) || new Set(pcrs).size !== pcrs.length) {
    throw new TpmError(ERR_TPM_INPUT, `PCR selection [${pcrs.join(',')}] must be distinct indices 0-23`);
  }
  checkPersistentHandle(akHandle);
  return withPersistent(ctx, akHandle, async (ak) => {
    const quoted: [bigint | null] = [null];
    const sig: [bigint | null] = [null];
    await ctx.call(
      'Quote',
      ak,
      ESYS_TR.PASSWORD,
      ESYS_TR.NONE,
      ESYS_TR.NONE,
      ctx.input('TPM2B_DATA', tpm2b(nonce)),
      ctx.input('TPMT_SIG_SCHEME', Buffer.from([0, ALG.null])),
      ctx.input('TPML_PCR_SELECTION', pcrSelectionBytes([{ alg: bankAlgId, pcrs }])),
      quoted,
      sig,
    );
    const attest = unwrapTpm2b(ctx.output('TPM2B_ATTEST', quoted[0]), 'TPM2B_ATTEST');
    const signature = ctx.output('TPMT_SIGNATURE', sig[0]);
    return { attest, signature };
  }).catch(async (e: unknown) => {
    if (e instanceof TpmError && e.details?.command === 'TR_FromTPMPublic' && !(await handleExists(ctx, akHandle))) {
      throw new TpmError(ERR_TPM_AK_MISSING, `no AK at persistent handle 0x${akHandle.toString(16)} (create it with ensureAk)`, {
        cause: e,
      });
    }
    throw e;
  });
}
