import type { EsysContext } from './esys.js';
import { ESYS_TR } from './esys.js';
import { TPM_PT, handleExists, tpmProperty } from './capability.js';
import { TpmError, ERR_TPM_COMMAND } from './errors.js';
import { withPersistent } from './keys.js';
import { WireReader, unwrapTpm2b } from './wire.js';

/** EK certificate NV indices (TCG EK Credential Profile): RSA-2048 and ECC NIST P-256. */
export const EK_CERT_NV = { rsa: 0x01c00002, ecc: 0x01c0000a } as const;

const TPMA_NV_OWNERREAD = 0x20000;
const TPMA_NV_AUTHREAD = 0x40000;
/** An EK certificate larger than this is not one (NV indices hold a few KiB at most). */
const MAX_NV_SIZE = 16 * 1024;

/** The DER length of a leading SEQUENCE, or undefined when `b` does not start with one. */
export function derLength(b: Buffer): number | undefined {
  if (b.length < 2 || b[0] !== 0x30) return undefined;
  const first = b[1]!;
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  if (n === 0 || n > 3 || b.length < 2 + n) return undefined;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + b[2 + i]!;
  return 2 + n + len <= b.length ? 2 + n + len : undefined;
}

/**
 * Reads an NV index in chunks of TPM_PT_NV_BUFFER_MAX. Returns null when the index is not
 * defined. Reads with the index's own (empty) auth when AUTHREAD is set, else as owner.
 */
export async function readNv(ctx: EsysContext, index: number): Promise<Buffer | null> {
  if (!(await handleExists(ctx, index))) return null;
  return withPersistent(ctx, index, async (nv) => {
    const pubOut: [bigint | null] = [null];
    const nameOut: [bigint | null] = [null];
    await ctx.call('NV_ReadPublic', nv, ESYS_TR.NONE, ESYS_TR.NONE, ESYS_TR.NONE, pubOut, nameOut);
    ctx.free(nameOut[0]);
    const r = new WireReader(unwrapTpm2b(ctx.output('TPM2B_NV_PUBLIC', pubOut[0]), 'TPM2B_NV_PUBLIC'), 'TPMS_NV_PUBLIC');
    r.u32();
    r.u16();
    const attrs = r.u32();
    r.tpm2b();
    const size = r.u16();
    if (size > MAX_NV_SIZE) throw new TpmError(ERR_TPM_COMMAND, `NV index 0x${index.toString(16)} claims ${size} bytes`);
    const auth = attrs & TPMA_NV_AUTHREAD ? nv : attrs & TPMA_NV_OWNERREAD ? ESYS_TR.RH_OWNER : undefined;
    if (auth === undefined) throw new TpmError(ERR_TPM_COMMAND, `NV index 0x${index.toString(16)} is readable only by the platform`);
    const chunk = Math.max(64, Math.min((await tpmProperty(ctx, TPM_PT.nvBufferMax)) ?? 512, 2048));
    const parts: Buffer[] = [];
    for (let off = 0; off < size; off += chunk) {
      const data: [bigint | null] = [null];
      await ctx.call('NV_Read', auth, nv, ESYS_TR.PASSWORD, ESYS_TR.NONE, ESYS_TR.NONE, Math.min(chunk, size - off), off, data);
      parts.push(unwrapTpm2b(ctx.output('TPM2B_MAX_NV_BUFFER', data[0]), 'TPM2B_MAX_NV_BUFFER'));
    }
    return Buffer.concat(parts);
  });
}

/** The EK certificate (DER, trailing NV padding removed) or null when the TPM has none. */
export async function ekCertificate(ctx: EsysContext, alg: 'rsa' | 'ecc'): Promise<Buffer | null> {
  const raw = await readNv(ctx, EK_CERT_NV[alg]);
  if (!raw) return null;
  const len = derLength(raw);
  return len === undefined ? raw : raw.subarray(0, len);
}
