import type { EsysContext } from './esys.js';
import { ESYS_TR } from './esys.js';
import { activeBanks } from './capability.js';
import { TpmError, ERR_TPM_BANK, ERR_TPM_COMMAND, ERR_TPM_INPUT } from './errors.js';
import { ALG, WireReader, bankAlg, bankName, pcrSelectionBytes, readDigestList, readPcrSelection } from './wire.js';

/** PCR values: { sha256: { "0": hex, ... }, sha1: {...} }, lowercase hex. */
export type PcrValues = Record<string, Record<string, string>>;

/** PCR_Read returns at most 8 digests per call; the update counter must not move between calls. */
const MAX_ROUNDS = 5;

/**
 * Reads every allocated PCR of the requested banks (default: every active bank). sha256 must be
 * active. The whole read is retried if an extend happens between two PCR_Read calls.
 */
export async function readPcrs(ctx: EsysContext, banks?: string[]): Promise<PcrValues> {
  const active = await activeBanks(ctx);
  if (!active.some((b) => b.alg === ALG.sha256)) {
    throw new TpmError(ERR_TPM_BANK, 'the sha256 PCR bank is not active on this TPM', {
      details: { active: active.map((b) => bankName(b.alg)) },
    });
  }
  let wanted = active;
  if (banks) {
    wanted = banks.map((name) => {
      const alg = bankAlg(name);
      if (alg === undefined) throw new TpmError(ERR_TPM_INPUT, `unknown PCR bank '${name}'`);
      const b = active.find((a) => a.alg === alg);
      if (!b)
        throw new TpmError(ERR_TPM_BANK, `PCR bank ${name} is not active`, { details: { active: active.map((a) => bankName(a.alg)) } });
      return b;
    });
  }
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const result = await readOnce(ctx, wanted);
    if (result) return result;
  }
  throw new TpmError(ERR_TPM_COMMAND, `PCR values kept changing during ${MAX_ROUNDS} reads`);
}

async function readOnce(ctx: EsysContext, banks: Array<{ alg: number; pcrs: number[] }>): Promise<PcrValues | null> {
  const out: PcrValues = {};
  let counter: number | undefined;
  for (const bank of banks) {
    const values: Record<string, string> = {};
    let remaining = [...bank.pcrs];
    while (remaining.length > 0) {
      const counterOut: [number] = [0];
      const selOut: [bigint | null] = [null];
      const digestsOut: [bigint | null] = [null];
      const sel = ctx.input('TPML_PCR_SELECTION', pcrSelectionBytes([{ alg: bank.alg, pcrs: remaining }]));
      await ctx.call('PCR_Read', ESYS_TR.NONE, ESYS_TR.NONE, ESYS_TR.NONE, sel, counterOut, selOut, digestsOut);
      const gotSel = readPcrSelection(new WireReader(ctx.output('TPML_PCR_SELECTION', selOut[0]), 'TPML_PCR_SELECTION'));
      const digests = readDigestList(new WireReader(ctx.output('TPML_DIGEST', digestsOut[0]), 'TPML_DIGEST'));
      if (counter === undefined) counter = counterOut[0];
      else if (counter !== counterOut[0]) return null;
      const returned = gotSel.filter((s) => s.alg === bank.alg).flatMap((s) => s.pcrs);
      if (returned.length !== digests.length || !returned.some((p) => remaining.includes(p))) {
        throw new TpmError(ERR_TPM_COMMAND, `PCR_Read returned ${digests.length} digests for PCRs [${returned.join(',')}]`, {
          details: { bank: bankName(bank.alg), asked: remaining },
        });
      }
      for (const [i, pcr] of returned.entries()) values[String(pcr)] = digests[i]!.toString('hex');
      remaining = remaining.filter((p) => !returned.includes(p));
    }
    out[bankName(bank.alg)] = values;
  }
  return out;
}
