import type { EsysContext } from './esys.js';
import { ESYS_TR } from './esys.js';
import { TpmError, ERR_TPM_MARSHAL } from './errors.js';
import { WireReader, readPcrSelection, type PcrSelection } from './wire.js';

/** TPM2_CAP values and TPM_PT properties used by the agent (TPM 2.0 Part 2 §6.12, §6.13). */
const CAP = { handles: 0x1, tpmProperties: 0x6, pcrs: 0x5 } as const;
export const TPM_PT = { manufacturer: 0x105, nvBufferMax: 0x12c } as const;

async function getCapability(ctx: EsysContext, cap: number, prop: number, count: number): Promise<{ data: Buffer; more: boolean }> {
  const more: [number] = [0];
  const out: [bigint | null] = [null];
  await ctx.call('GetCapability', ESYS_TR.NONE, ESYS_TR.NONE, ESYS_TR.NONE, cap, prop, count, more, out);
  const data = ctx.output('TPMS_CAPABILITY_DATA', out[0]);
  return { data, more: more[0] !== 0 };
}

function expectCapability(r: WireReader, cap: number): void {
  const got = r.u32();
  if (got !== cap) throw new TpmError(ERR_TPM_MARSHAL, `TPMS_CAPABILITY_DATA: asked for capability ${cap}, got ${got}`);
}

/** PCR banks with their allocated PCRs; banks with no PCR allocated are left out. */
export async function activeBanks(ctx: EsysContext): Promise<PcrSelection[]> {
  const { data } = await getCapability(ctx, CAP.pcrs, 0, 1);
  const r = new WireReader(data, 'TPMS_CAPABILITY_DATA');
  expectCapability(r, CAP.pcrs);
  return readPcrSelection(r).filter((s) => s.pcrs.length > 0);
}

/** One TPM property value (TPM_PT_*), or undefined when the TPM does not report it. */
export async function tpmProperty(ctx: EsysContext, prop: number): Promise<number | undefined> {
  const { data } = await getCapability(ctx, CAP.tpmProperties, prop, 1);
  const r = new WireReader(data, 'TPMS_CAPABILITY_DATA');
  expectCapability(r, CAP.tpmProperties);
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    const p = r.u32();
    const v = r.u32();
    if (p === prop) return v;
  }
  return undefined;
}

/** Whether a persistent (0x81xxxxxx) or NV (0x01xxxxxx) handle exists. */
export async function handleExists(ctx: EsysContext, handle: number): Promise<boolean> {
  const { data } = await getCapability(ctx, CAP.handles, handle, 1);
  const r = new WireReader(data, 'TPMS_CAPABILITY_DATA');
  expectCapability(r, CAP.handles);
  const count = r.u32();
  for (let i = 0; i < count; i++) if (r.u32() === handle) return true;
  return false;
}
