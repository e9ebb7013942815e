import type { Logger } from 'pino';
import { EsysContext } from './esys.js';
import { TPM_PT, tpmProperty } from './capability.js';
import { activateCredential } from './credential.js';
import { TpmError, ERR_TPM_INPUT, ERR_TPM_UNAVAILABLE } from './errors.js';
import { DEFAULT_AK_HANDLE, ensureAk, quote, withEk, type QuoteResult } from './keys.js';
import { ekCertificate } from './nv.js';
import { readPcrs, type PcrValues } from './pcrs.js';
import type { AkAlg } from './templates.js';
import { bankAlg } from './wire.js';

export type { PcrValues } from './pcrs.js';
export type { QuoteResult } from './keys.js';
export type { AkAlg } from './templates.js';

/** Default TCTI: the kernel's resource manager. Tests use `swtpm:host=127.0.0.1,port=N`. */
export const DEFAULT_TCTI = 'device:/dev/tpmrm0';

export interface EnsureAkOptions {
  /** Owner persistent handle of the AK; default 0x81010002. */
  handle?: number;
  /** ECC NIST P-256 (default) or RSA-2048. */
  alg?: AkAlg;
}

/**
 * The agent's TPM port: one open TCTI connection and ESAPI context. Every method is serialised
 * (one TPM command sequence at a time); close() waits for the running one.
 */
export interface Tpm {
  /** Every allocated PCR of every active bank (or of `banks`): { sha256: { "0": hex } }. */
  readPcrs(banks?: string[]): Promise<PcrValues>;
  /** The AK's TPM2B_PUBLIC, created and made persistent on first use. */
  ensureAk(opts?: EnsureAkOptions): Promise<Buffer>;
  /** A quote by the AK (the handle of the last ensureAk, else the default) over one bank. */
  quote(nonce: Buffer, pcrs: number[], bank?: string): Promise<QuoteResult>;
  /** TPM2B_PUBLIC of the RSA EK (persistent 0x81010001, else from the TCG default template). */
  ekPublic(): Promise<Buffer>;
  /** EK certificate, DER, from NV (RSA 0x01c00002 by default, ECC 0x01c0000a); null when absent. */
  ekCertificate(alg?: 'rsa' | 'ecc'): Promise<Buffer | null>;
  /** Answers a credential challenge made for the AK's name and protected to the EK. */
  activateCredential(credentialBlob: Buffer, secret: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

export interface OpenTpmOptions {
  /** AK handle used by quote/activateCredential before any ensureAk; default 0x81010002. */
  akHandle?: number;
  /** Longest wait for one TPM command before the TPM counts as unavailable; default 120 s. */
  commandTimeoutMs?: number;
  logger?: Logger;
}

class EsysTpm implements Tpm {
  private queue: Promise<unknown> = Promise.resolve();
  private akHandle: number;

  constructor(
    private readonly ctx: EsysContext,
    opts: OpenTpmOptions,
  ) {
    this.akHandle = opts.akHandle ?? DEFAULT_AK_HANDLE;
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  readPcrs(banks?: string[]): Promise<PcrValues> {
    return this.run(() => readPcrs(this.ctx, banks));
  }

  ensureAk(opts: EnsureAkOptions = {}): Promise<Buffer> {
    const handle = opts.handle ?? this.akHandle;
    return this.run(async () => {
      const pub = await ensureAk(this.ctx, handle, opts.alg ?? 'ecc');
      this.akHandle = handle;
      return pub;
    });
  }

  quote(nonce: Buffer, pcrs: number[], bank = 'sha256'): Promise<QuoteResult> {
    const alg = bankAlg(bank);
    if (alg === undefined) return Promise.reject(new TpmError(ERR_TPM_INPUT, `unknown PCR bank '${bank}'`));
    return this.run(() => quote(this.ctx, this.akHandle, nonce, pcrs, alg));
  }

  ekPublic(): Promise<Buffer> {
    return this.run(() => withEk(this.ctx, async (_tr, pub) => pub));
  }

  ekCertificate(alg: 'rsa' | 'ecc' = 'rsa'): Promise<Buffer | null> {
    return this.run(() => ekCertificate(this.ctx, alg));
  }

  activateCredential(credentialBlob: Buffer, secret: Buffer): Promise<Buffer> {
    return this.run(() => activateCredential(this.ctx, this.akHandle, credentialBlob, secret));
  }

  close(): Promise<void> {
    return this.run(async () => this.ctx.close());
  }
}

/**
 * Opens the TPM behind `tcti` and checks it answers (TPM2_GetCapability). A missing library,
 * device or listener is ERR_TPM_UNAVAILABLE with the reason.
 */
export async function openTpm(tcti: string = DEFAULT_TCTI, opts: OpenTpmOptions = {}): Promise<Tpm> {
  const ctx = await EsysContext.open(tcti, opts.commandTimeoutMs);
  try {
    await tpmProperty(ctx, TPM_PT.manufacturer);
  } catch (e) {
    ctx.close();
    if (e instanceof TpmError && e.code === ERR_TPM_UNAVAILABLE) throw e;
    throw new TpmError(ERR_TPM_UNAVAILABLE, `TPM at '${tcti}' does not answer: ${(e as Error).message}`, { cause: e });
  }
  opts.logger?.debug({ tcti }, 'tpm opened');
  return new EsysTpm(ctx, opts);
}

/** Opens the TPM, runs fn, and always closes it (swtpm and tpmrm users get it back between rounds). */
export async function withTpm<T>(tcti: string, fn: (tpm: Tpm) => Promise<T>, opts: OpenTpmOptions = {}): Promise<T> {
  const tpm = await openTpm(tcti, opts);
  try {
    return await fn(tpm);
  } finally {
    await tpm.close();
  }
}
